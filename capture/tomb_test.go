package capture

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
)

// TestTombLifecycle: a closed flow's tombstone absorbs late packets and is
// extended by them, a SYN reopens it, the sweep expires it past its
// linger, and the bound drops the oldest (counted). A reopened key's flow
// shares its slot with the ended tombstone until its heap entry comes up,
// which the flow's own tombstone reuses (one heap entry).
func TestTombLifecycle(t *testing.T) {
	type step struct {
		host  byte          // client 10.0.0.host
		after time.Duration // packet time since the previous step
		flags uint8         // 0: RST from the client (closes), else these flags
	}
	tests := []struct {
		name         string
		max, flows   int // MaxTombstones, MaxFlows
		steps        []step
		late, tombs  uint64 // CLateAfterClose, tombstones left
		dropped, new uint64 // CTombstonesDropped, CFlowsCreated
		queued       int    // heap entries left
	}{
		{"absorb", 0, 0, []step{{1, 0, FlagSYN}, {1, time.Millisecond, 0}, {1, time.Second, FlagACK}}, 1, 1, 0, 1, 1},
		{"extend", 0, 0, []step{{1, 0, FlagSYN}, {1, 0, 0}, {1, 20 * time.Second, FlagACK}, {1, 20 * time.Second, FlagACK}}, 2, 1, 0, 1, 1},
		{"expire past the linger", 0, 0, []step{{1, 0, FlagSYN}, {1, 0, 0}, {1, 31 * time.Second, FlagACK}}, 0, 0, 0, 2, 0},
		{"expire on sweep", 0, 0, []step{{1, 0, FlagSYN}, {1, 0, 0}, {2, 32 * time.Second, FlagSYN}}, 0, 0, 0, 2, 0},
		{"reopen by SYN", 0, 0, []step{{1, 0, FlagSYN}, {1, 0, 0}, {1, time.Second, FlagSYN}}, 0, 0, 0, 2, 1},
		{"reopen, close again", 0, 0, []step{{1, 0, FlagSYN}, {1, 0, 0}, {1, time.Second, FlagSYN}, {1, time.Second, 0}, {1, time.Second, FlagACK}}, 1, 1, 0, 2, 1},
		{"dead one expires beside the flow", 0, 0, []step{{1, 0, FlagSYN}, {1, 0, 0}, {1, time.Second, FlagSYN}, {1, 40 * time.Second, FlagACK}, {1, time.Second, 0}, {1, time.Second, FlagACK}}, 1, 1, 0, 2, 1},
		{"reopened flow evicted", 0, 1, []step{{1, 0, FlagSYN}, {1, 0, 0}, {1, time.Second, FlagSYN}, {2, 0, FlagSYN}, {1, 0, FlagSYN}, {1, 0, 0}}, 0, 1, 0, 4, 1},
		{"bound", 2, 0, []step{{1, 0, 0}, {2, 0, 0}, {3, 0, 0}, {1, time.Second, FlagACK}, {3, 0, FlagACK}}, 1, 2, 1, 4, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPipeline(Config{Workers: 1, MaxTombstones: tc.max, MaxFlows: tc.flows}, session.HandlerFunc(func(*session.Session) {}))
			w := p.newWorker(0)
			ts := pcapgen.DefaultBase
			for _, s := range tc.steps {
				ts = ts.Add(s.after)
				flags := s.flags
				if flags == 0 {
					flags = FlagRST
				}
				pk := Packet{Timestamp: ts, WireLen: 60, Proto: 6, Src: netip.AddrFrom4([4]byte{10, 0, 0, s.host}), Dst: srv.Addr(),
					SrcPort: 40000, DstPort: 443, Seq: 1, Flags: flags}
				w.advance(ts.UnixNano())
				w.handle(&pk)
				checkMem(t, w)
			}
			snap := p.Stats().Snapshot()
			if got := snap.Get(CLateAfterClose); got != tc.late {
				t.Errorf("late %d, want %d", got, tc.late)
			}
			if got := uint64(w.tombs.live); got != tc.tombs {
				t.Errorf("tombstones %d, want %d", got, tc.tombs)
			}
			if got := snap.Get(CTombstonesDropped); got != tc.dropped {
				t.Errorf("dropped %d, want %d", got, tc.dropped)
			}
			if got := snap.Get(CFlowsCreated); got != tc.new {
				t.Errorf("flows created %d, want %d", got, tc.new)
			}
			if got := len(w.tombs.q); got != tc.queued {
				t.Errorf("%d heap entries, want %d", got, tc.queued)
			}
			w.flushAll()
			if snap := p.Stats().Snapshot(); snap.ActiveFlows() != 0 || w.mem.used != 0 {
				t.Errorf("after the flush: %d flows, %d bytes", snap.ActiveFlows(), w.mem.used)
			}
		})
	}
}

// TestTombCompact: when the last of a grown heap of tombstones expires,
// the flow table's map and slots shrink to its live flows (renumbered),
// which are still found and close into tombstones as before; a small heap
// is left as it is.
func TestTombCompact(t *testing.T) {
	tests := []struct {
		name         string
		tombs, flows int
		compacted    bool
	}{
		{"small heap kept", 100, 3, false},
		{"grown heap let go", 5000, 3, true},
		{"no flow left", 5000, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPipeline(Config{Workers: 1}, session.HandlerFunc(func(*session.Session) {}))
			w := p.newWorker(0)
			base := pcapgen.DefaultBase
			send := func(i int, at time.Duration, flags uint8) {
				ts := base.Add(at)
				pk := Packet{Timestamp: ts, WireLen: 60, Proto: 6, Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
					Dst: srv.Addr(), SrcPort: 40000, DstPort: 443, Seq: 1, Flags: flags}
				w.advance(ts.UnixNano())
				w.handle(&pk)
			}
			for i := range tc.tombs + tc.flows {
				send(i, 0, FlagSYN)
			}
			for i := range tc.tombs {
				send(i, time.Millisecond, FlagRST)
			}
			checkMem(t, w)
			w.advance(base.Add(31 * time.Second).UnixNano()) // the sweep expires every tombstone
			checkMem(t, w)
			if w.tombs.live != 0 || len(w.tombs.q) != 0 {
				t.Fatalf("%d tombstones, %d heap entries left", w.tombs.live, len(w.tombs.q))
			}
			compacted := len(w.tab.slots) == tc.flows && cap(w.tombs.keys) == 0
			if compacted != tc.compacted || w.tab.n != tc.flows {
				t.Fatalf("%d flows in %d slots, %d keys' room: compacted %v, want %v",
					w.tab.n, len(w.tab.slots), cap(w.tombs.keys), compacted, tc.compacted)
			}
			for i := tc.tombs; i < tc.tombs+tc.flows; i++ {
				send(i, 32*time.Second, FlagRST)
				checkMem(t, w)
			}
			if w.tombs.live != tc.flows || w.tab.n != 0 {
				t.Fatalf("%d tombstones, %d flows after closing the flows", w.tombs.live, w.tab.n)
			}
		})
	}
}

// TestTombHeap: entries come out of the heap by expiry, whatever the
// order of pushes, pops and a first entry moved to a later expiry (an
// extended tombstone), against a sorted list.
func TestTombHeap(t *testing.T) {
	tests := []struct {
		name string
		ops  int
		span int64 // expiries are in [0, span): small spans give ties
	}{
		{"ties", 2000, 8},
		{"spread", 2000, 1 << 40},
		{"deep", 20000, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.ops)))
			var h tombs
			var want []int64 // sorted
			for range tc.ops {
				switch op := rng.IntN(4); {
				case op <= 1 || len(want) == 0:
					e := rng.Int64N(tc.span)
					h.push(tombEntry{expiry: e})
					want = append(want, e)
					slices.Sort(want)
				case op == 2:
					if got := h.pop().expiry; got != want[0] {
						t.Fatalf("popped %d, want %d", got, want[0])
					}
					want = want[1:]
				default:
					e := want[0] + rng.Int64N(tc.span)
					h.q[0].expiry = e
					h.down(0)
					want[0] = e
					slices.Sort(want)
				}
				if len(h.q) != len(want) || len(want) > 0 && h.q[0].expiry != want[0] {
					t.Fatalf("%d entries, want %d, or the first is not the least", len(h.q), len(want))
				}
			}
			for len(want) > 0 {
				if got := h.pop().expiry; got != want[0] {
					t.Fatalf("draining: popped %d, want %d", got, want[0])
				}
				want = want[1:]
			}
		})
	}
}
