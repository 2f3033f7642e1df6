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
// shares its slot with the ended tombstone until its queue entry comes up,
// which the flow's own tombstone reuses (one queue entry).
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
		queued       int    // queue entries left
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
			if got := w.tombs.q.len(); got != tc.queued {
				t.Errorf("%d queue entries, want %d", got, tc.queued)
			}
			w.flushAll()
			if snap := p.Stats().Snapshot(); snap.ActiveFlows() != 0 || w.mem.used != 0 {
				t.Errorf("after the flush: %d flows, %d bytes", snap.ActiveFlows(), w.mem.used)
			}
		})
	}
}

// TestTombCompact: when the last of a grown queue of tombstones expires,
// the flow table's map and slots shrink to its live flows (renumbered),
// which are still found and close into tombstones as before; a small queue
// is left as it is.
func TestTombCompact(t *testing.T) {
	tests := []struct {
		name         string
		tombs, flows int
		compacted    bool
	}{
		{"small queue kept", 100, 3, false},
		{"grown queue let go", 5000, 3, true},
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
			if w.tombs.live != 0 || w.tombs.q.len() != 0 {
				t.Fatalf("%d tombstones, %d queue entries left", w.tombs.live, w.tombs.q.len())
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

// TestTombQueue: entries come out of the queue by expiry, whatever the
// order of pushes (in order, to the ring, or before the ring's last, to
// the heap), pops and a first entry queued again at a later expiry (an
// extended tombstone), against a sorted list; the ring wraps and grows.
func TestTombQueue(t *testing.T) {
	tests := []struct {
		name    string
		ops     int
		span    int64 // expiries are in [0, span) past the last pushed: small spans give ties
		ordered int   // in 16 pushes, this many are in order (at least the last pushed)
		heap    bool  // some entries went to the heap
	}{
		{"ties", 2000, 8, 8, true},
		{"spread", 2000, 1 << 40, 8, true},
		{"deep", 20000, 1 << 20, 8, true},
		{"in order", 20000, 1 << 20, 16, false},
		{"mostly in order", 20000, 1 << 20, 15, true},
		{"out of order", 2000, 1 << 20, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.ops)))
			var q tombQueue
			var want []int64 // sorted
			var last int64   // the last expiry pushed in order
			heap := false
			next := func(from int64) int64 { // an expiry past from, in order or not
				if rng.IntN(16) < tc.ordered {
					from = max(from, last)
					last = from + rng.Int64N(tc.span)
					return last
				}
				return from + rng.Int64N(tc.span)
			}
			for range tc.ops {
				switch op := rng.IntN(4); {
				case op <= 1 || len(want) == 0:
					e := next(0)
					q.push(tombEntry{expiry: e})
					want = append(want, e)
					slices.Sort(want)
				case op == 2:
					if got := q.pop().expiry; got != want[0] {
						t.Fatalf("popped %d, want %d", got, want[0])
					}
					want = want[1:]
				default:
					e := q.pop()
					e.expiry = next(e.expiry)
					q.push(e)
					want[0] = e.expiry
					slices.Sort(want)
				}
				heap = heap || len(q.heap) > 0
				if q.len() != len(want) || len(want) > 0 && q.first().expiry != want[0] {
					t.Fatalf("%d entries, want %d, or the first is not the least", q.len(), len(want))
				}
			}
			if heap != tc.heap {
				t.Errorf("entries in the heap: %v, want %v", heap, tc.heap)
			}
			for len(want) > 0 {
				if got := q.pop().expiry; got != want[0] {
					t.Fatalf("draining: popped %d, want %d", got, want[0])
				}
				want = want[1:]
			}
		})
	}
}

// entries are the queue's entries, the ring's then the heap's.
func (q *tombQueue) entries() []tombEntry {
	var es []tombEntry
	for i := range q.n {
		es = append(es, q.ring[(q.head+i)&(len(q.ring)-1)])
	}
	return append(es, q.heap...)
}

// TestTombOutOfOrder: tombstones queued out of order of expiry (an abs
// one lingers IdleTimeout, longer than a CloseLinger one buried after
// it) still expire at their own time: the later-buried, sooner-expiring
// one ends first (on the sweep, or dropped at the bound) and its key's
// late packet starts a flow, while the abs one still absorbs.
func TestTombOutOfOrder(t *testing.T) {
	type step struct {
		host  byte
		at    time.Duration // packet time since the start
		flags uint8
	}
	open := []step{{1, 0, FlagSYN}, {1, 20 * time.Second, FlagACK}, // 1: abs timeout at 20 s, lingers to 80 s
		{2, 10 * time.Second, FlagSYN}, {2, 21 * time.Second, FlagRST}} // 2: closed at 21 s, lingers to 51 s
	tests := []struct {
		name      string
		max       int // MaxTombstones
		steps     []step
		late, new uint64 // CLateAfterClose, CFlowsCreated
		queued    int    // queue entries left
	}{
		{"both linger", 0, []step{{1, 50 * time.Second, FlagACK}, {2, 50 * time.Second, FlagACK}}, 2, 2, 2},
		{"the later one expires first", 0, []step{{3, 55 * time.Second, FlagSYN}}, 0, 3, 1},
		{"then its key starts a flow", 0, []step{{3, 55 * time.Second, FlagSYN}, {2, 56 * time.Second, FlagACK}, {1, 57 * time.Second, FlagACK}}, 1, 4, 1},
		{"both expire", 0, []step{{3, 85 * time.Second, FlagSYN}, {2, 86 * time.Second, FlagACK}, {1, 87 * time.Second, FlagACK}}, 0, 5, 0},
		{"the bound drops the later one", 2, []step{{3, 22 * time.Second, FlagSYN}, {3, 23 * time.Second, FlagRST},
			{1, 25 * time.Second, FlagACK}}, 1, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Workers: 1, MaxTombstones: tc.max, CloseLinger: 30 * time.Second, IdleTimeout: time.Minute, AbsoluteTimeout: 15 * time.Second}
			p := NewPipeline(cfg, session.HandlerFunc(func(*session.Session) {}))
			w := p.newWorker(0)
			steps := append(slices.Clone(open), tc.steps...)
			slices.SortStableFunc(steps, func(a, b step) int { return int(a.at - b.at) })
			for _, s := range steps {
				ts := pcapgen.DefaultBase.Add(s.at)
				pk := Packet{Timestamp: ts, WireLen: 60, Proto: 6, Src: netip.AddrFrom4([4]byte{10, 0, 0, s.host}), Dst: srv.Addr(),
					SrcPort: 40000, DstPort: 443, Seq: 1, Flags: s.flags}
				w.advance(ts.UnixNano())
				w.handle(&pk)
				checkSlots(t, w)
				checkMem(t, w)
			}
			snap := p.Stats().Snapshot()
			if got := snap.Get(CLateAfterClose); got != tc.late {
				t.Errorf("late %d, want %d", got, tc.late)
			}
			if got := snap.Get(CFlowsCreated); got != tc.new {
				t.Errorf("flows created %d, want %d", got, tc.new)
			}
			if got := w.tombs.q.len(); got != tc.queued {
				t.Errorf("%d queue entries, want %d", got, tc.queued)
			}
		})
	}
}

// TestTombRecent: the tombstone front cache (tombs.recent) answers only
// with the slot the flow table's map holds for the key, through random
// opens, closes, late packets, reopens, expiries, drops at the bound and
// compactions, with more keys than it has places; and it answers for the
// late packet just after a close.
func TestTombRecent(t *testing.T) {
	const keys = 6000
	for _, maxTombs := range []int{0, 50} {
		p := NewPipeline(Config{Workers: 1, MaxTombstones: maxTombs}, session.HandlerFunc(func(*session.Session) {}))
		w := p.newWorker(0)
		rng := rand.New(rand.NewPCG(1, uint64(maxTombs)))
		key := func(i int) (Packet, flowKey) {
			pk := Packet{WireLen: 60, Proto: 6, Src: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), Dst: srv.Addr(),
				SrcPort: 40000, DstPort: 443, Seq: 1}
			return pk, makeKey(&pk, false)
		}
		agree := func(i int) {
			_, k := key(i)
			if s, ok := w.tombs.recentSlot(&k); ok {
				if m, in := w.tab.m[k]; !in || m != s {
					t.Fatalf("key %d: the cache says slot %d, the map %d (present %v)", i, s, m, in)
				}
			}
		}
		ts, hits := pcapgen.DefaultBase, 0
		for step := range 40000 {
			i := rng.IntN(keys)
			if rng.IntN(4) == 0 {
				i = rng.IntN(40) // a few busy keys: reopened and closed again
			}
			switch r := rng.IntN(1000); {
			case r < 2:
				ts = ts.Add(31 * time.Second) // past the linger: expiries, maybe a compaction
			case r < 500:
				ts = ts.Add(time.Millisecond)
			}
			pk, k := key(i)
			pk.Timestamp = ts
			pk.Flags = [...]uint8{FlagSYN, FlagACK, FlagRST, FlagFIN | FlagACK}[rng.IntN(4)]
			w.advance(ts.UnixNano())
			w.handle(&pk)
			agree(i)
			if pk.Flags == FlagRST {
				if _, ok := w.tombs.recentSlot(&k); ok {
					hits++
				}
			}
			for range 8 {
				agree(rng.IntN(keys))
			}
			if step%5000 == 0 {
				checkMem(t, w)
			}
		}
		if hits == 0 {
			t.Errorf("MaxTombstones %d: no close left its tombstone in the cache", maxTombs)
		}
		w.flushAll()
		for i := range keys {
			if _, k := key(i); true {
				if _, ok := w.tombs.recentSlot(&k); ok {
					t.Fatalf("key %d still cached after the flush", i)
				}
			}
		}
	}
}
