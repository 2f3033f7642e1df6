package capture

import "unsafe"

// Tombstones. When a flow's session is emitted (FIN both ways, RST, the
// absolute timeout) its flow struct goes back to the free list and a small
// record takes its place for the linger (Config.CloseLinger, IdleTimeout
// after the absolute timeout), absorbing late packets (CLateAfterClose).
// A tombstone still counts as a flow (flows_active) until it goes. They
// sit in the flow table, in their key's slot (flow.go: one lookup finds a
// packet's flow or tombstone), and in a min-heap by expiry with
// exactly one entry per tombstone: a late packet only moves the
// tombstone's last time, and the heap entry is re-queued when it comes up.
// A tombstone ended early (a SYN reopening the flow, or one found expired
// by a packet) stays in its slot as dead, beside the key's new flow if
// any, until its heap entry comes up (or is reused by the next tombstone
// of the key). At most Config.MaxTombstones are kept per worker; past it
// the oldest is dropped early (CTombstonesDropped). They are accounted in
// the memory budget (tombBytes) and are the first thing it evicts
// (CEvictedClosed).

// tomb is what stays of an emitted flow, in its key's slot.
type tomb struct {
	last   int64 // last packet time, ns
	abs    bool  // emitted at the absolute timeout: lingers IdleTimeout
	dead   bool  // ended; waits for its heap entry
	queued bool  // there is a tombstone (live or dead): it has a heap entry
}

// tombEntry is a heap entry: expiry is the tombstone's last time plus its
// linger when it was queued.
type tombEntry struct {
	expiry int64
	slot   slotID // the tombstone's slot in the flow table
	key    uint32 // its key in tombs.keys
}

// tombBytes is one tombstone's cost: its slot in the flow table (slotBytes;
// the flow's before it was emitted), its heap entry and its key. A dead
// one beside a new flow of its key shares the slot, counted twice.
const tombBytes = slotBytes + int(unsafe.Sizeof(tombEntry{})) + int(unsafe.Sizeof(flowKey{}))

// tombs are one worker's tombstones; their records are in the flow
// table's slots, their keys (needed to free a slot) here.
type tombs struct {
	q        []tombEntry // min-heap by expiry
	keys     []flowKey   // by tombEntry.key
	freeKeys []uint32    // places in keys not in use
	live     int         // tombstones not dead
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
	// A dead one of the key: its heap entry serves the new one.
	if !w.tab.slots[f.slot].tb.queued {
		for len(t.q) >= w.cfg.MaxTombstones && len(t.q) > 0 {
			w.dropOldestTomb(CTombstonesDropped) // may compact the table: f.slot is read after
		}
		t.push(tombEntry{w.tombExpiry(tb), f.slot, t.addKey(&f.key)})
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

// popTomb takes the heap's first entry and its tombstone out; if the
// tombstone was extended since it was queued, its entry moves to its new
// expiry instead and ok is false.
func (w *worker) popTomb() (tb tomb, ok bool) {
	t := &w.tombs
	e := t.q[0]
	tb = w.tab.slots[e.slot].tb
	if exp := w.tombExpiry(tb); !tb.dead && exp > e.expiry {
		t.q[0].expiry = exp
		t.down(0)
		return tb, false
	}
	t.pop()
	w.tab.unqueue(e.slot, &t.keys[e.key])
	t.freeKey(e.key)
	w.mem.used -= int64(tombBytes)
	if !tb.dead {
		t.live--
		w.st.inc(CFlowsEnded)
	}
	if len(t.q) == 0 && cap(t.q) > 4096 {
		// let a grown heap, key store, map and slab go
		t.q, t.keys, t.freeKeys = nil, nil, nil
		w.tab.compact()
	}
	return tb, true
}

// expireTombs ends the tombstones past their linger at now.
func (w *worker) expireTombs() {
	for len(w.tombs.q) > 0 && w.tombs.q[0].expiry < w.now {
		w.popTomb()
	}
}

// dropOldestTomb ends the tombstone that expires first, early, counted in
// reason (dead entries on the way go uncounted).
func (w *worker) dropOldestTomb(reason Counter) {
	for len(w.tombs.q) > 0 {
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
	w.mem.used -= int64(len(t.q) * tombBytes)
	w.tab.compact() // no flow is left and the heap goes: an empty table
	*t = tombs{}
}

// The heap is 4-ary: entry i's children are 4i+1 to 4i+4, adjacent in
// memory, so it is half as deep as a binary one; entries move into a
// hole rather than being swapped.

func (t *tombs) push(e tombEntry) {
	t.q = append(t.q, e)
	t.up(len(t.q) - 1)
}

func (t *tombs) pop() tombEntry {
	q := t.q
	n := len(q) - 1
	e := q[0]
	q[0] = q[n]
	q[n] = tombEntry{}
	t.q = q[:n]
	if n > 0 {
		t.down(0)
	}
	return e
}

// up moves entry i toward the root, to its place.
func (t *tombs) up(i int) {
	q := t.q
	e := q[i]
	for i > 0 {
		p := (i - 1) / 4
		if q[p].expiry <= e.expiry {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = e
}

// down moves entry i toward the leaves, to its place.
func (t *tombs) down(i int) {
	q := t.q
	e := q[i]
	for {
		c := 4*i + 1
		if c >= len(q) {
			break
		}
		m := c
		for j := c + 1; j < min(c+4, len(q)); j++ {
			if q[j].expiry < q[m].expiry {
				m = j
			}
		}
		if e.expiry <= q[m].expiry {
			break
		}
		q[i] = q[m]
		i = m
	}
	q[i] = e
}
