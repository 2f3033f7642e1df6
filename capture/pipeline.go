package capture

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// PacketFilter decides whether a raw frame is processed (a compiled BPF
// filter, see NewFilter).
type PacketFilter interface {
	Match(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) bool
}

// Config configures a Pipeline. The zero value works: every field has a
// default.
type Config struct {
	Workers int // packets of one Source are sharded over Workers; 0: runtime.NumCPU()

	MaxFlows        int           // per worker; at the limit the oldest idle flow is evicted (CFlowsEvicted). 0: 262144
	IdleTimeout     time.Duration // packet time without a packet; 0: 10 minutes
	AbsoluteTimeout time.Duration // the session is emitted at this age even if the flow goes on; 0: 1 hour
	CloseLinger     time.Duration // after FIN both ways or RST, late packets are absorbed this long; 0: 30 s
	MaxTombstones   int           // per worker; at the limit the oldest tombstone is dropped (CTombstonesDropped). 0: MaxFlows

	MaxPendingBytes    int // out-of-order bytes buffered per direction; 0: 64 KiB
	MaxPendingSegments int // out-of-order segments buffered per direction; 0: 128
	MaxStreamBytes     int // in-order bytes handed to tlsparse per direction; 0: DefaultMaxStreamBytes

	// Checksums says whether TCP and UDP checksums are validated (see
	// ChecksumMode); the zero value is ChecksumAuto.
	Checksums ChecksumMode

	// MemoryLimit bounds, in bytes, the flow, reassembly, defragmentation
	// and parser state of the whole pipeline, split evenly over the
	// workers (memcap.go). 0: DefaultMemoryLimit; negative: no limit.
	MemoryLimit int64

	// VLANInKey makes the innermost VLAN id part of the flow key (see flowKey).
	VLANInKey bool

	// Filter, when set, drops frames it does not match before decoding.
	Filter PacketFilter
	// CertCache summarises server certificates; nil: a cache of 4096.
	CertCache *tlsparse.CertCache
	// FingerprintCacheBytes bounds each worker's cache of hello
	// fingerprints (tlsparse.FingerprintCache; CFingerprint*); 0:
	// DefaultFingerprintCacheBytes, negative: no cache.
	FingerprintCacheBytes int
}

// DefaultFingerprintCacheBytes holds about 1,000 distinct hellos.
const DefaultFingerprintCacheBytes = 256 << 10

// DefaultMaxStreamBytes is the default per-direction stream limit: the
// largest Certificate message tlsparse buffers, plus room for what comes
// before it in the server's flight (ServerHello, record headers) and a
// large ClientHello on the other side. A smaller limit would cut a
// certificate tlsparse accepts (zeek's tls-fragmented-handshake.pcap
// carries a 332 KiB one).
const DefaultMaxStreamBytes = tlsparse.MaxCertificateMessage + tlsparse.MaxHandshakeMessage

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = 262144
	}
	if c.MaxTombstones <= 0 {
		c.MaxTombstones = c.MaxFlows
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.AbsoluteTimeout <= 0 {
		c.AbsoluteTimeout = time.Hour
	}
	if c.CloseLinger <= 0 {
		c.CloseLinger = 30 * time.Second
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = 64 << 10
	}
	if c.MaxPendingSegments <= 0 {
		c.MaxPendingSegments = 128
	}
	if c.MaxStreamBytes <= 0 {
		c.MaxStreamBytes = DefaultMaxStreamBytes
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.CertCache == nil {
		c.CertCache = tlsparse.NewCertCache(4096)
	}
	if c.FingerprintCacheBytes == 0 {
		c.FingerprintCacheBytes = DefaultFingerprintCacheBytes
	}
}

// newDecoder returns a Decoder validating checksums unless they are off.
// newDecoder is a Decoder for this configuration: checksum validation,
// and the defragmenter's share of the memory budget.
func (c *Config) newDecoder() *Decoder {
	d := NewDecoder()
	d.checksums = c.Checksums != ChecksumOff
	if n := defragShare(c.MemoryLimit); n > 0 {
		d.defrag.cfg.MaxBytes = n
	}
	return d
}

// Pipeline turns packets from Sources into Sessions.
type Pipeline struct {
	cfg     Config
	h       session.Handler
	stats   *Stats
	workers int            // workers sharing cfg.MemoryLimit
	oh      OrderedHandler // h, when it orders sessions (order.go)
	seed    maphash.Seed   // of the flow hash that picks a worker (flowKey.shard)
}

// NewPipeline returns a pipeline delivering sessions to h.
func NewPipeline(cfg Config, h session.Handler) *Pipeline {
	cfg.setDefaults()
	// one counter set per worker and one per reader (at most Workers of each)
	p := &Pipeline{cfg: cfg, h: h, stats: newStats(2 * cfg.Workers), workers: cfg.Workers, seed: maphash.MakeSeed()}
	p.oh, _ = h.(OrderedHandler)
	return p
}

// Stats are the pipeline's live counters.
func (p *Pipeline) Stats() *Stats { return p.stats }

// CertStats are the counters of the pipeline's server certificate cache
// (Config.CertCache).
func (p *Pipeline) CertStats() tlsparse.CertCacheStats { return p.cfg.CertCache.Stats() }

// Run is NewPipeline(cfg, h).Run(ctx, srcs) returning the final counters.
func Run(ctx context.Context, cfg Config, srcs []Source, h session.Handler) (Snapshot, error) {
	p := NewPipeline(cfg, h)
	err := p.Run(ctx, srcs)
	return p.stats.Snapshot(), err
}

// Run reads srcs until they end (io.EOF), fail, or ctx is done, then flushes
// every flow still open and returns. With one source, its packets are
// decoded by one reader goroutine and sharded by a seeded symmetric flow
// hash (flowKey.shard) over
// cfg.Workers workers (with one worker, it all happens in one goroutine).
// With several sources (AF_PACKET fanout: the kernel already shards by
// flow), each source gets its own worker and nothing is sharded again.
//
// A read error other than io.EOF stops the run after the flush and is
// returned: every session read before it is still delivered.
func (p *Pipeline) Run(ctx context.Context, srcs []Source) error {
	if len(srcs) == 0 {
		return errors.New("capture: no source")
	}
	if len(srcs) > 1 || p.cfg.Workers == 1 {
		if len(srcs) > len(p.stats.sets) {
			p.stats = newStats(len(srcs))
		}
		p.workers = len(srcs)
		if p.oh != nil {
			p.oh.Begin(len(srcs))
		}
		errs := make([]error, len(srcs))
		var wg sync.WaitGroup
		for i, src := range srcs {
			w := p.newWorker(i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.runInline(ctx, src, p.cfg.Filter)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if p.oh != nil {
		p.oh.Begin(p.cfg.Workers)
	}
	return p.runSharded(ctx, srcs[0])
}

const (
	batchPackets = 128
	batchArena   = 128 << 10
	flushEvery   = int64(time.Second) // packet time between flushes of partial batches
	ctxCheck     = 1024               // packets between checks of ctx
)

// batch carries packets from the reader to one worker: most as frames for
// the worker to decode, the rest decoded by the reader. Frames and decoded
// payloads are copied into arena; batches are recycled through a free list.
type batch struct {
	recs  []batchRec
	pkts  []Packet // the packets the reader decoded (batchRec.decoded)
	arena []byte
	now   int64 // reader's packet clock when sent
}

// batchRec is one packet of a batch, in the reader's order. It is small
// (a Packet is three times its size) because the reader, the pipeline's
// one serial stage, writes one per packet.
type batchRec struct {
	ts     time.Time       // capture time
	clock  int64           // reader's packet clock (order key, order.go)
	wire   uint32          // length on the wire (capture headers hold 32 bits)
	off, n uint32          // the frame in arena; decoded: the packet is pkts[off]
	lt     layers.LinkType // the frame's link type; rawDecoded: decoded
}

// rawDecoded marks a batch packet the reader decoded itself.
const rawDecoded layers.LinkType = 0xffff

func (p *Pipeline) runSharded(ctx context.Context, src Source) error {
	n := p.cfg.Workers
	free := make(chan *batch, 4*n)
	for range 4 * n {
		free <- &batch{recs: make([]batchRec, 0, batchPackets), arena: make([]byte, 0, batchArena)}
	}
	ins := make([]chan *batch, n)
	var wg sync.WaitGroup
	for i := range n {
		ins[i] = make(chan *batch, 4)
		w := p.newWorker(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := p.cfg.newDecoder() // for the frames the reader only peeked at
			var pkt Packet
			for b := range ins[i] {
				for j := range b.recs {
					r := &b.recs[j]
					q := &pkt
					if r.lt == rawDecoded {
						q = &b.pkts[r.off]
					} else {
						frame := b.arena[r.off : r.off+r.n : r.off+r.n]
						ci := gopacket.CaptureInfo{Timestamp: r.ts, Length: int(r.wire), CaptureLength: int(r.n)}
						if !dec.Decode(frame, ci, r.lt, &pkt) {
							continue
						}
					}
					w.advance(q.Timestamp.UnixNano())
					w.key = r.clock
					w.handle(q)
				}
				w.st.storeDecodeStats(&dec.stats)
				// the reader's clock: lets idle workers time flows out
				w.advance(b.now)
				w.publish()
				b.recs, b.pkts, b.arena = b.recs[:0], b.pkts[:0], b.arena[:0]
				free <- b
			}
			w.flushAll()
			w.done()
		}()
	}

	st := p.stats.sets[n] // the reader's set
	dec := p.cfg.newDecoder()
	cur := make([]*batch, n)
	var pkt Packet
	var now, lastFlush int64
	// The previous packet's key and worker: a flow's packets often come
	// in runs, and comparing keys is cheaper than the seeded hash.
	lastKey, lastWorker := flowKey{}, -1
	send := func(i int) {
		if b := cur[i]; b != nil {
			b.now = now
			ins[i] <- b
			cur[i] = nil
		}
	}
	var err error
	for count := 0; ; count++ {
		if count%ctxCheck == 0 {
			st.storeDecodeStats(&dec.stats)
			if ctx.Err() != nil {
				break
			}
		}
		data, ci, rerr := src.ReadPacket()
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
		st.inc(CPackets)
		st.add(CBytes, uint64(ci.Length))
		lt := src.LinkType()
		if p.cfg.Filter != nil && !p.cfg.Filter.Match(lt, data, ci) {
			st.inc(CFiltered)
			continue
		}
		// Plain Ethernet/IP/TCP frames go to their worker as they are, to be
		// decoded (checksums included) there; the rest is decoded here.
		k, peeked := peekTCPKey(data, lt)
		payload := data // what goes into the arena: the frame, or the decoded payload
		if !peeked {
			if !dec.Decode(data, ci, lt, &pkt) {
				continue
			}
			k = makeKey(&pkt, p.cfg.VLANInKey)
			lt, payload = rawDecoded, pkt.Payload
		}
		if ts := ci.Timestamp.UnixNano(); ts > now {
			now = ts
		}
		i := lastWorker
		if i < 0 || !k.equal(&lastKey) {
			i = k.shard(p.seed, n)
			lastKey, lastWorker = k, i
		}
		b := cur[i]
		if b != nil && (len(b.recs) == cap(b.recs) || len(b.arena)+len(payload) > cap(b.arena)) {
			send(i)
			b = nil
		}
		if b == nil {
			b = <-free
			cur[i] = b
		}
		if len(payload) > cap(b.arena) { // cannot happen with 64 KiB IP packets; keep it safe
			payload = payload[:cap(b.arena)]
		}
		off := len(b.arena)
		b.arena = append(b.arena, payload...)
		r := batchRec{ts: ci.Timestamp, clock: now, wire: uint32(ci.Length), off: uint32(off), n: uint32(len(payload)), lt: lt}
		if lt == rawDecoded {
			pkt.Payload = b.arena[off:len(b.arena):len(b.arena)]
			pkt.firstHash() // now: its bytes are the reader's decoder's
			r.off = uint32(len(b.pkts))
			b.pkts = append(b.pkts, pkt)
		}
		b.recs = append(b.recs, r)
		if now-lastFlush >= flushEvery {
			// let every worker see the clock move, so idle ones sweep (an
			// empty batch for one that got no packet)
			lastFlush = now
			for i := range cur {
				if cur[i] == nil {
					cur[i] = <-free
				}
				send(i)
			}
		}
	}
	st.storeDecodeStats(&dec.stats)
	for i := range cur {
		if cur[i] == nil { // the final clock: idle workers sweep once more
			cur[i] = <-free
		}
		send(i)
		close(ins[i])
	}
	wg.Wait()
	return err
}

// worker owns a flow table; nothing in it is shared.
type worker struct {
	cfg   *Config
	st    *counters
	h     session.Handler
	tab   flowTable
	tombs tombs // emitted flows' tombstones (tomb.go)
	r     reasm
	mem   memcap // memory budget (memcap.go)
	certs *tlsparse.CertCache
	fps   *tlsparse.FingerprintCache // nil: none
	conns freeList[*tlsparse.Conn]   // reusable Conns
	quic  quicState                  // QUIC scratch space (quic.go)

	now, lastSweep int64

	// Ordering (order.go): id is the worker's number, oh the handler when
	// it orders sessions, key the order key of a session emitted now, wm
	// the last watermark published, nextExpiry a lower bound of its
	// flows' idle timeouts (set by sweep, lowered by new flows).
	id             int
	oh             OrderedHandler
	key            int64
	wm, nextExpiry int64

	cur       *flow // flow and side deliver works on
	curSide   uint8
	deliverFn func([]byte) bool
}

func (p *Pipeline) newWorker(i int) *worker {
	w := &worker{
		cfg:   &p.cfg,
		st:    p.stats.sets[i],
		h:     p.h,
		tab:   newFlowTable(p.cfg.MaxFlows),
		certs: p.cfg.CertCache,
		mem:   memcap{limit: workerLimit(p.cfg.MemoryLimit, p.workers)},
		id:    i,
		oh:    p.oh,
		wm:    math.MinInt64,

		nextExpiry: NoKey,
	}
	w.r = reasm{
		maxPendingBytes: p.cfg.MaxPendingBytes,
		maxPendingSegs:  p.cfg.MaxPendingSegments,
		maxStream:       p.cfg.MaxStreamBytes,
		st:              w.st,
	}
	if p.cfg.FingerprintCacheBytes > 0 {
		w.fps = tlsparse.NewFingerprintCache(p.cfg.FingerprintCacheBytes)
	}
	w.deliverFn = w.deliver
	return w
}

// runInline reads, decodes and handles packets of src in this goroutine.
func (w *worker) runInline(ctx context.Context, src Source, filter PacketFilter) error {
	dec := w.cfg.newDecoder()
	var pkt Packet
	var err error
	for count := 0; ; count++ {
		if count%ctxCheck == 0 {
			w.st.storeDecodeStats(&dec.stats)
			if ctx.Err() != nil {
				break
			}
		}
		data, ci, rerr := src.ReadPacket()
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
		w.st.inc(CPackets)
		w.st.add(CBytes, uint64(ci.Length))
		lt := src.LinkType()
		if filter != nil && !filter.Match(lt, data, ci) {
			w.st.inc(CFiltered)
			continue
		}
		if !dec.Decode(data, ci, lt, &pkt) {
			continue
		}
		w.advance(pkt.Timestamp.UnixNano())
		w.key = w.now // the worker is its own reader
		w.handle(&pkt)
		w.publish()
	}
	w.st.storeDecodeStats(&dec.stats)
	w.flushAll()
	w.done()
	return err
}

// advance moves the worker's packet clock and sweeps expired flows once a
// second of packet time.
func (w *worker) advance(ts int64) {
	if ts > w.now {
		w.now = ts
	}
	if w.now-w.lastSweep >= flushEvery {
		w.lastSweep = w.now
		w.sweep()
		w.tick(false)
	}
}

// sweep ends flows idle for longer than IdleTimeout, oldest first, and
// notes the earliest timeout of those left (nextExpiry): the flow table is
// in order of last packet, so the first one left is the next to expire.
// Emitted flows are not in it (tomb.go).
func (w *worker) sweep() {
	idle := int64(w.cfg.IdleTimeout)
	w.nextExpiry = NoKey
	w.expireTombs()
	for f := w.tab.tail; f != nil; {
		prev := f.links[lruLinks].prev
		if w.now-f.last <= idle {
			w.nextExpiry = w.expiry(f)
			return
		}
		w.endFlow(f, CFlowsTimedOut)
		f = prev
	}
}

// flushAll ends every flow (end of input). For an ordered handler the
// order key of such a session is the time it would have timed out, and
// flows end in that order, the watermark following (order.go), so that the
// judging stage need not hold them all.
func (w *worker) flushAll() {
	if w.oh != nil {
		w.flushOrdered()
	}
	for w.tab.tail != nil {
		w.endFlow(w.tab.tail, CFlowsFlushed)
	}
	w.flushTombs()
	w.tick(true)
}

// handle processes one decoded packet. p.Payload is not retained.
func (w *worker) handle(p *Packet) {
	if p.Checksum != csUnchecked && w.cfg.Checksums == ChecksumOn && p.Checksum != csGood {
		w.st.inc(CChecksumBad)
		return
	}
	if p.Proto != 6 {
		if p.Proto == 17 && w.handleUDP(p) { // QUIC (quic.go)
			return
		}
		w.st.inc(CNonTCP)
		return
	}
	if f := w.handleTCP(p); f != nil {
		w.charge(f)
	}
}

// handleTCP processes one TCP packet; it returns the flow it went to, if
// still in the table and it may need charging.
func (w *worker) handleTCP(p *Packet) *flow {
	ts := p.Timestamp.UnixNano()
	k := makeKey(p, w.cfg.VLANInKey)
	f, dead, absorbed := w.lookup(&k, ts, p.Flags&(FlagSYN|FlagACK) == FlagSYN)
	if absorbed {
		return nil
	}
	if f == nil {
		f = w.newFlowFor(&k, dead, p, ts, -1)
		if p.Flags&FlagSYN == 0 {
			f.midstream = true
			w.st.inc(CMidstream)
		}
	}
	side := f.side(p)
	if f.state == stBypass {
		// A bypassed flow: its halves are done (no reassembly; synAt and
		// ackedAt would do nothing), every packet is counted in
		// CBypassedPackets. Its bytes do not change per packet (its Conn
		// gets no more bytes), its class only when a side sends its first
		// packet (clsAnswered) or the flow is emitted: otherwise it returns
		// nil, nothing to charge.
		if p.Checksum != csUnchecked && !w.checksumOK(f, side, p) {
			return f
		}
		if !w.account(f, side, p.WireLen, ts) {
			return f
		}
		f.fragOv.note(p)
		f.prof.note(side, len(p.Payload))
		if p.Flags&FlagSYN != 0 {
			if p.Flags&FlagACK == 0 {
				f.synSide = int8(side)
			} else if f.synSide < 0 {
				f.synSide = int8(1 - side) // a SYN-ACK goes to the client
			}
		}
		w.st.inc(CBypassedPackets)
		if w.closed(f, side, p.Flags) {
			return f
		}
		if !f.listed || f.pkts[side] == 1 {
			return f
		}
		return nil // nothing to charge
	}
	if !w.checksumOK(f, side, p) {
		return f
	}
	if !w.account(f, side, p.WireLen, ts) {
		return f
	}
	f.fragOv.note(p)
	if f.held.n > 0 && f.held.side != side {
		w.unhold(f) // the peer answered
	}

	syn := p.Flags&FlagSYN != 0
	if syn {
		if p.Flags&FlagACK == 0 {
			f.synSide = int8(side)
		} else if f.synSide < 0 {
			f.synSide = int8(1 - side) // a SYN-ACK goes to the client
		}
		f.half[side].synAt(p.Seq)
	} else if p.Flags&FlagACK != 0 {
		f.half[1-side].ackedAt(p.Ack)
	}
	if len(p.Payload) > 0 {
		switch f.state {
		case stNew, stParsing:
			h := &f.half[side]
			if !h.done {
				f.payload[side] = true
				seq := p.Seq
				if syn {
					seq++ // TCP Fast Open: data follows the ISN
				}
				w.cur, w.curSide = f, side
				h.add(&w.r, seq, p.Payload, w.deliverFn)
				w.cur = nil
				if p.Truncated {
					// the snap length cut the segment: its tail is a hole
					h.markGap(&w.r)
				}
				if h.gap && !f.gapNotified[side] {
					f.gapNotified[side] = true
					w.unhold(f)
					if f.conn != nil && f.state == stParsing {
						f.conn.Gap(w.tdir(f, side))
					}
				}
			} else {
				w.st.inc(CBypassedPackets)
			}
		default:
			w.st.inc(CBypassedPackets)
		}
	} else if f.state == stBypass {
		w.st.inc(CBypassedPackets)
	}

	w.closed(f, side, p.Flags)
	return f
}

// closed emits f's session when a packet with flags from side closes the
// connection (RST, or FIN from both sides) and reports whether it did.
func (w *worker) closed(f *flow, side uint8, flags uint8) bool {
	if flags&FlagRST != 0 {
		w.st.inc(CFlowsClosed)
		w.emit(f)
		return true
	}
	if flags&FlagFIN != 0 {
		f.fin[side] = true
		if f.fin[0] && f.fin[1] {
			w.st.inc(CFlowsClosed)
			w.emit(f)
			return true
		}
	}
	return false
}

// checksumOK applies auto mode to p, from side of f: it reports whether
// p is used, counting bad ones (see ChecksumAuto). Mode on was applied
// before the flow lookup.
func (w *worker) checksumOK(f *flow, side uint8, p *Packet) bool {
	if p.Checksum == csUnchecked || p.Checksum == csGood && w.cfg.Checksums != ChecksumAuto {
		return true
	}
	switch w.cfg.Checksums {
	case ChecksumOff:
		return true
	case ChecksumAuto:
		if p.Checksum == csBadCoalesced {
			w.st.inc(CChecksumOffloaded)
			return true
		}
		use, first := f.csums[side].accept(p.Checksum == csGood)
		if first {
			w.st.inc(CChecksumOffloadDirections)
		}
		if use {
			if p.Checksum != csGood {
				w.st.inc(CChecksumOffloaded)
			}
			return true
		}
	}
	w.st.inc(CChecksumBad)
	return false
}

// tdir maps a flow side to the parser's direction.
func (w *worker) tdir(f *flow, side uint8) tlsparse.Direction {
	if int8(side) == f.clientSide {
		return tlsparse.ClientToServer
	}
	return tlsparse.ServerToClient
}

// deliver hands in-order bytes of w.cur, side w.curSide, to the parser.
func (w *worker) deliver(data []byte) bool {
	f := w.cur
	if f == nil || f.state > stParsing {
		return false
	}
	if f.conn == nil {
		if f.state == stNew {
			f.clientSide = chooseClient(f, w.curSide, data)
			f.state = stParsing
		}
		if f.held.add(f, w.curSide, data) {
			return true
		}
		if !w.unhold(f) {
			return false
		}
	}
	if f.conn.Feed(w.tdir(f, w.curSide), data) {
		return true
	}
	w.stopParsing(f)
	return false
}

// chooseClient picks the client when the first in-order bytes arrive: the
// side that sends a ClientHello, the other side of one that sends a
// ServerHello, else defaultClient.
func chooseClient(f *flow, side uint8, data []byte) int8 {
	switch helloKind(data) {
	case 1:
		return int8(side)
	case 2:
		return int8(1 - side)
	}
	return defaultClient(f)
}

// defaultClient is the client when no hello tells: the SYN sender (or the
// receiver of a SYN-ACK); without either, the side not on port 443 (or not
// on a port below 1024 when the other is above); else the first sender.
func defaultClient(f *flow) int8 {
	if f.synSide >= 0 {
		return f.synSide
	}
	p0, p1 := f.end(0).Port(), f.end(1).Port()
	switch {
	case p1 == 443 && p0 != 443, p1 < 1024 && p0 >= 1024:
		return 0
	case p0 == 443 && p1 != 443, p0 < 1024 && p1 >= 1024:
		return 1
	}
	return 0
}

// helloKind sniffs a TLS (or SSLv2) hello at the start of a stream: 1 a
// ClientHello, 2 a ServerHello, 0 neither or not sure.
func helloKind(b []byte) int {
	if len(b) >= 6 && b[0] == 0x16 && b[1] == 3 {
		switch b[5] {
		case 1:
			return 1
		case 2:
			return 2
		}
		return 0
	}
	if len(b) >= 3 && b[0]&0x80 != 0 {
		switch b[2] {
		case 1:
			return 1
		case 4:
			return 2
		}
	}
	return 0
}

// stopParsing bypasses f: its Conn wants no more bytes.
func (w *worker) stopParsing(f *flow) {
	f.state = stBypass
	for i := range f.half {
		f.half[i].done = true
		f.half[i].release(&w.r)
	}
	if f.conn == nil {
		return
	}
	// The Conn goes back to the pool now, its buffers with it: a TLS
	// flow keeps a copy of the handshake for its session (a flow may stay
	// open long after its handshake).
	if pr := f.conn.Handshake().Protocol; pr == tlsparse.ProtocolTLS || pr == tlsparse.ProtocolSSLv2 {
		f.hs, f.sums = f.conn.Handshake().CloneShared(w.certs)
	} else {
		f.proto = pr
	}
	w.putConn(f.conn)
	f.conn = nil
}

func (w *worker) getConn() *tlsparse.Conn {
	if c, ok := w.conns.get(); ok {
		return c
	}
	return new(tlsparse.Conn)
}

func (w *worker) putConn(c *tlsparse.Conn) {
	if w.conns.len() < 1024 && c.RetainedBytes() <= maxPooledConn {
		c.Reset()
		w.conns.put(c, 1024)
	} // else left to the GC
}

// endFlow emits f's session if not done yet and removes it. reason is the
// counter to bump, or -1.
func (w *worker) endFlow(f *flow, reason Counter) {
	if reason >= 0 {
		w.st.inc(reason)
	}
	if f.state != stEmitted {
		key := w.key
		if reason == CFlowsTimedOut {
			w.key = w.expiry(f)
		}
		w.emit(f)
		w.key = key
	}
	w.st.inc(CFlowsEnded)
	w.uncharge(f)
	w.tab.remove(f)
}

// emit builds and hands over f's session (if it has one) and turns f into a
// tombstone.
func (w *worker) emit(f *flow) {
	if f.state == stEmitted {
		return
	}
	if f.quic != nil {
		w.emitQUIC(f)
		return
	}
	if f.evicted {
		f.held = heldSegments{} // no document: no need to parse them
	} else {
		w.unhold(f)
	}
	wasParsing := f.state == stParsing
	for i := range f.half {
		h := &f.half[i]
		h.finish(&w.r)
		if h.gap && !f.gapNotified[i] {
			f.gapNotified[i] = true
			if f.conn != nil && wasParsing {
				f.conn.Gap(w.tdir(f, uint8(i)))
			}
		}
	}
	f.state = stEmitted

	proto := f.proto
	hs, sums := f.hs, f.sums // bypassed: copied already (stopParsing)
	f.hs, f.sums = nil, nil
	if f.conn != nil {
		hs = f.conn.Handshake()
	}
	if hs != nil {
		proto = hs.Protocol
	}
	isTLS := proto == tlsparse.ProtocolTLS || proto == tlsparse.ProtocolSSLv2
	sawPayload := f.payload[0] || f.payload[1]
	if !isTLS && !(f.key.has443() && sawPayload) {
		if proto != tlsparse.ProtocolUndetermined {
			w.st.inc(CBypassedNonTLS)
		}
		if f.conn != nil {
			w.putConn(f.conn)
			f.conn = nil
		}
		return
	}

	if w.suppressed(f, hs) {
		if f.conn != nil {
			w.putConn(f.conn)
			f.conn = nil
		}
		return
	}
	cs := f.clientSide
	if cs < 0 {
		cs = defaultClient(f)
	}
	s := newSession(f, cs, session.TCP)
	s.Protocol = session.ProtocolOf(proto)
	gap := f.half[0].gap || f.half[1].gap
	if f.midstream {
		s.Anomalies.Add(tlsparse.AnomalyMidstream)
	}
	if gap {
		s.Anomalies.Add(tlsparse.AnomalyTCPGap)
	}
	evasionFacts(f, cs, s)
	if f.half[0].limited || f.half[1].limited {
		s.Anomalies.Add(tlsparse.AnomalyTCPStreamLimit)
	}
	if isTLS {
		// The session keeps a copy; the Conn (and its buffers) is reused.
		// Certificates are the copies the cache keeps, beside their summaries.
		if f.conn != nil {
			hs, sums = hs.CloneShared(w.certs)
		}
		s.TLS, s.Certificates = hs, sums
		if hs.Err != nil {
			w.st.inc(CParseErrors)
		}
		s.Incomplete = gap || wasParsing || f.half[0].limited || f.half[1].limited || !f.payload[0] || !f.payload[1]
		w.st.inc(CSessionsTLS)
	} else {
		s.Incomplete = gap
		w.st.inc(CSessionsNonTLS443)
	}
	if f.conn != nil {
		w.putConn(f.conn)
		f.conn = nil
	}
	w.deliverSession(s)
}
