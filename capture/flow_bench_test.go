package capture

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
)

// BenchmarkFlowLifecycle is the bookkeeping of one short TCP connection
// (no payload, so no parsing and no session): SYN, SYN-ACK, ACK, FIN both
// ways, then a late ACK the tombstone absorbs. Connections start 1 ms
// apart over 40,000 client ports, so about 30,000 tombstones linger, as in
// a handshake-heavy capture.
func BenchmarkFlowLifecycle(b *testing.B) {
	p := NewPipeline(Config{Workers: 1}, session.HandlerFunc(func(*session.Session) {}))
	w := p.newWorker(0)
	steps := []struct {
		fromServer bool
		flags      uint8
	}{
		{false, FlagSYN}, {true, FlagSYN | FlagACK}, {false, FlagACK},
		{false, FlagFIN | FlagACK}, {true, FlagFIN | FlagACK}, {false, FlagACK},
	}
	ts := pcapgen.DefaultBase
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8 & 0x7f), byte(i)}), 20000+uint16(i%40000))
		for _, s := range steps {
			pk := Packet{Timestamp: ts, WireLen: 60, Proto: 6, Src: c.Addr(), Dst: srv.Addr(),
				SrcPort: c.Port(), DstPort: srv.Port(), Seq: 1, Ack: 1, Flags: s.flags}
			if s.fromServer {
				pk.Src, pk.Dst, pk.SrcPort, pk.DstPort = pk.Dst, pk.Src, pk.DstPort, pk.SrcPort
			}
			w.advance(ts.UnixNano())
			w.handle(&pk)
			ts = ts.Add(100 * time.Microsecond)
		}
		ts = ts.Add(400 * time.Microsecond)
	}
	b.StopTimer()
	if got := w.st.v[CLateAfterClose].Load(); got == 0 {
		b.Fatal("no late packet absorbed")
	}
}

// BenchmarkMakeKey is the key of every packet, both directions of an IPv4
// and an IPv6 connection.
func BenchmarkMakeKey(b *testing.B) {
	v6c, v6s := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	pkts := []Packet{
		{Proto: 6, Src: cli.Addr(), Dst: srv.Addr(), SrcPort: cli.Port(), DstPort: srv.Port()},
		{Proto: 6, Src: srv.Addr(), Dst: cli.Addr(), SrcPort: srv.Port(), DstPort: cli.Port()},
		{Proto: 6, Src: v6c, Dst: v6s, SrcPort: 40000, DstPort: 443},
		{Proto: 6, Src: v6s, Dst: v6c, SrcPort: 443, DstPort: 40000},
	}
	var sink flowKey
	for b.Loop() {
		for i := range pkts {
			k := makeKey(&pkts[i], false)
			sink.pa ^= k.pa
		}
	}
	if sink.pa != 0 {
		b.Fatal("keys of the two directions differ")
	}
}
