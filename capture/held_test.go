package capture

import (
	"net/netip"
	"testing"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
)

// TestHeldBytes: bytes a side sends while its peer is silent reach the
// parser later in the same pieces, whatever ends the holding.
func TestHeldBytes(t *testing.T) {
	hello := testClientHello("held.test")
	cli := netip.AddrFrom4([4]byte{10, 9, 0, 1})
	type seg struct {
		server bool   // from the server (a SYN-ACK when data is nil)
		off    int    // offset into hello
		n      int    // bytes; -1: to the end
		gapAt  uint32 // nonzero: a segment this far after the hello's end (out of order)
	}
	tests := []struct {
		name       string
		segs       []seg
		limit      int64 // memory limit; > 0 evicts
		wantDoc    bool
		wantChunks int
		wantSNI    string
		counter    Counter // nonzero: must have moved
	}{
		{name: "unanswered, whole hello in three segments", segs: []seg{{off: 0, n: 50}, {off: 50, n: 50}, {off: 100, n: -1}},
			wantDoc: true, wantChunks: 3, wantSNI: "held.test"},
		{name: "answered after the first segment", segs: []seg{{off: 0, n: 60}, {server: true}, {off: 60, n: -1}},
			wantDoc: true, wantChunks: 2, wantSNI: "held.test"},
		{name: "more segments than are held", segs: []seg{{off: 0, n: 10}, {off: 10, n: 10}, {off: 20, n: 10}, {off: 30, n: 10}, {off: 40, n: 10}, {off: 50, n: -1}},
			wantDoc: true, wantChunks: 6, wantSNI: "held.test"},
		{name: "gap after a held hello", segs: []seg{{off: 0, n: 80}, {off: 80, n: -1}, {gapAt: 5000}},
			wantDoc: true, wantChunks: 2, wantSNI: "held.test", counter: CReasmGaps},
		{name: "half a hello, never answered", segs: []seg{{off: 0, n: 100}}, wantDoc: false},
		{name: "evicted while held", segs: []seg{{off: 0, n: 50}, {off: 50, n: -1}}, limit: 600, wantDoc: false, counter: CFlowsEvictedNoHello},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []*session.Session
			_, w := memWorker(0, session.HandlerFunc(func(s *session.Session) { got = append(got, s) }))
			w.r.maxPendingBytes = 2 // an out-of-order segment is a gap at once
			w.mem.limit = tt.limit
			ts := pcapgen.DefaultBase
			pk := Packet{Timestamp: ts, WireLen: 60, Src: cli, Dst: srv.Addr(), SrcPort: 40001, DstPort: 443, Proto: 6, Seq: 1000, Flags: FlagSYN}
			w.handle(&pk)
			for _, s := range tt.segs {
				if s.server {
					sa := Packet{Timestamp: ts, WireLen: 60, Src: srv.Addr(), Dst: cli, SrcPort: 443, DstPort: 40001, Proto: 6, Seq: 7000, Ack: 1001, Flags: FlagSYN | FlagACK}
					w.handle(&sa)
					continue
				}
				data := hello[s.off:]
				if s.n >= 0 {
					data = data[:s.n]
				}
				seq := uint32(1001 + s.off)
				if s.gapAt > 0 {
					data, seq = []byte("late"), uint32(1001+len(hello))+s.gapAt
				}
				pk := Packet{Timestamp: ts, WireLen: 60 + len(data), Src: cli, Dst: srv.Addr(), SrcPort: 40001, DstPort: 443, Proto: 6,
					Seq: seq, Flags: FlagACK | FlagPSH, Payload: data}
				w.handle(&pk)
			}
			w.flushAll()
			if tt.counter != 0 && w.st.v[tt.counter].Load() == 0 {
				t.Errorf("counter %v did not move", tt.counter)
			}
			if !tt.wantDoc {
				if len(got) != 0 {
					t.Fatalf("%d sessions, want none", len(got))
				}
				return
			}
			if len(got) != 1 || got[0].TLS == nil || got[0].TLS.ClientHello == nil {
				t.Fatalf("sessions %v, want one with a ClientHello", got)
			}
			hs := got[0].TLS
			if hs.ClientHello.ServerName != tt.wantSNI || hs.ClientHelloChunks != tt.wantChunks {
				t.Errorf("SNI %q in %d chunks, want %q in %d", hs.ClientHello.ServerName, hs.ClientHelloChunks, tt.wantSNI, tt.wantChunks)
			}
		})
	}
}
