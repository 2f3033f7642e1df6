package tlsparse

import (
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// Errors returned by the hello parsers. They wrap ErrIncomplete or
// ErrMalformed and are built once, not per packet.
var (
	errHelloIncomplete  = fmt.Errorf("%w: hello truncated", ErrIncomplete)
	errClientHello      = fmt.Errorf("%w: client hello", ErrMalformed)
	errClientHelloExt   = fmt.Errorf("%w: client hello extension", ErrMalformed)
	errClientHelloDup   = fmt.Errorf("%w: client hello: duplicate extension (RFC 8446 4.2)", ErrMalformed)
	errServerHello      = fmt.Errorf("%w: server hello", ErrMalformed)
	errServerHelloExt   = fmt.Errorf("%w: server hello extension", ErrMalformed)
	errSSLv2ClientHello = fmt.Errorf("%w: SSLv2 client hello", ErrMalformed)
	errSSLv2ServerHello = fmt.Errorf("%w: SSLv2 server hello", ErrMalformed)
)

// IsExtensionError reports whether err (from ClientHello.Unmarshal or
// ServerHello.Unmarshal) concerns only the content of extensions: the
// message framing was intact and the fields before the bad extension, and
// every well-formed extension, are filled in.
func IsExtensionError(err error) bool {
	return err == errClientHelloExt || err == errClientHelloDup || err == errServerHelloExt
}

// Extension type codes decoded by this package (IANA TLS ExtensionType).
const (
	extServerName           uint16 = 0
	extStatusRequest        uint16 = 5
	extSupportedGroups      uint16 = 10
	extECPointFormats       uint16 = 11
	extSignatureAlgorithms  uint16 = 13
	extHeartbeat            uint16 = 15
	extALPN                 uint16 = 16
	extPadding              uint16 = 21
	extExtendedMasterSecret uint16 = 23
	extSessionTicket        uint16 = 35
	extKeyShareDraft        uint16 = 40 // key_share in TLS 1.3 drafts before -23
	extPreSharedKey         uint16 = 41
	extSupportedVersions    uint16 = 43
	extPSKModes             uint16 = 45
	extKeyShare             uint16 = 51
	extECH                  uint16 = 0xfe0d
	extRenegotiationInfo    uint16 = 0xff01
)

// helloRetryRequestRandom is the ServerHello.random of a HelloRetryRequest
// (RFC 8446 4.1.3).
var helloRetryRequestRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11,
	0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
	0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// span is a range of a shared backing array, resolved into a slice once
// parsing is over (appends may move the array meanwhile).
type span struct{ off, end int }

func (s span) u16(b []uint16) []uint16 {
	if s.end == s.off {
		return nil
	}
	return b[s.off:s.end:s.end]
}

func (s span) u8(b []byte) []byte {
	if s.end == s.off {
		return nil
	}
	return b[s.off:s.end:s.end]
}

// hasDuplicate reports whether list holds a value twice. A 256-bit filter
// on the low byte makes the common case (no duplicate, few collisions) one
// pass; a collision is checked exactly. Long lists, which only hostile input
// has, are sorted in a copy so the cost stays O(n log n).
func hasDuplicate(list []uint16) bool {
	if len(list) > 64 {
		c := slices.Clone(list)
		slices.Sort(c)
		for i := 1; i < len(c); i++ {
			if c[i] == c[i-1] {
				return true
			}
		}
		return false
	}
	var seen [4]uint64
	for i, v := range list {
		b := uint8(v)
		if seen[b>>6]&(1<<(b&63)) != 0 && slices.Contains(list[:i], v) {
			return true
		}
		seen[b>>6] |= 1 << (b & 63)
	}
	return false
}

// readU16Prefixed is s.ReadUint16LengthPrefixed(out), small enough to be
// inlined: the hello parsers read a length-prefixed field or two per
// extension. On failure s is left as it was (cryptobyte may consume the
// length); no caller reads s after a failure.
func readU16Prefixed(s, out *cryptobyte.String) bool {
	b := *s
	if len(b) < 2 {
		return false
	}
	n := int(b[0])<<8 | int(b[1])
	if len(b)-2 < n {
		return false
	}
	*out, *s = b[2:2+n], b[2+n:]
	return true
}

// readU8Prefixed is s.ReadUint8LengthPrefixed(out), as readU16Prefixed.
func readU8Prefixed(s, out *cryptobyte.String) bool {
	b := *s
	if len(b) < 1 {
		return false
	}
	n := int(b[0])
	if len(b)-1 < n {
		return false
	}
	*out, *s = b[1:1+n], b[1+n:]
	return true
}

// nextExtension reads an extension's type and data off exts, as
// exts.ReadUint16(&typ) && exts.ReadUint16LengthPrefixed(&data) would; the
// results are returned, not stored through pointers, so that they stay in
// registers.
func nextExtension(exts *cryptobyte.String) (typ uint16, data cryptobyte.String, ok bool) {
	b := *exts
	if len(b) < 4 {
		return 0, nil, false
	}
	n := int(b[2])<<8 | int(b[3])
	if len(b)-4 < n {
		return 0, nil, false
	}
	*exts = b[4+n:]
	return uint16(b[0])<<8 | uint16(b[1]), b[4 : 4+n], true
}

// wholeU16 is the content of b when b is exactly one field with a 2-byte
// length: what data.ReadUint16LengthPrefixed(&f) && data.Empty() accepts.
// Taking and returning values (no pointers) keeps the caller's slices in
// registers.
func wholeU16(b cryptobyte.String) (f cryptobyte.String, ok bool) {
	if len(b) < 2 || len(b)-2 != int(b[0])<<8|int(b[1]) {
		return nil, false
	}
	return b[2:], true
}

// wholeU8 is wholeU16 for a field with a 1-byte length.
func wholeU8(b cryptobyte.String) (f cryptobyte.String, ok bool) {
	if len(b) < 1 || len(b)-1 != int(b[0]) {
		return nil, false
	}
	return b[1:], true
}

// readU16List appends a list of uint16 to dst; the list must fill s exactly
// and have an even length.
func readU16List(s cryptobyte.String, dst []uint16) ([]uint16, bool) {
	if len(s)%2 != 0 {
		return dst, false
	}
	for i := 1; i < len(s); i += 2 {
		dst = append(dst, uint16(s[i-1])<<8|uint16(s[i]))
	}
	return dst, true
}

// internALPN returns a string for a protocol id without allocating for the
// common ones.
func internALPN(b []byte) string {
	switch string(b) {
	case "h2":
		return "h2"
	case "http/1.1":
		return "http/1.1"
	case "h3":
		return "h3"
	case "http/1.0":
		return "http/1.0"
	case "spdy/3.1":
		return "spdy/3.1"
	case "spdy/3":
		return "spdy/3"
	case "h2c":
		return "h2c"
	case "acme-tls/1":
		return "acme-tls/1"
	case "dot":
		return "dot"
	case "imap":
		return "imap"
	case "smtp":
		return "smtp"
	}
	return string(b)
}

func (ch *ClientHello) reset() {
	scr := ch.scr
	if scr == nil {
		scr = new(chScratch)
	} else {
		// field by field: a composite literal would be built on the
		// stack and copied whole
		scr.u16, scr.u8, scr.alpnBuf = scr.u16[:0], scr.u8[:0], scr.alpnBuf[:0]
		scr.sp, scr.lastName = chSpans{}, ch.ServerName
	}
	*ch = ClientHello{scr: scr}
}

// Unmarshal parses a ClientHello handshake message body (the bytes after the
// 4-byte handshake header). It reuses ch's slices, so values taken from a
// previous call must not be kept across calls; nothing aliases body.
//
// Errors: ErrIncomplete when body ends before its own length fields say;
// ErrMalformed otherwise. When IsExtensionError(err) is true only an
// extension was bad (or repeated, RFC 8446 4.2): Malformed is set and
// every other field, in particular ServerName, is still filled in.
func (ch *ClientHello) Unmarshal(body []byte) error {
	ch.reset()
	err := ch.unmarshal(body)
	ch.resolve()
	if err != nil {
		ch.Malformed = true
	}
	return err
}

// chScratch is a ClientHello's parse storage, reused by the next
// Unmarshal: every []uint16 list is a piece of u16, every []byte / []uint8
// one of u8, ALPN is alpnBuf. A copy (Handshake.Clone) has none, so that
// what a session keeps of a hello is its values only.
type chScratch struct {
	u16      []uint16
	u8       []byte
	sp       chSpans
	alpnBuf  []string
	lastName string // ServerName of the previous Unmarshal, reused when equal
}

// spans of the shared arrays, kept between unmarshal and resolve.
type chSpans struct {
	random, sessionID, compression, ecpf, pskModes     span
	ciphers, exts, groups, sigalgs, versions, keyShare span
}

func (ch *ClientHello) resolve() {
	ch.resolveLists(&ch.scr.sp, ch.scr.u16, ch.scr.u8)
	if len(ch.scr.alpnBuf) > 0 {
		ch.ALPN = ch.scr.alpnBuf
	}
	ch.scr.lastName = ""
}

// resolveLists points ch's lists at their spans of u16 and u8: the
// scratch's arrays, or a clone's copies of them.
func (ch *ClientHello) resolveLists(sp *chSpans, u16 []uint16, u8 []byte) {
	ch.Random = sp.random.u8(u8)
	ch.SessionID = sp.sessionID.u8(u8)
	ch.CompressionMethods = sp.compression.u8(u8)
	ch.ECPointFormats = sp.ecpf.u8(u8)
	ch.PSKModes = sp.pskModes.u8(u8)
	ch.CipherSuites = sp.ciphers.u16(u16)
	ch.Extensions = sp.exts.u16(u16)
	ch.SupportedGroups = sp.groups.u16(u16)
	ch.SignatureAlgorithms = sp.sigalgs.u16(u16)
	ch.SupportedVersions = sp.versions.u16(u16)
	ch.KeyShareGroups = sp.keyShare.u16(u16)
}

// appendBytes copies b into the shared byte array and returns its span.
func (ch *ClientHello) appendBytes(b []byte) span {
	off := len(ch.scr.u8)
	ch.scr.u8 = append(ch.scr.u8, b...)
	return span{off, len(ch.scr.u8)}
}

func (ch *ClientHello) unmarshal(body []byte) error {
	s := cryptobyte.String(body)
	var random, sid, ciphers, comp cryptobyte.String
	if !s.ReadUint16(&ch.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!readU8Prefixed(&s, &sid) {
		return errHelloIncomplete
	}
	ch.scr.sp.random = ch.appendBytes(random)
	ch.scr.sp.sessionID = ch.appendBytes(sid)
	if len(sid) > 32 {
		return errClientHello
	}
	if !readU16Prefixed(&s, &ciphers) {
		return errHelloIncomplete
	}
	off := len(ch.scr.u16)
	var ok bool
	if ch.scr.u16, ok = readU16List(ciphers, ch.scr.u16); !ok {
		return errClientHello
	}
	ch.scr.sp.ciphers = span{off, len(ch.scr.u16)}
	if !readU8Prefixed(&s, &comp) {
		return errHelloIncomplete
	}
	ch.scr.sp.compression = ch.appendBytes(comp)
	if s.Empty() {
		return nil // no extensions (SSL 3.0, early TLS clients)
	}
	var exts cryptobyte.String
	if !readU16Prefixed(&s, &exts) {
		return errHelloIncomplete
	}
	if !s.Empty() {
		return errClientHello // trailing data after the extensions
	}
	return ch.unmarshalExtensions(exts)
}

// unmarshalExtensions parses the extensions block in one pass. The block
// is complete, so any inconsistency inside it is malformed, not incomplete;
// extensions before a framing error are still decoded (a sensor still wants
// the SNI). The type list is collected on the stack and appended to the
// shared array at the end, so that its span is contiguous.
func (ch *ClientHello) unmarshalExtensions(exts cryptobyte.String) error {
	var tbuf [48]uint16
	types := tbuf[:0]
	var err error
	for !exts.Empty() {
		typ, data, ok := nextExtension(&exts)
		if !ok {
			err = errClientHello
			break
		}
		types = append(types, typ)
		if !ch.extension(typ, data) && err == nil {
			err = errClientHelloExt
		}
	}
	off := len(ch.scr.u16)
	ch.scr.u16 = append(ch.scr.u16, types...)
	ch.scr.sp.exts = span{off, len(ch.scr.u16)}
	// Duplicates (RFC 8446 4.2).
	if err != errClientHello && hasDuplicate(types) {
		err = errClientHelloDup
	}
	return err
}

// extension decodes one ClientHello extension; it reports false when the
// extension's content does not match its definition. For an extension that
// appears twice the first occurrence wins.
func (ch *ClientHello) extension(typ uint16, data cryptobyte.String) bool {
	var ok bool
	switch typ {
	case extServerName: // RFC 6066 3
		list, whole := wholeU16(data)
		if !whole || list.Empty() {
			return false
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !readU16Prefixed(&list, &name) {
				return false
			}
			if nameType != 0 || ch.ServerName != "" || len(name) == 0 {
				continue
			}
			if string(name) == ch.scr.lastName {
				ch.ServerName = ch.scr.lastName
			} else {
				ch.ServerName = string(name)
			}
		}
		return true
	case extStatusRequest:
		ch.StatusRequest = true
		return true
	case extSupportedGroups: // RFC 8422 5.1.1, RFC 8446 4.2.7
		list, whole := wholeU16(data)
		if !whole {
			return false
		}
		if ch.scr.sp.groups.end != 0 {
			return true
		}
		off := len(ch.scr.u16)
		ch.scr.u16, ok = readU16List(list, ch.scr.u16)
		ch.scr.sp.groups = span{off, len(ch.scr.u16)}
		return ok
	case extECPointFormats: // RFC 8422 5.1.2
		list, whole := wholeU8(data)
		if !whole {
			return false
		}
		if ch.scr.sp.ecpf.end == 0 {
			ch.scr.sp.ecpf = ch.appendBytes(list)
		}
		return true
	case extSignatureAlgorithms: // RFC 8446 4.2.3
		list, whole := wholeU16(data)
		if !whole {
			return false
		}
		if ch.scr.sp.sigalgs.end != 0 {
			return true
		}
		off := len(ch.scr.u16)
		ch.scr.u16, ok = readU16List(list, ch.scr.u16)
		ch.scr.sp.sigalgs = span{off, len(ch.scr.u16)}
		return ok
	case extHeartbeat: // RFC 6520 2
		ch.Heartbeat = true
		return true
	case extALPN: // RFC 7301 3.1
		list, whole := wholeU16(data)
		if !whole || list.Empty() {
			return false
		}
		if len(ch.scr.alpnBuf) != 0 {
			return true
		}
		for !list.Empty() {
			var proto cryptobyte.String
			if !readU8Prefixed(&list, &proto) || proto.Empty() {
				return false
			}
			ch.scr.alpnBuf = append(ch.scr.alpnBuf, internALPN(proto))
		}
		return true
	case extPadding: // RFC 7685
		ch.Padding = true
		return true
	case extExtendedMasterSecret: // RFC 7627
		ch.ExtendedMasterSecret = true
		return len(data) == 0
	case extSessionTicket: // RFC 5077 3.2
		ch.SessionTicket = true
		ch.SessionTicketLen = len(data)
		return true
	case extPreSharedKey: // RFC 8446 4.2.11
		ch.PreSharedKey = true
		return true
	case extSupportedVersions: // RFC 8446 4.2.1
		list, whole := wholeU8(data)
		if !whole || list.Empty() {
			return false
		}
		if ch.scr.sp.versions.end != 0 {
			return true
		}
		off := len(ch.scr.u16)
		ch.scr.u16, ok = readU16List(list, ch.scr.u16)
		ch.scr.sp.versions = span{off, len(ch.scr.u16)}
		return ok
	case extPSKModes: // RFC 8446 4.2.9
		list, whole := wholeU8(data)
		if !whole {
			return false
		}
		if ch.scr.sp.pskModes.end == 0 {
			ch.scr.sp.pskModes = ch.appendBytes(list)
		}
		return true
	case extKeyShare, extKeyShareDraft: // RFC 8446 4.2.8
		if typ == extKeyShareDraft && ch.scr.sp.keyShare.end != 0 {
			return true
		}
		list, whole := wholeU16(data)
		if !whole {
			return false
		}
		if ch.scr.sp.keyShare.end != 0 {
			return true
		}
		off := len(ch.scr.u16)
		for !list.Empty() {
			var group uint16
			var key cryptobyte.String
			if !list.ReadUint16(&group) || !readU16Prefixed(&list, &key) {
				ch.scr.sp.keyShare = span{off, len(ch.scr.u16)}
				return false
			}
			ch.scr.u16 = append(ch.scr.u16, group)
		}
		ch.scr.sp.keyShare = span{off, len(ch.scr.u16)}
		return true
	case extECH: // draft-ietf-tls-esni
		ch.ECH = true
		return true
	case extRenegotiationInfo: // RFC 5746 3.2
		ch.RenegotiationInfo = true
		_, whole := wholeU8(data)
		return whole
	}
	return true
}

// unmarshalSSLv2 parses an SSLv2 CLIENT-HELLO message (the record body,
// starting with the message type byte 1).
func (ch *ClientHello) unmarshalSSLv2(msg []byte) error {
	ch.reset()
	err := ch.unmarshalV2(msg)
	ch.resolve()
	if err != nil {
		ch.Malformed = true
	}
	return err
}

func (ch *ClientHello) unmarshalV2(msg []byte) error {
	ch.SSLv2 = true
	ch.RecordVersion = 0x0002
	s := cryptobyte.String(msg)
	var typ uint8
	var specLen, sidLen, chalLen uint16
	if !s.ReadUint8(&typ) || !s.ReadUint16(&ch.LegacyVersion) ||
		!s.ReadUint16(&specLen) || !s.ReadUint16(&sidLen) || !s.ReadUint16(&chalLen) {
		return errHelloIncomplete
	}
	if typ != 1 || specLen%3 != 0 {
		return errSSLv2ClientHello
	}
	var specs, sid, chal cryptobyte.String
	if !s.ReadBytes((*[]byte)(&specs), int(specLen)) || !s.ReadBytes((*[]byte)(&sid), int(sidLen)) ||
		!s.ReadBytes((*[]byte)(&chal), int(chalLen)) {
		return errHelloIncomplete
	}
	off := len(ch.scr.u16)
	for !specs.Empty() {
		var kind uint32
		specs.ReadUint24(&kind)
		if kind>>16 == 0 {
			ch.scr.u16 = append(ch.scr.u16, uint16(kind))
		}
	}
	ch.scr.sp.ciphers = span{off, len(ch.scr.u16)}
	ch.scr.sp.sessionID = ch.appendBytes(sid)
	ch.scr.sp.random = ch.appendBytes(chal)
	if !s.Empty() {
		return errSSLv2ClientHello
	}
	return nil
}

func (sh *ServerHello) reset() {
	scr := sh.scr
	if scr == nil {
		scr = new(shScratch)
	} else {
		scr.u16, scr.b, scr.certs, scr.extSpan = scr.u16[:0], scr.b[:0], scr.certs[:0], span{} // as in ClientHello.reset
	}
	*sh = ServerHello{scr: scr}
}

func (sh *ServerHello) appendBytes(b []byte) span {
	off := len(sh.scr.b)
	sh.scr.b = append(sh.scr.b, b...)
	return span{off, len(sh.scr.b)}
}

// isDraftServerHelloVersion reports whether a ServerHello legacy_version
// means the TLS 1.3 draft layout (drafts -11 to -21: no session id, no
// compression method; the version itself is in server_version).
func isDraftServerHelloVersion(v uint16) bool {
	return v>>8 == 0x7f || v == 0x0304
}

// Unmarshal parses a ServerHello (or HelloRetryRequest) handshake message
// body. It reuses sh's slices; nothing aliases body. Errors as for
// ClientHello.Unmarshal.
func (sh *ServerHello) Unmarshal(body []byte) error {
	sh.reset()
	var rnd, sid span
	err := sh.unmarshal(body, &rnd, &sid)
	sh.Random = rnd.u8(sh.scr.b)
	sh.SessionID = sid.u8(sh.scr.b)
	sh.Extensions = sh.scr.extSpan.u16(sh.scr.u16)
	return err
}

func (sh *ServerHello) unmarshal(body []byte, rnd, sid *span) error {
	s := cryptobyte.String(body)
	var random, sessionID cryptobyte.String
	if !s.ReadUint16(&sh.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) {
		return errHelloIncomplete
	}
	*rnd = sh.appendBytes(random)
	sh.HelloRetryRequest = [32]byte(random) == helloRetryRequestRandom
	draft := isDraftServerHelloVersion(sh.LegacyVersion)
	if !draft {
		if !readU8Prefixed(&s, &sessionID) {
			return errHelloIncomplete
		}
		*sid = sh.appendBytes(sessionID)
		if len(sessionID) > 32 {
			return errServerHello
		}
	}
	if !s.ReadUint16(&sh.CipherSuite) {
		return errHelloIncomplete
	}
	if !draft && !s.ReadUint8(&sh.CompressionMethod) {
		return errHelloIncomplete
	}
	if s.Empty() {
		return nil
	}
	var exts cryptobyte.String
	if !readU16Prefixed(&s, &exts) {
		return errHelloIncomplete
	}
	if !s.Empty() {
		return errServerHello
	}
	off := len(sh.scr.u16)
	var err error
	for !exts.Empty() {
		typ, data, ok := nextExtension(&exts)
		if !ok {
			sh.scr.extSpan = span{off, len(sh.scr.u16)}
			return errServerHello
		}
		for _, t := range sh.scr.u16[off:] {
			if t == typ && err == nil {
				err = errServerHelloExt
			}
		}
		sh.scr.u16 = append(sh.scr.u16, typ)
		if !sh.extension(typ, data) && err == nil {
			err = errServerHelloExt
		}
	}
	sh.scr.extSpan = span{off, len(sh.scr.u16)}
	return err
}

func (sh *ServerHello) extension(typ uint16, data cryptobyte.String) bool {
	switch typ {
	case extSupportedVersions: // RFC 8446 4.2.1: selected_version
		return data.ReadUint16(&sh.SupportedVersion) && data.Empty()
	case extKeyShare, extKeyShareDraft: // RFC 8446 4.2.8
		if !data.ReadUint16(&sh.KeyShareGroup) {
			return false
		}
		if sh.HelloRetryRequest {
			return data.Empty()
		}
		_, whole := wholeU16(data)
		return whole
	case extPreSharedKey: // RFC 8446 4.2.11: selected_identity
		var id uint16
		sh.PreSharedKey = true
		return data.ReadUint16(&id) && data.Empty()
	case extALPN: // RFC 7301 3.1: exactly one protocol
		list, whole := wholeU16(data)
		var proto cryptobyte.String
		if !whole || !readU8Prefixed(&list, &proto) || proto.Empty() {
			return false
		}
		sh.ALPN = internALPN(proto)
		return list.Empty()
	case extSessionTicket:
		sh.SessionTicket = true
		return true
	case extExtendedMasterSecret:
		sh.ExtendedMasterSecret = true
		return true
	case extRenegotiationInfo:
		sh.RenegotiationInfo = true
		_, whole := wholeU8(data)
		return whole
	case extHeartbeat:
		sh.Heartbeat = true
		return true
	}
	return true
}

// unmarshalSSLv2 parses an SSLv2 SERVER-HELLO message (record body starting
// with the message type byte 4). The certificate is copied.
func (sh *ServerHello) unmarshalSSLv2(msg []byte) error {
	sh.reset()
	sh.SSLv2 = true
	s := cryptobyte.String(msg)
	var typ, hit, certType uint8
	var certLen, specLen, connIDLen uint16
	if !s.ReadUint8(&typ) || !s.ReadUint8(&hit) || !s.ReadUint8(&certType) ||
		!s.ReadUint16(&sh.LegacyVersion) || !s.ReadUint16(&certLen) ||
		!s.ReadUint16(&specLen) || !s.ReadUint16(&connIDLen) {
		return errHelloIncomplete
	}
	if typ != 4 || specLen%3 != 0 {
		return errSSLv2ServerHello
	}
	var cert, specs, connID cryptobyte.String
	if !s.ReadBytes((*[]byte)(&cert), int(certLen)) || !s.ReadBytes((*[]byte)(&specs), int(specLen)) ||
		!s.ReadBytes((*[]byte)(&connID), int(connIDLen)) {
		return errHelloIncomplete
	}
	sh.SessionIDHit = hit != 0
	if len(cert) > 0 {
		c := sh.appendBytes(cert)
		sh.scr.certs = append(sh.scr.certs, c.u8(sh.scr.b))
		sh.Certificates = sh.scr.certs
	}
	if !s.Empty() {
		return errSSLv2ServerHello
	}
	return nil
}
