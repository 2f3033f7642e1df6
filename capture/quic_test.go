package capture

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/quic"
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

// The server's Initials of RFC 9001 A.3 and RFC 9369 A.3 (fuzz seeds; the
// packet-level tests are in package quic).
const (
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

// hellos are crypto/tls's QUIC ClientHello and ServerHello (CRYPTO bytes).
func hellos(t testing.TB) (ch, sh []byte) { return tlsgen.MustSampleQUICHello(t) }

func seal(t testing.TB, p tlsgen.QUICInitial) []byte { return p.MustSeal(t) }

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
		if v == quic.V2 {
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
			{false, clientInitial(quic.V1, 0, 0, ch)},
			{true, append(serverInitial(quic.V1, qdcid), handshakePkt(quic.V1)...)},
			{false, []byte{0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9}}, // 1-RTT: counted
		}, oneQUIC(1)},
		{"v2 hello over two Initials, second first", qcli, qsrv, []dgram{
			{false, clientInitial(quic.V2, 1, half, ch[half:])},
			{false, clientInitial(quic.V2, 0, 0, ch[:half])},
			{true, append(serverInitial(quic.V2, qdcid), handshakePkt(quic.V2)...)},
		}, oneQUIC(2)},
		{"coalesced Initials in one datagram", qcli, qsrv, []dgram{
			{false, append(clientInitial(quic.V1, 0, 0, ch[:half]), clientInitial(quic.V1, 1, half, ch[half:])...)},
			{true, serverInitial(quic.V1, qdcid)},
		}, oneQUIC(2)},
		{"retransmitted Initial", qcli, qsrv, []dgram{
			{false, clientInitial(quic.V1, 0, 0, ch)},
			{false, clientInitial(quic.V1, 1, 0, ch)},
			{true, serverInitial(quic.V1, qdcid)},
		}, oneQUIC(1)},
		{"server Initial before the hello is complete", qcli, qsrv, []dgram{
			{false, clientInitial(quic.V1, 0, half, ch[half:])},
			{true, serverInitial(quic.V1, qdcid)},
			{false, clientInitial(quic.V1, 1, 0, ch[:half])},
		}, oneQUIC(2)},
		{"Retry: keys from the new connection id", qcli, qsrv, []dgram{
			{false, clientInitial(quic.V1, 0, 0, ch)},
			{true, append([]byte{0xf0, 0, 0, 0, 1, 2, 0x5c, 0x1d, 8, 1, 2, 3, 4, 5, 6, 7, 8}, bytes.Repeat([]byte{0x77}, 24)...)},
			{false, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: []byte{1, 2, 3, 4, 5, 6, 7, 8}, SCID: qscid, Token: []byte("tok"), PacketNumber: 1, Crypto: ch, PadTo: 1200})},
			{true, serverInitial(quic.V1, []byte{1, 2, 3, 4, 5, 6, 7, 8})},
		}, oneQUIC(1, "quic_retry")},
		{"off port 443 when it decrypts", netip.MustParseAddrPort("10.0.0.1:50000"), netip.MustParseAddrPort("192.0.2.10:8443"), []dgram{
			{false, clientInitial(quic.V1, 0, 0, ch)},
			{true, serverInitial(quic.V1, qdcid)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || ss[0].Protocol != session.QUIC || ss[0].TLS == nil || ss[0].TLS.ServerHello == nil {
				t.Fatalf("sessions %v", summaries(ss))
			}
		}},
		{"IPv6", netip.MustParseAddrPort("[2001:db8::1]:50000"), netip.MustParseAddrPort("[2001:db8::2]:443"), []dgram{
			{false, clientInitial(quic.V2, 0, 0, ch)},
			{true, serverInitial(quic.V2, qdcid)},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || ss[0].TLS == nil || ss[0].TLS.ServerHello == nil || ss[0].QUICVersion != quic.V2 {
				t.Fatalf("sessions %v", summaries(ss))
			}
		}},
		{"client hello never complete", qcli, qsrv, []dgram{
			{false, clientInitial(quic.V1, 0, half, ch[half:])},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || ss[0].Protocol != session.QUIC || !ss[0].Incomplete || ss[0].TLS != nil && ss[0].TLS.ClientHello != nil {
				t.Fatalf("sessions %v", summaries(ss))
			}
		}},
		{"wrong keys: decrypt failure", qcli, qsrv, []dgram{
			{false, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, KeysDCID: []byte{9, 9, 9, 9, 9, 9, 9, 9}, Crypto: ch, PadTo: 1200})},
		}, func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if len(ss) != 1 || !slices.Contains(ss[0].Anomalies.Names(), "quic_decrypt_failed") || snap.Get(CQUICDecryptFailed) == 0 {
				t.Fatalf("sessions %v, counters %v", summaries(ss), snap.Map())
			}
		}},
		{"server first: no flow", qcli, qsrv, []dgram{
			{true, serverInitial(quic.V1, qdcid)},
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
			{false, clientInitial(quic.V1, 0, 0, ch)[:100]},
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

// TestQUICLimits: Initial packets past maxQUICInitials and CRYPTO data past
// quic.MaxCrypto are counted, not kept.
func TestQUICLimits(t *testing.T) {
	ch, _ := hellos(t)
	var ds []dgram
	for i := range maxQUICInitials + 5 {
		ds = append(ds, dgram{false, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, PacketNumber: uint32(i), CryptoOffset: 100000, Crypto: ch[:10], PadTo: 1200})})
	}
	ss, snap := runDatagrams(t, qcli, qsrv, nil, ds...)
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	if snap.Get(CQUICInitials) != maxQUICInitials || snap.Get(CQUICInitialLimit) != 1 || snap.Get(CQUICCryptoLimit) != maxQUICInitials {
		t.Errorf("counters %v", snap.Map())
	}
	if !slices.Contains(ss[0].Anomalies.Names(), "quic_crypto_limit") || !slices.Contains(ss[0].Anomalies.Names(), "quic_initial_limit") || !ss[0].Incomplete {
		t.Errorf("session %s", summary(ss[0]))
	}
	if ss[0].ClientPackets != uint64(maxQUICInitials+5) {
		t.Errorf("client packets %d", ss[0].ClientPackets)
	}
}

// TestQUICVLAN: VLAN tags reach the session.
func TestQUICVLAN(t *testing.T) {
	ch, sh := hellos(t)
	ss, _ := runDatagrams(t, qcli, qsrv, &pcapgen.Link{VLANs: []uint16{100, 200}},
		dgram{false, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})},
		dgram{true, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qscid, SCID: qsrvc, Crypto: sh, Server: true, KeysDCID: qdcid})})
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
	ci := seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})
	w.handle(pk(false, ci))
	w.handle(pk(true, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qscid, SCID: qsrvc, Crypto: sh, Server: true, KeysDCID: qdcid})))
	short := pk(false, []byte{0x41, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
	if n := testing.AllocsPerRun(100, func() { w.handle(short) }); n != 0 {
		t.Errorf("1-RTT packet: %v allocations", n)
	}
	// a fresh flow whose hello is not done yet: retransmitted partial Initials
	pk2 := pk(false, seal(t, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, SCID: qscid, CryptoOffset: 100, Crypto: ch[100:200], PadTo: 1200}))
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
	pkt := seal(b, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200})
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

// quicFuzzSeeds: the first datagrams of the corpus QUIC captures and
// generated Initials.
func quicFuzzSeeds(f *testing.F) {
	ch, sh := hellos(f)
	f.Add(seal(f, tlsgen.QUICInitial{Version: quic.V1, DCID: qdcid, SCID: qscid, Crypto: ch, PadTo: 1200}), seal(f, tlsgen.QUICInitial{Version: quic.V1, DCID: qscid, SCID: qsrvc, Crypto: sh, Server: true, KeysDCID: qdcid}))
	f.Add(seal(f, tlsgen.QUICInitial{Version: quic.V2, DCID: qdcid, CryptoOffset: 7, Crypto: ch[7:90]}), []byte{})
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
			for i := range f.quic.crypto {
				// the stream's own bounds are FuzzDatagram's (package quic)
				if n := len(f.quic.crypto[i].Data()); n > quic.MaxCrypto || f.quic.fed[i] > n {
					t.Fatalf("crypto stream: %d bytes, fed %d", n, f.quic.fed[i])
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
