package quic

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/tlsparse"
)

func unhex(t testing.TB, s string) []byte {
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
func TestInitialSecrets(t *testing.T) {
	for _, tc := range []struct {
		version     uint32
		server      bool
		key, iv, hp string
	}{
		{V1, false, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{V1, true, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
		{V2, false, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
		{V2, true, "82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a"},
	} {
		key, iv, hp, ok := initialSecrets(tc.version, unhex(t, rfcDCID), tc.server)
		if !ok || hex.EncodeToString(key) != tc.key || hex.EncodeToString(iv) != tc.iv || hex.EncodeToString(hp) != tc.hp {
			t.Errorf("%#x server=%v: key %x iv %x hp %x", tc.version, tc.server, key, iv, hp)
		}
	}
	if _, _, _, ok := initialSecrets(0x51303436, unhex(t, rfcDCID), false); ok {
		t.Error("Q046 has no Initial keys")
	}
}

// TestQUICClientHeaderProtection: RFC 9001 A.2 and RFC 9369 A.2 (the
// protected header followed by the sample).
func TestClientHeaderProtection(t *testing.T) {
	for _, tc := range []struct {
		version                  uint32
		protected, sample, plain string
	}{
		{V1, "c000000001088394c8f03e5157080000449e7b9aec34", "d1b1c98dd7689fb8ec11d242b123dc9b", "c300000001088394c8f03e5157080000449e00000002"},
		{V2, "d76b3343cf088394c8f03e5157080000449ea0c95e82", "ffe67b6abcdb4298b485dd04de806071", "d36b3343cf088394c8f03e5157080000449e00000002"},
	} {
		k, ok := NewKeys(tc.version, unhex(t, rfcDCID), false)
		if !ok {
			t.Fatal("keys")
		}
		pkt := unhex(t, tc.protected+tc.sample)
		h, ok := ParseLongHeader(pkt)
		if !ok || h.Type != Initial || h.PNOffset != 18 || !bytes.Equal(h.DCID, unhex(t, rfcDCID)) || h.End != 18+1182 {
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
func TestServerInitialRFC(t *testing.T) {
	for _, tc := range []struct {
		version uint32
		packet  string
	}{{V1, rfc9001ServerPacket}, {V2, rfc9369ServerPacket}} {
		pkt := unhex(t, tc.packet)
		h, ok := ParseLongHeader(pkt)
		if !ok || h.Version != tc.version || h.Type != Initial || h.End != len(pkt) || len(h.DCID) != 0 ||
			hex.EncodeToString(h.SCID) != "f067a5502a4262b5" {
			t.Fatalf("%#x: header %+v ok=%v", tc.version, h, ok)
		}
		k, _ := NewKeys(tc.version, unhex(t, rfcDCID), true)
		if _, _, ok := k.Open(slices.Clone(pkt), &h, 0); ok == false {
			t.Fatalf("%#x: does not decrypt", tc.version)
		}
		// the client's keys must not open it
		ck, _ := NewKeys(tc.version, unhex(t, rfcDCID), false)
		if _, _, ok := ck.Open(slices.Clone(pkt), &h, 0); ok {
			t.Fatalf("%#x: decrypts with the client's keys", tc.version)
		}
		payload, pn, ok := k.Open(pkt, &h, 0)
		if !ok || pn != 1 || hex.EncodeToString(payload) != hex.EncodeToString(unhex(t, rfcServerPayload)) {
			t.Fatalf("%#x: pn %d payload %x", tc.version, pn, payload)
		}
		var cs CryptoStream
		n, ok := WalkInitialFrames(payload, &cs, false)
		if !ok || n != 1 || cs.Contiguous() != 0x5a {
			t.Fatalf("%#x: %d CRYPTO frames, %d bytes, ok=%v", tc.version, n, cs.Contiguous(), ok)
		}
		var sh tlsparse.ServerHello
		if err := sh.Unmarshal(cs.buf[4:cs.Contiguous()]); err != nil {
			t.Fatalf("%#x: %v", tc.version, err)
		}
		if sh.CipherSuite != 0x1301 || sh.Version() != 0x0304 || sh.KeyShareGroup != 0x001d {
			t.Errorf("%#x: ServerHello %+v", tc.version, sh)
		}
		// every strict prefix of the packet fails cleanly
		pkt = unhex(t, tc.packet)
		for i := range len(pkt) {
			p := slices.Clone(pkt[:i])
			if h, ok := ParseLongHeader(p); ok && h.End <= len(p) {
				t.Fatalf("%#x: prefix of %d bytes parses to a whole packet", tc.version, i)
			}
		}
	}
}

func TestLongHeaderTypes(t *testing.T) {
	// v2 numbers its types differently (RFC 9369 section 3.2)
	for _, tc := range []struct {
		version uint32
		bits    byte
		want    PacketType
	}{
		{V1, 0, Initial}, {V1, 1, ZeroRTT}, {V1, 2, Handshake}, {V1, 3, Retry},
		{V2, 1, Initial}, {V2, 2, ZeroRTT}, {V2, 3, Handshake}, {V2, 0, Retry},
		{0xff00001d, 0, Initial}, {0x54303530, 2, Handshake},
	} {
		b := []byte{0xc0 | tc.bits<<4, byte(tc.version >> 24), byte(tc.version >> 16), byte(tc.version >> 8), byte(tc.version), 1, 0xaa, 0}
		if tc.want == Initial {
			b = append(b, 0) // token length
		}
		b = append(b, 0x40, 0x14)          // length 20
		b = append(b, make([]byte, 20)...) // pn + payload
		h, ok := ParseLongHeader(b)
		if !ok || h.Type != tc.want {
			t.Errorf("%#x type bits %d: got %d ok=%v, want %d", tc.version, tc.bits, h.Type, ok, tc.want)
		}
	}
	// fixed bit clear, too long a connection id: not QUIC v1
	if _, ok := ParseLongHeader([]byte{0x80, 0, 0, 0, 1, 0, 0, 0, 1, 0}); ok {
		t.Error("fixed bit 0 accepted")
	}
	long := append([]byte{0xc0, 0, 0, 0, 1, 21}, make([]byte, 40)...)
	if _, ok := ParseLongHeader(long); ok {
		t.Error("21-byte connection id accepted for v1")
	}
}

func TestVersions(t *testing.T) {
	for _, tc := range []struct {
		v      uint32
		known  bool
		google bool
	}{
		{V1, true, false}, {V2, true, false}, {0xff00001d, true, false}, {0xff000020, true, false},
		{0xff00001b, true, false}, {0xfaceb002, true, false}, {0x54303530, true, false}, {0x0a1a2a3a, true, false},
		{0, false, false}, {0x51303436, false, true}, {0x51303530, false, true}, {0xff000001, false, false}, {0x12345678, false, false},
	} {
		_, _, known := versionSalt(tc.v)
		pkt := []byte{0xc3, byte(tc.v >> 24), byte(tc.v >> 16), byte(tc.v >> 8), byte(tc.v), 8}
		if known != tc.known || IsGoogleQUIC(pkt) != tc.google {
			t.Errorf("%#x: known %v google %v", tc.v, known, IsGoogleQUIC(pkt))
		}
	}
	// Google QUIC's older public header: flags 0x09 (version, 8-byte id), id, "Q043"
	old := append([]byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8}, "Q043"...)
	if !IsGoogleQUIC(old) {
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
		var c CryptoStream
		for _, r := range [][2]int{{1000, 2000}, {2500, 3000}, {0, 500}, {400, 1200}, {2000, 2500}} {
			if !c.Add(uint64(r[0]), data[r[0]:r[1]]) {
				t.Fatal("dropped")
			}
		}
		if c.Contiguous() != 3000 || !bytes.Equal(c.buf, data) || len(c.ranges) != 1 {
			t.Fatalf("contiguous %d, ranges %v", c.Contiguous(), c.ranges)
		}
	})
	t.Run("first wins", func(t *testing.T) {
		var c CryptoStream
		c.Add(10, []byte("abcd"))
		c.Add(8, []byte("XXYYYYZZ"))
		c.Add(0, []byte("01234567"))
		if got := string(c.buf); got != "01234567XXabcdZZ" || c.Contiguous() != 16 {
			t.Fatalf("%q", got)
		}
	})
	t.Run("hole", func(t *testing.T) {
		var c CryptoStream
		c.Add(100, data[100:200])
		if c.Contiguous() != 0 {
			t.Fatal("contiguous without offset 0")
		}
		c.Add(0, data[:99])
		if c.Contiguous() != 99 || len(c.ranges) != 2 {
			t.Fatalf("contiguous %d ranges %v", c.Contiguous(), c.ranges)
		}
	})
	t.Run("limits", func(t *testing.T) {
		var c CryptoStream
		if c.Add(MaxCrypto-1, []byte{1, 2}) || !c.limited {
			t.Fatal("data past MaxCrypto kept")
		}
		if c.Add(1<<62, []byte{1}) || c.Add(^uint64(0), []byte{1}) {
			t.Fatal("huge offset kept")
		}
		c = CryptoStream{}
		for i := range maxRanges {
			if !c.Add(uint64(10*i+5), []byte{1}) {
				t.Fatalf("piece %d dropped", i)
			}
		}
		if c.Add(1000, []byte{1}) || !c.limited {
			t.Fatal("piece past maxRanges kept")
		}
		if !c.Add(6, []byte{1}) { // adjacent: merges, no new range
			t.Fatal("merging piece dropped")
		}
		c = CryptoStream{}
		if c.Add(maxAhead, []byte{1}) || !c.limited {
			t.Fatal("piece too far past the contiguous part kept")
		}
		if !c.Add(maxAhead-1, []byte{1}) || !c.Add(0, make([]byte, 1000)) || !c.Add(maxAhead+999, []byte{1}) {
			t.Fatal("piece within reach dropped")
		}
		if cap(c.buf) > 2*maxAhead {
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
		var c CryptoStream
		n, ok := WalkInitialFrames(unhex(t, tc.payload), &c, false)
		if n != tc.n || ok != tc.ok || string(c.buf[:c.Contiguous()]) != tc.stream {
			t.Errorf("%s: n=%d ok=%v stream %q", tc.name, n, ok, c.buf[:c.Contiguous()])
		}
	}
	// T050: 0x08 is CRYPTO
	var c CryptoStream
	if n, ok := WalkInitialFrames(unhex(t, "0800026869"), &c, true); n != 1 || !ok || string(c.buf) != "hi" {
		t.Errorf("T050 CRYPTO: n=%d ok=%v %q", n, ok, c.buf)
	}
}

// hellos are crypto/tls's QUIC ClientHello and ServerHello (CRYPTO bytes).
func hellos(t testing.TB) (ch, sh []byte) { return tlsgen.MustSampleQUICHello(t) }

func seal(t testing.TB, p tlsgen.QUICInitial) []byte { return p.MustSeal(t) }

var benchDCID = []byte{0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}

// BenchmarkDecrypt: header protection and AEAD of one Initial with
// keys already derived (the per-packet cost).
func BenchmarkDecrypt(b *testing.B) {
	ch, _ := hellos(b)
	pkt := seal(b, tlsgen.QUICInitial{Version: V1, DCID: benchDCID, SCID: []byte{0x5c, 0x1d}, Crypto: ch, PadTo: 1200})
	h, _ := ParseLongHeader(pkt)
	k, _ := NewKeys(V1, benchDCID, false)
	buf := make([]byte, len(pkt))
	var cs CryptoStream
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		copy(buf, pkt)
		p, _, ok := k.Open(buf, &h, 0)
		if !ok {
			b.Fatal("open")
		}
		cs.ranges = cs.ranges[:0]
		WalkInitialFrames(p, &cs, false)
	}
}
