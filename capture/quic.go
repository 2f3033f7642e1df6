package capture

import (
	"bytes"

	"golang.org/x/crypto/cryptobyte"

	"github.com/tlsentry/tlsentry/quic"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// QUIC: the ClientHello and ServerHello of a QUIC connection travel in
// CRYPTO frames of Initial packets, protected with keys every observer can
// derive (package quic does the packet work). This file keeps the QUIC
// state of a flow: which keys, how many Initials, the CRYPTO stream of
// each direction, whose handshake messages go to a tlsparse.Conn as they
// are (Conn.FeedHandshake: there are no TLS records in QUIC).

// Limits of the QUIC stage (each has a counter).
const (
	// maxQUICInitials is the Initial packets (both directions) one flow
	// decrypts; later ones are counted only.
	maxQUICInitials = 32
	// maxQUICRekeys bounds key derivations per flow after the first (Retry,
	// or a client that changed its Destination Connection ID).
	maxQUICRekeys = 4
	// maxFreeQUIC is the recycled quicFlows kept per worker.
	maxFreeQUIC = 256
	// minClientInitial: clients pad Initial datagrams to 1200 bytes (RFC
	// 9000 section 14.1); off port 443 only such datagrams start a flow.
	minClientInitial = 1200
)

// quicFlow is the QUIC state of one flow (flow.quic).
type quicFlow struct {
	version    uint32
	keyVersion uint32 // version whose salt protects Initials (differs for greased versions)
	clientSide uint8  // flow side of the client
	dcid       [20]byte
	dcidLen    uint8
	keys       [2]*quic.Keys // by tlsparse.Direction
	largest    [2]uint64     // largest packet number + 1 per direction (0: none)
	crypto     [2]quic.CryptoStream
	fed        [2]int // CRYPTO stream bytes handed to the parser
	conn       *tlsparse.Conn
	done       bool // the Conn wants no more bytes

	off443        bool // counted in quicState.off443
	initials      int  // Initial packets considered (both directions)
	decrypted     [2]int
	rekeys        int
	helloDone     bool // the first ClientHello is complete
	sawMessage    bool // a complete handshake message went to conn
	retry         bool
	decryptFailed bool
	malformed     bool
	initialLimit  bool
}

// quicState is a worker's QUIC scratch space: decrypted packets are written
// here (the capture's buffers are never changed), and finished quicFlows
// are recycled.
type quicState struct {
	pkt  []byte
	free freeList[*quicFlow]
	// off443 counts live QUIC flows on other ports: while there are none,
	// UDP packets that cannot start one skip the flow table.
	off443 int
}

func (q *quicState) get() *quicFlow {
	if f, ok := q.free.get(); ok {
		return f
	}
	return new(quicFlow)
}

func (q *quicState) put(f *quicFlow) {
	c0, c1 := f.crypto[0], f.crypto[1]
	c0.Reset()
	c1.Reset()
	*f = quicFlow{crypto: [2]quic.CryptoStream{c0, c1}}
	q.free.put(f, maxFreeQUIC)
}

// handleUDP processes one UDP packet; it reports whether the packet
// belonged to QUIC (counted here) rather than being skipped.
func (w *worker) handleUDP(p *Packet) bool {
	b := p.Payload
	if w.quic.off443 == 0 && p.SrcPort != 443 && p.DstPort != 443 && (len(b) < minClientInitial || b[0]&0xc0 != 0xc0) {
		return false // DNS, NTP, ... : not QUIC, and no QUIC flow off 443 to look for
	}
	ts := p.Timestamp.UnixNano()
	k := makeKey(p, w.cfg.VLANInKey)
	f, dead, absorbed := w.lookup(&k, ts, false)
	if absorbed {
		return true
	}
	if f != nil && f.quic == nil {
		return false // cannot happen: only QUIC creates UDP flows
	}
	if f == nil {
		var isQUIC bool
		if f, isQUIC = w.quicStart(&k, dead, p, ts); f == nil {
			return isQUIC
		}
	}
	defer w.charge(f) // after the packet: f may be evicted (memcap.go)
	side := f.side(p)
	if !w.checksumOK(f, side, p) {
		return true
	}
	f.payload[side] = true
	if !w.account(f, side, p.WireLen, ts) {
		return true
	}
	w.st.inc(CQUICPackets)
	q := f.quic
	if q.done || len(b) == 0 || b[0]&0x80 == 0 {
		w.st.inc(CBypassedPackets)
		return true
	}
	dir := tlsparse.ServerToClient
	if side == q.clientSide {
		dir = tlsparse.ClientToServer
	}
	w.quicDatagram(f, q, dir, b)
	return true
}

// quicStart starts a QUIC flow for p, the first packet of k seen, if it is
// a client's first Initial (off port 443, and for greased versions, only
// when it decrypts). Without a flow, isQUIC tells whether the packet was
// QUIC's all the same (counted here) rather than to be skipped. dead is
// lookup's.
func (w *worker) quicStart(k *flowKey, dead slotID, p *Packet, ts int64) (f *flow, isQUIC bool) {
	b := p.Payload
	on443 := p.SrcPort == 443 || p.DstPort == 443
	if quic.IsGoogleQUIC(b) && on443 {
		w.st.inc(CQUICGoogle)
		return nil, true
	}
	h, ok := quic.ParseLongHeader(b)
	if !ok {
		return nil, false
	}
	if !quic.Supported(h.Version) {
		if on443 {
			w.st.inc(CQUICUnsupportedVersion)
			return nil, true
		}
		return nil, false
	}
	if h.Type != quic.Initial || len(h.DCID) < 8 && h.Version == quic.V1 ||
		p.SrcPort == 443 && p.DstPort != 443 {
		// not a client's first Initial (RFC 9000 section 7.2: at least 8 bytes)
		if on443 {
			w.st.inc(CQUICNotInitial)
			return nil, true
		}
		return nil, false
	}
	if p.DstPort != 443 && len(b) < minClientInitial {
		return nil, false
	}
	kv := h.Version // version whose keys protect the packets
	keys, ok := quic.NewKeys(kv, h.DCID, false)
	if !ok {
		return nil, false
	}
	if quic.IsReservedVersion(h.Version) && !w.quicTry(keys, b, &h) {
		kv = quic.V1
		keys, _ = quic.NewKeys(kv, h.DCID, false)
	}
	if (p.DstPort != 443 || quic.IsReservedVersion(h.Version)) && !w.quicTry(keys, b, &h) {
		// off port 443, and for greased versions, only a datagram that
		// decrypts starts a flow
		if p.DstPort == 443 {
			w.st.inc(CQUICDecryptFailed)
			return nil, true
		}
		return nil, false
	}
	f = w.newFlowFor(k, dead, p, ts, 0)
	q := w.quic.get()
	f.quic = q
	q.version, q.keyVersion = h.Version, kv
	if !on443 {
		q.off443 = true
		w.quic.off443++
	}
	q.dcidLen = uint8(copy(q.dcid[:], h.DCID))
	q.keys[tlsparse.ClientToServer] = keys // the server's: when it answers
	w.st.inc(CQUICFlows)
	return f, true
}

// quicTry reports whether the Initial packet at the start of b decrypts
// with keys (b is not changed).
func (w *worker) quicTry(keys *quic.Keys, b []byte, h *quic.LongHeader) bool {
	if h.End > len(b) {
		return false
	}
	w.quic.pkt = append(w.quic.pkt[:0], b[:h.End]...)
	_, _, ok := keys.Open(w.quic.pkt, h, 0)
	return ok
}

// quicDatagram handles the coalesced long-header packets of one datagram.
func (w *worker) quicDatagram(f *flow, q *quicFlow, dir tlsparse.Direction, b []byte) {
	for len(b) > 0 && b[0]&0x80 != 0 && !q.done {
		h, ok := quic.ParseLongHeader(b)
		if !ok || h.End > len(b) {
			w.st.inc(CQUICMalformed)
			q.malformed = true
			return
		}
		if h.Version != q.version {
			// Version Negotiation (version 0) from the server, or the
			// client's next attempt with another version (quicInitial
			// rekeys); anything else in the datagram is not ours.
			if !quic.Supported(h.Version) || dir != tlsparse.ClientToServer {
				return
			}
		}
		pkt := b[:h.End]
		b = b[h.End:]
		switch h.Type {
		case quic.Retry:
			if dir == tlsparse.ServerToClient {
				q.retry = true
			}
			continue
		case quic.Initial:
		default:
			continue
		}
		if q.initials >= maxQUICInitials {
			if !q.initialLimit {
				q.initialLimit = true
				w.st.inc(CQUICInitialLimit)
			}
			continue
		}
		q.initials++
		w.quicInitial(q, dir, pkt, &h)
	}
}

// quicInitial decrypts one Initial packet and feeds its CRYPTO data on.
func (w *worker) quicInitial(q *quicFlow, dir tlsparse.Direction, pkt []byte, h *quic.LongHeader) {
	qs := &w.quic
	qs.pkt = append(qs.pkt[:0], pkt...)
	var payload []byte
	var pn uint64
	ok := false
	if q.keys[dir] == nil && dir == tlsparse.ServerToClient {
		// derived from the client's Destination Connection ID
		q.keys[dir], _ = quic.NewKeys(q.keyVersion, q.dcid[:q.dcidLen], true)
	}
	if h.Version == q.version && q.keys[dir] != nil {
		payload, pn, ok = q.keys[dir].Open(qs.pkt, h, q.largest[dir])
	}
	if !ok && dir == tlsparse.ClientToServer && q.rekeys < maxQUICRekeys &&
		(h.Version != q.version || !bytes.Equal(h.DCID, q.dcid[:q.dcidLen])) {
		// After a Retry the client derives its keys from the Destination
		// Connection ID the server chose (RFC 9001 section 5.2); after
		// Version Negotiation it starts over with another version.
		q.rekeys++
		kv := h.Version
		if kv == q.version {
			kv = q.keyVersion
		}
		if ck, ok2 := quic.NewKeys(kv, h.DCID, false); ok2 {
			qs.pkt = append(qs.pkt[:0], pkt...)
			if payload, pn, ok = ck.Open(qs.pkt, h, 0); ok {
				q.version, q.keyVersion = h.Version, kv
				q.keys[tlsparse.ClientToServer] = ck
				q.keys[tlsparse.ServerToClient] = nil
				q.dcidLen = uint8(copy(q.dcid[:], h.DCID))
				q.largest = [2]uint64{}
			}
		}
	}
	if !ok || q.keys[dir] == nil {
		w.st.inc(CQUICDecryptFailed)
		q.decryptFailed = true
		return
	}
	w.st.inc(CQUICInitials)
	q.decrypted[dir]++
	if pn+1 > q.largest[dir] {
		q.largest[dir] = pn + 1
	}
	cs := &q.crypto[dir]
	n, fok := quic.WalkInitialFrames(payload, cs, quic.IsGoogleTLSVersion(q.version))
	if !fok {
		if cs.Limited() {
			w.st.inc(CQUICCryptoLimit)
		} else {
			w.st.inc(CQUICMalformed)
			q.malformed = true
		}
	}
	if n > 0 {
		w.quicFeed(q, dir)
	}
}

// quicFeed hands the complete handshake messages at the front of a CRYPTO
// stream that the parser has not seen to it, as they are (FeedHandshake:
// no records). It is called once per Initial packet with CRYPTO frames:
// until the ClientHello is complete every client packet is a call, even
// one that made nothing new contiguous, since the parser counts them
// (ClientHelloChunks). A message stays in the stream until it is whole, so
// one that never completes is never seen.
//
// The server's messages wait until the client's ClientHello went in: the
// parser takes a ServerHello first for a capture that missed the client.
func (w *worker) quicFeed(q *quicFlow, dir tlsparse.Direction) {
	if q.done || dir == tlsparse.ServerToClient && !q.helloDone {
		return
	}
	data := q.crypto[dir].Data()
	beforeHello := dir == tlsparse.ClientToServer && !q.helloDone
	end, hello := wholeMessages(data, q.fed[dir], beforeHello)
	if end == q.fed[dir] && !beforeHello {
		return
	}
	if q.conn == nil {
		q.conn = w.getConn()
	}
	if end > q.fed[dir] {
		q.sawMessage = true
	}
	q.done = !q.conn.FeedHandshake(dir, data[q.fed[dir]:end])
	q.fed[dir] = end
	if hello {
		q.helloDone = true
		w.quicFeed(q, tlsparse.ServerToClient) // what waited for it
		w.quicFeed(q, tlsparse.ClientToServer) // what came after it
	}
}

// wholeMessages returns the end of the complete handshake messages of b
// from offset from; with stopAtHello it stops after the first ClientHello
// and reports whether there was one.
func wholeMessages(b []byte, from int, stopAtHello bool) (end int, hello bool) {
	s := cryptobyte.String(b[from:])
	end = from
	for {
		var typ uint8
		var body cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint24LengthPrefixed(&body) {
			return end, false
		}
		end = len(b) - len(s)
		if stopAtHello && typ == 1 {
			return end, true
		}
	}
}

// emitQUIC builds and hands over a QUIC flow's session.
func (w *worker) emitQUIC(f *flow) {
	q := f.quic
	f.quic = nil
	f.state = stEmitted
	if q.off443 {
		w.quic.off443--
	}
	if f.evicted && !q.sawMessage {
		// evicted for memory before a hello: no session (memcap.go)
		w.st.inc(CFlowsEvictedNoHello)
		if q.conn != nil {
			w.putConn(q.conn)
			q.conn = nil
		}
		w.quic.put(q)
		return
	}
	s := newSession(f, int8(q.clientSide), session.UDP)
	s.Protocol, s.QUICVersion = session.QUIC, q.version
	if q.conn != nil {
		if q.sawMessage {
			// The parser took the CRYPTO stream as it is: no records, one
			// chunk per packet (spreading over packets is normal in QUIC,
			// post-quantum key shares need two; ClientHelloChunks tells,
			// the rules judge).
			hs := q.conn.Handshake().Clone()
			if hs.Err != nil {
				w.st.inc(CParseErrors)
			}
			s.TLS = hs
		}
		w.putConn(q.conn)
		q.conn = nil
	}
	if q.crypto[0].Limited() || q.crypto[1].Limited() {
		s.Anomalies.Add(tlsparse.AnomalyQUICCryptoLimit)
	}
	if q.initialLimit {
		s.Anomalies.Add(tlsparse.AnomalyQUICInitialLimit)
	}
	if q.decryptFailed {
		s.Anomalies.Add(tlsparse.AnomalyQUICDecryptFailed)
	}
	if q.malformed {
		s.Anomalies.Add(tlsparse.AnomalyQUICMalformed)
	}
	if q.retry {
		s.Anomalies.Add(tlsparse.AnomalyQUICRetry)
	}
	s.Incomplete = s.TLS == nil || s.TLS.ClientHello == nil || s.TLS.ServerHello == nil ||
		q.crypto[0].Limited() || q.crypto[1].Limited()
	w.quic.put(q)
	w.st.inc(CSessionsQUIC)
	w.deliverSession(s)
}
