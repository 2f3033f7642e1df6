package capture

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

func unhexQ(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The client's Destination Connection ID of RFC 9001 appendix A and RFC
// 9369 appendix A.
const rfcDCID = "8394c8f03e515708"

// TestQUICInitialSecrets: RFC 9001 A.1 and RFC 9369 A.1.
func TestQUICInitialSecrets(t *testing.T) {
	for _, tc := range []struct {
		version     uint32
		server      bool
		key, iv, hp string
	}{
		{QUICv1, false, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{QUICv1, true, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
		{QUICv2, false, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
		{QUICv2, true, "82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a"},
	} {
		key, iv, hp, ok := quicInitialSecrets(tc.version, unhexQ(t, rfcDCID), tc.server)
		if !ok || hex.EncodeToString(key) != tc.key || hex.EncodeToString(iv) != tc.iv || hex.EncodeToString(hp) != tc.hp {
			t.Errorf("%#x server=%v: key %x iv %x hp %x", tc.version, tc.server, key, iv, hp)
		}
	}
	if _, _, _, ok := quicInitialSecrets(0x51303436, unhexQ(t, rfcDCID), false); ok {
		t.Error("Q046 has no Initial keys")
	}
}

// TestQUICClientHeaderProtection: RFC 9001 A.2 and RFC 9369 A.2 (the
// protected header followed by the sample).
func TestQUICClientHeaderProtection(t *testing.T) {
	for _, tc := range []struct {
		version                  uint32
		protected, sample, plain string
	}{
		{QUICv1, "c000000001088394c8f03e5157080000449e7b9aec34", "d1b1c98dd7689fb8ec11d242b123dc9b", "c300000001088394c8f03e5157080000449e00000002"},
		{QUICv2, "d76b3343cf088394c8f03e5157080000449ea0c95e82", "ffe67b6abcdb4298b485dd04de806071", "d36b3343cf088394c8f03e5157080000449e00000002"},
	} {
		k, ok := newQUICKeys(tc.version, unhexQ(t, rfcDCID), false)
		if !ok {
			t.Fatal("keys")
		}
		pkt := unhexQ(t, tc.protected+tc.sample)
		h, ok := parseQUICLongHeader(pkt)
		if !ok || h.Type != quicInitial || h.PNOffset != 18 || !bytes.Equal(h.DCID, unhexQ(t, rfcDCID)) || h.End != 18+1182 {
			t.Fatalf("%#x: header %+v ok=%v", tc.version, h, ok)
		}
		pnLen, pn, ok := k.unprotect(pkt, h.PNOffset)
		if !ok || pnLen != 4 || pn != 2 {
			t.Errorf("%#x: pn length %d, pn %d", tc.version, pnLen, pn)
		}
		if got := hex.EncodeToString(pkt[:22]); got != tc.plain {
			t.Errorf("%#x: unprotected header %s, want %s", tc.version, got, tc.plain)
		}
	}
}

// The server's Initial of RFC 9001 A.3 / RFC 9369 A.3: an ACK frame and a
// CRYPTO frame with the ServerHello.
const (
	rfcServerPayload = `02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739
		88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94
		0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304`
	rfc9001ServerPacket = `cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
		5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
		dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
		022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
		2158407dd074ee`
	rfc9369ServerPacket = `dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698
		baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17
		f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2
		c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8
		4bed8521e2e140`
)

// TestQUICServerInitialRFC decrypts the server Initial of RFC 9001 A.3
// and RFC 9369 A.3 and parses its ServerHello.
func TestQUICServerInitialRFC(t *testing.T) {
	for _, tc := range []struct {
		version uint32
		packet  string
	}{{QUICv1, rfc9001ServerPacket}, {QUICv2, rfc9369ServerPacket}} {
		pkt := unhexQ(t, tc.packet)
		h, ok := parseQUICLongHeader(pkt)
		if !ok || h.Version != tc.version || h.Type != quicInitial || h.End != len(pkt) || len(h.DCID) != 0 ||
			hex.EncodeToString(h.SCID) != "f067a5502a4262b5" {
			t.Fatalf("%#x: header %+v ok=%v", tc.version, h, ok)
		}
		k, _ := newQUICKeys(tc.version, unhexQ(t, rfcDCID), true)
		if _, _, ok := k.open(slices.Clone(pkt), &h, 0); ok == false {
			t.Fatalf("%#x: does not decrypt", tc.version)
		}
		// the client's keys must not open it
		ck, _ := newQUICKeys(tc.version, unhexQ(t, rfcDCID), false)
		if _, _, ok := ck.open(slices.Clone(pkt), &h, 0); ok {
			t.Fatalf("%#x: decrypts with the client's keys", tc.version)
		}
		payload, pn, ok := k.open(pkt, &h, 0)
		if !ok || pn != 1 || hex.EncodeToString(payload) != hex.EncodeToString(unhexQ(t, rfcServerPayload)) {
			t.Fatalf("%#x: pn %d payload %x", tc.version, pn, payload)
		}
		var cs cryptoStream
		n, ok := walkInitialFrames(payload, &cs, false)
		if !ok || n != 1 || cs.contiguous() != 0x5a {
			t.Fatalf("%#x: %d CRYPTO frames, %d bytes, ok=%v", tc.version, n, cs.contiguous(), ok)
		}
		var sh tlsparse.ServerHello
		if err := sh.Unmarshal(cs.buf[4:cs.contiguous()]); err != nil {
			t.Fatalf("%#x: %v", tc.version, err)
		}
		if sh.CipherSuite != 0x1301 || sh.Version() != 0x0304 || sh.KeyShareGroup != 0x001d {
			t.Errorf("%#x: ServerHello %+v", tc.version, sh)
		}
		// every strict prefix of the packet fails cleanly
		pkt = unhexQ(t, tc.packet)
		for i := range len(pkt) {
			p := slices.Clone(pkt[:i])
			if h, ok := parseQUICLongHeader(p); ok && h.End <= len(p) {
				t.Fatalf("%#x: prefix of %d bytes parses to a whole packet", tc.version, i)
			}
		}
	}
}

func TestQUICLongHeaderTypes(t *testing.T) {
	// v2 numbers its types differently (RFC 9369 section 3.2)
	for _, tc := range []struct {
		version uint32
		bits    byte
		want    uint8
	}{
		{QUICv1, 0, quicInitial}, {QUICv1, 1, quicZeroRTT}, {QUICv1, 2, quicHandshake}, {QUICv1, 3, quicRetry},
		{QUICv2, 1, quicInitial}, {QUICv2, 2, quicZeroRTT}, {QUICv2, 3, quicHandshake}, {QUICv2, 0, quicRetry},
		{0xff00001d, 0, quicInitial}, {0x54303530, 2, quicHandshake},
	} {
		b := []byte{0xc0 | tc.bits<<4, byte(tc.version >> 24), byte(tc.version >> 16), byte(tc.version >> 8), byte(tc.version), 1, 0xaa, 0}
		if tc.want == quicInitial {
			b = append(b, 0) // token length
		}
		b = append(b, 0x40, 0x14)          // length 20
		b = append(b, make([]byte, 20)...) // pn + payload
		h, ok := parseQUICLongHeader(b)
		if !ok || h.Type != tc.want {
			t.Errorf("%#x type bits %d: got %d ok=%v, want %d", tc.version, tc.bits, h.Type, ok, tc.want)
		}
	}
	// fixed bit clear, too long a connection id: not QUIC v1
	if _, ok := parseQUICLongHeader([]byte{0x80, 0, 0, 0, 1, 0, 0, 0, 1, 0}); ok {
		t.Error("fixed bit 0 accepted")
	}
	long := append([]byte{0xc0, 0, 0, 0, 1, 21}, make([]byte, 40)...)
	if _, ok := parseQUICLongHeader(long); ok {
		t.Error("21-byte connection id accepted for v1")
	}
}

func TestQUICVersions(t *testing.T) {
	for _, tc := range []struct {
		v      uint32
		known  bool
		google bool
	}{
		{QUICv1, true, false}, {QUICv2, true, false}, {0xff00001d, true, false}, {0xff000020, true, false},
		{0xff00001b, true, false}, {0xfaceb002, true, false}, {0x54303530, true, false}, {0x0a1a2a3a, true, false},
		{0, false, false}, {0x51303436, false, true}, {0x51303530, false, true}, {0xff000001, false, false}, {0x12345678, false, false},
	} {
		_, _, known := quicSalt(tc.v)
		pkt := []byte{0xc3, byte(tc.v >> 24), byte(tc.v >> 16), byte(tc.v >> 8), byte(tc.v), 8}
		if known != tc.known || isGoogleQUIC(pkt) != tc.google {
			t.Errorf("%#x: known %v google %v", tc.v, known, isGoogleQUIC(pkt))
		}
	}
	// Google QUIC's older public header: flags 0x09 (version, 8-byte id), id, "Q043"
	old := append([]byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8}, "Q043"...)
	if !isGoogleQUIC(old) {
		t.Error("Q043 public header not recognised")
	}
}

func TestDecodePacketNumber(t *testing.T) {
	// RFC 9000 appendix A.3 example, and edges.
	for _, tc := range []struct {
		largestPlus1, trunc uint64
		pnLen               int
		want                uint64
	}{
		{0xa82f30ea + 1, 0x9b32, 2, 0xa82f9b32},
		{0, 0, 1, 0},
		{0, 5, 4, 5},
		{0, 13046896, 4, 13046896},
		{256, 0x01, 1, 257},
		{300, 0xff, 1, 255},
	} {
		if got := decodePacketNumber(tc.largestPlus1, tc.trunc, tc.pnLen); got != tc.want {
			t.Errorf("decode(%d, %#x, %d) = %#x, want %#x", tc.largestPlus1, tc.trunc, tc.pnLen, got, tc.want)
		}
	}
}

func TestCryptoStream(t *testing.T) {
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	t.Run("out of order", func(t *testing.T) {
		var c cryptoStream
		for _, r := range [][2]int{{1000, 2000}, {2500, 3000}, {0, 500}, {400, 1200}, {2000, 2500}} {
			if !c.add(uint64(r[0]), data[r[0]:r[1]]) {
				t.Fatal("dropped")
			}
		}
		if c.contiguous() != 3000 || !bytes.Equal(c.buf, data) || len(c.ranges) != 1 {
			t.Fatalf("contiguous %d, ranges %v", c.contiguous(), c.ranges)
		}
	})
	t.Run("first wins", func(t *testing.T) {
		var c cryptoStream
		c.add(10, []byte("abcd"))
		c.add(8, []byte("XXYYYYZZ"))
		c.add(0, []byte("01234567"))
		if got := string(c.buf); got != "01234567XXabcdZZ" || c.contiguous() != 16 {
			t.Fatalf("%q", got)
		}
	})
	t.Run("hole", func(t *testing.T) {
		var c cryptoStream
		c.add(100, data[100:200])
		if c.contiguous() != 0 {
			t.Fatal("contiguous without offset 0")
		}
		c.add(0, data[:99])
		if c.contiguous() != 99 || len(c.ranges) != 2 {
			t.Fatalf("contiguous %d ranges %v", c.contiguous(), c.ranges)
		}
	})
	t.Run("limits", func(t *testing.T) {
		var c cryptoStream
		if c.add(MaxQUICCrypto-1, []byte{1, 2}) || !c.limited {
			t.Fatal("data past MaxQUICCrypto kept")
		}
		if c.add(1<<62, []byte{1}) || c.add(^uint64(0), []byte{1}) {
			t.Fatal("huge offset kept")
		}
		c = cryptoStream{}
		for i := range maxQUICRanges {
			if !c.add(uint64(10*i+5), []byte{1}) {
				t.Fatalf("piece %d dropped", i)
			}
		}
		if c.add(1000, []byte{1}) || !c.limited {
			t.Fatal("piece past maxQUICRanges kept")
		}
		if !c.add(6, []byte{1}) { // adjacent: merges, no new range
			t.Fatal("merging piece dropped")
		}
		c = cryptoStream{}
		if c.add(maxQUICAhead, []byte{1}) || !c.limited {
			t.Fatal("piece too far past the contiguous part kept")
		}
		if !c.add(maxQUICAhead-1, []byte{1}) || !c.add(0, make([]byte, 1000)) || !c.add(maxQUICAhead+999, []byte{1}) {
			t.Fatal("piece within reach dropped")
		}
		if cap(c.buf) > 2*maxQUICAhead {
			t.Fatalf("buffer of %d bytes", cap(c.buf))
		}
	})
}

func TestWalkInitialFrames(t *testing.T) {
	crypto := func(off int, s string) string {
		return hex.EncodeToString(append([]byte{0x06, byte(off), byte(len(s))}, s...))
	}
	for _, tc := range []struct {
		name    string
		payload string
		n       int
		ok      bool
		stream  string
	}{
		{"crypto+padding", crypto(0, "hello") + "000000", 1, true, "hello"},
		{"two out of order", crypto(3, "lo") + crypto(0, "hel"), 2, true, "hello"},
		{"ping ack crypto", "01" + "0205000002" + crypto(0, "hi"), 1, true, "hi"},
		{"ack with ranges and ecn", "03" + "0a00" + "02" + "01" + "0101" + "0101" + "010203" + crypto(0, "x"), 1, true, "x"},
		{"connection close", crypto(0, "ab") + "1c01060474657374", 1, true, "ab"},
		{"app close", "1d01" + "00", 0, true, ""},
		{"stream frame not allowed", crypto(0, "ab") + "08000141", 1, false, "ab"},
		{"truncated crypto", "0600056162", 0, false, ""},
		{"truncated ack", "0205", 0, false, ""},
		{"ack range count too big", "0201000f00", 0, false, ""},
		{"long varint type", "4006" + "0002" + "6869", 1, true, "hi"},
	} {
		var c cryptoStream
		n, ok := walkInitialFrames(unhexQ(t, tc.payload), &c, false)
		if n != tc.n || ok != tc.ok || string(c.buf[:c.contiguous()]) != tc.stream {
			t.Errorf("%s: n=%d ok=%v stream %q", tc.name, n, ok, c.buf[:c.contiguous()])
		}
	}
	// T050: 0x08 is CRYPTO
	var c cryptoStream
	if n, ok := walkInitialFrames(unhexQ(t, "0800026869"), &c, true); n != 1 || !ok || string(c.buf) != "hi" {
		t.Errorf("T050 CRYPTO: n=%d ok=%v %q", n, ok, c.buf)
	}
}

// quicHello is a crypto/tls QUIC ClientHello and ServerHello (CRYPTO
// stream bytes), made once.
var quicHello = sync.OnceValues(func() ([2][]byte, error) {
	key, err := tlsgen.GenerateKey(tlsgen.P256, tlsgen.NewRand(1))
	if err != nil {
		return [2][]byte{}, err
	}
	cert, err := tlsgen.Issue(tlsgen.CertSpec{Name: "quic", Key: tlsgen.P256, CommonName: "quic.tlsentry.test",
		DNSNames: []string{"quic.tlsentry.test"}, NotBefore: tlsgen.DefaultTime, NotAfter: tlsgen.DefaultTime.AddDate(1, 0, 0)},
		key, nil, tlsgen.NewRand(2))
	if err != nil {
		return [2][]byte{}, err
	}
	ch, sh, err := tlsgen.QUICHello(
		&tls.Config{ServerName: "quic.tlsentry.test", NextProtos: []string{"h3"}, InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{cert.TLS()}, NextProtos: []string{"h3"}, CurvePreferences: []tls.CurveID{tls.X25519}},
		tlsgen.QUICTransportParameters([]byte{1, 2, 3, 4}), 7)
	return [2][]byte{ch, sh}, err
})

func hellos(t testing.TB) (ch, sh []byte) {
	t.Helper()
	h, err := quicHello()
	if err != nil {
		t.Fatal(err)
	}
	return h[0], h[1]
}

func seal(t testing.TB, p tlsgen.QUICInitial) []byte {
	t.Helper()
	b, err := p.Seal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	qcli  = netip.MustParseAddrPort("10.0.0.1:50000")
	qsrv  = netip.MustParseAddrPort("192.0.2.10:443")
	qdcid = []byte{0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}
	qscid = []byte{0x5c, 0x1d}
	qsrvc = []byte{0x99, 0x98, 0x97, 0x96}
)

// quicSessions runs the datagrams (client to server unless fromServer)
// through a pipeline and returns the sessions and counters.
type dgram struct {
	fromServer bool
	b          []byte
}

func runDatagrams(t testing.TB, c, s netip.AddrPort, link *pcapgen.Link, ds ...dgram) ([]*session.Session, Snapshot) {
	t.Helper()
	path := capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		if link == nil {
			link = &pcapgen.Link{}
		}
		for _, d := range ds {
			src, dst := c, s
			if d.fromServer {
				src, dst = s, c
			}
			must(t, w.WriteUDP(clk.Next(), link, d.fromServer, src, dst, d.b))
		}
	})
	ss, snap, err := runFile(t, path, Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return ss, snap
}

// TestQUICSessions runs generated QUIC handshakes through the pipeline.
func TestQUICSessions(t *testing.T) {
	ch, sh := hellos(t)
	half := len(ch) / 2
	clientInitial := func(v uint32, pn uint32, off int, data []byte) []byte {
		return seal(t, tlsgen.QUICInitial{Version: v, DCID: qdcid, SCID: qscid, PacketNumber: pn, CryptoOffset: uint64(off), Crypto: data, PadTo: 1200})
	}
	serverInitial := func(v uint32, keys []byte) []byte {
		return seal(t, tlsgen.QUICInitial{Version: v, DCID: qscid, SCID: qsrvc, PacketNumber: 0, Crypto: sh, Server: true, KeysDCID: keys})
	}
	handshakePkt := func(v uint32) []byte { // a Handshake packet: opaque here
		typ := byte(0xe0)
		if v == QUICv2 {
			typ = 0xf0
		}
		b := []byte{typ, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v), 4, 1, 2, 3, 4, 2, 0x5c, 0x1d, 0x40, 40}
		return append(b, bytes.Repeat([]byte{0xee}, 40)...)
	}
	type check func(t *testing.T, ss []*session.Session, snap Snapshot)
	oneQUIC := func(wantChunks int, anomalies ...string) check {
		return func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 {
				t.Fatalf("%d sessions", len(ss))
			}
			s := ss[0]
			if s.Transport != session.UDP || s.Protocol != session.QUIC || s.TLS == nil || s.TLS.ClientHello == nil || s.TLS.ServerHello == nil {
				t.Fatalf("session %s", summary(s))
			}
			chp := s.TLS.ClientHello
			if chp.ServerName != "quic.tlsentry.test" || !slices.Equal(chp.ALPN, []string{"h3"}) || chp.RecordVersion != 0 {
				t.Errorf("ClientHello %+v", chp)
			}
			if ja4 := tlsparse.JA4(chp, true); !strings.HasPrefix(ja4, "q13d") {
				t.Errorf("JA4 %s", ja4)
			}
			if s.TLS.ServerHello.Version() != 0x0304 || s.TLS.ServerHello.ALPN != "" && s.TLS.ServerHello.ALPN != "h3" {
				t.Errorf("ServerHello %+v", s.TLS.ServerHello)
			}
			if s.TLS.ClientHelloChunks != wantChunks || s.TLS.ClientHelloRecords != 0 {
				t.Errorf("hello chunks %d records %d, want %d packets", s.TLS.ClientHelloChunks, s.TLS.ClientHelloRecords, wantChunks)
			}
			all := s.AllAnomalies().Names()
			if !slices.Equal(all, anomalies) && !(len(all) == 0 && len(anomalies) == 0) {
				t.Errorf("anomalies %v, want %v", all, anomalies)
			}
			if s.Incomplete || s.Client != qcli || s.Server != qsrv {
				t.Errorf("session %s", summary(s))
			}
			if snap.Get(CSessionsQUIC) != 1 || snap.Get(CQUICFlows) != 1 {
				t.Errorf("counters %v", snap.Map())
			}
		}
	}
	for _, tc := range []struct {
		name  string
		c, s  netip.AddrPort
		ds    []dgram
		check check
	}{
		{"v1 one packet each", qcli, qsrv, []dgram{
			{false, clientInitial(QUICv1, 0, 0, ch)},
			{true, append(serverInitial(QUICv1, qdcid), handshakePkt(QUICv1)...)},
			{false, []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9}}, // 1-RTT: counted
		}, oneQUIC(1)},
		{"v2 hello over two Initials, second first", qcli, qsrv, []dgram{
			{false, clientInitial(QUICv2, 1, half, ch[half:])},
			{false, clientInitial(QUICv2, 0, 0, ch[:half])},
			{true, append(serverInitial(QUICv2, qdcid), handshakePkt(QUICv2)...)},
		}, oneQUIC(2)},
		{"coalesced Initials in one datagram", qcli, qsrv, []dgram{
			{false, append(clientInitial(QUICv1, 0, 0, ch[:half]), clientInitial(QUICv1, 1, half, ch[half:])...)},
			{true, serverInitial(QUICv1, qdcid)},
		}, oneQUIC(2)},
		{"retransmitted Initial", qcli, qsrv, []dgram{
			{false, clientInitial(QUICv1, 0, 0, ch)},
			{false, clientInitial(QUICv1, 1, 0, ch)},
			{true, serverInitial(QUICv1, qdcid)},
		}, oneQUIC(1)},
		{"server Initial before the hello is complete", qcli, qsrv, []dgram{
			{false, clientInitial(QUICv1, 0, half, ch[half:])},
			{true, serverInitial(QUICv1, qdcid)},
			{false, clientInitial(QUICv1, 1, 0, ch[:half])},
		}, oneQUIC(2)},
		{"Retry: keys from the new connection id", qcli, qsrv, []dgram{
			{false, clientInitial(QUICv1, 0, 0, ch)},
			{true, append([]byte{0xf0, 0, 0, 0, 1, 2, 0x5c, 0x1d, 8, 1, 2, 3, 4, 5, 6, 7, 8}, bytes.Repeat([]byte{0x77}, 24)...)},
			{false, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: []byte{1, 2, 3, 4, 5, 6, 7, 8}, SCID: qscid, Token: []byte("tok"), PacketNumber: 1, Crypto: ch, PadTo: 1200})},
			{true, serverInitial(QUICv1, []byte{1, 2, 3, 4, 5, 6, 7, 8})},
		}, oneQUIC(1, "quic_retry")},
		{"off port 443 when it decrypts", netip.MustParseAddrPort("10.0.0.1:50000"), netip.MustParseAddrPort("192.0.2.10:8443"), []dgram{
			{false, clientInitial(QUICv1, 0, 0, ch)},
			{true, serverInitial(QUICv1, qdcid)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || ss[0].Protocol != session.QUIC || ss[0].TLS == nil || ss[0].TLS.ServerHello == nil {
				t.Fatalf("sessions %v", summaries(ss))
			}
		}},
		{"IPv6", netip.MustParseAddrPort("[2001:db8::1]:50000"), netip.MustParseAddrPort("[2001:db8::2]:443"), []dgram{
			{false, clientInitial(QUICv2, 0, 0, ch)},
			{true, serverInitial(QUICv2, qdcid)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || ss[0].TLS == nil || ss[0].TLS.ServerHello == nil || ss[0].QUICVersion != QUICv2 {
				t.Fatalf("sessions %v", summaries(ss))
			}
		}},
		{"client hello never complete", qcli, qsrv, []dgram{
			{false, clientInitial(QUICv1, 0, half, ch[half:])},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || ss[0].Protocol != session.QUIC || !ss[0].Incomplete || ss[0].TLS != nil && ss[0].TLS.ClientHello != nil {
				t.Fatalf("sessions %v", summaries(ss))
			}
		}},
		{"wrong keys: decrypt failure", qcli, qsrv, []dgram{
			{false, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, KeysDCID: []byte{9, 9, 9, 9, 9, 9, 9, 9}, Crypto: ch, PadTo: 1200})},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || !slices.Contains(ss[0].Anomalies.Names(), "quic_decrypt_failed") || snap.Get(CQUICDecryptFailed) == 0 {
				t.Fatalf("sessions %v, counters %v", summaries(ss), snap.Map())
			}
		}},
		{"server first: no flow", qcli, qsrv, []dgram{
			{true, serverInitial(QUICv1, qdcid)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 0 || snap.Get(CQUICNotInitial) != 1 {
				t.Fatalf("sessions %v, counters %v", summaries(ss), snap.Map())
			}
		}},
		{"Google QUIC Q046 and Q043: counted", qcli, qsrv, []dgram{
			{false, append([]byte{0xc3, 'Q', '0', '4', '6', 0x50, 1, 2, 3, 4, 5, 6, 7, 8}, make([]byte, 1300)...)},
			{false, append([]byte{0x0d, 1, 2, 3, 4, 5, 6, 7, 8, 'Q', '0', '4', '3'}, make([]byte, 1300)...)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 0 || snap.Get(CQUICGoogle) != 2 {
				t.Fatalf("sessions %v, counters %v", summaries(ss), snap.Map())
			}
		}},
		{"unknown version: counted", qcli, qsrv, []dgram{
			{false, append([]byte{0xc0, 0x12, 0x34, 0x56, 0x78, 8}, make([]byte, 1300)...)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 0 || snap.Get(CQUICUnsupportedVersion) != 1 {
				t.Fatalf("sessions %v, counters %v", summaries(ss), snap.Map())
			}
		}},
		{"other UDP: skipped", netip.MustParseAddrPort("10.0.0.1:5353"), netip.MustParseAddrPort("224.0.0.251:5353"), []dgram{
			{false, clientInitial(QUICv1, 0, 0, ch)[:100]},
			{false, []byte("dns")},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 0 || snap.Get(CNonTCP) != 2 || snap.Get(CQUICFlows) != 0 {
				t.Fatalf("sessions %v, counters %v", summaries(ss), snap.Map())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss, snap := runDatagrams(t, tc.c, tc.s, nil, tc.ds...)
			tc.check(t, ss, snap)
		})
	}
}

// TestQUICLimits: Initial packets past MaxQUICInitials and CRYPTO data past
// MaxQUICCrypto are counted, not kept.
func TestQUICLimits(t *testing.T) {
	ch, _ := hellos(t)
	var ds []dgram
	for i := range MaxQUICInitials + 5 {
		ds = append(ds, dgram{false, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, PacketNumber: uint32(i), CryptoOffset: 100000, Crypto: ch[:10], PadTo: 1200})})
	}
	ss, snap := runDatagrams(t, qcli, qsrv, nil, ds...)
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	if snap.Get(CQUICInitials) != MaxQUICInitials || snap.Get(CQUICInitialLimit) != 1 || snap.Get(CQUICCryptoLimit) != MaxQUICInitials {
		t.Errorf("counters %v", snap.Map())
	}
	if !slices.Contains(ss[0].Anomalies.Names(), "quic_crypto_limit") || !slices.Contains(ss[0].Anomalies.Names(), "quic_initial_limit") || !ss[0].Incomplete {
		t.Errorf("session %s", summary(ss[0]))
	}
	if ss[0].ClientPackets != uint64(MaxQUICInitials+5) {
		t.Errorf("client packets %d", ss[0].ClientPackets)
	}
}

// TestQUICVLAN: VLAN tags reach the session.
func TestQUICVLAN(t *testing.T) {
	ch, sh := hellos(t)
	ss, _ := runDatagrams(t, qcli, qsrv, &pcapgen.Link{VLANs: []uint16{100, 200}},
		dgram{false, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})},
		dgram{true, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qscid, SCID: qsrvc, Crypto: sh, Server: true, KeysDCID: qdcid})})
	if len(ss) != 1 || !slices.Equal(ss[0].VLANs, []uint16{100, 200}) || ss[0].TLS == nil || ss[0].TLS.ServerHello == nil {
		t.Fatalf("sessions %v", summaries(ss))
	}
}

// TestQUICSteadyStateNoAlloc: 1-RTT packets of a known QUIC flow, and
// retransmitted Initials, cost no allocation.
func TestQUICSteadyStateNoAlloc(t *testing.T) {
	ch, sh := hellos(t)
	var c collector
	p := NewPipeline(Config{Workers: 1}, &c)
	w := p.newWorker(0)
	ts := pcapgen.DefaultBase
	pk := func(fromServer bool, b []byte) *Packet {
		x := &Packet{Timestamp: ts, WireLen: len(b) + 42, Proto: 17, Src: qcli.Addr(), Dst: qsrv.Addr(), SrcPort: qcli.Port(), DstPort: 443, Payload: b}
		if fromServer {
			x.Src, x.Dst, x.SrcPort, x.DstPort = x.Dst, x.Src, x.DstPort, x.SrcPort
		}
		return x
	}
	ci := seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})
	w.handle(pk(false, ci))
	w.handle(pk(true, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qscid, SCID: qsrvc, Crypto: sh, Server: true, KeysDCID: qdcid})))
	short := pk(false, []byte{0x41, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	if n := testing.AllocsPerRun(100, func() { w.handle(short) }); n != 0 {
		t.Errorf("1-RTT packet: %v allocations", n)
	}
	// a fresh flow whose hello is not done yet: retransmitted partial Initials
	pk2 := pk(false, seal(t, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, SCID: qscid, CryptoOffset: 100, Crypto: ch[100:200], PadTo: 1200}))
	pk2.SrcPort = 50001
	w.handle(pk2)
	before := p.Stats().Snapshot().Get(CQUICInitials)
	if n := testing.AllocsPerRun(10, func() { w.handle(pk2) }); n != 0 {
		t.Errorf("retransmitted Initial: %v allocations", n)
	}
	if got := p.Stats().Snapshot().Get(CQUICInitials) - before; got != 11 {
		t.Errorf("%d Initials decrypted during the run, want 11", got)
	}
	w.flushAll()
	if len(c.ss) != 2 || c.ss[0].TLS == nil || c.ss[0].TLS.ServerHello == nil {
		t.Fatalf("sessions %v", summaries(c.ss))
	}
}

// BenchmarkQUICInitial: a client's first Initial (flow set-up, key
// derivation, decryption, ClientHello parsing, session) per iteration.
func BenchmarkQUICInitial(b *testing.B) {
	ch, _ := hellos(b)
	pkt := seal(b, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})
	var n int
	p := NewPipeline(Config{Workers: 1}, session.HandlerFunc(func(*session.Session) { n++ }))
	w := p.newWorker(0)
	x := &Packet{Timestamp: pcapgen.DefaultBase, WireLen: len(pkt) + 42, Proto: 17, Src: qcli.Addr(), Dst: qsrv.Addr(), SrcPort: qcli.Port(), DstPort: 443, Payload: pkt}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		w.handle(x)
		w.endFlow(w.tab.head, CFlowsFlushed)
	}
	if n == 0 {
		b.Fatal("no session")
	}
}

// BenchmarkQUICDecrypt: header protection and AEAD of one Initial with
// keys already derived (the per-packet cost).
func BenchmarkQUICDecrypt(b *testing.B) {
	ch, _ := hellos(b)
	pkt := seal(b, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})
	h, _ := parseQUICLongHeader(pkt)
	k, _ := newQUICKeys(QUICv1, qdcid, false)
	buf := make([]byte, len(pkt))
	var cs cryptoStream
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		copy(buf, pkt)
		p, _, ok := k.open(buf, &h, 0)
		if !ok {
			b.Fatal("open")
		}
		cs.fed, cs.ranges = 0, cs.ranges[:0]
		walkInitialFrames(p, &cs, false)
	}
}

// quicFuzzSeeds: the first datagrams of the corpus QUIC captures and
// generated Initials.
func quicFuzzSeeds(f *testing.F) {
	ch, sh := hellos(f)
	f.Add(seal(f, tlsgen.QUICInitial{Version: QUICv1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200}), seal(f, tlsgen.QUICInitial{Version: QUICv1, DCID: qscid, SCID: qsrvc, Crypto: sh, Server: true, KeysDCID: qdcid}))
	f.Add(seal(f, tlsgen.QUICInitial{Version: QUICv2, DCID: qdcid, CryptoOffset: 7, Crypto: ch[7:90]}), []byte{})
	f.Add(unhexQ(f, rfc9001ServerPacket), unhexQ(f, rfc9369ServerPacket))
	dir := filepath.Join(filepath.Clean(sharedCorpus), "pcaps")
	for _, name := range []string{"ja4/quic-with-several-tls-frames.pcapng", "suricata-verify/quic-v2__input.pcap", "suricata-verify/quic-retry__input.pcap",
		"ndpi/quic-29.pcap", "ndpi/quic_t50.pcap", "ndpi/quic-mvfst-27.pcapng", "zeek/quic__quic-multiple-initial-fragmented-crypto.pcap", "ndpi/quic046.pcap"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			continue
		}
		src, err := OpenFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		dec := NewDecoder()
		var pl [][]byte
		for len(pl) < 4 {
			data, ci, err := src.ReadPacket()
			if err != nil {
				break
			}
			var p Packet
			if dec.Decode(data, ci, src.LinkType(), &p) && p.Proto == 17 {
				pl = append(pl, slices.Clone(p.Payload))
			}
		}
		src.Close()
		for i := 0; i+1 < len(pl); i += 2 {
			f.Add(pl[i], pl[i+1])
		}
	}
}

// FuzzQUICInitial feeds a client datagram and a server datagram (and the
// client one again) to a worker: nothing may panic, buffers stay bounded
// and the flow ends with one session at most.
func FuzzQUICInitial(f *testing.F) {
	quicFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, client, server []byte) {
		var c collector
		p := NewPipeline(Config{Workers: 1}, &c)
		w := p.newWorker(0)
		pk := func(fromServer bool, b []byte) *Packet {
			x := &Packet{Timestamp: pcapgen.DefaultBase, WireLen: len(b) + 42, Proto: 17, Src: qcli.Addr(), Dst: qsrv.Addr(), SrcPort: qcli.Port(), DstPort: 443, Payload: b}
			if fromServer {
				x.Src, x.Dst, x.SrcPort, x.DstPort = x.Dst, x.Src, x.DstPort, x.SrcPort
			}
			return x
		}
		in := slices.Clone(client)
		w.handle(pk(false, client))
		w.handle(pk(true, server))
		w.handle(pk(false, client))
		if !bytes.Equal(in, client) {
			t.Fatal("the packet buffer was changed")
		}
		if f := w.tab.head; f != nil && f.quic != nil {
			for _, cs := range f.quic.crypto {
				if len(cs.buf) > MaxQUICCrypto || len(cs.ranges) > maxQUICRanges || cs.fed > cs.contiguous() {
					t.Fatalf("crypto stream: %d bytes, %d ranges, fed %d", len(cs.buf), len(cs.ranges), cs.fed)
				}
			}
		}
		w.flushAll()
		if len(c.ss) > 1 || p.Stats().Snapshot().ActiveFlows() != 0 {
			t.Fatalf("%d sessions", len(c.ss))
		}
		for _, s := range c.ss {
			if s.Protocol != session.QUIC || s.Transport != session.UDP {
				t.Fatalf("session %s", summary(s))
			}
			if s.TLS != nil && s.TLS.ClientHello != nil {
				_ = tlsparse.JA4(s.TLS.ClientHello, true)
			}
		}
	})
}

var _ = time.Second
