package capture

import (
	"cmp"
	"math"
	"slices"

	"github.com/tlsentry/tlsentry/session"
)

// OrderedHandler is a session.Handler that puts sessions in an order that
// does not depend on how flows are sharded over workers (the sensor's
// judging stage, sensor/order.go). Besides each session it learns the
// session's order key and, from every worker, a watermark.
//
// The order key is packet time (ns) of the session's logical emission, the
// same whatever the number of workers:
//   - a session ended by a packet (FIN both ways, RST, the absolute
//     timeout, an eviction) has the reader's packet clock at that packet:
//     the largest packet time read so far, so keys never go back even when
//     the capture's timestamps do;
//   - a session ended by the idle timeout has its last packet's time plus
//     IdleTimeout, whether the sweep or a later packet of the flow ended it
//     (also at the end of input, when the input's clock had passed it);
//   - a session still open at the end of input has the time it would
//     have timed out too (the end of input stands for the idle timeout).
//
// Flows evicted for a full table or for memory are the exception: which
// flows share a worker decides them.
type OrderedHandler interface {
	session.Handler
	// Begin is called by Run before any session: workers are numbered
	// 0 to workers-1.
	Begin(workers int)
	// HandleOrdered is HandleSession with the session's order key, from
	// worker's goroutine.
	HandleOrdered(worker int, key int64, s *session.Session)
	// Watermark says that worker will hand over no session with a key
	// below t any more (math.MaxInt64: none at all, it is done). Called
	// from worker's goroutine, with t growing.
	Watermark(worker int, t int64)
}

// NoKey is the largest order key, and the watermark of a worker that is
// done.
const NoKey = math.MaxInt64

// flushOrdered ends every flow in the order of their idle timeouts
// (expiry), publishing each as the watermark: no later one is below it.
func (w *worker) flushOrdered() {
	var fs []*flow
	for f := w.tab.tail; f != nil; f = f.links[lruLinks].prev {
		fs = append(fs, f)
	}
	slices.SortStableFunc(fs, func(a, b *flow) int { return cmp.Compare(a.last, b.last) })
	for _, f := range fs {
		w.key = w.expiry(f)
		w.endFlow(f, CFlowsFlushed)
		if w.key > w.wm {
			w.wm = w.key
			w.oh.Watermark(w.id, w.key)
		}
	}
}

// expiry is the order key of f's session ended by the idle timeout.
func (w *worker) expiry(f *flow) int64 {
	idle := int64(w.cfg.IdleTimeout)
	if f.last > math.MaxInt64-idle {
		return NoKey
	}
	return f.last + idle
}

// publish tells the ordered handler the worker's watermark: its packet
// clock, or less while a flow it holds may still time out before it
// (nextExpiry, from the last sweep).
func (w *worker) publish() {
	if w.oh == nil {
		return
	}
	wm := min(w.now, w.nextExpiry)
	if wm > w.wm {
		w.wm = wm
		w.oh.Watermark(w.id, wm)
	}
}

// done publishes the final watermark: nothing more from this worker.
func (w *worker) done() {
	if w.oh != nil && w.wm != NoKey {
		w.wm = NoKey
		w.oh.Watermark(w.id, NoKey)
	}
}
