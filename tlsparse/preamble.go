package tlsparse

import "bytes"

// Cleartext preambles that precede TLS in the same TCP connection: the
// STARTTLS family (SMTP, FTP AUTH TLS, IMAP, POP3, XMPP), an HTTP CONNECT tunnel
// and SOCKS4/4a/5. A Conn recognises them by the first bytes of the
// connection, follows each direction to the end of its preamble and then
// parses the rest of that direction from scratch (Sniff, then TLS). The
// session reports the TLS handshake, with the anomaly naming the preamble:
// "starttls", "http_connect" or "socks".
//
// Recognition is strict: a preamble that breaks its protocol, is refused by
// the server (SMTP 454, HTTP 407, SOCKS failure, XMPP <failure/>), or runs over
// maxPreambleBytes or maxPreambleLines in a direction ends parsing, and the
// connection is reported as Sniff classified its first bytes (HTTP for a
// CONNECT request, unknown otherwise).

const (
	maxPreambleBytes = 16 << 10 // per direction
	maxPreambleLines = 64       // per direction (text protocols)
	preambleHeadLen  = 128      // bytes kept of each line
)

// preKind is the preamble protocol.
type preKind uint8

const (
	preNone    preKind = iota
	preReply3          // SMTP or FTP: server replies "ddd text", "ddd-text" continues
	preIMAP            // server greeting "* OK", client "tag STARTTLS", server "tag OK"
	prePOP3            // server greeting "+OK", client "STLS", server "+OK"
	preConnect         // HTTP CONNECT request and 2xx response
	preSOCKS5          // RFC 1928 (and RFC 1929 username/password)
	preSOCKS4          // SOCKS4 and SOCKS4a
	preXMPP            // RFC 6120 5.4: client <starttls/>, server <proceed/>
)

// anomaly names the preamble in Handshake.Anomalies (preNone never
// reaches it).
func (k preKind) anomaly() Anomaly {
	switch k {
	case preConnect:
		return AnomalyHTTPConnect
	case preSOCKS5, preSOCKS4:
		return AnomalySOCKS
	}
	return AnomalyStartTLS
}

// fallback is what the connection is when the preamble does not lead to
// TLS: what Sniff says of the first bytes.
func (k preKind) fallback() Protocol {
	if k == preConnect {
		return ProtocolHTTP
	}
	return ProtocolUnknown
}

// Preamble step results.
const (
	preMore   = iota // keep reading the preamble
	preDone          // this direction's preamble ended; TLS may follow
	preFailed        // not the expected preamble, or refused
)

// preambleHalf is one direction's progress through the preamble.
type preambleHalf struct {
	bytes int // consumed so far
	lines int // complete lines (text protocols)
	head  [preambleHeadLen]byte
	headN int  // bytes of the current line kept in head
	long  bool // the current line is longer than head
	ok    bool // HTTP: the status line was 2xx

	// binary (SOCKS) state: st is the field being read, skip the bytes of
	// a variable-length field still to skip.
	st   uint8
	skip int
	v    uint8 // a field value remembered across bytes (SOCKS4 address, atyp)
}

// preamble tracks both directions of one connection's preamble.
type preamble struct {
	kind    preKind
	upgrade bool // the client asked for the upgrade (STARTTLS, STLS, AUTH TLS)
	tag     [32]byte
	tagN    int
	dirs    [2]preambleHalf

	held, prior [sniffLen]byte // startPreamble's copies of the sniffed bytes
}

// preambleStart recognises the opening of a preamble in the first bytes of
// a connection (from dir, the first direction to send). ok is false when b
// is too short to decide; it always decides with sniffLen bytes.
func preambleStart(dir Direction, b []byte) (k preKind, ok bool) {
	prefix := func(s string) (match, short bool) {
		n := min(len(b), len(s))
		if string(b[:n]) != s[:n] {
			return false, false
		}
		return n == len(s), n < len(s)
	}
	var needMore bool
	try := func(s string) bool {
		m, short := prefix(s)
		needMore = needMore || short
		return m
	}
	if dir == ServerToClient {
		switch {
		case try("220 "), try("220-"):
			return preReply3, true
		case try("* OK "):
			return preIMAP, true
		case try("+OK"):
			return prePOP3, true
		}
		return preNone, !needMore
	}
	if try("CONNECT ") {
		return preConnect, true
	}
	if try("<?xml ") || try("<stream:stream ") {
		return preXMPP, true
	}
	if len(b) == 0 {
		return preNone, false
	}
	switch b[0] {
	case 5:
		// VER 5, NMETHODS, METHODS: no auth, GSSAPI, user/password,
		// IANA-assigned (up to 0x09) or private (0x80-0xfe).
		if len(b) < 2 {
			return preNone, false
		}
		n := int(b[1])
		if n == 0 || n > sniffLen-2 {
			return preNone, true
		}
		if len(b) < 2+n {
			return preNone, false
		}
		for _, m := range b[2 : 2+n] {
			if m > 9 && (m < 0x80 || m == 0xff) {
				return preNone, true
			}
		}
		return preSOCKS5, true
	case 4:
		// VN 4, CD 1 (connect) or 2 (bind), DSTPORT, DSTIP, USERID NUL.
		if len(b) < 9 {
			if len(b) >= 2 && b[1] != 1 && b[1] != 2 {
				return preNone, true
			}
			return preNone, false
		}
		if b[1] != 1 && b[1] != 2 || b[2] == 0 && b[3] == 0 {
			return preNone, true
		}
		for _, c := range b[8:] {
			if c == 0 {
				break
			}
			if c < 0x20 || c > 0x7e {
				return preNone, true
			}
		}
		return preSOCKS4, true
	}
	return preNone, !needMore
}

// feed consumes preamble bytes of one direction. It returns the number of
// bytes that belong to the preamble and the step result; on preDone the
// rest of data (data[n:]) is the first byte after the preamble.
func (p *preamble) feed(dir Direction, data []byte) (n int, res int) {
	h := &p.dirs[dir]
	switch p.kind {
	case preXMPP:
		for i, b := range data {
			h.bytes++
			if h.bytes > maxPreambleBytes {
				return i, preFailed
			}
			if r := p.xmppByte(dir, h, b); r != preMore {
				return i + 1, r
			}
		}
		return len(data), preMore
	case preSOCKS5, preSOCKS4:
		for i, b := range data {
			h.bytes++
			if h.bytes > maxPreambleBytes {
				return i, preFailed
			}
			if r := p.socksByte(dir, h, b); r != preMore {
				return i + 1, r
			}
		}
		return len(data), preMore
	}
	for i := 0; i < len(data); {
		rest := data[i:]
		end, nl := len(rest), false
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			end, nl = j+1, true
		}
		if h.bytes+end > maxPreambleBytes {
			return i, preFailed
		}
		h.bytes += end
		seg := rest[:end]
		if nl {
			seg = seg[:end-1]
		}
		k := copy(h.head[h.headN:], seg)
		h.headN += k
		if k < len(seg) {
			h.long = true
		}
		i += end
		if !nl {
			continue
		}
		line := h.head[:h.headN]
		if n := len(line); n > 0 && line[n-1] == '\r' && !h.long {
			line = line[:n-1]
		}
		h.lines++
		r := p.line(dir, h, line)
		h.headN, h.long = 0, false
		if r == preMore && h.lines >= maxPreambleLines {
			r = preFailed
		}
		if r != preMore {
			return i, r
		}
	}
	return len(data), preMore
}

// line handles one complete line (without its end of line; at most
// preambleHeadLen bytes of it).
func (p *preamble) line(dir Direction, h *preambleHalf, line []byte) int {
	switch p.kind {
	case preConnect:
		if h.lines == 1 {
			if dir == ClientToServer {
				// CONNECT authority HTTP/1.x
				if !hasPrefix(line, "CONNECT ") {
					return preFailed
				}
				return preMore
			}
			// HTTP/1.x ddd reason
			if len(line) < 12 || !hasPrefix(line, "HTTP/1.") || line[8] != ' ' ||
				!isDigits(line[9:12]) || len(line) > 12 && line[12] != ' ' {
				return preFailed
			}
			h.ok = line[9] == '2'
			return preMore
		}
		if len(line) > 0 {
			return preMore // a header field
		}
		if dir == ServerToClient && !h.ok {
			return preFailed // refused (407 and friends)
		}
		return preDone
	case preReply3:
		if dir == ClientToServer {
			switch {
			case equalFold(line, "STARTTLS"), equalFold(line, "AUTH TLS"), equalFold(line, "AUTH SSL"),
				equalFold(line, "AUTH TLS-C"):
				p.upgrade = true
				return preDone
			}
			return preMore
		}
		final := len(line) >= 3 && isDigits(line[:3]) && (len(line) == 3 || line[3] == ' ')
		switch {
		case h.ok: // inside a multi-line reply (RFC 959 4.2): any text until "ddd "
			if !final {
				return preMore
			}
			h.ok = false
		case len(line) < 3 || !isDigits(line[:3]) || !final && line[3] != '-':
			return preFailed
		case !final:
			h.ok = true
			return preMore
		}
		if !p.upgrade {
			return preMore
		}
		// The reply to STARTTLS (220) or AUTH TLS (234).
		if c := string(line[:3]); c == "220" || c == "234" {
			return preDone
		}
		return preFailed
	case preIMAP:
		if dir == ClientToServer {
			sp := -1
			for i, c := range line {
				if c == ' ' {
					sp = i
					break
				}
			}
			if sp > 0 && sp <= len(p.tag) && equalFold(line[sp+1:], "STARTTLS") {
				p.tagN = copy(p.tag[:], line[:sp])
				p.upgrade = true
				return preDone
			}
			return preMore
		}
		if !p.upgrade {
			return preMore
		}
		tag := p.tag[:p.tagN]
		if len(line) <= len(tag) || string(line[:len(tag)]) != string(tag) || line[len(tag)] != ' ' {
			return preMore // untagged or continuation
		}
		if r := line[len(tag)+1:]; len(r) >= 2 && equalFold(r[:2], "OK") && (len(r) == 2 || r[2] == ' ') {
			return preDone
		}
		return preFailed
	case prePOP3:
		if dir == ClientToServer {
			if equalFold(line, "STLS") {
				p.upgrade = true
				return preDone
			}
			return preMore
		}
		if !p.upgrade {
			return preMore
		}
		switch {
		case hasPrefix(line, "+OK"):
			return preDone
		case hasPrefix(line, "-ERR"):
			return preFailed
		}
		return preMore
	}
	return preFailed
}

// SOCKS field states.
const (
	sVer = iota
	sNMethods
	sMethods
	sMsg      // client: auth (1) or request (5); server: auth status (1) or reply (5)
	sAuthULen // client RFC 1929
	sAuthUser
	sAuthPLen
	sAuthPass
	sAuthStatus // server RFC 1929
	sCmd        // request CMD / reply REP
	sRsv
	sAtyp
	sAddrLen
	sAddr
	sPort
	s4Cmd
	s4Port
	s4IP
	s4User
	s4Host
	s4Status
	s4Rest
	sMethod // server method selection
)

// socksByte advances one direction of a SOCKS preamble by one byte.
func (p *preamble) socksByte(dir Direction, h *preambleHalf, b byte) int {
	if h.skip > 0 {
		h.skip--
		if h.skip > 0 {
			return preMore
		}
		return p.socksFieldDone(dir, h)
	}
	if p.kind == preSOCKS4 {
		return socks4Byte(dir, h, b)
	}
	switch h.st {
	case sVer:
		if b != 5 {
			return preFailed
		}
		if dir == ClientToServer {
			h.st = sNMethods
		} else {
			h.st = sMethod
		}
	case sNMethods:
		if b == 0 {
			return preFailed
		}
		h.st, h.skip = sMethods, int(b)
	case sMethod:
		if b == 0xff || b != 0 && b != 2 {
			return preFailed // no acceptable method, or one that encrypts (GSSAPI)
		}
		h.st = sMsg
	case sMsg:
		switch {
		case b == 1 && dir == ClientToServer:
			h.st = sAuthULen
		case b == 1:
			h.st = sAuthStatus
		case b == 5:
			h.st = sCmd
		default:
			return preFailed
		}
	case sAuthULen:
		if b == 0 {
			return preFailed
		}
		h.st, h.skip = sAuthUser, int(b)
	case sAuthPLen:
		if b == 0 {
			h.st = sMsg
			break
		}
		h.st, h.skip = sAuthPass, int(b)
	case sAuthStatus:
		if b != 0 {
			return preFailed
		}
		h.st = sMsg
	case sCmd:
		if dir == ClientToServer && b != 1 && b != 2 || dir == ServerToClient && b != 0 {
			return preFailed // UDP ASSOCIATE carries no TCP payload; a failed reply
		}
		h.st = sRsv
	case sRsv:
		if b != 0 {
			return preFailed
		}
		h.st = sAtyp
	case sAtyp:
		switch b {
		case 1:
			h.st, h.skip = sAddr, 4
		case 3:
			h.st = sAddrLen
		case 4:
			h.st, h.skip = sAddr, 16
		default:
			return preFailed
		}
	case sAddrLen:
		if b == 0 {
			return preFailed
		}
		h.st, h.skip = sAddr, int(b)
	default:
		return preFailed
	}
	return preMore
}

// socksFieldDone moves past a variable-length field just skipped.
func (p *preamble) socksFieldDone(dir Direction, h *preambleHalf) int {
	switch h.st {
	case sMethods, sAuthPass:
		h.st = sMsg
	case sAuthUser:
		h.st = sAuthPLen
	case sAddr:
		h.st, h.skip = sPort, 2
	case sPort, s4Port, s4IP, s4Rest:
		if p.kind == preSOCKS4 {
			return socks4FieldDone(h)
		}
		return preDone
	}
	return preMore
}

// socks4Byte reads SOCKS4: client VN CD DSTPORT DSTIP USERID NUL [HOST NUL],
// server VN(0) CD(90 granted) DSTPORT DSTIP.
func socks4Byte(dir Direction, h *preambleHalf, b byte) int {
	switch h.st {
	case sVer:
		if dir == ClientToServer && b != 4 || dir == ServerToClient && b != 0 {
			return preFailed
		}
		if dir == ClientToServer {
			h.st = s4Cmd
		} else {
			h.st = s4Status
		}
	case s4Cmd:
		h.st, h.skip = s4Port, 2
	case s4Status:
		if b != 90 {
			return preFailed
		}
		h.st, h.skip = s4Rest, 6
	case s4IP:
		// reading DSTIP byte by byte: v counts, headN keeps whether 0.0.0.x
		h.v++
		if h.v <= 3 && b != 0 {
			h.ok = true // not a SOCKS4a marker address
		}
		if h.v == 4 {
			if !h.ok && b != 0 {
				h.long = true // SOCKS4a: a host name follows the user id
			}
			h.st, h.v = s4User, 0
		}
	case s4User, s4Host:
		if b == 0 {
			if h.st == s4User && h.long {
				h.st, h.v = s4Host, 0
				return preMore
			}
			return preDone
		}
		h.v++
		if h.v == 255 {
			return preFailed
		}
	}
	return preMore
}

func socks4FieldDone(h *preambleHalf) int {
	switch h.st {
	case s4Port:
		h.st = s4IP
		return preMore
	case s4Rest:
		return preDone
	}
	return preFailed
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// equalFold reports whether b equals the upper-case ASCII s, ignoring case
// and trailing spaces.
func equalFold(b []byte, s string) bool {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// XMPP element names the preamble looks for, and the states of xmppByte:
// h.st is the phase, h.skip the bytes of the current name matched so far,
// h.v the name being matched.
const (
	xSeek  = iota // looking for "<starttls" (client) or "<proceed"/"<failure" (server)
	xOpen         // inside the start tag, until ">"
	xClose        // a start tag that was not self-closing: until the end tag's ">"
)

var xmppNames = [...]string{"<starttls", "<proceed", "<failure"}

// xmppByte follows XMPP up to the end of the client's <starttls/> and the
// server's <proceed/> (RFC 6120 5.4.2); <failure/> refuses. Both forms
// (self-closing, or start and end tag) are accepted.
func (p *preamble) xmppByte(dir Direction, h *preambleHalf, b byte) int {
	switch h.st {
	case xSeek:
		if h.skip > 0 {
			name := xmppNames[h.v]
			if b == name[h.skip] {
				h.skip++
				if h.skip < len(name) {
					return preMore
				}
				h.skip = 0
				if h.v == 2 {
					return preFailed
				}
				h.st = xOpen
				return preMore
			}
			// the server's names share only "<": switch to a sibling
			if dir == ServerToClient && h.skip == 1 {
				for i := 1; i < len(xmppNames); i++ {
					if b == xmppNames[i][1] {
						h.v, h.skip = uint8(i), 2
						return preMore
					}
				}
			}
			h.skip = 0
		}
		if b == '<' {
			h.skip = 1
			h.v = 0
			if dir == ServerToClient {
				h.v = 1
			}
		}
	case xOpen:
		if b == '>' {
			if h.long { // the byte before was '/'
				if dir == ClientToServer {
					p.upgrade = true
				}
				return preDone
			}
			h.st = xClose
		}
		h.long = b == '/'
	case xClose:
		if b == '>' {
			if dir == ClientToServer {
				p.upgrade = true
			}
			return preDone
		}
	}
	return preMore
}
