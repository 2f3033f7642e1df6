package sensor

import (
	"math"
	"sync/atomic"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/session"
)

// The judging order of a replay. Rules with suppress or threshold blocks
// keep state, so which session of a key carries its alert follows the order
// sessions are judged in; workers finish sessions in an order that depends
// on how flows are sharded. The stage below judges them in the order of
// their order keys (capture.OrderedHandler: packet time of the logical
// emission), ties broken by the session's own fields, so that --workers 1
// and --workers 8 write the same documents.
//
// Every worker publishes a watermark: it will hand over no session with a
// key below it. The stage holds sessions in a heap and releases, in order,
// those below the smallest watermark of all workers; at the end of input
// it releases everything. One goroutine releases, so the judge, Stages,
// the encoder and the sinks see one session at a time: the workers'
// goroutine with one worker, the stage's own with several.
//
// Held sessions are bounded (Config.OrderMemory, an estimate of their
// bytes): past it the oldest are released before their turn (counted in
// ReleasedEarly). A session whose key is below one already released (a
// capture whose timestamps go back further than the sweep allows) is
// judged at once, out of order (counted in ArrivedLate). Either one means
// the run's order was not guaranteed.

// DefaultOrderMemory is the default bound of the sessions the judging
// stage holds: 8 MiB.
const DefaultOrderMemory = 8 << 20

// OrderStats are the judging stage's counters.
type OrderStats struct {
	Held      int64  // sessions held now
	HeldBytes int64  // their estimated memory
	Limit     int64  // the bound (Config.OrderMemory)
	Released  uint64 // sessions released in order
	// ReleasedEarly counts sessions released before their turn because
	// the held ones were over Limit.
	ReleasedEarly uint64
	// ArrivedLate counts sessions whose key was below one already
	// released: judged at once, out of order.
	ArrivedLate uint64
}

// orderItem is a held session.
type orderItem struct {
	key   int64
	bytes int64
	s     *session.Session
}

// orderHeap is a min-heap of items by (key, session). It is written out
// rather than used through container/heap, whose any-typed Push and Pop
// box each item (two allocations a session).
type orderHeap []orderItem

// push adds it.
func (h *orderHeap) push(it orderItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !itemLess(&q[i], &q[parent]) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

// popMin removes and returns the least item; h must not be empty.
func (h *orderHeap) popMin() orderItem {
	q := *h
	it := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = orderItem{}
	q = q[:n]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && itemLess(&q[l], &q[least]) {
			least = l
		}
		if r < n && itemLess(&q[r], &q[least]) {
			least = r
		}
		if least == i {
			break
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
	*h = q
	return it
}

func itemLess(a, b *orderItem) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return sessionLess(a.s, b.s)
}

// sessionLess breaks ties between sessions of one key with what makes
// event.id: the first packet's time, the endpoints, the first packet's hash.
func sessionLess(a, b *session.Session) bool {
	if c := a.Start.Compare(b.Start); c != 0 {
		return c < 0
	}
	if c := a.Client.Compare(b.Client); c != 0 {
		return c < 0
	}
	if c := a.Server.Compare(b.Server); c != 0 {
		return c < 0
	}
	if a.FirstPacket != b.FirstPacket {
		return a.FirstPacket < b.FirstPacket
	}
	if a.Transport != b.Transport {
		return a.Transport < b.Transport
	}
	return a.End.Before(b.End)
}

// sessionBytes estimates what a held session costs: the structures and
// the certificates' DER (the summaries are shared by the cache).
func sessionBytes(s *session.Session) int64 {
	n := int64(2048)
	if s.TLS != nil {
		for _, d := range s.TLS.ServerCertificates {
			n += int64(len(d))
		}
		for _, d := range s.TLS.ClientCertificates {
			n += int64(len(d))
		}
	}
	return n
}

// orderer is the stage's state, owned by one goroutine.
type orderer struct {
	next  func(*session.Session)
	limit int64
	held  orderHeap
	wm    []int64 // per worker
	low   int64   // the smallest of wm
	bytes int64
	last  orderItem // the last released (key and session)
	any   bool      // something was released

	nHeld, nBytes             atomic.Int64
	released, early, lateness atomic.Uint64
}

func newOrderer(next func(*session.Session), limit int64) *orderer {
	if limit <= 0 {
		limit = DefaultOrderMemory
	}
	return &orderer{next: next, limit: limit, low: math.MinInt64}
}

func (o *orderer) begin(workers int) {
	o.wm = make([]int64, workers)
	for i := range o.wm {
		o.wm[i] = math.MinInt64
	}
	o.low = math.MinInt64
}

// push holds s, or judges it at once when it comes late.
func (o *orderer) push(key int64, s *session.Session) {
	it := orderItem{key: key, s: s, bytes: sessionBytes(s)}
	if o.any && itemLess(&it, &o.last) {
		o.lateness.Add(1)
		o.next(s)
		return
	}
	o.held.push(it)
	o.bytes += it.bytes
	for o.bytes > o.limit && len(o.held) > 1 {
		o.early.Add(1)
		o.pop()
	}
	o.release()
}

// watermark records worker's watermark and releases what it allows.
func (o *orderer) watermark(worker int, t int64) {
	if worker < 0 || worker >= len(o.wm) || t <= o.wm[worker] {
		return
	}
	was := o.wm[worker]
	o.wm[worker] = t
	if was != o.low {
		return // another worker is behind
	}
	low := int64(math.MaxInt64)
	for _, w := range o.wm {
		low = min(low, w)
	}
	o.low = low
	o.release()
}

// release judges, in order, the sessions below every watermark (all of
// them once every worker is done).
func (o *orderer) release() {
	for len(o.held) > 0 && (o.held[0].key < o.low || o.low == capture.NoKey) {
		o.released.Add(1)
		o.pop()
	}
	o.publish()
}

// pop judges the first held session.
func (o *orderer) pop() {
	it := o.held.popMin()
	o.bytes -= it.bytes
	o.last, o.any = orderItem{key: it.key, s: it.s}, true
	o.next(it.s)
}

// flush judges everything still held, in order (end of the run).
func (o *orderer) flush() {
	for len(o.held) > 0 {
		o.released.Add(1)
		o.pop()
	}
	o.publish()
}

func (o *orderer) publish() {
	o.nHeld.Store(int64(len(o.held)))
	o.nBytes.Store(o.bytes)
}

func (o *orderer) stats() OrderStats {
	return OrderStats{
		Held: o.nHeld.Load(), HeldBytes: o.nBytes.Load(), Limit: o.limit,
		Released: o.released.Load(), ReleasedEarly: o.early.Load(), ArrivedLate: o.lateness.Load(),
	}
}

// orderStage is the capture.OrderedHandler of an ordered sensor: with one
// worker it orders in the worker's goroutine, with several in its own.
type orderStage struct {
	o    *orderer
	ch   chan orderEvent // nil with one worker
	done chan struct{}
}

// orderEvent is a session (s set) or a watermark from a worker.
type orderEvent struct {
	worker int
	key    int64
	s      *session.Session
}

var _ capture.OrderedHandler = (*orderStage)(nil)

func newOrderStage(next func(*session.Session), limit int64) *orderStage {
	return &orderStage{o: newOrderer(next, limit)}
}

// Begin starts the stage's goroutine when there are several workers.
func (st *orderStage) Begin(workers int) {
	st.o.begin(workers)
	if workers <= 1 {
		return
	}
	st.ch = make(chan orderEvent, 256)
	st.done = make(chan struct{})
	go func() {
		defer close(st.done)
		for ev := range st.ch {
			if ev.s != nil {
				st.o.push(ev.key, ev.s)
			} else {
				st.o.watermark(ev.worker, ev.key)
			}
		}
	}()
}

// HandleOrdered holds s until its turn.
func (st *orderStage) HandleOrdered(worker int, key int64, s *session.Session) {
	if st.ch != nil {
		st.ch <- orderEvent{worker: worker, key: key, s: s}
		return
	}
	st.o.push(key, s)
}

// Watermark records a worker's watermark.
func (st *orderStage) Watermark(worker int, t int64) {
	if st.ch != nil {
		st.ch <- orderEvent{worker: worker, key: t}
		return
	}
	st.o.watermark(worker, t)
}

// HandleSession holds s as a session flushed at the end of input (a
// pipeline that gives no order key; capture.Pipeline always gives one).
func (st *orderStage) HandleSession(s *session.Session) { st.HandleOrdered(0, capture.NoKey, s) }

// finish waits for the stage's goroutine, once the pipeline has returned,
// and judges what is still held.
func (st *orderStage) finish() {
	if st.ch != nil {
		close(st.ch)
		<-st.done
		st.ch = nil
	}
	st.o.flush()
}
