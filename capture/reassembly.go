package capture

import "unsafe"

// TCP reassembly, one direction at a time, only as far as the handshake
// needs.
//
// Why not gopacket/reassembly: it reassembles whole connections, keeps
// per-connection page caches and calls back through interfaces with a
// ScatterGather per segment; we need only the first few KB of each
// direction, in order, and must stop caring (bypass) the moment tlsparse
// is done. BenchmarkReassembly* in reassembly_bench_test.go compares the
// two on the same segments (figures in the note of issue 6).
//
// Policy, per direction:
//   - In-order segments with nothing buffered are delivered straight from
//     the packet (zero copy, no allocation).
//   - Out-of-order segments are copied into pooled buffers, at most
//     maxPendingBytes / maxPendingSegs per direction; they are delivered
//     as soon as the hole before them is filled.
//   - Overlaps: the bytes seen first win (Suricata's and most IDSes'
//     "first" policy). When the later copy has different bytes, the overlap
//     is counted (CReasmOverlaps) and the flow gets anomaly "tcp_overlap"
//     (rule tcp.overlap_different_data); the first such overlap's stream
//     offset and length go into session.Evasion. Bytes already delivered
//     are compared against a short history of the last delivered bytes
//     (1-2 KB); older retransmitted bytes are only counted as
//     retransmissions.
//     Out-of-order overlaps follow the same rule: of two buffered copies
//     of a byte not yet delivered, the one that arrived first is kept,
//     whichever starts at the lower sequence number. Linux and Windows
//     receivers keep data they already queued (in order or in their
//     out-of-order queue) and drop the overlapping part of a later
//     segment, so the bytes reported are those the usual servers used;
//     a receiver that prefers the later copy (old BSD, some embedded
//     stacks) can be told a different story, which the anomaly flags.
//   - A hole that is never filled - the out-of-order bound is hit, or the
//     flow ends with segments still waiting - is a gap: parsing of that
//     direction stops (tlsparse.Conn.Gap), the session is Incomplete and
//     gets anomaly "tcp_gap". It is not dropped.
//   - Without a SYN, a direction starts at the first segment seen (mid-
//     stream capture). Data in a SYN (TCP Fast Open) starts at ISN+1. A
//     repeated SYN or SYN-ACK re-bases the direction as long as no byte of
//     it was delivered yet (multiple SYN-ACKs), later ones are ignored.
//     When SYN-ACKs with two different ISNs alternate (a reused port: the
//     server answers retransmitted SYNs of an old and a new connection),
//     the peer's first pure ACK tells which one is real: it confirms the
//     ISN it acknowledges (if it is one of the last two seen), and later
//     SYNs no longer re-base the direction.
//   - A segment more than maxWindow ahead is out of window: dropped and
//     counted, not a gap.

const (
	segBufSize = 2048 // pooled buffer size: one MTU-sized segment, or history
	histKeep   = segBufSize / 2
	histSmall  = 128 // history up to this size is allocated to size, not pooled (growHist)
	maxWindow  = 1 << 20
)

type segment struct {
	seq  uint32
	data []byte // a pooled buffer (or a larger allocation) owned by the stream
}

// halfStream is one direction of a TCP connection.
type halfStream struct {
	started   bool // next is valid
	syn       bool // a SYN set next
	confirmed bool // the peer acknowledged the SYN: next is fixed
	alt       bool // altNext holds the previous SYN's next, when it differed
	altNext   uint32
	done      bool   // stopped: gap, limit, or the parser wants no more
	gap       bool   // a hole was never filled
	overlap   bool   // an overlap with different bytes was seen
	ovOff     uint32 // the first such overlap: stream offset from the direction's first byte
	ovLen     uint32 // and length
	limited   bool   // cut at the per-direction byte limit
	next      uint32 // next expected sequence number
	delivered int    // bytes delivered in order
	pending   []segment
	pendBytes int
	hist      []byte // the last bytes delivered, ending at next
}

// reasm holds what the streams of one worker share: limits, counters and a
// buffer pool.
type reasm struct {
	maxPendingBytes int
	maxPendingSegs  int
	maxStream       int
	st              *counters
	free            freeList[[]byte]
	scratch         []segment
}

func (r *reasm) getBuf(n int) []byte {
	if n <= segBufSize {
		if b, ok := r.free.get(); ok {
			return b[:n]
		}
		return make([]byte, n, segBufSize)
	}
	return make([]byte, n)
}

func (r *reasm) putBuf(b []byte) {
	if cap(b) == segBufSize {
		r.free.put(b[:0], 4096)
	}
}

// synAt handles a SYN (or SYN-ACK) with sequence number seq.
func (h *halfStream) synAt(seq uint32) {
	if h.delivered > 0 || len(h.pending) > 0 || h.done || h.confirmed {
		return
	}
	if h.syn && h.next != seq+1 {
		h.alt, h.altNext = true, h.next
	}
	h.started, h.syn, h.next = true, true, seq+1
}

// ackedAt takes an ACK (without SYN) of the peer acknowledging ack: before
// any byte was delivered, it confirms the SYN it acknowledges.
func (h *halfStream) ackedAt(ack uint32) {
	if !h.syn || h.confirmed || h.delivered > 0 || len(h.pending) > 0 || h.done {
		return
	}
	switch {
	case ack == h.next:
		h.confirmed = true
	case h.alt && ack == h.altNext:
		h.next, h.altNext, h.confirmed = ack, h.next, true
	}
}

// add takes one segment's payload. deliver receives in-order bytes (which
// may alias data) and reports whether it wants more; when it says no, the
// direction stops.
func (h *halfStream) add(r *reasm, seq uint32, data []byte, deliver func([]byte) bool) {
	if h.done || len(data) == 0 {
		return
	}
	if !h.started {
		h.started, h.next = true, seq
	}
	d := int32(seq - h.next)
	if d < 0 {
		old := int(-int64(d))
		n := old
		if n > len(data) {
			n = len(data)
		}
		r.st.inc(CReasmRetransmits)
		h.compareHistory(r, seq, data[:n])
		if old >= len(data) {
			return
		}
		data, seq, d = data[old:], h.next, 0
	}
	if d > maxWindow {
		r.st.inc(CReasmOOODropped)
		return
	}
	if d == 0 && len(h.pending) == 0 {
		h.push(r, data, deliver)
		return
	}
	h.insert(r, seq, data)
	h.drain(r, deliver)
}

// push delivers in-order bytes and keeps the history.
func (h *halfStream) push(r *reasm, data []byte, deliver func([]byte) bool) {
	if r.maxStream > 0 && h.delivered+len(data) > r.maxStream {
		data = data[:r.maxStream-h.delivered]
		h.done, h.limited = true, true
		r.st.inc(CReasmStreamLimit)
	}
	h.next += uint32(len(data))
	h.delivered += len(data)
	// deliver before remember: bytes the pipeline holds back are the
	// history up to data (held.go).
	if len(data) > 0 && !deliver(data) {
		h.done = true
	}
	if !h.done {
		h.remember(r, data)
	}
	if h.done {
		h.release(r)
	}
}

func (h *halfStream) remember(r *reasm, data []byte) {
	if len(data) >= histKeep {
		h.growHist(r, histKeep)
		h.hist = append(h.hist[:0], data[len(data)-histKeep:]...)
		return
	}
	if len(h.hist)+len(data) > segBufSize {
		keep := min(segBufSize-len(data), len(h.hist))
		n := copy(h.hist, h.hist[len(h.hist)-keep:])
		h.hist = h.hist[:n]
	}
	h.growHist(r, len(h.hist)+len(data))
	h.hist = append(h.hist, data...)
}

// growHist makes room for need bytes (at most segBufSize) of history. A
// direction that sent a few bytes holds about that many (a flood of tiny
// flows stays small); past histSmall it moves to a pooled buffer, which
// goes back to the pool when the flow stops parsing (release): a
// handshake's history costs no allocation once the pool is warm.
func (h *halfStream) growHist(r *reasm, need int) {
	if need <= cap(h.hist) {
		return
	}
	var nb []byte
	if need > histSmall {
		nb = r.getBuf(0)
	} else {
		nb = make([]byte, 0, max(need, 2*cap(h.hist), 64))
	}
	nb = append(nb, h.hist...)
	r.putBuf(h.hist)
	h.hist = nb
}

// retained is the bytes the direction's buffers hold: out-of-order
// segments and the history (capacities: what the heap holds).
func (h *halfStream) retained() int {
	n := cap(h.hist) + cap(h.pending)*int(unsafe.Sizeof(segment{}))
	for i := range h.pending {
		n += cap(h.pending[i].data)
	}
	return n
}

// compareHistory checks retransmitted bytes [seq, seq+len(data)), all
// before next, against the history.
func (h *halfStream) compareHistory(r *reasm, seq uint32, data []byte) {
	histStart := h.next - uint32(len(h.hist))
	off := int32(seq - histStart)
	if off < 0 {
		skip := int(-int64(off))
		if skip >= len(data) {
			return
		}
		data, off = data[skip:], 0
	}
	old := h.hist[off:]
	if len(old) > len(data) {
		old = old[:len(data)]
	}
	if string(old) != string(data[:len(old)]) {
		h.noteOverlap(r, histStart+uint32(off), len(old))
	}
}

// noteOverlap records an overlap with different bytes at [seq, seq+n).
func (h *halfStream) noteOverlap(r *reasm, seq uint32, n int) {
	r.st.inc(CReasmOverlaps)
	if !h.overlap {
		h.overlap = true
		h.ovOff = seq - (h.next - uint32(h.delivered)) // next - delivered: the first byte's number
		h.ovLen = uint32(n)
	}
}

// insert buffers [seq, seq+len(data)) minus what is already buffered
// (first wins). All of it is at or after next.
func (h *halfStream) insert(r *reasm, seq uint32, data []byte) {
	end := seq + uint32(len(data))
	cur := seq
	pieces := r.scratch[:0]
	for i := range h.pending {
		ps := h.pending[i].seq
		pe := ps + uint32(len(h.pending[i].data))
		if int32(pe-cur) <= 0 {
			continue
		}
		if int32(ps-end) >= 0 {
			break
		}
		if int32(ps-cur) > 0 {
			pieces = append(pieces, segment{seq: cur, data: data[cur-seq : ps-seq]})
		}
		// overlap [max(cur,ps), min(end,pe))
		os, oe := cur, end
		if int32(ps-os) > 0 {
			os = ps
		}
		if int32(pe-oe) < 0 {
			oe = pe
		}
		if string(h.pending[i].data[os-ps:oe-ps]) != string(data[os-seq:oe-seq]) {
			h.noteOverlap(r, os, int(oe-os))
		} else {
			r.st.inc(CReasmRetransmits)
		}
		cur = pe
		if int32(cur-end) >= 0 {
			break
		}
	}
	if int32(end-cur) > 0 {
		pieces = append(pieces, segment{seq: cur, data: data[cur-seq:]})
	}
	r.scratch = pieces[:0]
	for _, p := range pieces {
		if h.pendBytes+len(p.data) > r.maxPendingBytes || len(h.pending) >= r.maxPendingSegs {
			r.st.inc(CReasmOOODropped)
			h.markGap(r)
			return
		}
		buf := r.getBuf(len(p.data))
		copy(buf, p.data)
		// sorted insert; pending lists are short
		j := len(h.pending)
		for j > 0 && int32(h.pending[j-1].seq-p.seq) > 0 {
			j--
		}
		h.pending = append(h.pending, segment{})
		copy(h.pending[j+1:], h.pending[j:])
		h.pending[j] = segment{seq: p.seq, data: buf}
		h.pendBytes += len(buf)
		if p.seq != h.next {
			r.st.inc(CReasmOutOfOrder)
		}
	}
}

// drain delivers buffered segments that became contiguous.
func (h *halfStream) drain(r *reasm, deliver func([]byte) bool) {
	k := 0
	for k < len(h.pending) && !h.done {
		s := h.pending[k]
		if s.seq != h.next {
			break
		}
		h.pending[k].data = nil // owned by this loop now (release skips it)
		k++
		h.pendBytes -= len(s.data)
		h.push(r, s.data, deliver) // may release h.pending (done)
		r.putBuf(s.data)
	}
	if h.pending != nil && k > 0 {
		n := copy(h.pending, h.pending[k:])
		h.pending = h.pending[:n]
	}
}

// markGap stops the direction because of a hole that will not be filled.
func (h *halfStream) markGap(r *reasm) {
	if h.done {
		return
	}
	h.gap, h.done = true, true
	r.st.inc(CReasmGaps)
	// The history stays until the flow ends or is bypassed: bytes held
	// back from the parser (held.go) are still to be fed.
	for _, s := range h.pending {
		r.putBuf(s.data)
	}
	h.pending, h.pendBytes = nil, 0
}

// finish is called when the flow ends: segments still waiting mean a gap.
func (h *halfStream) finish(r *reasm) {
	if len(h.pending) > 0 {
		h.markGap(r)
	}
	h.release(r)
}

// release returns buffers to the pool.
func (h *halfStream) release(r *reasm) {
	for _, s := range h.pending {
		r.putBuf(s.data)
	}
	h.pending = nil
	h.pendBytes = 0
	if h.hist != nil {
		r.putBuf(h.hist)
		h.hist = nil
	}
}
