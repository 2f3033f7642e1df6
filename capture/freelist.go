package capture

// freeList keeps released values (flows, parsers, buffers) for reuse by one
// worker, up to a bound: the state a flow drops goes back to the next flow
// instead of to the garbage collector.
type freeList[T any] struct {
	items []T
}

// get returns a released value; ok is false when there is none.
func (l *freeList[T]) get() (v T, ok bool) {
	n := len(l.items)
	if n == 0 {
		return v, false
	}
	v = l.items[n-1]
	var zero T
	l.items[n-1] = zero
	l.items = l.items[:n-1]
	return v, true
}

// put keeps v for reuse unless max values are kept already; it reports
// whether v was kept.
func (l *freeList[T]) put(v T, max int) bool {
	if len(l.items) >= max {
		return false
	}
	l.items = append(l.items, v)
	return true
}

// len is the number of values kept.
func (l *freeList[T]) len() int { return len(l.items) }
