package capture

import "unsafe"

// Tombstones. When a flow's session is emitted (FIN both ways, RST, the
// absolute timeout) its flow struct goes back to the free list and a small
// record takes its place for the linger (Config.CloseLinger, IdleTimeout
// after the absolute timeout), absorbing late packets (CLateAfterClose).
// A tombstone still counts as a flow (flows_active) until it goes. They
// sit in the flow table, in their key's slot (flow.go: one lookup finds a
// packet's flow or tombstone), and in an expiry queue (tombQueue) with
// exactly one entry per tombstone: a late packet only moves the
// tombstone's last time, and the entry is re-queued when it comes up.
// A tombstone ended early (a SYN reopening the flow, or one found expired
// by a packet) stays in its slot as dead, beside the key's new flow if
// any, until its queue entry comes up (or is reused by the next tombstone
// of the key). At most Config.MaxTombstones are kept per worker; past it
// the oldest is dropped early (CTombstonesDropped). They are accounted in
// the memory budget (tombBytes) and are the first thing it evicts
// (CEvictedClosed).

// tomb is what stays of an emitted flow, in its key's slot.
type tomb struct {
	last   int64 // last packet time, ns
	abs    bool  // emitted at the absolute timeout: lingers IdleTimeout
	dead   bool  // ended; waits for its queue entry
	queued bool  // there is a tombstone (live or dead): it has a queue entry
}

// tombEntry is a queue entry: expiry is the tombstone's last time plus its
// linger when it was queued.
type tombEntry struct {
	expiry int64
	slot   slotID // the tombstone's slot in the flow table
	key    uint32 // its key in tombs.keys
}

// tombBytes is one tombstone's cost: its slot in the flow table (slotBytes;
// the flow's before it was emitted), its queue entry and its key. A dead
// one beside a new flow of its key shares the slot, counted twice.
const tombBytes = slotBytes + int(unsafe.Sizeof(tombEntry{})) + int(unsafe.Sizeof(flowKey{}))

// tombs are one worker's tombstones; their records are in the flow
// table's slots, their keys (needed to free a slot) here.
type tombs struct {
	q        tombQueue // the entries, by expiry
	keys     []flowKey // by tombEntry.key
	freeKeys []uint32  // places in keys not in use
	live     int       // tombstones not dead
	// recent finds the tombstones of recently emitted flows by
	// recentIndex without the flow table's map: a flow's last packets
	// (the ACK of a FIN) come just after it is emitted.
	recent [1 << recentBits]tombRef
}

// tombRef is a tombstone's slot and its key's place in tombs.keys, plus
// one (0: none).
type tombRef struct {
	slot slotID
	key  uint32
}

// recentSlot is k's slot if tombs.recent has it. A reference whose key
// place holds k is k's: the place keeps k only while the queue entry
// that took it is queued, and that entry's slot is k's until it is
// popped (and the place freed); slots are renumbered (compact) only with
// no entry queued, when keys is empty.
func (t *tombs) recentSlot(k *flowKey) (slotID, bool) {
	r := t.recent[recentIndex(k)]
	if i := int(r.key) - 1; i >= 0 && i < len(t.keys) && t.keys[i].equal(k) {
		return r.slot, true
	}
	return noSlot, false
}

// addKey stores k and returns its place in keys.
func (t *tombs) addKey(k *flowKey) uint32 {
	if n := len(t.freeKeys); n > 0 {
		i := t.freeKeys[n-1]
		t.freeKeys = t.freeKeys[:n-1]
		t.keys[i] = *k
		return i
	}
	t.keys = append(t.keys, *k)
	return uint32(len(t.keys) - 1)
}

// freeKey gives place i of keys back.
func (t *tombs) freeKey(i uint32) {
	t.keys[i] = flowKey{}
	t.freeKeys = append(t.freeKeys, i)
}

// tombExpiry is when tb stops absorbing packets.
func (w *worker) tombExpiry(tb tomb) int64 {
	l := int64(w.cfg.CloseLinger)
	if tb.abs {
		l = int64(w.cfg.IdleTimeout)
	}
	if tb.last > NoKey-l {
		return NoKey
	}
	return tb.last + l
}

// bury turns f, whose session was emitted, into a tombstone in its slot.
func (w *worker) bury(f *flow) {
	w.uncharge(f)
	tb := tomb{last: f.last, abs: f.absTimeout, queued: true}
	t := &w.tombs
	// A dead one of the key: its queue entry serves the new one.
	if !w.tab.slots[f.slot].tb.queued {
		for t.q.len() >= w.cfg.MaxTombstones && t.q.len() > 0 {
			w.dropOldestTomb(CTombstonesDropped) // may compact the table: f.slot is read after
		}
		ki := t.addKey(&f.key)
		t.q.push(tombEntry{w.tombExpiry(tb), f.slot, ki})
		t.recent[recentIndex(&f.key)] = tombRef{f.slot, ki + 1}
		w.mem.used += int64(tombBytes)
	}
	w.tab.slots[f.slot] = slot{tb: tb}
	w.tab.release(f)
	t.live++
}

// lateTomb reports whether tb, a queued tombstone, absorbs a packet at ts
// (counted); a reopening SYN, or a packet past the linger, ends it.
func (w *worker) lateTomb(tb *tomb, ts int64, reopen bool) bool {
	if tb.dead {
		return false
	}
	if !reopen && ts <= w.tombExpiry(*tb) {
		w.st.inc(CLateAfterClose)
		tb.last = max(tb.last, ts)
		return true
	}
	tb.dead = true
	w.tombs.live--
	w.st.inc(CFlowsEnded)
	return false
}

// popTomb takes the queue's first entry and its tombstone out; if the
// tombstone was extended since it was queued, its entry is queued again
// at its new expiry instead and ok is false.
func (w *worker) popTomb() (tb tomb, ok bool) {
	t := &w.tombs
	e := t.q.pop()
	tb = w.tab.slots[e.slot].tb
	if exp := w.tombExpiry(tb); !tb.dead && exp > e.expiry {
		e.expiry = exp
		t.q.push(e)
		return tb, false
	}
	w.tab.unqueue(e.slot, &t.keys[e.key])
	t.freeKey(e.key)
	w.mem.used -= int64(tombBytes)
	if !tb.dead {
		t.live--
		w.st.inc(CFlowsEnded)
	}
	if t.q.len() == 0 && t.q.room() > 4096 {
		// let a grown queue, key store, map and slab go
		t.q, t.keys, t.freeKeys = tombQueue{}, nil, nil
		w.tab.compact()
	}
	return tb, true
}

// expireTombs ends the tombstones past their linger at now.
func (w *worker) expireTombs() {
	for w.tombs.q.len() > 0 && w.tombs.q.first().expiry < w.now {
		w.popTomb()
	}
}

// dropOldestTomb ends the tombstone that expires first, early, counted in
// reason (dead entries on the way go uncounted).
func (w *worker) dropOldestTomb(reason Counter) {
	for w.tombs.q.len() > 0 {
		if tb, ok := w.popTomb(); ok {
			if !tb.dead {
				w.st.inc(reason)
				return
			}
		}
	}
}

// flushTombs ends every tombstone (end of input), counted as flushed,
// once every flow has ended (flushAll).
func (w *worker) flushTombs() {
	t := &w.tombs
	w.st.add(CFlowsFlushed, uint64(t.live))
	w.st.add(CFlowsEnded, uint64(t.live))
	w.mem.used -= int64(t.q.len() * tombBytes)
	w.tab.compact() // no flow is left and the queue goes: an empty table
	*t = tombs{}
}

// tombQueue holds the tombstones' entries in order of expiry. A
// tombstone's expiry is its last packet time, at most the worker's packet
// clock (nondecreasing), plus its linger, so entries nearly always come in
// order of expiry: those go to the back of a FIFO ring, in O(1). The rest
// (an abs tombstone's longer linger before a CloseLinger one, a flow
// emitted by the sweep or the flush, a packet older than the flow's last,
// a re-queued extended tombstone) go to a 4-ary min-heap, which stays
// small; the first entry is the lesser of the ring's and the heap's.
type tombQueue struct {
	ring    []tombEntry // a power of two long, or empty
	head, n int         // the ring's first entry and its count
	heap    []tombEntry // the entries out of order
}

// len is the number of entries.
func (q *tombQueue) len() int { return q.n + len(q.heap) }

// room is the number of entries the queue holds without growing.
func (q *tombQueue) room() int { return len(q.ring) + cap(q.heap) }

// push adds e: to the ring unless it expires before the ring's last.
func (q *tombQueue) push(e tombEntry) {
	if q.n > 0 && e.expiry < q.ring[(q.head+q.n-1)&(len(q.ring)-1)].expiry {
		q.pushHeap(e)
		return
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = e
	q.n++
}

// grow doubles the ring, its entries first.
func (q *tombQueue) grow() {
	r := make([]tombEntry, max(16, 2*len(q.ring)))
	for i := range q.n {
		r[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
	}
	q.ring, q.head = r, 0
}

// ringFirst reports whether the first entry is the ring's; the queue is
// not empty.
func (q *tombQueue) ringFirst() bool {
	return q.n > 0 && (len(q.heap) == 0 || q.ring[q.head].expiry <= q.heap[0].expiry)
}

// first is the entry that expires first; the queue is not empty.
func (q *tombQueue) first() tombEntry {
	if q.ringFirst() {
		return q.ring[q.head]
	}
	return q.heap[0]
}

// pop takes the first entry out; the queue is not empty.
func (q *tombQueue) pop() tombEntry {
	if !q.ringFirst() {
		return q.popHeap()
	}
	e := q.ring[q.head]
	q.ring[q.head] = tombEntry{}
	q.head = (q.head + 1) & (len(q.ring) - 1)
	q.n--
	return e
}

// The heap is 4-ary: entry i's children are 4i+1 to 4i+4, adjacent in
// memory, so it is half as deep as a binary one; entries move into a
// hole rather than being swapped.

func (q *tombQueue) pushHeap(e tombEntry) {
	q.heap = append(q.heap, e)
	q.up(len(q.heap) - 1)
}

func (q *tombQueue) popHeap() tombEntry {
	h := q.heap
	n := len(h) - 1
	e := h[0]
	h[0] = h[n]
	h[n] = tombEntry{}
	q.heap = h[:n]
	if n > 0 {
		q.down(0)
	}
	return e
}

// up moves queue entry i toward the root, to its place.
func (q *tombQueue) up(i int) {
	h := q.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if h[p].expiry <= e.expiry {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

// down moves queue entry i toward the leaves, to its place.
func (q *tombQueue) down(i int) {
	h := q.heap
	e := h[i]
	for {
		c := 4*i + 1
		if c >= len(h) {
			break
		}
		m := c
		for j := c + 1; j < min(c+4, len(h)); j++ {
			if h[j].expiry < h[m].expiry {
				m = j
			}
		}
		if e.expiry <= h[m].expiry {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = e
}
