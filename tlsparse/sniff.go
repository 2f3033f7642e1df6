package tlsparse

// sniffLen is the most bytes Sniff ever needs; with that many it always decides.
const sniffLen = 16

// textPrefixes are the cleartext openings recognised by Sniff.
var textPrefixes = [...]struct {
	s string
	p Protocol
}{
	{"SSH-", ProtocolSSH},
	{"GET ", ProtocolHTTP},
	{"POST ", ProtocolHTTP},
	{"HEAD ", ProtocolHTTP},
	{"PUT ", ProtocolHTTP},
	{"DELETE ", ProtocolHTTP},
	{"OPTIONS ", ProtocolHTTP},
	{"CONNECT ", ProtocolHTTP},
	{"PATCH ", ProtocolHTTP},
	{"TRACE ", ProtocolHTTP},
	{"HTTP/", ProtocolHTTP},
	{"PRI * HTTP/2.0", ProtocolHTTP},
}

// Sniff classifies the first bytes of a stream. ok is false when b is too
// short to decide (it never is once len(b) >= 16). A stream starting with a
// TLS record header (content type 20-24, version 3.x; drafts 0x7f/0x7e/0xfb
// in a handshake record) is ProtocolTLS; an SSLv2-format CLIENT-HELLO or
// SERVER-HELLO is ProtocolSSLv2.
func Sniff(b []byte) (p Protocol, ok bool) {
	if len(b) == 0 {
		return ProtocolUndetermined, false
	}
	maybe := false // some rule still needs more bytes
	switch t := b[0]; {
	case t >= 20 && t <= 24:
		if len(b) < 3 {
			maybe = true
			break
		}
		if b[1] == 3 && b[2] <= 4 || t == 22 && (b[1] == 0x7f || b[1] == 0x7e || b[1] == 0xfb) {
			return ProtocolTLS, true
		}
	case t&0x80 != 0:
		// SSLv2 2-byte record header: length, msg type, then the version:
		// right after the type in a CLIENT-HELLO, after session_id_hit and
		// certificate_type in a SERVER-HELLO.
		vAt := 3
		if len(b) >= 3 && b[2] == 4 {
			vAt = 5
		}
		if len(b) < vAt+2 {
			maybe = true
			break
		}
		n := int(t&0x7f)<<8 | int(b[1])
		v := uint16(b[vAt])<<8 | uint16(b[vAt+1])
		if (b[2] == 1 || b[2] == 4) && n >= 9 && (v == 0x0002 || v>>8 == 3 && v&0xff <= 4) {
			return ProtocolSSLv2, true
		}
	}
	for _, tp := range textPrefixes {
		n := min(len(b), len(tp.s))
		if string(b[:n]) != tp.s[:n] {
			continue
		}
		if n == len(tp.s) {
			return tp.p, true
		}
		maybe = true
	}
	// OpenVPN over TCP: 2-byte packet length, then opcode (high 5 bits)
	// P_CONTROL_HARD_RESET_CLIENT_V2 (7) or _V3 (10) and key id 0.
	if len(b) < 3 {
		if int(b[0])<<8 <= 1600 {
			maybe = true
		}
	} else if n := int(b[0])<<8 | int(b[1]); n >= 14 && n <= 1600 && (b[2]&0xf8 == 7<<3 || b[2]&0xf8 == 10<<3) {
		return ProtocolOpenVPN, true
	}
	if maybe && len(b) < sniffLen {
		return ProtocolUndetermined, false
	}
	return ProtocolUnknown, true
}
