package capture

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// QUIC: the ClientHello and ServerHello of a QUIC connection travel in
// CRYPTO frames of Initial packets, protected with keys every observer can
// derive from the client's first Destination Connection ID (RFC 9001
// section 5.2, RFC 9369 section 3.3). This file parses long headers,
// derives those keys, removes header protection, decrypts, walks the
// frames and reassembles the CRYPTO stream of each direction, which a
// tlsparse.Conn then parses as if it came in TLS records.

// QUIC versions whose Initial packets are decrypted.
const (
	QUICv1 uint32 = 0x00000001 // RFC 9000
	QUICv2 uint32 = 0x6b3343cf // RFC 9369
)

// Limits of the QUIC stage (each has a counter).
const (
	// MaxQUICCrypto is the CRYPTO stream bytes buffered per direction.
	MaxQUICCrypto = 64 << 10
	// MaxQUICInitials is the Initial packets (both directions) one flow
	// decrypts; later ones are counted only.
	MaxQUICInitials = 32
	// maxQUICRanges bounds the out-of-order pieces of one CRYPTO stream.
	maxQUICRanges = 32
	// maxQUICRekeys bounds key derivations per flow after the first (Retry,
	// or a client that changed its Destination Connection ID).
	maxQUICRekeys = 4
	// maxQUICAhead bounds how far past the contiguous part a CRYPTO frame
	// may reach, so a frame at a high offset cannot make every flow
	// allocate MaxQUICCrypto bytes.
	maxQUICAhead = 16 << 10
	// keepCryptoBuf: larger CRYPTO buffers are not recycled.
	keepCryptoBuf = 8 << 10
	// maxFreeQUIC is the recycled quicFlows kept per worker.
	maxFreeQUIC = 256
	// minClientInitial: clients pad Initial datagrams to 1200 bytes (RFC
	// 9000 section 14.1); off port 443 only such datagrams start a flow.
	minClientInitial = 1200
)

// Long header packet types, numbered as in QUIC v1 (v2 types are mapped).
const (
	quicInitial   = 0
	quicZeroRTT   = 1
	quicHandshake = 2
	quicRetry     = 3
)

// Initial salts (RFC 9001 section 5.2, RFC 9369 section 3.3.1, and the
// drafts and Google's TLS-based versions as Wireshark knows them).
var (
	saltV1      = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltV2      = []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
	saltDraft29 = []byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}
	saltDraft23 = []byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}
	saltDraft22 = []byte{0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a}
	saltT050    = []byte{0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c, 0x60, 0x48, 0x83, 0x10}
	saltT051    = []byte{0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc, 0xda, 0x6e, 0x03, 0x3d}
)

// quicSalt returns the Initial salt of version v and whether it uses the
// QUIC v2 labels and packet types; ok is false for versions whose Initial
// packets cannot be decrypted (unknown, greased, Google QUIC Q0xx).
func quicSalt(v uint32) (salt []byte, v2, ok bool) {
	switch {
	case v == QUICv1:
		return saltV1, false, true
	case v == QUICv2:
		return saltV2, true, true
	case v >= 0xff00001d && v <= 0xff000022: // drafts 29-34
		return saltDraft29, false, true
	case v >= 0xff000017 && v <= 0xff00001c: // drafts 23-28
		return saltDraft23, false, true
	case v == 0xff000016: // draft 22
		return saltDraft22, false, true
	case v == 0xfaceb002 || v == 0xfaceb00e: // mvfst (draft 27)
		return saltDraft23, false, true
	case v == 0xfaceb001: // mvfst (draft 22)
		return saltDraft22, false, true
	case v == 0xfaceb003 || v == 0xfaceb010 || v == 0xfaceb011 || v == 0xfaceb012 || v == 0xfaceb013: // mvfst aliases of v1
		return saltV1, false, true
	case v == 0x54303530: // Google "T050"
		return saltT050, false, true
	case v == 0x54303531: // Google "T051"
		return saltT051, false, true
	case isReservedQUICVersion(v):
		// Greased versions (RFC 9000 section 15) that force version
		// negotiation: the clients that send them protect them with the
		// draft-29 keys (Wireshark assumes so too) or the v1 keys; a flow
		// starts only if the packet really decrypts.
		return saltDraft29, false, true
	}
	return nil, false, false
}

// isReservedQUICVersion reports whether v is of the form 0x?a?a?a?a
// (RFC 9000 section 15).
func isReservedQUICVersion(v uint32) bool { return v&0x0f0f0f0f == 0x0a0a0a0a }

// isGoogleTLSVersion reports Google's TLS-based versions (T050, T051),
// whose CRYPTO frame has type 0x08.
func isGoogleTLSVersion(v uint32) bool { return v>>8 == 0x543035 }

// isGoogleQUIC reports whether the datagram is Google QUIC (Q0xx), which
// is not TLS: the long-header form of Q046 and later, or the public
// header of older versions with the version flag set.
func isGoogleQUIC(b []byte) bool {
	if len(b) >= 5 && b[0]&0x80 != 0 {
		return b[1] == 'Q' && b[2] == '0'
	}
	// Public header: flags, 8-byte connection id (flag 0x08), version.
	if len(b) >= 13 && b[0]&0x89 == 0x09 {
		return b[9] == 'Q' && b[10] == '0'
	}
	return false
}

// quicLongHeader is a parsed long header. Slices alias the packet.
type quicLongHeader struct {
	Version    uint32
	Type       uint8 // quicInitial ... quicRetry (v1 numbering)
	DCID, SCID []byte
	Token      []byte // Initial only
	PNOffset   int    // offset of the protected packet number
	End        int    // offset just past this packet (coalesced packets follow)
}

// readVarint reads a QUIC variable-length integer (RFC 9000 section 16).
func readVarint(s *cryptobyte.String, v *uint64) bool {
	if len(*s) == 0 {
		return false
	}
	n := 1 << ((*s)[0] >> 6)
	var b []byte
	if !s.ReadBytes(&b, n) {
		return false
	}
	x := uint64(b[0] & 0x3f)
	for _, c := range b[1:] {
		x = x<<8 | uint64(c)
	}
	*v = x
	return true
}

// parseQUICLongHeader parses the long header at the start of b (RFC 9000
// section 17.2). Version negotiation (version 0) and unknown versions
// parse only as far as the connection ids (Type and PNOffset are then
// meaningless, End is len(b)). Connection ids of known versions are at
// most 20 bytes.
func parseQUICLongHeader(b []byte) (h quicLongHeader, ok bool) {
	s := cryptobyte.String(b)
	var first uint8
	if !s.ReadUint8(&first) || first&0x80 == 0 || !s.ReadUint32(&h.Version) {
		return h, false
	}
	if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&h.DCID)) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&h.SCID)) {
		return h, false
	}
	_, v2, known := quicSalt(h.Version)
	if !known {
		h.End = len(b)
		return h, true
	}
	if first&0x40 == 0 || len(h.DCID) > 20 || len(h.SCID) > 20 {
		return h, false // fixed bit (RFC 9000 section 17.2), id lengths
	}
	h.Type = first >> 4 & 3
	if v2 { // RFC 9369 section 3.2: Initial 1, 0-RTT 2, Handshake 3, Retry 0
		h.Type = (h.Type + 3) & 3
	}
	var n uint64
	switch h.Type {
	case quicRetry:
		h.End = len(b)
		return h, true
	case quicInitial:
		if !readVarint(&s, &n) || n > uint64(len(s)) || !s.ReadBytes(&h.Token, int(n)) {
			return h, false
		}
	}
	// A Length beyond the datagram still parses (End > len(b)): callers
	// check End before they touch the packet.
	if !readVarint(&s, &n) || n > 1<<20 {
		return h, false
	}
	h.PNOffset = len(b) - len(s)
	h.End = h.PNOffset + int(n)
	return h, true
}

// quicKeys are one side's Initial packet protection keys.
type quicKeys struct {
	aead cipher.AEAD
	hp   cipher.Block
	iv   [12]byte

	// scratch space: kept here, a local array passed to the interfaces
	// above would escape to the heap on every packet
	nonce [12]byte
	mask  [16]byte
}

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1) with an empty
// context and n <= 32, where HKDF-Expand is one HMAC: T(1) =
// HMAC(secret, info || 0x01) (RFC 5869 section 2.3). m is an HMAC-SHA256
// keyed with the secret; it is reset first.
func expandLabel(m hash.Hash, label string, n int) []byte {
	var info [64]byte
	b := append(info[:0], byte(n>>8), byte(n), byte(6+len(label)))
	b = append(b, "tls13 "...)
	b = append(b, label...)
	b = append(b, 0, 1)
	m.Reset()
	m.Write(b)
	return m.Sum(nil)[:n]
}

// quicInitialSecrets returns the key, iv and header protection key of one
// side for version and the client's Destination Connection ID.
func quicInitialSecrets(version uint32, dcid []byte, server bool) (key, iv, hp []byte, ok bool) {
	salt, v2, ok := quicSalt(version)
	if !ok {
		return nil, nil, nil, false
	}
	// HKDF-Extract (RFC 5869 section 2.2): HMAC(salt, dcid)
	m := hmac.New(sha256.New, salt)
	m.Write(dcid)
	initial := m.Sum(nil)
	label := "client in"
	if server {
		label = "server in"
	}
	secret := expandLabel(hmac.New(sha256.New, initial), label, 32)
	kl, il, hl := "quic key", "quic iv", "quic hp"
	if v2 {
		kl, il, hl = "quicv2 key", "quicv2 iv", "quicv2 hp"
	}
	m = hmac.New(sha256.New, secret)
	key, iv, hp = expandLabel(m, kl, 16), expandLabel(m, il, 12), expandLabel(m, hl, 16)
	return key, iv, hp, true
}

func newQUICKeys(version uint32, dcid []byte, server bool) (*quicKeys, bool) {
	key, iv, hp, ok := quicInitialSecrets(version, dcid, server)
	if !ok {
		return nil, false
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, false
	}
	hpb, err := aes.NewCipher(hp)
	if err != nil {
		return nil, false
	}
	k := &quicKeys{aead: aead, hp: hpb}
	copy(k.iv[:], iv)
	return k, true
}

// decodePacketNumber expands a truncated packet number (RFC 9000
// appendix A.3); largest is the largest seen so far plus one (0: none).
func decodePacketNumber(largestPlus1, truncated uint64, pnLen int) uint64 {
	bits := uint(pnLen * 8)
	win := uint64(1) << bits
	hwin, mask := win/2, win-1
	expected := largestPlus1
	cand := expected&^mask | truncated
	switch {
	case cand+hwin <= expected && cand < (1<<62)-win:
		return cand + win
	case cand > expected+hwin && cand >= win:
		return cand - win
	}
	return cand
}

// unprotect removes header protection (RFC 9001 section 5.4) from the
// long-header packet pkt whose packet number starts at pnOffset, in place,
// and returns the packet number length and truncated packet number. The
// sample is the 16 bytes 4 past pnOffset.
func (k *quicKeys) unprotect(pkt []byte, pnOffset int) (pnLen int, trunc uint64, ok bool) {
	if pnOffset < 1 || pnOffset+20 > len(pkt) {
		return 0, 0, false
	}
	mask := k.mask[:]
	k.hp.Encrypt(mask, pkt[pnOffset+4:pnOffset+20])
	pkt[0] ^= mask[0] & 0x0f
	pnLen = int(pkt[0]&3) + 1
	for i := range pnLen {
		pkt[pnOffset+i] ^= mask[1+i]
		trunc = trunc<<8 | uint64(pkt[pnOffset+i])
	}
	return pnLen, trunc, true
}

// open removes header protection from and decrypts the packet pkt[:h.End]
// in place. It returns the plaintext payload (aliasing pkt) and the
// packet number. pkt is changed even when open fails.
func (k *quicKeys) open(pkt []byte, h *quicLongHeader, largestPlus1 uint64) (payload []byte, pn uint64, ok bool) {
	if h.End > len(pkt) || h.PNOffset+4+16 > h.End {
		return nil, 0, false
	}
	pkt = pkt[:h.End]
	pnLen, trunc, ok := k.unprotect(pkt, h.PNOffset)
	if !ok {
		return nil, 0, false
	}
	pn = decodePacketNumber(largestPlus1, trunc, pnLen)
	hdrLen := h.PNOffset + pnLen
	if len(pkt)-hdrLen < k.aead.Overhead() {
		return nil, 0, false
	}
	k.nonce = k.iv
	var pnb [8]byte
	binary.BigEndian.PutUint64(pnb[:], pn)
	for i := range pnb {
		k.nonce[4+i] ^= pnb[i]
	}
	out, err := k.aead.Open(pkt[hdrLen:hdrLen], k.nonce[:], pkt[hdrLen:], pkt[:hdrLen])
	if err != nil {
		return nil, 0, false
	}
	return out, pn, true
}

// cryptoRange is a received piece [start, end) of a CRYPTO stream.
type cryptoRange struct{ start, end uint32 }

// cryptoStream reassembles one direction's CRYPTO stream of the Initial
// encryption level, at most MaxQUICCrypto bytes and maxQUICRanges pieces.
// Overlapping bytes keep what arrived first.
type cryptoStream struct {
	buf     []byte        // buf[i] is stream offset i where covered
	ranges  []cryptoRange // sorted, merged, non-adjacent
	fed     int           // bytes handed to the parser
	limited bool          // data was dropped at a limit
}

func (c *cryptoStream) reset() {
	buf, ranges := c.buf[:0], c.ranges[:0]
	if cap(buf) > keepCryptoBuf {
		buf = nil // unusually large: left to the GC
	}
	*c = cryptoStream{buf: buf, ranges: ranges}
}

// add stores data at stream offset off; false when a limit dropped it.
func (c *cryptoStream) add(off uint64, data []byte) bool {
	if len(data) == 0 {
		return true
	}
	end := off + uint64(len(data))
	if off >= MaxQUICCrypto || end > MaxQUICCrypto || end > uint64(c.contiguous())+maxQUICAhead {
		c.limited = true
		return false
	}
	s, e := uint32(off), uint32(end)
	// where the new range goes, and whether it fits the range bound
	i := 0
	for i < len(c.ranges) && c.ranges[i].end < s {
		i++
	}
	j := i
	for j < len(c.ranges) && c.ranges[j].start <= e {
		j++
	}
	if i == j && len(c.ranges) >= maxQUICRanges {
		c.limited = true
		return false
	}
	if int(e) > len(c.buf) {
		if int(e) > cap(c.buf) {
			n := make([]byte, e, max(int(e), min(2*cap(c.buf), MaxQUICCrypto)))
			copy(n, c.buf)
			c.buf = n
		} else {
			c.buf = c.buf[:e]
		}
	}
	// copy only what no earlier piece covered (first wins)
	cur := s
	for _, r := range c.ranges[i:j] {
		if r.start > cur {
			copy(c.buf[cur:r.start], data[cur-s:r.start-s])
		}
		cur = max(cur, r.end)
	}
	if cur < e {
		copy(c.buf[cur:e], data[cur-s:])
	}
	// merge ranges i..j-1 with [s, e)
	if i < j {
		s = min(s, c.ranges[i].start)
		e = max(e, c.ranges[j-1].end)
		c.ranges[i] = cryptoRange{s, e}
		c.ranges = append(c.ranges[:i+1], c.ranges[j:]...)
	} else {
		c.ranges = append(c.ranges, cryptoRange{})
		copy(c.ranges[i+1:], c.ranges[i:])
		c.ranges[i] = cryptoRange{s, e}
	}
	return true
}

// contiguous is the length of the stream received without a hole from 0.
func (c *cryptoStream) contiguous() int {
	if len(c.ranges) > 0 && c.ranges[0].start == 0 {
		return int(c.ranges[0].end)
	}
	return 0
}

// walkInitialFrames walks the frames of a decrypted Initial payload (RFC
// 9000 section 12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE) and adds
// CRYPTO data to cs. It returns the CRYPTO frames seen and false when a
// frame is malformed or not allowed in an Initial packet (frames before it
// are kept), or when cs dropped data at a limit.
//
// googleTLS selects Google's T05x frame numbering, where CRYPTO is 0x08.
func walkInitialFrames(p []byte, cs *cryptoStream, googleTLS bool) (nCrypto int, ok bool) {
	s := cryptobyte.String(p)
	ok = true
	for len(s) > 0 {
		var typ, a, b, n uint64
		if !readVarint(&s, &typ) {
			return nCrypto, false
		}
		if googleTLS && typ == 0x08 {
			typ = 0x06
		}
		switch typ {
		case 0x00: // PADDING: skip the run
			for len(s) > 0 && s[0] == 0 {
				s = s[1:]
			}
		case 0x01: // PING
		case 0x02, 0x03: // ACK: largest, delay, range count, first range, ranges
			if !readVarint(&s, &a) || !readVarint(&s, &a) || !readVarint(&s, &n) || !readVarint(&s, &a) {
				return nCrypto, false
			}
			if n > uint64(len(s)) {
				return nCrypto, false
			}
			for range n {
				if !readVarint(&s, &a) || !readVarint(&s, &b) {
					return nCrypto, false
				}
			}
			if typ == 0x03 && (!readVarint(&s, &a) || !readVarint(&s, &a) || !readVarint(&s, &a)) {
				return nCrypto, false
			}
		case 0x06: // CRYPTO: offset, length, data
			var data []byte
			if !readVarint(&s, &a) || !readVarint(&s, &n) || n > uint64(len(s)) || !s.ReadBytes(&data, int(n)) {
				return nCrypto, false
			}
			nCrypto++
			if !cs.add(a, data) {
				ok = false
			}
		case 0x1c, 0x1d: // CONNECTION_CLOSE: error code, [frame type], reason
			if !readVarint(&s, &a) || (typ == 0x1c && !readVarint(&s, &a)) ||
				!readVarint(&s, &n) || n > uint64(len(s)) || !s.Skip(int(n)) {
				return nCrypto, false
			}
		default:
			return nCrypto, false
		}
	}
	return nCrypto, ok
}

// quicFlow is the QUIC state of one flow (flow.quic).
type quicFlow struct {
	version    uint32
	keyVersion uint32 // version whose salt protects Initials (differs for greased versions)
	clientSide uint8  // flow side of the client
	dcid       [20]byte
	dcidLen    uint8
	keys       [2]*quicKeys // by tlsparse.Direction
	largest    [2]uint64    // largest packet number + 1 per direction (0: none)
	crypto     [2]cryptoStream
	conn       *tlsparse.Conn
	done       bool // the Conn wants no more bytes

	off443        bool // counted in quicState.off443
	initials      int  // Initial packets considered (both directions)
	decrypted     [2]int
	rekeys        int
	helloPackets  int  // client Initials carrying CRYPTO data until the ClientHello was complete
	helloDone     bool // the first ClientHello is complete
	retry         bool
	decryptFailed bool
	malformed     bool
	initialLimit  bool
}

// quicState is a worker's QUIC scratch space: decrypted packets are written
// here (the capture's buffers are never changed), records for the parser
// are built here, and finished quicFlows are recycled.
type quicState struct {
	pkt  []byte
	rec  []byte
	free []*quicFlow
	// off443 counts live QUIC flows on other ports: while there are none,
	// UDP packets that cannot start one skip the flow table.
	off443 int
}

func (q *quicState) get() *quicFlow {
	if k := len(q.free); k > 0 {
		f := q.free[k-1]
		q.free = q.free[:k-1]
		return f
	}
	return new(quicFlow)
}

func (q *quicState) put(f *quicFlow) {
	c0, c1 := f.crypto[0], f.crypto[1]
	c0.reset()
	c1.reset()
	*f = quicFlow{crypto: [2]cryptoStream{c0, c1}}
	if len(q.free) < maxFreeQUIC {
		q.free = append(q.free, f)
	}
}

// handleUDP processes one UDP packet; it reports whether the packet
// belonged to QUIC (counted here) rather than being skipped.
func (w *worker) handleUDP(p *Packet) bool {
	b := p.Payload
	if w.quic.off443 == 0 && p.SrcPort != 443 && p.DstPort != 443 && (len(b) < minClientInitial || b[0]&0xc0 != 0xc0) {
		return false // DNS, NTP, ... : not QUIC, and no QUIC flow off 443 to look for
	}
	k := makeKey(p, w.cfg.VLANInKey)
	f := w.tab.get(&k)
	ts := p.Timestamp.UnixNano()
	if f != nil && f.quic == nil && f.state != stEmitted {
		return false // cannot happen: only QUIC creates UDP flows
	}
	if f != nil {
		age := ts - f.last
		switch {
		case f.state == stEmitted:
			if age <= w.linger(f) {
				w.st.inc(CLateAfterClose)
				if ts > f.last {
					f.last = ts
				}
				w.tab.touch(f)
				return true
			}
			w.endFlow(f, -1)
			f = nil
		case age > int64(w.cfg.IdleTimeout):
			w.endFlow(f, CFlowsTimedOut)
			f = nil
		}
	}
	if f == nil {
		if isGoogleQUIC(b) && (p.SrcPort == 443 || p.DstPort == 443) {
			w.st.inc(CQUICGoogle)
			return true
		}
		h, ok := parseQUICLongHeader(b)
		if !ok {
			return false
		}
		if _, _, known := quicSalt(h.Version); !known {
			if p.SrcPort == 443 || p.DstPort == 443 {
				w.st.inc(CQUICUnsupportedVersion)
				return true
			}
			return false
		}
		if h.Type != quicInitial || len(h.DCID) < 8 && h.Version == QUICv1 ||
			p.SrcPort == 443 && p.DstPort != 443 {
			// not a client's first Initial (RFC 9000 section 7.2: at least 8 bytes)
			if p.SrcPort == 443 || p.DstPort == 443 {
				w.st.inc(CQUICNotInitial)
				return true
			}
			return false
		}
		if p.DstPort != 443 && len(b) < minClientInitial {
			return false
		}
		kv := h.Version // version whose keys protect the packets
		keys, ok := newQUICKeys(kv, h.DCID, false)
		if !ok {
			return false
		}
		if isReservedQUICVersion(h.Version) && !w.quicTry(keys, b, &h) {
			kv = QUICv1
			keys, _ = newQUICKeys(kv, h.DCID, false)
		}
		if (p.DstPort != 443 || isReservedQUICVersion(h.Version)) && !w.quicTry(keys, b, &h) {
			// off port 443, and for greased versions, only a datagram that
			// decrypts starts a flow
			if p.DstPort == 443 {
				w.st.inc(CQUICDecryptFailed)
				return true
			}
			return false
		}
		if w.tab.full() {
			w.endFlow(w.tab.tail, CFlowsEvicted)
		}
		f = w.newUDPFlow(&k, p, ts)
		q := w.quic.get()
		f.quic = q
		q.version, q.keyVersion = h.Version, kv
		if p.SrcPort != 443 && p.DstPort != 443 {
			q.off443 = true
			w.quic.off443++
		}
		q.dcidLen = uint8(copy(q.dcid[:], h.DCID))
		q.keys[tlsparse.ClientToServer] = keys // the server's: when it answers
		w.st.inc(CQUICFlows)
	}
	side := uint8(0)
	if p.SrcPort != f.ends[0].Port() || p.Src != f.ends[0].Addr() {
		side = 1
	}
	f.pkts[side]++
	f.bytes[side] += uint64(p.WireLen)
	f.payload[side] = true
	if ts > f.last {
		f.last = ts
	}
	w.tab.touch(f)
	if ts-f.start > int64(w.cfg.AbsoluteTimeout) {
		w.st.inc(CFlowsAbsTimeout)
		f.absTimeout = true
		w.emit(f)
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

// quicTry reports whether the Initial packet at the start of b decrypts
// with keys (b is not changed).
func (w *worker) quicTry(keys *quicKeys, b []byte, h *quicLongHeader) bool {
	if h.End > len(b) {
		return false
	}
	w.quic.pkt = append(w.quic.pkt[:0], b[:h.End]...)
	_, _, ok := keys.open(w.quic.pkt, h, 0)
	return ok
}

func (w *worker) newUDPFlow(k *flowKey, p *Packet, ts int64) *flow {
	f := w.tab.alloc()
	f.key = *k
	f.ends[0] = netip.AddrPortFrom(p.Src, p.SrcPort)
	f.ends[1] = netip.AddrPortFrom(p.Dst, p.DstPort)
	f.start, f.last = ts, ts
	f.firstHash = p.Hash
	n := min(max(p.NVLANs, 0), maxVLANs)
	copy(f.vlans[:], p.VLANs[:n])
	f.nvlans = uint8(n)
	f.clientSide, f.synSide = 0, -1
	w.tab.insert(f)
	w.st.inc(CFlowsCreated)
	return f
}

// quicDatagram handles the coalesced long-header packets of one datagram.
func (w *worker) quicDatagram(f *flow, q *quicFlow, dir tlsparse.Direction, b []byte) {
	for len(b) > 0 && b[0]&0x80 != 0 && !q.done {
		h, ok := parseQUICLongHeader(b)
		if !ok || h.End > len(b) {
			w.st.inc(CQUICMalformed)
			q.malformed = true
			return
		}
		if h.Version != q.version {
			// Version Negotiation (version 0) from the server, or the
			// client's next attempt with another version (quicInitial
			// rekeys); anything else in the datagram is not ours.
			if _, _, known := quicSalt(h.Version); !known || dir != tlsparse.ClientToServer {
				return
			}
		}
		pkt := b[:h.End]
		b = b[h.End:]
		switch h.Type {
		case quicRetry:
			if dir == tlsparse.ServerToClient {
				q.retry = true
			}
			continue
		case quicInitial:
		default:
			continue
		}
		if q.initials >= MaxQUICInitials {
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
func (w *worker) quicInitial(q *quicFlow, dir tlsparse.Direction, pkt []byte, h *quicLongHeader) {
	qs := &w.quic
	qs.pkt = append(qs.pkt[:0], pkt...)
	var payload []byte
	var pn uint64
	ok := false
	if q.keys[dir] == nil && dir == tlsparse.ServerToClient {
		// derived from the client's Destination Connection ID
		q.keys[dir], _ = newQUICKeys(q.keyVersion, q.dcid[:q.dcidLen], true)
	}
	if h.Version == q.version && q.keys[dir] != nil {
		payload, pn, ok = q.keys[dir].open(qs.pkt, h, q.largest[dir])
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
		if ck, ok2 := newQUICKeys(kv, h.DCID, false); ok2 {
			qs.pkt = append(qs.pkt[:0], pkt...)
			if payload, pn, ok = ck.open(qs.pkt, h, 0); ok {
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
	n, fok := walkInitialFrames(payload, cs, isGoogleTLSVersion(q.version))
	if !fok {
		if cs.limited {
			w.st.inc(CQUICCryptoLimit)
		} else {
			w.st.inc(CQUICMalformed)
			q.malformed = true
		}
	}
	if n > 0 && dir == tlsparse.ClientToServer && !q.helloDone {
		q.helloPackets++
	}
	w.quicFeed(q, dir)
}

// quicFeed hands complete handshake messages at the front of a CRYPTO
// stream to the parser, each as one TLS handshake record (or several when
// longer than a record may be).
//
// The server's messages wait until the client's ClientHello went in: the
// parser takes a ServerHello first for a capture that missed the client.
func (w *worker) quicFeed(q *quicFlow, dir tlsparse.Direction) {
	if dir == tlsparse.ServerToClient && !q.helloDone {
		return
	}
	cs := &q.crypto[dir]
	avail := cs.contiguous()
	for !q.done && avail-cs.fed >= 4 {
		m := cs.buf[cs.fed:avail]
		n := 4 + (int(m[1])<<16 | int(m[2])<<8 | int(m[3]))
		if n > len(m) {
			return // wait for the rest
		}
		if q.conn == nil {
			q.conn = w.getConn()
		}
		msg := m[:n]
		for len(msg) > 0 && !q.done {
			c := min(len(msg), 1<<14)
			rec := append(w.quic.rec[:0], 0x16, 3, 3, byte(c>>8), byte(c))
			rec = append(rec, msg[:c]...)
			w.quic.rec = rec
			msg = msg[c:]
			if !q.conn.Feed(dir, rec) {
				q.done = true
			}
		}
		cs.fed += n
		if dir == tlsparse.ClientToServer && m[0] == 1 && !q.helloDone {
			q.helloDone = true
			w.quicFeed(q, tlsparse.ServerToClient) // what waited for it
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
	cs := q.clientSide
	s := &session.Session{
		Start:         time.Unix(0, f.start).UTC(),
		End:           time.Unix(0, f.last).UTC(),
		Client:        f.ends[cs],
		Server:        f.ends[1-cs],
		Transport:     session.UDP,
		Protocol:      session.QUIC,
		QUICVersion:   q.version,
		ClientPackets: f.pkts[cs],
		ClientBytes:   f.bytes[cs],
		ServerPackets: f.pkts[1-cs],
		ServerBytes:   f.bytes[1-cs],
		FirstPacket:   f.firstHash,
	}
	if f.nvlans > 0 {
		s.VLANs = append([]uint16(nil), f.vlans[:f.nvlans]...)
	}
	if q.conn != nil {
		hs := q.conn.Handshake().Clone()
		// There are no TLS records in QUIC: the parser saw synthetic ones.
		hs.ClientHelloRecords = 0
		hs.ClientHelloChunks = q.helloPackets
		if hs.ClientHello != nil {
			hs.ClientHello.RecordVersion = 0
		}
		// Spreading over packets is normal in QUIC (post-quantum key
		// shares need two): ClientHelloChunks tells, the rules judge.
		hs.Anomalies.Remove(tlsparse.AnomalyFragmentedHello)
		if hs.Err != nil {
			w.st.inc(CParseErrors)
		}
		s.TLS = hs
		w.putConn(q.conn)
		q.conn = nil
	}
	if q.crypto[0].limited || q.crypto[1].limited {
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
		q.crypto[0].limited || q.crypto[1].limited
	w.quic.put(q)
	w.st.inc(CSessionsQUIC)
	w.st.inc(CSessions)
	s.Finish()
	w.h.HandleSession(s)
}
