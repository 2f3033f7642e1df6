package capture

import (
	"unsafe"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// Memory budget (memcap). Each worker accounts what its flows hold - the
// flow struct and its table entry, out-of-order segments and history
// (reassembly.go), the parser's Conn and its buffers
// (tlsparse.Conn.RetainedBytes), QUIC keys and CRYPTO streams, and its
// tombstones (tomb.go, tombBytes each) - against its share of
// Config.MemoryLimit. Each Decoder's defragmenter gets a
// fixed slice of the limit (defragShare) and bounds itself.
//
// Every flow is in one of the eviction classes below, ordered by what it
// has shown; within a class, by when it entered it. When a packet leaves
// the worker over its budget, tombstones go first, oldest first, then flows
// from the lowest class first, oldest first, until the worker is 1/16 under the budget again: a
// flood of SYNs or of half-open flows that never got an answer goes before
// a handshake in progress. A flow evicted before any hello was parsed
// gives no session (CFlowsEvictedNoHello): a flood must not become a flood
// of documents. A flow with a hello gives its (incomplete) session.
//
// A worker is under pressure from its first eviction for memory
// (CMemPressureStarted) until its accounted bytes fall below half the
// budget, or the input ends (CMemPressureEnded); CMemoryBytes is the
// accounted bytes, updated once a second of packet time.

// DefaultMemoryLimit is Config.MemoryLimit's default: with it, a sensor on
// a 2-core machine stays well under 400 MB. scripts/flood-bench.sh (issue
// 9): 300,000 SYNs peak at 185-188 MB, 400,000 half-open flows at 206-229 MB,
// with 1 or 2 workers, and all 50 real sessions in them are found. The Go heap
// is about twice what is accounted (garbage between collections, pools,
// the flow maps).
const DefaultMemoryLimit = 96 << 20

// Eviction classes, lowest (evicted first) to highest.
const (
	clsClosed     uint8 = iota // a tombstone (tomb.go; only counted: not a flow)
	clsSYN                     // one side only, no payload (a bare SYN)
	clsUnanswered              // one side only, with payload (no SYN-ACK, no server byte)
	clsAnswered                // both sides sent, no hello parsed yet
	clsHello                   // a ClientHello or ServerHello was parsed
	numClasses
)

// evictCounter counts evictions by class.
var evictCounter = [numClasses]Counter{
	clsClosed:     CEvictedClosed,
	clsSYN:        CEvictedSYN,
	clsUnanswered: CEvictedUnanswered,
	clsAnswered:   CEvictedAnswered,
	clsHello:      CEvictedHello,
}

const (
	// slotBytes is a flow table entry: the map's (key, slot number,
	// control byte, at the map's 7/8 load) and the slot.
	slotBytes = (int(unsafe.Sizeof(flowKey{}))+int(unsafe.Sizeof(slotID(0)))+1)*8/7 + int(unsafe.Sizeof(slot{}))
	// flowBytes is a flow's fixed cost: the struct and its table entry.
	flowBytes = int(unsafe.Sizeof(flow{})) + slotBytes
	// quicFlowBytes is a QUIC flow's fixed cost; quicKeysBytes estimates one
	// direction's keys (AES-GCM AEAD and header protection cipher).
	quicFlowBytes = int(unsafe.Sizeof(quicFlow{}))
	quicKeysBytes = 1024
	// maxPooledConn: a Conn holding more than this goes to the GC, not to
	// the worker's pool (the pool is outside the budget).
	maxPooledConn = 16 << 10
)

// memcap is a worker's budget.
type memcap struct {
	limit    int64 // bytes; <= 0: no limit
	used     int64
	pressure bool
	lists    [numClasses]flowList // by class, most recently entered first
}

// defragShare is the bytes one Decoder's defragmenter may buffer under
// limit (its default bound, 4 MiB, or 1/32 of the limit if smaller).
func defragShare(limit int64) int {
	if limit <= 0 {
		return 0 // the defragmenter's default
	}
	return int(min(4<<20, max(limit/32, 64<<10)))
}

// workerLimit is the share of limit of one of n workers, after the
// defragmenters' shares (at most one Decoder per worker).
func workerLimit(limit int64, n int) int64 {
	if limit <= 0 {
		return 0
	}
	n = max(n, 1)
	rest := limit - int64(n)*int64(defragShare(limit))
	return max(rest/int64(n), 64<<10)
}

// flowClass is f's eviction class now.
func flowClass(f *flow) uint8 {
	switch {
	case helloParsed(f):
		return clsHello
	case f.pkts[0] > 0 && f.pkts[1] > 0:
		return clsAnswered
	case f.payload[0] || f.payload[1]:
		return clsUnanswered
	}
	return clsSYN
}

// helloParsed reports whether f's parser has seen a hello (QUIC: any
// complete handshake message).
func helloParsed(f *flow) bool {
	if q := f.quic; q != nil {
		return q.sawMessage
	}
	hs := f.hs
	if f.conn != nil {
		hs = f.conn.Handshake()
	}
	return hs != nil && (hs.ClientHello != nil || hs.ServerHello != nil)
}

// flowRetained is what f holds now.
func flowRetained(f *flow) int {
	n := flowBytes + f.half[0].retained() + f.half[1].retained()
	if f.conn != nil {
		n += f.conn.RetainedBytes()
	}
	if f.hs != nil {
		n += f.hs.RetainedBytes()
	}
	if q := f.quic; q != nil {
		n += quicFlowBytes + q.crypto[0].Retained() + q.crypto[1].Retained()
		for _, k := range q.keys {
			if k != nil {
				n += quicKeysBytes
			}
		}
		if q.conn != nil {
			n += q.conn.RetainedBytes()
		}
	}
	return n
}

// charge brings f's accounted bytes and class up to date after a packet,
// and evicts if the worker is over its budget (f itself may go).
func (w *worker) charge(f *flow) {
	m := &w.mem
	if f.state == stEmitted {
		w.bury(f) // tomb.go
		if m.limit > 0 && m.used > m.limit {
			w.relieve(nil)
		}
		return
	}
	n := flowRetained(f)
	m.used += int64(n - int(f.mem))
	f.mem = int32(n)
	if c := flowClass(f); !f.listed || c != f.cls {
		if f.listed {
			m.unlink(f)
		}
		f.cls = c
		m.pushFront(f)
	}
	if m.limit > 0 && m.used > m.limit {
		w.relieve(f)
	}
}

// uncharge takes f (ending) out of the budget.
func (w *worker) uncharge(f *flow) {
	if !f.listed {
		return
	}
	w.mem.used -= int64(f.mem)
	f.mem = 0
	w.mem.unlink(f)
}

// relieve evicts flows, lowest class and oldest first, until the worker
// is 1/16 under its budget. cur, the flow of the packet just handled, goes
// last: a new flow is not evicted by its own first packet while older
// ones of its class wait.
func (w *worker) relieve(cur *flow) {
	m := &w.mem
	if !m.pressure {
		m.pressure = true
		w.st.inc(CMemPressureStarted)
	}
	target := m.limit - m.limit/16
	for m.used > target {
		if w.tombs.live > 0 || w.tombs.q.len() > 0 {
			w.dropOldestTomb(CEvictedClosed) // tombstones go first
			continue
		}
		f := m.victim(cur)
		if f == nil {
			if cur == nil {
				break
			}
			f, cur = cur, nil
		}
		w.evict(f)
	}
	w.st.v[CMemoryBytes].Store(uint64(max(m.used, 0)))
}

// evict ends f for memory, counted by class.
func (w *worker) evict(f *flow) {
	w.st.inc(evictCounter[f.cls])
	f.evicted = true
	w.endFlow(f, CFlowsEvicted)
}

// victim is the oldest flow of the lowest class other than skip, or nil.
func (m *memcap) victim(skip *flow) *flow {
	for c := range m.lists {
		f := m.lists[c].tail
		if f != nil && f == skip {
			f = f.links[classLinks].prev
		}
		if f != nil {
			return f
		}
	}
	return nil
}

// tick publishes the accounted bytes and the fingerprint cache's
// counters, and ends a pressure episode once
// the worker is below half its budget (or at the end of input, final).
func (w *worker) tick(final bool) {
	m := &w.mem
	if m.pressure && (final || m.used < m.limit/2) {
		m.pressure = false
		w.st.inc(CMemPressureEnded)
	}
	w.st.v[CMemoryBytes].Store(uint64(max(m.used, 0)))
	w.st.v[CTombstones].Store(uint64(w.tombs.live))
	if w.fps != nil {
		fs := w.fps.Stats()
		w.st.v[CFingerprintBytes].Store(uint64(fs.Bytes))
		w.st.v[CFingerprintHits].Store(fs.Hits)
		w.st.v[CFingerprintMisses].Store(fs.Misses)
		w.st.v[CFingerprintEvictions].Store(fs.Evictions)
	}
}

// suppressed reports whether the session of f, which has one, is dropped
// (counted): no hello was parsed, and f was evicted for memory or one side
// never sent a packet. Neither endpoint saw a TLS connection, and a flood
// of half-open flows must not become a flood of documents.
func (w *worker) suppressed(f *flow, hs *tlsparse.Handshake) bool {
	if hs != nil && (hs.ClientHello != nil || hs.ServerHello != nil) {
		return false
	}
	switch {
	case f.evicted:
		w.st.inc(CFlowsEvictedNoHello)
	case f.pkts[0] == 0 || f.pkts[1] == 0:
		w.st.inc(CFlowsUnanswered)
	default:
		return false
	}
	return true
}

func (m *memcap) pushFront(f *flow) {
	m.lists[f.cls].pushFront(f, classLinks)
	f.listed = true
}

func (m *memcap) unlink(f *flow) {
	m.lists[f.cls].unlink(f, classLinks)
	f.listed = false
}
