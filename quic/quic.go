// Package quic removes the protection of QUIC Initial packets, which every
// observer can do: their keys derive from the client's first Destination
// Connection ID (RFC 9001 section 5.2, RFC 9369 section 3.3). It parses
// long headers, derives the Initial keys, removes header protection,
// decrypts, walks the frames of an Initial payload and reassembles the
// CRYPTO stream of one direction, bounded.
//
// Datagrams in, CRYPTO bytes and header facts out: no I/O, no clock, no
// flows, no counters. What a flow does with them (which keys, how many
// packets, the TLS parser) is the caller's business (package capture).
package quic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/cryptobyte"
)

// QUIC versions whose Initial packets are decrypted (among others, see
// Supported).
const (
	V1 uint32 = 0x00000001 // RFC 9000
	V2 uint32 = 0x6b3343cf // RFC 9369
)

// Bounds of a CryptoStream.
const (
	// MaxCrypto is the CRYPTO stream bytes a CryptoStream buffers.
	MaxCrypto = 64 << 10
	// maxRanges bounds the out-of-order pieces of one CRYPTO stream.
	maxRanges = 32
	// maxAhead bounds how far past the contiguous part a CRYPTO frame may
	// reach, so a frame at a high offset cannot make every stream allocate
	// MaxCrypto bytes.
	maxAhead = 16 << 10
	// keepCryptoBuf: larger buffers are not kept by Reset.
	keepCryptoBuf = 8 << 10
)

// PacketType is a long header packet type, numbered as in QUIC v1 (v2
// types are mapped).
type PacketType uint8

// Long header packet types.
const (
	Initial   PacketType = 0
	ZeroRTT   PacketType = 1
	Handshake PacketType = 2
	Retry     PacketType = 3
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

// versionSalt returns the Initial salt of version v and whether it uses the
// QUIC v2 labels and packet types; ok is false for versions whose Initial
// packets cannot be decrypted (unknown, greased, Google QUIC Q0xx).
func versionSalt(v uint32) (s []byte, v2, ok bool) {
	switch {
	case v == V1:
		return saltV1, false, true
	case v == V2:
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
	case IsReservedVersion(v):
		// Greased versions (RFC 9000 section 15) that force version
		// negotiation: the clients that send them protect them with the
		// draft-29 keys (Wireshark assumes so too) or the v1 keys; a flow
		// starts only if the packet really decrypts.
		return saltDraft29, false, true
	}
	return nil, false, false
}

// Supported reports whether Initial packets of version v can be decrypted
// (a key derivation is known): v1, v2, the drafts and Google's TLS-based
// versions, and greased versions.
func Supported(v uint32) bool {
	_, _, ok := versionSalt(v)
	return ok
}

// IsReservedVersion reports whether v is of the form 0x?a?a?a?a
// (RFC 9000 section 15).
func IsReservedVersion(v uint32) bool { return v&0x0f0f0f0f == 0x0a0a0a0a }

// IsGoogleTLSVersion reports Google's TLS-based versions (T050, T051),
// whose CRYPTO frame has type 0x08.
func IsGoogleTLSVersion(v uint32) bool { return v>>8 == 0x543035 }

// IsGoogleQUIC reports whether the datagram is Google QUIC (Q0xx), which
// is not TLS: the long-header form of Q046 and later, or the public
// header of older versions with the version flag set.
func IsGoogleQUIC(b []byte) bool {
	if len(b) >= 5 && b[0]&0x80 != 0 {
		return b[1] == 'Q' && b[2] == '0'
	}
	// Public header: flags, 8-byte connection id (flag 0x08), version.
	if len(b) >= 13 && b[0]&0x89 == 0x09 {
		return b[9] == 'Q' && b[10] == '0'
	}
	return false
}

// LongHeader is a parsed long header. Slices alias the packet.
type LongHeader struct {
	Version    uint32
	Type       PacketType // Initial ... Retry (v1 numbering)
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

// ParseLongHeader parses the long header at the start of b (RFC 9000
// section 17.2). Version negotiation (version 0) and unknown versions
// parse only as far as the connection ids (Type and PNOffset are then
// meaningless, End is len(b)). Connection ids of known versions are at
// most 20 bytes.
func ParseLongHeader(b []byte) (h LongHeader, ok bool) {
	s := cryptobyte.String(b)
	var first uint8
	if !s.ReadUint8(&first) || first&0x80 == 0 || !s.ReadUint32(&h.Version) {
		return h, false
	}
	if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&h.DCID)) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&h.SCID)) {
		return h, false
	}
	_, v2, known := versionSalt(h.Version)
	if !known {
		h.End = len(b)
		return h, true
	}
	if first&0x40 == 0 || len(h.DCID) > 20 || len(h.SCID) > 20 {
		return h, false // fixed bit (RFC 9000 section 17.2), id lengths
	}
	h.Type = PacketType(first >> 4 & 3)
	if v2 { // RFC 9369 section 3.2: Initial 1, 0-RTT 2, Handshake 3, Retry 0
		h.Type = (h.Type + 3) & 3
	}
	var n uint64
	switch h.Type {
	case Retry:
		h.End = len(b)
		return h, true
	case Initial:
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

// Keys are one side's Initial packet protection keys.
type Keys struct {
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

// initialSecrets returns the key, iv and header protection key of one
// side for version and the client's Destination Connection ID.
func initialSecrets(version uint32, dcid []byte, server bool) (key, iv, hp []byte, ok bool) {
	salt, v2, ok := versionSalt(version)
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

// NewKeys derives one side's Initial keys for version and the client's
// first Destination Connection ID; ok is false for an unsupported version.
func NewKeys(version uint32, dcid []byte, server bool) (*Keys, bool) {
	key, iv, hp, ok := initialSecrets(version, dcid, server)
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
	k := &Keys{aead: aead, hp: hpb}
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
func (k *Keys) unprotect(pkt []byte, pnOffset int) (pnLen int, trunc uint64, ok bool) {
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

// Open removes header protection from and decrypts the packet pkt[:h.End]
// (h parsed from pkt) in place. largestPlus1 is the largest packet number
// of the direction so far plus one (0: none), to expand the truncated one.
// It returns the plaintext payload (aliasing pkt) and the packet number.
// pkt is changed even when Open fails: callers that must keep the datagram
// open a copy. Keys hold scratch space: one goroutine at a time.
func (k *Keys) Open(pkt []byte, h *LongHeader, largestPlus1 uint64) (payload []byte, pn uint64, ok bool) {
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

// CryptoStream reassembles one direction's CRYPTO stream of the Initial
// encryption level, at most MaxCrypto bytes and maxRanges pieces.
// Overlapping bytes keep what arrived first. The zero value is an empty
// stream.
type CryptoStream struct {
	buf     []byte        // buf[i] is stream offset i where covered
	ranges  []cryptoRange // sorted, merged, non-adjacent
	limited bool          // data was dropped at a limit
}

// Reset empties the stream for reuse, keeping its buffers unless they are
// unusually large.
func (c *CryptoStream) Reset() {
	buf, ranges := c.buf[:0], c.ranges[:0]
	if cap(buf) > keepCryptoBuf {
		buf = nil // unusually large: left to the GC
	}
	*c = CryptoStream{buf: buf, ranges: ranges}
}

// Retained is the bytes the stream's buffers hold (capacity, not length).
func (c *CryptoStream) Retained() int { return cap(c.buf) + 8*cap(c.ranges) }

// Add stores data at stream offset off; false when a limit dropped it.
func (c *CryptoStream) Add(off uint64, data []byte) bool {
	if len(data) == 0 {
		return true
	}
	end := off + uint64(len(data))
	if off >= MaxCrypto || end > MaxCrypto || end > uint64(c.Contiguous())+maxAhead {
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
	if i == j && len(c.ranges) >= maxRanges {
		c.limited = true
		return false
	}
	if int(e) > len(c.buf) {
		if int(e) > cap(c.buf) {
			n := make([]byte, e, max(int(e), min(2*cap(c.buf), MaxCrypto)))
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

// Contiguous is the length of the stream received without a hole from 0.
func (c *CryptoStream) Contiguous() int {
	if len(c.ranges) > 0 && c.ranges[0].start == 0 {
		return int(c.ranges[0].end)
	}
	return 0
}

// Data returns the stream's bytes received without a hole from offset 0.
// It aliases the stream's buffer until the next Add or Reset.
func (c *CryptoStream) Data() []byte { return c.buf[:c.Contiguous()] }

// Limited reports whether data was dropped at a limit (MaxCrypto, the
// bound on pieces, or the reach past the contiguous part).
func (c *CryptoStream) Limited() bool { return c.limited }

// WalkInitialFrames walks the frames of a decrypted Initial payload (RFC
// 9000 section 12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE) and adds
// CRYPTO data to cs. It returns the CRYPTO frames seen and false when a
// frame is malformed or not allowed in an Initial packet (frames before it
// are kept), or when cs dropped data at a limit.
//
// googleTLS selects Google's T05x frame numbering, where CRYPTO is 0x08.
func WalkInitialFrames(p []byte, cs *CryptoStream, googleTLS bool) (nCrypto int, ok bool) {
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
			if !cs.Add(a, data) {
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
