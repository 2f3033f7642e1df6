package capture

import (
	"encoding/binary"
	"net/netip"

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
type flowKey struct {
	a, b   netip.Addr
	pa, pb uint16
	proto  uint8
	vlan   uint16
}

// makeKey returns the key of p.
func makeKey(p *Packet, useVLAN bool) flowKey {
	k := flowKey{proto: p.Proto}
	c := p.Src.Compare(p.Dst)
	if c < 0 || (c == 0 && p.SrcPort <= p.DstPort) {
		k.a, k.b, k.pa, k.pb = p.Src, p.Dst, p.SrcPort, p.DstPort
	} else {
		k.a, k.b, k.pa, k.pb = p.Dst, p.Src, p.DstPort, p.SrcPort
	}
	if useVLAN && p.NVLANs > 0 && p.NVLANs <= maxVLANs {
		k.vlan = p.VLANs[p.NVLANs-1]
	}
	return k
}

// hash is symmetric by construction (it hashes the canonical key); it picks
// the worker.
func (k *flowKey) hash() uint64 {
	a, b := k.a.As16(), k.b.As16()
	h := uint64(k.proto)<<48 ^ uint64(k.vlan)<<32 ^ uint64(k.pa)<<16 ^ uint64(k.pb)
	h = mix(h, binary.LittleEndian.Uint64(a[:8]))
	h = mix(h, binary.LittleEndian.Uint64(a[8:]))
	h = mix(h, binary.LittleEndian.Uint64(b[:8]))
	h = mix(h, binary.LittleEndian.Uint64(b[8:]))
	return h ^ h>>31
}

func mix(h, v uint64) uint64 {
	h ^= v
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
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
	key        flowKey
	prev, next *flow // LRU list, most recent first

	ends        [2]netip.AddrPort
	start, last int64 // packet times, ns
	firstHash   uint64
	vlans       [maxVLANs]uint16
	nvlans      uint8

	pkts, bytes [2]uint64
	half        [2]halfStream
	conn        *tlsparse.Conn
	proto       tlsparse.Protocol // recorded when a non-TLS Conn is given back
	quic        *quicFlow         // UDP flows: QUIC state (quic.go)

	state       flowState
	clientSide  int8 // side that sent the ClientHello (or was chosen as client); -1 undecided
	synSide     int8 // side that sent a SYN without ACK; -1 none
	fin         [2]bool
	payload     [2]bool // side sent payload
	gapNotified [2]bool
	midstream   bool
	absTimeout  bool // the session was emitted at the absolute timeout
}

// flowTable is one worker's flows: a map plus an LRU list for timeouts and
// eviction. Flow structs are recycled.
type flowTable struct {
	m          map[flowKey]*flow
	head, tail *flow
	n, max     int
	free       []*flow
}

func newFlowTable(max int) flowTable {
	hint := max
	if hint > 4096 {
		hint = 4096 // grows as needed
	}
	return flowTable{m: make(map[flowKey]*flow, hint), max: max}
}

func (t *flowTable) get(k *flowKey) *flow { return t.m[*k] }

func (t *flowTable) full() bool { return t.n >= t.max }

// alloc returns a zeroed flow, recycled when possible.
func (t *flowTable) alloc() *flow {
	if k := len(t.free); k > 0 {
		f := t.free[k-1]
		t.free = t.free[:k-1]
		return f
	}
	return new(flow)
}

func (t *flowTable) insert(f *flow) {
	t.m[f.key] = f
	t.n++
	t.pushFront(f)
}

func (t *flowTable) pushFront(f *flow) {
	f.prev, f.next = nil, t.head
	if t.head != nil {
		t.head.prev = f
	}
	t.head = f
	if t.tail == nil {
		t.tail = f
	}
}

func (t *flowTable) unlink(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		t.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		t.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// touch marks f most recently used.
func (t *flowTable) touch(f *flow) {
	if t.head == f {
		return
	}
	t.unlink(f)
	t.pushFront(f)
}

// remove takes f out of the table and recycles it.
func (t *flowTable) remove(f *flow) {
	t.unlink(f)
	delete(t.m, f.key)
	t.n--
	*f = flow{}
	if len(t.free) < 1024 {
		t.free = append(t.free, f)
	}
}
