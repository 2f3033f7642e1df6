package output

import "unicode/utf8"

// JSON strings are escaped exactly as encoding/json escapes them with
// SetEscapeHTML(false), the setting the document encoder has always had:
// ", \ and control characters escaped (\b \f \n \r \t short, the rest
// \u00XX), each byte of invalid UTF-8 written as \ufffd, U+2028 and U+2029
// escaped, and <, > and & left alone. NDJSON bodies and the Elasticsearch
// bulk action lines share this one escaper, so a wire string that is not
// valid UTF-8 is made safe the same way in both.

const hexDigits = "0123456789abcdef"

// jsonSafe[b] is true for the ASCII bytes written as they are (encoding/json's
// safeSet): everything from space up except " and \.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendJSONString appends s as a quoted JSON string.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		// Decode at most utf8.UTFMax bytes: the conversion of a []byte
		// that short stays on the stack.
		c, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
