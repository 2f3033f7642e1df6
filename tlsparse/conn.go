package tlsparse

import (
	"slices"
	"unsafe"
)

// Conn parses both directions of one connection as capture reassembles them.
// The zero value is ready to use; Reset makes it reusable for another flow.
//
// Where each direction turns encrypted: after its ChangeCipherSpec (TLS <=
// 1.2; a TLS 1.3 compatibility CCS around a HelloRetryRequest is skipped),
// after a ServerHello selecting TLS 1.3 or a draft (both directions), after
// its first application_data record, and for SSLv2 after SERVER-HELLO and
// CLIENT-MASTER-KEY. Later records are counted by their headers only
// (encrypted alerts and heartbeats are recorded as such).
//
// The anomalies it reports (Handshake.Anomalies) are the StageTLS rows of
// the anomaly table (anomaly.go), and midstream.
//
// Memory is bounded: a Conn buffers at most one record header and one
// handshake message per direction (MaxClientHello, MaxCertificateMessage,
// MaxHandshakeMessage), plus the certificates it keeps. Larger messages are
// skipped and reported as the anomaly "oversized_handshake_message".
type Conn struct {
	hs   Handshake
	dirs [2]half

	first     int8 // 1 + direction that sent data first; 0 before any data
	preTried  bool // the first bytes were checked for a preamble
	pre       *preamble
	stopped   bool // not TLS, or a fatal alert: no more bytes wanted
	midstream bool
	fatal     bool // a cleartext fatal alert was seen
	shDone    bool // ServerHelloDone seen (full TLS <= 1.2 handshake)

	// pre is allocated when a preamble starts (startPreamble). Storage of
	// hs.ClientHello, the ClientHello after a HelloRetryRequest
	// (scratch), hs.ServerHello and hs.HelloRetryRequest: allocated when a
	// hello is parsed (allocHellos), so a Conn still waiting for one is
	// small; kept across Reset.
	ch, ch2  *ClientHello
	sh, hrr  *ServerHello
	ske      ServerKeyExchange // storage of hs.KeyExchange
	certBuf  []byte            // backing array of hs.*Certificates
	v2Cipher uint32            // SSLv2 CLIENT-MASTER-KEY cipher kind
}

// Feed consumes the next in-order bytes of one direction. data is not
// retained after Feed returns. It reports whether the connection still
// wants bytes: false once both directions are encrypted, the handshake has
// failed, or the stream is known not to be TLS; capture then bypasses it.
func (c *Conn) Feed(dir Direction, data []byte) (wantMore bool) {
	if dir > ServerToClient || !c.wantMore() {
		return c.wantMore()
	}
	if len(data) == 0 {
		return true
	}
	d := &c.dirs[dir]
	if d.hsOnly {
		return c.wantMore() // fed by FeedHandshake
	}
	d.feeds++
	if c.first == 0 {
		c.first = int8(dir) + 1
	}
	c.feedAny(dir, d, data)
	return c.wantMore()
}

// FeedHandshake consumes the next in-order bytes of one direction's stream
// of handshake messages when there is no record layer: the CRYPTO stream of
// QUIC (RFC 9001 section 4), taken the way crypto/tls's QUICConn.HandleData
// takes it. Messages (4-byte header and body) may be split across calls and
// several may come in one; each is handled as if it had come in TLS records
// (ClientHello, ServerHello, HelloRetryRequest, Certificate, ...), with the
// same bounds (an oversized message is skipped and reported). data is not
// retained. It reports whether the connection still wants bytes, as Feed.
//
// There are no records: ClientHelloRecords and the ClientHello's
// RecordVersion are 0, and a ClientHello spread over calls is not
// "fragmented_hello". Every call is one chunk, even one without data (a QUIC
// packet whose CRYPTO data is not contiguous yet): ClientHelloChunks is the
// client's calls up to the one that completed the first ClientHello, and
// while none is complete, the client's calls so far.
//
// A direction is fed by Feed or by FeedHandshake, never both: bytes given
// to FeedHandshake after Feed (or the other way round) are ignored.
func (c *Conn) FeedHandshake(dir Direction, data []byte) (wantMore bool) {
	if dir > ServerToClient || !c.wantMore() {
		return c.wantMore()
	}
	d := &c.dirs[dir]
	if d.mode == modeSniff && d.sniffN == 0 && d.feeds == 0 {
		d.mode, d.hsOnly = modeTLS, true
		if c.hs.Protocol == ProtocolUndetermined {
			c.hs.Protocol = ProtocolTLS
		}
	}
	if !d.hsOnly {
		return c.wantMore()
	}
	d.feeds++
	if len(data) > 0 && c.first == 0 {
		c.first = int8(dir) + 1
	}
	c.feedHandshake(dir, d, data)
	if dir == ClientToServer && c.hs.ClientHelloCount == 0 {
		c.hs.ClientHelloChunks = d.feeds
	}
	return c.wantMore()
}

func (c *Conn) feedAny(dir Direction, d *half, data []byte) {
	switch d.mode {
	case modeSniff:
		c.feedSniff(dir, d, data)
	case modePreamble:
		c.feedPreamble(dir, d, data)
	default:
		c.feedMode(dir, d, data)
	}
}

// feedSniff holds a direction's first bytes until Sniff (and, for the first
// direction of a connection, preambleStart) can classify them.
func (c *Conn) feedSniff(dir Direction, d *half, data []byte) {
	nPrior := d.sniffN // bytes held from earlier calls, not yet parsed
	n := copy(d.sniff[d.sniffN:], data)
	d.sniffN += n
	if !c.preTried && Direction(c.first-1) == dir {
		k, ok := preambleStart(dir, d.sniff[:d.sniffN])
		if !ok {
			return // at most 15 bytes held
		}
		c.preTried = true
		if k != preNone && c.dirs[1-dir].mode == modeSniff {
			c.startPreamble(dir, d, k, nPrior, data)
			return
		}
	}
	p, ok := Sniff(d.sniff[:d.sniffN])
	if !ok {
		return // at most 15 bytes held
	}
	if !c.sniffed(dir, d, p) {
		return
	}
	c.feedMode(dir, d, d.sniff[:nPrior]) // the record layer never writes to d.sniff
	c.feedMode(dir, d, data)
}

// startPreamble switches both directions to preamble mode and replays the
// bytes held so far: d.sniff[:nPrior] and data of dir, and whatever the
// other direction holds.
func (c *Conn) startPreamble(dir Direction, d *half, k preKind, nPrior int, data []byte) {
	if c.pre == nil {
		c.pre = new(preamble)
	}
	c.pre.kind = k
	c.hs.Protocol = k.fallback()
	o := &c.dirs[1-dir]
	held, prior := &c.pre.held, &c.pre.prior // in the Conn: local arrays would escape
	nHeld := copy(held[:], o.sniff[:o.sniffN])
	o.sniffN, o.mode = 0, modePreamble
	copy(prior[:], d.sniff[:nPrior])
	d.sniffN, d.mode = 0, modePreamble
	c.feedPreamble(dir, d, prior[:nPrior])
	if c.wantMore() {
		c.feedAny(dir, d, data)
	}
	if nHeld > 0 && c.wantMore() {
		c.feedAny(1-dir, o, held[:nHeld])
	}
}

// feedPreamble passes bytes to the preamble tracker; after the end of the
// direction's preamble the rest is sniffed and parsed afresh.
func (c *Conn) feedPreamble(dir Direction, d *half, data []byte) {
	if len(data) == 0 {
		return
	}
	n, r := c.pre.feed(dir, data)
	switch r {
	case preDone:
		d.mode, d.sniffN = modeSniff, 0
		if n < len(data) {
			c.feedSniff(dir, d, data[n:])
		}
	case preFailed:
		d.mode = modeDone
		if c.hs.Protocol == ProtocolTLS || c.hs.Protocol == ProtocolSSLv2 {
			c.anomaly(notTLS(dir))
		} else {
			c.stopped = true
		}
	}
}

func (c *Conn) feedMode(dir Direction, d *half, data []byte) {
	switch d.mode {
	case modeTLS:
		c.feedTLS(dir, d, data)
	case modeSSLv2:
		c.feedSSLv2(dir, d, data)
	}
}

// sniffed applies a direction's classification; it reports whether the
// direction is parsed as TLS.
func (c *Conn) sniffed(dir Direction, d *half, p Protocol) bool {
	isTLS := p == ProtocolTLS || p == ProtocolSSLv2
	if c.preKind() != preNone && isTLS && c.hs.Protocol != ProtocolTLS && c.hs.Protocol != ProtocolSSLv2 {
		// TLS after a preamble: the connection is TLS from here on.
		c.hs.Protocol = ProtocolUndetermined
		c.anomaly(c.pre.kind.anomaly())
	}
	if c.hs.Protocol == ProtocolUndetermined && (Direction(c.first-1) == dir || isTLS) {
		c.hs.Protocol = p
	}
	if !isTLS {
		d.mode = modeDone
		if c.hs.Protocol == ProtocolTLS || c.hs.Protocol == ProtocolSSLv2 {
			c.anomaly(notTLS(dir))
		} else {
			c.stopped = true
		}
		return false
	}
	if p == ProtocolSSLv2 {
		d.mode = modeSSLv2
	} else {
		d.mode = modeTLS
	}
	return true
}

func notTLS(dir Direction) Anomaly {
	if dir == ClientToServer {
		return AnomalyNotTLSClient
	}
	return AnomalyNotTLSServer
}

func gapIn(dir Direction) Anomaly {
	if dir == ClientToServer {
		return AnomalyGapClient
	}
	return AnomalyGapServer
}

// Gap tells the parser that bytes are missing in one direction; parsing of
// that direction stops and the handshake is marked accordingly.
func (c *Conn) Gap(dir Direction) {
	if dir > ServerToClient {
		return
	}
	d := &c.dirs[dir]
	if d.mode == modeDone || d.encrypted {
		return
	}
	d.mode = modeDone
	c.anomaly(gapIn(dir))
}

// Handshake returns what has been parsed so far. The result is owned by the
// Conn until Reset (its slices share the Conn's buffers); callers that keep
// it after Reset must Clone it.
func (c *Conn) Handshake() *Handshake { return &c.hs }

// Reset clears the Conn for reuse, keeping its buffers (except unusually
// large ones).
func (c *Conn) Reset() {
	hs := Handshake{
		Alerts:             c.hs.Alerts[:0],
		Heartbeats:         c.hs.Heartbeats[:0],
		ServerCertificates: c.hs.ServerCertificates[:0],
		ClientCertificates: c.hs.ClientCertificates[:0],
	}
	certBuf := c.certBuf[:0]
	if cap(certBuf) > MaxHandshakeMessage {
		certBuf = nil
	}
	d0, d1 := c.dirs[0], c.dirs[1]
	d0.reset()
	d1.reset()
	pre := c.pre
	if pre != nil {
		*pre = preamble{}
	}
	*c = Conn{hs: hs, dirs: [2]half{d0, d1}, pre: pre, ch: c.ch, ch2: c.ch2, sh: c.sh, hrr: c.hrr, certBuf: certBuf}
	if c.sh != nil {
		c.sh.reset()
		c.hrr.reset()
	}
}

// preKind is the kind of the preamble seen, if any.
func (c *Conn) preKind() preKind {
	if c.pre == nil {
		return preNone
	}
	return c.pre.kind
}

// allocHellos allocates the hello storage on the first hello.
func (c *Conn) allocHellos() {
	if c.ch == nil {
		c.ch, c.ch2 = new(ClientHello), new(ClientHello)
		c.sh, c.hrr = new(ServerHello), new(ServerHello)
	}
}

// helloBytes is the size of the hello storage (allocHellos).
const helloBytes = 2*int(unsafe.Sizeof(ClientHello{})) + 2*int(unsafe.Sizeof(ServerHello{}))

// RetainedBytes is the memory the Conn holds: itself, its hello storage
// and its buffers (partial handshake messages, certificates, alerts). It
// is what a flow costs while its Conn is attached (capture's memory
// budget).
func (c *Conn) RetainedBytes() int {
	n := int(unsafe.Sizeof(*c)) + cap(c.dirs[0].msg) + cap(c.dirs[1].msg) + cap(c.certBuf)
	n += 24 * (cap(c.hs.ServerCertificates) + cap(c.hs.ClientCertificates))
	n += int(unsafe.Sizeof(Alert{}))*cap(c.hs.Alerts) + int(unsafe.Sizeof(Heartbeat{}))*cap(c.hs.Heartbeats)
	if c.pre != nil {
		n += int(unsafe.Sizeof(preamble{}))
	}
	if c.ch != nil {
		n += helloBytes
		for _, ch := range [2]*ClientHello{c.ch, c.ch2} {
			if scr := ch.scr; scr != nil {
				n += int(unsafe.Sizeof(*scr)) + 2*cap(scr.u16) + cap(scr.u8) + 16*cap(scr.alpnBuf)
			}
		}
		for _, sh := range [2]*ServerHello{c.sh, c.hrr} {
			if scr := sh.scr; scr != nil {
				n += int(unsafe.Sizeof(*scr)) + 2*cap(scr.u16) + cap(scr.b) + 24*cap(scr.certs)
			}
		}
	}
	return n
}

// RetainedBytes estimates the memory a copy of h (Clone, CloneShared)
// holds: the structures and their lists; not the server certificates'
// DER, which CloneShared shares with the CertCache. A copy with both
// hellos holds at least its cloneRoom, used or not.
func (h *Handshake) RetainedBytes() int {
	n := h.listedBytes()
	if h.ClientHello != nil && h.ServerHello != nil {
		n = max(n, int(unsafe.Sizeof(cloneRoom{})))
	}
	return n
}

// listedBytes is the size of h's structures and lists, each on its own.
func (h *Handshake) listedBytes() int {
	n := int(unsafe.Sizeof(*h))
	if ch := h.ClientHello; ch != nil {
		n += int(unsafe.Sizeof(*ch)) + 2*(len(ch.CipherSuites)+len(ch.Extensions)+len(ch.SupportedGroups)+
			len(ch.SignatureAlgorithms)+len(ch.SupportedVersions)+len(ch.KeyShareGroups)) +
			len(ch.Random) + len(ch.SessionID) + len(ch.CompressionMethods) + len(ch.ECPointFormats) + len(ch.PSKModes)
		for _, p := range ch.ALPN {
			n += 16 + len(p)
		}
	}
	for _, sh := range [2]*ServerHello{h.ServerHello, h.HelloRetryRequest} {
		if sh != nil {
			n += int(unsafe.Sizeof(*sh)) + len(sh.Random) + len(sh.SessionID) + 2*len(sh.Extensions)
			for _, d := range sh.Certificates { // SSLv2
				n += 24 + len(d)
			}
		}
	}
	if h.KeyExchange != nil {
		n += int(unsafe.Sizeof(*h.KeyExchange))
	}
	n += 24 * (len(h.ServerCertificates) + len(h.ClientCertificates))
	for _, d := range h.ClientCertificates {
		n += len(d)
	}
	return n + int(unsafe.Sizeof(Alert{}))*len(h.Alerts) + int(unsafe.Sizeof(Heartbeat{}))*len(h.Heartbeats)
}

// Clone returns a deep copy of h that shares no memory with the Conn.
func (h *Handshake) Clone() *Handshake {
	n, _ := h.clone()
	if n != nil {
		n.ServerCertificates = cloneCerts(h.ServerCertificates)
	}
	return n
}

// CloneShared is Clone, except that the clone's ServerCertificates are the
// copies certs keeps (shared and read-only; see CertCache.SummaryDER), not
// new ones; their summaries come back too, in the same order. This is what
// a session needs: the certificates of busy servers are copied once, not
// once per connection.
func (h *Handshake) CloneShared(certs *CertCache) (*Handshake, []*CertSummary) {
	n, room := h.clone()
	if n == nil || len(h.ServerCertificates) == 0 {
		return n, nil
	}
	k := len(h.ServerCertificates)
	var sums []*CertSummary
	if room != nil && k <= len(room.certs) {
		n.ServerCertificates, sums = room.certs[:k:k], room.sums[:k:k]
	} else {
		n.ServerCertificates, sums = make([][]byte, k), make([]*CertSummary, k)
	}
	for i, der := range h.ServerCertificates {
		sums[i], n.ServerCertificates[i] = certs.SummaryDER(der)
	}
	return n, sums
}

// cloneRoom is the one allocation of a clone with both hellos: the
// structures, then room for what most handshakes hold (the server's
// certificate list and its summaries, two ALPN values, the hellos' lists);
// a handshake with more takes allocations for what does not fit. The
// lists come last, so that the collector does not scan them. The room
// fits a browser's hellos (about 60 list entries, two 32-byte randoms and
// session ids); with the 8-byte malloc header the whole is 1144 of a
// 1152-byte size class, so nothing is lost to padding.
type cloneRoom struct {
	h     Handshake
	ch    ClientHello
	sh    ServerHello
	ke    ServerKeyExchange
	alpn  [2]string
	certs [3][]byte
	sums  [3]*CertSummary
	u16   [64]uint16
	u8    [136]byte
}

// clone copies everything but ServerCertificates (left nil). A handshake
// with both hellos (the common case) takes one allocation (cloneRoom,
// returned too); one with fewer hellos takes only what it needs.
func (h *Handshake) clone() (*Handshake, *cloneRoom) {
	if h == nil {
		return nil, nil
	}
	var n *Handshake
	var room *cloneRoom
	switch ch, sh := h.ClientHello, h.ServerHello; {
	case ch != nil && sh != nil:
		room = &cloneRoom{h: *h}
		n = &room.h
		c16, c8 := ch.listLens()
		s16, s8 := sh.listLens()
		p16, p8 := packerIn(room.u16[:], c16+s16), packerIn(room.u8[:], c8+s8)
		n.ClientHello = ch.cloneInto(&room.ch, &p16, &p8, room.alpn[:])
		n.ServerHello = sh.cloneInto(&room.sh, &p16, &p8)
		if h.KeyExchange != nil {
			room.ke = *h.KeyExchange
			n.KeyExchange = &room.ke
		}
	case ch != nil:
		c := &struct {
			h  Handshake
			ch ClientHello
		}{h: *h}
		n = &c.h
		n16, n8 := ch.listLens()
		p16, p8 := makePacker[uint16](n16), makePacker[byte](n8)
		n.ClientHello = ch.cloneInto(&c.ch, &p16, &p8, nil)
	default:
		c := *h
		n = &c
		if sh != nil {
			n.ServerHello = sh.Clone()
		}
	}
	if h.HelloRetryRequest != nil {
		n.HelloRetryRequest = h.HelloRetryRequest.Clone()
	}
	if h.KeyExchange != nil && n.KeyExchange == h.KeyExchange { // not copied above
		ke := *h.KeyExchange
		n.KeyExchange = &ke
	}
	n.ServerCertificates = nil
	n.ClientCertificates = cloneCerts(h.ClientCertificates)
	n.Alerts = cloneList(h.Alerts)
	n.Heartbeats = cloneList(h.Heartbeats)
	return n, room
}

// cloneList copies s; empty lists become nil, so clones compare equal
// whether or not the original came from a reused buffer.
func cloneList[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func cloneCerts(certs [][]byte) [][]byte {
	if len(certs) == 0 {
		return nil
	}
	n := make([][]byte, len(certs))
	for i, c := range certs {
		n[i] = slices.Clone(c)
	}
	return n
}

// packer copies lists into one backing array of room for n elements (the
// lists' total length): take returns each list's copy, capped (appending
// to one never reaches the next); empty lists become nil, as with
// cloneList.
type packer[T any] struct{ buf []T }

func makePacker[T any](n int) packer[T] {
	if n == 0 {
		return packer[T]{}
	}
	return packer[T]{buf: make([]T, 0, n)}
}

// packerIn is a packer for n elements that uses room when they fit.
func packerIn[T any](room []T, n int) packer[T] {
	if n > len(room) {
		return makePacker[T](n)
	}
	return packer[T]{buf: room[:0:n]}
}

func (p *packer[T]) take(s []T) []T {
	if len(s) == 0 {
		return nil
	}
	off := len(p.buf)
	p.buf = append(p.buf, s...)
	return p.buf[off:len(p.buf):len(p.buf)]
}

// Clone returns a deep copy of ch.
func (ch *ClientHello) Clone() *ClientHello {
	n16, n8 := ch.listLens()
	p16, p8 := makePacker[uint16](n16), makePacker[byte](n8)
	return ch.cloneInto(&ClientHello{}, &p16, &p8, nil)
}

// listLens is the total length of ch's lists of uint16 and of bytes (what
// cloneInto takes from its packers): for a hello Unmarshal filled in, its
// scratch arrays.
func (ch *ClientHello) listLens() (n16, n8 int) {
	if scr := ch.scr; scr != nil {
		return len(scr.u16), len(scr.u8)
	}
	n16 = len(ch.CipherSuites) + len(ch.Extensions) + len(ch.SupportedGroups) + len(ch.SignatureAlgorithms) +
		len(ch.SupportedVersions) + len(ch.KeyShareGroups)
	n8 = len(ch.Random) + len(ch.SessionID) + len(ch.CompressionMethods) + len(ch.ECPointFormats) + len(ch.PSKModes)
	return n16, n8
}

// cloneInto makes n a deep copy of ch: the lists are copied into p16's
// and p8's backing arrays instead of one allocation each, ALPN into
// alpnRoom when it fits.
func (ch *ClientHello) cloneInto(n *ClientHello, p16 *packer[uint16], p8 *packer[byte], alpnRoom []string) *ClientHello {
	*n = *ch
	n.scr = nil
	pa := packerIn(alpnRoom, len(ch.ALPN))
	n.ALPN = pa.take(ch.ALPN)
	if scr := ch.scr; scr != nil {
		// Unmarshal's lists are spans of the scratch arrays: copy each
		// array once.
		n.resolveLists(&scr.sp, p16.take(scr.u16), p8.take(scr.u8))
		return n
	}
	n.CipherSuites = p16.take(ch.CipherSuites)
	n.Extensions = p16.take(ch.Extensions)
	n.SupportedGroups = p16.take(ch.SupportedGroups)
	n.SignatureAlgorithms = p16.take(ch.SignatureAlgorithms)
	n.SupportedVersions = p16.take(ch.SupportedVersions)
	n.KeyShareGroups = p16.take(ch.KeyShareGroups)
	n.Random = p8.take(ch.Random)
	n.SessionID = p8.take(ch.SessionID)
	n.CompressionMethods = p8.take(ch.CompressionMethods)
	n.ECPointFormats = p8.take(ch.ECPointFormats)
	n.PSKModes = p8.take(ch.PSKModes)
	return n
}

// Clone returns a deep copy of sh.
func (sh *ServerHello) Clone() *ServerHello {
	n16, n8 := sh.listLens()
	p16, p8 := makePacker[uint16](n16), makePacker[byte](n8)
	return sh.cloneInto(&ServerHello{}, &p16, &p8)
}

// listLens is the total length of sh's lists of uint16 and of bytes (what
// cloneInto takes from its packers).
func (sh *ServerHello) listLens() (n16, n8 int) {
	return len(sh.Extensions), len(sh.Random) + len(sh.SessionID)
}

// cloneInto makes n a deep copy of sh, its lists copied into p16's and
// p8's backing arrays.
func (sh *ServerHello) cloneInto(n *ServerHello, p16 *packer[uint16], p8 *packer[byte]) *ServerHello {
	*n = *sh
	n.scr = nil
	n.Random = p8.take(sh.Random)
	n.SessionID = p8.take(sh.SessionID)
	n.Extensions = p16.take(sh.Extensions)
	n.Certificates = cloneCerts(sh.Certificates)
	return n
}

func (c *Conn) wantMore() bool {
	if c.hs.Err != nil || c.stopped {
		return false
	}
	switch c.hs.Protocol {
	case ProtocolUndetermined, ProtocolTLS, ProtocolSSLv2:
	default:
		if c.preKind() == preNone {
			return false
		}
	}
	return !(c.dirDone(ClientToServer) && c.dirDone(ServerToClient))
}

func (c *Conn) dirDone(dir Direction) bool {
	d := &c.dirs[dir]
	return d.encrypted || d.mode == modeDone
}

// anomaly records an anomaly.
func (c *Conn) anomaly(a Anomaly) { c.hs.Anomalies.Add(a) }

// fail records the first fatal parse error; parsing stops.
func (c *Conn) fail(err error, anomaly Anomaly) {
	if c.hs.Err == nil {
		c.hs.Err = err
	}
	c.anomaly(anomaly)
}

func (c *Conn) setEncrypted(dir Direction) { c.setEncryptedFlag(dir, true) }

func (c *Conn) setEncryptedFlag(dir Direction, enc bool) {
	if enc {
		c.dirs[dir].encrypted = true
		if dir == ClientToServer {
			c.hs.ClientEncrypted = true
		} else {
			c.hs.ServerEncrypted = true
		}
	}
	c.hs.Established = c.hs.ClientEncrypted && c.hs.ServerEncrypted && !c.fatal &&
		!c.midstream && c.hs.ServerHello != nil && c.hs.ClientHello != nil
}

func (c *Conn) alert(a Alert) {
	if !a.Encrypted && a.Level == AlertLevelFatal {
		c.fatal = true
		c.stopped = true
		c.setEncryptedFlag(a.Direction, false) // re-evaluate Established
	}
	if len(c.hs.Alerts) >= maxAlertsKept {
		c.anomaly(AnomalyTooManyAlerts)
		return
	}
	c.hs.Alerts = append(c.hs.Alerts, a)
}

func (c *Conn) heartbeat(h Heartbeat) {
	if len(c.hs.Heartbeats) >= maxHeartbeatsKept {
		c.anomaly(AnomalyTooManyHeartbeats)
		return
	}
	c.hs.Heartbeats = append(c.hs.Heartbeats, h)
}

// negotiated13 reports whether the ServerHello selected TLS 1.3 (or a draft).
func (c *Conn) negotiated13() bool {
	return c.hs.ServerHello != nil && isTLS13(c.hs.ServerHello.Version())
}

// isTLS13 reports whether a wire version is TLS 1.3 or one of its drafts
// (0x7fXX IETF drafts, 0x7e01 Google experiment, 0xfbXX Facebook).
func isTLS13(v uint16) bool {
	return v == 0x0304 || v>>8 == 0x7f || v>>8 == 0x7e || v>>8 == 0xfb
}

func (c *Conn) changeCipherSpec(dir Direction) {
	hrrPending := c.hs.HelloRetryRequest != nil
	if dir == ClientToServer {
		// TLS 1.3 middlebox-compatibility CCS before the second ClientHello.
		if hrrPending && c.hs.ClientHelloCount < 2 {
			return
		}
		c.setEncrypted(dir)
		return
	}
	// The server's compatibility CCS right after a HelloRetryRequest.
	if hrrPending && c.hs.ServerHello == nil {
		return
	}
	if sh := c.hs.ServerHello; sh != nil && !isTLS13(sh.Version()) && c.hs.ClientHello != nil &&
		len(c.hs.ServerCertificates) == 0 && !c.shDone {
		// Abbreviated TLS <= 1.2 handshake: the server went straight from
		// ServerHello (and NewSessionTicket) to CCS.
		ch := c.hs.ClientHello
		echoed := len(sh.SessionID) > 0 && string(sh.SessionID) == string(ch.SessionID)
		if echoed || ch.SessionTicketLen > 0 {
			c.hs.Resumed = true
		}
	}
	c.setEncrypted(dir)
}

// message handles one complete handshake message of a wanted type.
func (c *Conn) message(dir Direction, d *half, typ uint8, body []byte) {
	switch typ {
	case typeClientHello:
		c.clientHello(d, body, false)
	case typeServerHello:
		c.serverHello(body)
	case typeCertificate:
		c.certificate(dir, body)
	case typeServerKeyExchange:
		if c.hs.ServerHello == nil {
			return
		}
		if err := parseServerKeyExchange(&c.ske, c.hs.ServerHello.CipherSuite, body); err != nil {
			c.anomaly(AnomalyMalformedServerKeyExchange)
		}
		if c.ske != (ServerKeyExchange{}) {
			c.hs.KeyExchange = &c.ske
		}
	case typeServerHelloDone:
		c.shDone = true
	case typeCertificateStatus:
		if err := parseCertificateStatus(body); err != nil {
			c.anomaly(AnomalyMalformedCertificateStatus)
			return
		}
		c.hs.CertificateStatus = true
	}
}

func (c *Conn) clientHello(d *half, body []byte, sslv2 bool) {
	c.allocHellos()
	c.hs.ClientHelloCount++
	if c.hs.ClientHelloCount > 1 {
		// Only the ClientHello answering a HelloRetryRequest is expected.
		unexpected := c.hs.HelloRetryRequest == nil || c.hs.ClientHelloCount > 2
		if unexpected {
			c.anomaly(AnomalyDuplicateClientHello)
		}
		var err error
		if sslv2 {
			err = c.ch2.unmarshalSSLv2(body)
		} else {
			err = c.ch2.Unmarshal(body)
		}
		if err != nil {
			c.anomaly(AnomalyMalformedClientHello)
		}
		if unexpected && c.hs.UnexpectedClientHelloLength == 0 {
			c.hs.UnexpectedClientHelloLength = len(body)
			if err == nil {
				c.hs.UnexpectedClientHelloSNI = c.ch2.ServerName
			}
		}
		return
	}
	var err error
	if sslv2 {
		err = c.ch.unmarshalSSLv2(body)
	} else {
		err = c.ch.Unmarshal(body)
		c.ch.RecordVersion = d.msgRecVer
	}
	c.hs.ClientHello = c.ch
	if d.hsOnly {
		// no records (FeedHandshake): the calls so far are its chunks
		c.hs.ClientHelloRecords = 0
		c.hs.ClientHelloChunks = d.feeds
	} else {
		c.hs.ClientHelloRecords = d.records - d.msgRec + 1
		c.hs.ClientHelloChunks = d.feeds - d.msgFeed + 1
	}
	c.hs.ClientHelloLength = len(body)
	// A hello too large for one record (over 2^14 bytes with its header)
	// must span records; splitting one that fits is the evasion trick.
	if c.hs.ClientHelloRecords > 1 && len(body)+4 <= 1<<14 {
		c.anomaly(AnomalyFragmentedHello)
	}
	if err != nil {
		if IsExtensionError(err) {
			c.anomaly(AnomalyMalformedClientHello)
		} else {
			c.fail(err, AnomalyMalformedClientHello)
		}
	}
}

func (c *Conn) serverHello(body []byte) {
	if c.hs.ServerHello != nil {
		c.anomaly(AnomalyDuplicateServerHello)
		return
	}
	c.allocHellos()
	err := c.sh.Unmarshal(body)
	if err != nil && !IsExtensionError(err) {
		c.fail(err, AnomalyMalformedServerHello)
		return
	}
	if err != nil {
		c.anomaly(AnomalyMalformedServerHello)
	}
	if c.sh.HelloRetryRequest {
		if c.hs.HelloRetryRequest != nil {
			c.anomaly(AnomalyDuplicateHelloRetryRequest)
			return
		}
		c.sh, c.hrr = c.hrr, c.sh
		c.hs.HelloRetryRequest = c.hrr
		return
	}
	c.hs.ServerHello = c.sh
	if isTLS13(c.sh.Version()) {
		// Everything after the ServerHello is encrypted, in both directions
		// (the client may still send a compatibility CCS, which is skipped).
		c.hs.Resumed = c.sh.PreSharedKey
		c.setEncrypted(ServerToClient)
		c.setEncrypted(ClientToServer)
	}
}

func (c *Conn) certificate(dir Direction, body []byte) {
	list := &c.hs.ServerCertificates
	if dir == ClientToServer {
		list = &c.hs.ClientCertificates
	}
	if len(*list) > 0 {
		c.anomaly(AnomalyDuplicateCertificate)
		return
	}
	var err error
	*list, c.certBuf, err = appendCertificates(*list, c.certBuf, body)
	if err != nil {
		c.anomaly(AnomalyMalformedCertificate)
	}
	if len(*list) > maxCertificatesPerDirection {
		*list = (*list)[:maxCertificatesPerDirection]
		c.anomaly(AnomalyTooManyCertificates)
	}
}

// sslv2Message handles one SSLv2 record (one message).
func (c *Conn) sslv2Message(dir Direction, d *half, msg []byte) {
	if len(msg) == 0 {
		return
	}
	switch {
	case msg[0] == sslv2Error:
		c.anomaly(AnomalySSLv2Error)
		c.fatal = true
		c.stopped = true
	case dir == ClientToServer && msg[0] == sslv2ClientHello && c.hs.ClientHelloCount == 0:
		c.clientHello(d, msg, true)
		if c.hs.Err == nil && c.ch.LegacyVersion >= 0x0300 {
			// SSLv2-compatible hello (RFC 5246 E.2): TLS records follow.
			d.mode = modeTLS
			d.hdrN = 0
			if c.hs.Protocol == ProtocolSSLv2 {
				c.hs.Protocol = ProtocolTLS
			}
		}
	case dir == ClientToServer && msg[0] == sslv2ClientMasterKey:
		if len(msg) >= 4 {
			c.v2Cipher = uint32(msg[1])<<16 | uint32(msg[2])<<8 | uint32(msg[3])
			if c.hs.ServerHello != nil {
				c.hs.ServerHello.SSLv2CipherKind = c.v2Cipher
			}
		}
		c.setEncrypted(dir)
	case dir == ServerToClient && msg[0] == sslv2ServerHello && c.hs.ServerHello == nil:
		c.allocHellos()
		if err := c.sh.unmarshalSSLv2(msg); err != nil {
			c.fail(err, AnomalyMalformedServerHello)
			return
		}
		c.hs.ServerHello = c.sh
		c.hs.Protocol = ProtocolSSLv2
		c.hs.Resumed = c.sh.SessionIDHit
		if len(c.sh.Certificates) > 0 {
			c.hs.ServerCertificates = append(c.hs.ServerCertificates, c.sh.Certificates...)
		}
		c.setEncrypted(dir)
	default:
		// Later SSLv2 messages are encrypted.
		c.setEncrypted(dir)
	}
}
