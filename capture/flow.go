package capture

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// flowKey is the canonical 5-tuple: the lower (address, port) end first, so
// both directions of a connection give the same key.
//
// VLAN ids are not part of the key by default: mirrored traffic often shows
// the same connection on two VLANs (the access and the uplink side of a
// router on one SPAN port), which must stay one flow; its duplicate packets
// are then retransmissions to reassembly. Networks that reuse addresses
// across VLANs (VRFs, tenants) set Config.VLANInKey, which adds the
// innermost VLAN id to the key and the hash.
//
// The addresses are kept as 16 bytes and a family, not as netip.Addr (24
// bytes with a pointer): the key is 40 plain bytes, which the flow table's
// map hashes and compares as one block of memory. Packet addresses never
// carry an IPv6 zone.
type flowKey struct {
	a, b   [16]byte // As16 of the two ends' addresses, a <= b (netip.Addr.Compare)
	pa, pb uint16
	vlan   uint16
	proto  uint8
	v4     bool // the addresses are IPv4 (a and b hold them IPv4-mapped)
}

// makeKey returns the key of p.
func makeKey(p *Packet, useVLAN bool) (k flowKey) {
	k.setEnds(p.Src.As16(), p.Dst.As16(), p.SrcPort, p.DstPort)
	k.proto, k.v4 = p.Proto, p.Src.Is4()
	if useVLAN && p.NVLANs > 0 && p.NVLANs <= maxVLANs {
		k.vlan = p.VLANs[p.NVLANs-1]
	}
	return k
}

// orderedKey is the key of a packet from src:sp to dst:dp (16-byte forms of
// addresses of one family).
func orderedKey(src, dst [16]byte, sp, dp uint16, proto uint8, v4 bool) flowKey {
	k := flowKey{proto: proto, v4: v4}
	k.setEnds(src, dst, sp, dp)
	return k
}

// setEnds sets k's ends from a packet from src:sp to dst:dp: the lower
// end, by address bytes (the order of netip.Addr.Compare within a
// family) then port, is a. The addresses are compared, and stored, as
// two big-endian words each, written where they go: no 16-byte copy of
// words just written (a store the CPU cannot forward).
func (k *flowKey) setEnds(src, dst [16]byte, sp, dp uint16) {
	s0, s1 := binary.BigEndian.Uint64(src[:8]), binary.BigEndian.Uint64(src[8:])
	d0, d1 := binary.BigEndian.Uint64(dst[:8]), binary.BigEndian.Uint64(dst[8:])
	if !(s0 < d0 || (s0 == d0 && (s1 < d1 || (s1 == d1 && sp <= dp)))) {
		s0, s1, d0, d1, sp, dp = d0, d1, s0, s1, dp, sp
	}
	binary.BigEndian.PutUint64(k.a[:8], s0)
	binary.BigEndian.PutUint64(k.a[8:], s1)
	binary.BigEndian.PutUint64(k.b[:8], d0)
	binary.BigEndian.PutUint64(k.b[8:], d1)
	k.pa, k.pb = sp, dp
}

// addr is the address of a key end (k.a or k.b).
func (k *flowKey) addr(b16 [16]byte) netip.Addr {
	if k.v4 {
		return netip.AddrFrom4([4]byte(b16[12:]))
	}
	return netip.AddrFrom16(b16)
}

// shard picks the worker of k's flow among n: a hash of the canonical key
// (so both directions go to one worker) under the pipeline's seed, random
// per run. A fixed hash would let an attacker who chooses addresses and
// ports send every flow to one worker (an unseeded multiply-xorshift mix
// can be inverted step by step); the runtime's seeded AES hash cannot be
// steered without the seed.
func (k *flowKey) shard(seed maphash.Seed, n int) int {
	var b [40]byte
	copy(b[0:16], k.a[:])
	copy(b[16:32], k.b[:])
	binary.LittleEndian.PutUint16(b[32:], k.pa)
	binary.LittleEndian.PutUint16(b[34:], k.pb)
	binary.LittleEndian.PutUint16(b[36:], k.vlan)
	b[38] = k.proto
	if k.v4 {
		b[39] = 1
	}
	return int(maphash.Bytes(seed, b[:]) % uint64(n))
}

// equal reports whether k and o are the same key, field by field: == on
// the struct calls the runtime's memory compare. A new field must be
// compared here too (TestKeyEqual checks the key's size).
func (k *flowKey) equal(o *flowKey) bool {
	return k.pa == o.pa && k.pb == o.pb && k.a == o.a && k.b == o.b &&
		k.vlan == o.vlan && k.proto == o.proto && k.v4 == o.v4
}

func (k *flowKey) has443() bool { return k.pa == 443 || k.pb == 443 }

type flowState uint8

const (
	stNew     flowState = iota // no payload delivered yet
	stParsing                  // in-order bytes go to the Conn
	stBypass                   // the Conn is done: packets are only counted
	stEmitted                  // the session was emitted; a tombstone absorbing late packets
)

// flow is the state of one connection in a worker's table. Side 0 is the
// sender of the flow's first packet.
type flow struct {
	key     flowKey
	links   [2]flowLinks // in the LRU list (lruLinks) and an eviction class list (classLinks, memcap.go)
	mem     int32        // bytes accounted (memcap.go)
	cls     uint8        // eviction class, when listed
	listed  bool         // in a class list
	evicted bool         // evicted for memory: no session before a hello

	start, last int64 // packet times, ns
	firstHash   uint64
	slot        slotID // the key's slot in the flow table
	vlans       [maxVLANs]uint16
	nvlans      uint8

	pkts, bytes [2]uint64
	csums       [2]dirChecksums // auto mode: checked packets per side (checksum.go)
	fragOv      fragOverlap     // first fragment overlap with different bytes (evasion.go)
	prof        sizeProfile     // payload shape once bypassed (profile.go)
	half        [2]halfStream
	conn        *tlsparse.Conn
	// hs is the TLS handshake once parsing stopped (stBypass), copied out
	// of the Conn, which went back to the pool; sums are its server
	// certificates' summaries (CloneShared).
	hs    *tlsparse.Handshake
	sums  []*tlsparse.CertSummary
	held  heldSegments      // in-order bytes not yet given to a Conn (held.go)
	proto tlsparse.Protocol // recorded when a non-TLS Conn is given back
	quic  *quicFlow         // UDP flows: QUIC state (quic.go)

	state       flowState
	clientSide  int8 // side that sent the ClientHello (or was chosen as client); -1 undecided
	synSide     int8 // side that sent a SYN without ACK; -1 none
	fin         [2]bool
	payload     [2]bool // side sent payload
	gapNotified [2]bool
	midstream   bool
	aFirst      bool // side 0 is the key's end a (see end)
	absTimeout  bool // the session was emitted at the absolute timeout
}

// flowLinks link a flow into one flowList.
type flowLinks struct{ prev, next *flow }

// The lists a flow is in: flow.links[i] links it into list i.
const (
	lruLinks   = iota // flowTable, most recently used first
	classLinks        // memcap's class lists, most recently entered first
)

// flowList is a doubly linked list of flows through their links[i].
type flowList struct{ head, tail *flow }

func (l *flowList) pushFront(f *flow, i int) {
	f.links[i] = flowLinks{nil, l.head}
	if l.head != nil {
		l.head.links[i].prev = f
	}
	l.head = f
	if l.tail == nil {
		l.tail = f
	}
}

func (l *flowList) unlink(f *flow, i int) {
	lk := &f.links[i]
	if lk.prev != nil {
		lk.prev.links[i].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		lk.next.links[i].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	*lk = flowLinks{}
}

// flowTable is one worker's flows and tombstones (tomb.go): a map from
// key to slot number, so that a packet costs one lookup whether its key
// has a flow, a tombstone or neither, and the slots themselves in a slab,
// so that a flow turning into a tombstone, or a tombstone's late packet,
// writes its slot and not the map. An LRU list of the flows serves
// timeouts and eviction (head most recently used). Flow structs and
// slots are recycled.
type flowTable struct {
	m         map[flowKey]slotID
	slots     []slot   // by slotID
	freeSlots []slotID // slots not in use
	flowList
	n, max int // flows
	free   freeList[*flow]
	recent [1 << recentBits]*flow // by recentIndex: flows of recent packets
}

// recentBits sizes flowTable.recent (4096 flows, 32 KiB a worker). Most
// packets belong to a flow that had one a few packets before: that flow
// is found by comparing its key, without the map, whose groups are colder
// than the flow itself. With 256 places, a third of the packets of live
// flows in handshake-50000 (up to 2,666 flows at once) still went to the
// map; with 4096, 3%. tombs.recent (another 32 KiB) does the same for
// the tombstones of flows just emitted.
const recentBits = 12

// recentIndex is k's place in flowTable.recent: a cheap hash of the low
// words of the addresses (all of IPv4 ones) and the ports.
func recentIndex(k *flowKey) int {
	h := binary.LittleEndian.Uint64(k.a[8:]) ^ binary.LittleEndian.Uint64(k.b[8:])<<1 ^ uint64(k.pa)<<32 ^ uint64(k.pb)
	h *= 0x9E3779B97F4A7C15
	return int(h >> (64 - recentBits))
}

// slotID numbers a slot of flowTable.slots.
type slotID uint32

// noSlot is no slot.
const noSlot = ^slotID(0)

// slot is a key's entry in the flow table: its flow, its tombstone
// (tb.queued), or both when a flow started while the key's tombstone,
// ended early, waits for its queue entry (then tb.dead). A slot with
// neither is not kept.
type slot struct {
	f  *flow
	tb tomb
}

func newFlowTable(max int) flowTable {
	hint := max
	if hint > 4096 {
		hint = 4096 // grows as needed
	}
	return flowTable{m: make(map[flowKey]slotID, hint), max: max}
}

func (t *flowTable) get(k *flowKey) *flow {
	if f := t.recentFlow(k); f != nil {
		return f
	}
	if i, ok := t.m[*k]; ok {
		return t.slots[i].f
	}
	return nil
}

// recentFlow is k's flow if flowTable.recent has it, else nil. A flow
// there whose key is k is k's flow: a released flow has the zero key (no
// packet's, whose protocol is not 0) until it is reused for another.
func (t *flowTable) recentFlow(k *flowKey) *flow {
	if f := t.recent[recentIndex(k)]; f != nil && f.key.equal(k) {
		return f
	}
	return nil
}

func (t *flowTable) full() bool { return t.n >= t.max }

// alloc returns a zeroed flow, recycled when possible.
func (t *flowTable) alloc() *flow {
	if f, ok := t.free.get(); ok {
		return f
	}
	return new(flow)
}

// insert adds f; dead is its key's slot when that holds an ended
// tombstone still queued (lookup's), else noSlot.
func (t *flowTable) insert(f *flow, dead slotID) {
	if dead == noSlot {
		dead = t.newSlot(&f.key)
	}
	f.slot = dead
	t.slots[dead].f = f
	t.recent[recentIndex(&f.key)] = f
	t.n++
	t.pushFront(f, lruLinks)
}

// newSlot gives k an empty slot, recycled when possible.
func (t *flowTable) newSlot(k *flowKey) slotID {
	var i slotID
	if n := len(t.freeSlots); n > 0 {
		i = t.freeSlots[n-1]
		t.freeSlots = t.freeSlots[:n-1]
	} else {
		i = slotID(len(t.slots))
		t.slots = append(t.slots, slot{})
	}
	t.m[*k] = i
	return i
}

// freeSlot takes slot i, k's, out of the map for reuse.
func (t *flowTable) freeSlot(k *flowKey, i slotID) {
	delete(t.m, *k)
	t.slots[i] = slot{}
	t.freeSlots = append(t.freeSlots, i)
}

// touch marks f most recently used.
func (t *flowTable) touch(f *flow) {
	if t.head == f {
		return
	}
	t.unlink(f, lruLinks)
	t.pushFront(f, lruLinks)
}

// remove takes f out of the table and recycles it; the slot stays for an
// ended tombstone of its key still queued.
func (t *flowTable) remove(f *flow) {
	if s := &t.slots[f.slot]; s.tb.queued {
		s.f = nil
	} else {
		t.freeSlot(&f.key, f.slot)
	}
	t.release(f)
}

// release takes f out of the LRU list and recycles it; its slot is the
// caller's to change.
func (t *flowTable) release(f *flow) {
	if i := recentIndex(&f.key); t.recent[i] == f {
		t.recent[i] = nil
	}
	t.unlink(f, lruLinks)
	t.n--
	*f = flow{}
	t.free.put(f, 1024)
}

// unqueue takes the tombstone of slot i, k's, whose queue entry went, out
// of it; a flow there keeps the slot.
func (t *flowTable) unqueue(i slotID, k *flowKey) {
	if s := &t.slots[i]; s.f != nil {
		s.tb = tomb{}
		return
	}
	t.freeSlot(k, i)
}

// compact copies the map and the slots into ones of their size: neither
// shrinks when entries go, and a burst of tombstones or flows would keep
// their memory. No tombstone may be queued: every slot in use holds a
// flow, which gets a new number.
func (t *flowTable) compact() {
	m := make(map[flowKey]slotID, t.n)
	slots := make([]slot, 0, t.n)
	for f := t.head; f != nil; f = f.links[lruLinks].next {
		f.slot = slotID(len(slots))
		m[f.key] = f.slot
		slots = append(slots, slot{f: f})
	}
	t.m, t.slots, t.freeSlots = m, slots, nil
}

// The flow lifecycle, shared by TCP (pipeline.go) and QUIC (quic.go):
// lookup, newFlowFor, account, then newSession and deliverSession when the
// flow is emitted (emit, emitQUIC). Each transport keeps only what differs.

// lookup returns the live flow of k for a packet at ts. Without one, k's
// tombstone (tomb.go) absorbs the packet while it lingers (counted as late,
// absorbed true) unless reopen (a TCP SYN starting a new connection); past
// its linger, or reopened, it is ended. A flow idle longer than IdleTimeout is ended.
// In both cases f is nil: the packet may start a new flow, and dead, for
// newFlowFor, is k's slot if it keeps an ended tombstone still
// queued, else noSlot.
func (w *worker) lookup(k *flowKey, ts int64, reopen bool) (f *flow, dead slotID, absorbed bool) {
	if f = w.tab.recentFlow(k); f == nil {
		i, ok := w.tombs.recentSlot(k)
		if !ok {
			if i, ok = w.tab.m[*k]; !ok {
				return nil, noSlot, false
			}
		}
		s := &w.tab.slots[i]
		if f = s.f; f == nil {
			return nil, i, w.lateTomb(&s.tb, ts, reopen)
		}
		w.tab.recent[recentIndex(k)] = f
	}
	if ts-f.last > int64(w.cfg.IdleTimeout) {
		dead = noSlot
		if w.tab.slots[f.slot].tb.queued {
			dead = f.slot
		}
		w.endFlow(f, CFlowsTimedOut)
		return nil, dead, false
	}
	return f, noSlot, false
}

// newFlowFor creates the flow of k, whose first packet is p (side 0),
// evicting the oldest flow when the table is full. clientSide is the
// side known to be the client, or -1; dead is lookup's.
func (w *worker) newFlowFor(k *flowKey, dead slotID, p *Packet, ts int64, clientSide int8) *flow {
	if w.tab.full() {
		w.endFlow(w.tab.tail, CFlowsEvicted)
	}
	f := w.tab.alloc()
	f.setKey(k, p)
	f.start, f.last = ts, ts
	f.firstHash = p.firstHash()
	n := min(max(p.NVLANs, 0), maxVLANs)
	copy(f.vlans[:], p.VLANs[:n])
	f.nvlans = uint8(n)
	f.clientSide, f.synSide = clientSide, -1
	w.tab.insert(f, dead)
	w.st.inc(CFlowsCreated)
	w.nextExpiry = min(w.nextExpiry, w.expiry(f)) // the watermark's bound (order.go)
	return f
}

// setKey sets f's key, k, whose first packet is p (side 0).
func (f *flow) setKey(k *flowKey, p *Packet) {
	f.key = *k
	f.aFirst = p.SrcPort == k.pa && p.Src.As16() == k.a
}

// end is the address and port of flow side i (0 or 1); the key holds
// them.
func (f *flow) end(i int8) netip.AddrPort {
	if (i == 0) == f.aFirst {
		return netip.AddrPortFrom(f.key.addr(f.key.a), f.key.pa)
	}
	return netip.AddrPortFrom(f.key.addr(f.key.b), f.key.pb)
}

// side is the flow side that sent p.
func (f *flow) side(p *Packet) uint8 {
	a, pa := f.key.b, f.key.pb // side 0's end
	if f.aFirst {
		a, pa = f.key.a, f.key.pa
	}
	if p.SrcPort != pa || p.Src.As16() != a {
		return 1
	}
	return 0
}

// account counts a packet of wireLen bytes from side at ts on f and marks
// f most recently used. At the absolute timeout it emits f's session and
// reports false: the packet is then not looked at further.
func (w *worker) account(f *flow, side uint8, wireLen int, ts int64) bool {
	f.pkts[side]++
	f.bytes[side] += uint64(wireLen)
	if ts > f.last {
		f.last = ts
	}
	w.tab.touch(f)
	if ts-f.start > int64(w.cfg.AbsoluteTimeout) {
		w.st.inc(CFlowsAbsTimeout)
		f.absTimeout = true
		w.emit(f)
		return false
	}
	return true
}

// newSession starts the session of f with client side cs: times,
// endpoints, counters, VLANs and the first packet's hash. The caller adds
// what its transport knows, then calls deliverSession.
func newSession(f *flow, cs int8, tr session.Transport) *session.Session {
	s := &session.Session{
		Start:         time.Unix(0, f.start).UTC(),
		End:           time.Unix(0, f.last).UTC(),
		Client:        f.end(cs),
		Server:        f.end(1 - cs),
		Transport:     tr,
		ClientPackets: f.pkts[cs],
		ClientBytes:   f.bytes[cs],
		ServerPackets: f.pkts[1-cs],
		ServerBytes:   f.bytes[1-cs],
		FirstPacket:   f.firstHash,
	}
	if f.prof.n > 0 || f.prof.payloads != [2]uint32{} {
		s.Profile = f.prof.profile(cs)
	}
	if f.nvlans > 0 {
		s.VLANs = append([]uint16(nil), f.vlans[:f.nvlans]...)
	}
	return s
}

// deliverSession computes s's fingerprints and hands it over.
func (w *worker) deliverSession(s *session.Session) {
	w.st.inc(CSessions)
	s.FinishWith(w.fps)
	if w.oh != nil {
		w.oh.HandleOrdered(w.id, w.key, s)
		return
	}
	w.h.HandleSession(s)
}
