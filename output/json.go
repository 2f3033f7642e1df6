package output

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The JSON writer behind Encode: appends to a byte slice, no reflection.
//
// JSON strings are escaped exactly as encoding/json escapes them with
// SetEscapeHTML(false), the setting the reflection encoder had, so
// documents are the same bytes: ", \ and control characters escaped (\b
// \f \n \r \t short, the rest \u00XX), each byte of invalid UTF-8 written
// as \ufffd, U+2028 and U+2029 escaped, and <, > and & left alone. NDJSON
// bodies and the Elasticsearch bulk action lines share this one escaper, so
// a wire string that is not valid UTF-8 is made safe the same way in both.

const hexDigits = "0123456789abcdef"

// jsonSafe[b] is true for the bytes written as they are (encoding/json's
// safeSet): the ASCII ones from space up except " and \.
var jsonSafe = func() (t [256]bool) {
	for b := ' '; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

const (
	ones8 = 0x0101010101010101
	high8 = 0x8080808080808080
)

// load8 is the eight bytes of s at i, little-endian. (Slicing first lets
// the compiler check the bounds once and load one word.)
func load8[S string | []byte](s S, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plain8 reports whether the eight bytes of x are all jsonSafe: ASCII, not
// a control character, not " or \. A subtraction sets a byte's high bit
// where the byte is below its operand (below space; after the xor, equal to
// " or \), and borrows from the byte above only then, so the lowest byte
// that is not safe is always caught (those above it may be judged wrongly,
// but the answer is no anyway). A byte with its high bit keeps it through
// one of the two xors at least (only 0xa2 loses it in the first, 0xdc in
// the second).
func plain8(x uint64) bool {
	return ((x-0x20*ones8)|((x^'"'*ones8)-ones8)|((x^'\\'*ones8)-ones8))&high8 == 0
}

// appendJSONString appends s as a quoted JSON string.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	n := plainLen(s)
	dst = append(dst, '"')
	dst = append(dst, s[:n]...)
	if n < len(s) {
		dst = appendEscaped(dst, s, n)
	}
	return append(dst, '"')
}

// plainLen returns the length of the prefix of s that needs no escaping:
// all of s for most wire strings (hashes, names, JA3 strings).
func plainLen[S string | []byte](s S) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !plain8(load8(s, i)) {
			break
		}
	}
	if i+8 > len(s) && len(s) >= 8 && plain8(load8(s, len(s)-8)) {
		return len(s) // the last eight bytes, s[i:] among them, are safe
	}
	for i < len(s) && jsonSafe[s[i]] {
		i++
	}
	return i
}

// appendEscaped appends s[i:] escaped, without quotes.
func appendEscaped[S string | []byte](dst []byte, s S, i int) []byte {
	start := i
	for i < len(s) {
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
	return append(dst, s[start:]...)
}

// jsonWriter appends one JSON document. Keys are Go constants that need no
// escaping. A comma goes before a key or an array element unless it is the
// first in its object or array, which is what the last byte written says.
// Methods named ...Omit leave out what encoding/json's omitempty would.
//
// A jsonWriter is a value, used as w = w.str(k, v) like append: the buffer
// then lives in the caller's registers and locals, and growing it never
// stores a pointer through a pointer (no GC write barriers).
type jsonWriter struct {
	b    []byte
	full bool // output.detail: full; lean leaves out the fields schema marks Full
	// triage: a lean alert's copy of its session's fields, only those
	// schema marks Triage (lean.go).
	triage bool
}

func (w jsonWriter) sep() jsonWriter {
	if n := len(w.b); n > 0 && w.b[n-1] != '{' && w.b[n-1] != '[' {
		w.b = append(w.b, ',')
	}
	return w
}

func (w jsonWriter) key(k string) jsonWriter {
	w = w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	return w
}

// open starts the object k. To leave the object out when nothing is
// written into it, take mark := len(w.b) first and end it with closeOmit.
func (w jsonWriter) open(k string) jsonWriter { return w.openWith(k, '{') }

func (w jsonWriter) close() jsonWriter {
	w.b = append(w.b, '}')
	return w
}

// closeOmit ends the object opened at mark, removing it if nothing was
// written into it (a struct under omitzero whose fields are all omitted).
func (w jsonWriter) closeOmit(mark int) jsonWriter { return w.closeOrDrop(mark, '{', '}') }

// openArray, elem and closeArray write a list, left out when it has no
// elements (omitempty on a slice) if mark is len(w.b) before openArray.
func (w jsonWriter) openArray(k string) jsonWriter { return w.openWith(k, '[') }

func (w jsonWriter) closeArray(mark int) jsonWriter { return w.closeOrDrop(mark, '[', ']') }

func (w jsonWriter) openWith(k string, open byte) jsonWriter {
	w = w.key(k)
	w.b = append(w.b, open)
	return w
}

// closeOrDrop appends close, or cuts the buffer back to mark if the last
// byte is still the open bracket.
func (w jsonWriter) closeOrDrop(mark int, open, close byte) jsonWriter {
	if w.b[len(w.b)-1] == open {
		w.b = w.b[:mark]
	} else {
		w.b = append(w.b, close)
	}
	return w
}

// elem starts an array element (an object or a value appended after it).
func (w jsonWriter) elem() jsonWriter { return w.sep() }

func (w jsonWriter) str(k, v string) jsonWriter {
	w = w.key(k)
	w.b = appendJSONString(w.b, v)
	return w
}

func (w jsonWriter) strOmit(k, v string) jsonWriter {
	if v == "" {
		return w
	}
	return w.str(k, v)
}

func (w jsonWriter) strs(k string, vs []string) jsonWriter {
	mark := len(w.b)
	w = w.openArray(k)
	for _, v := range vs {
		w = w.elem()
		w.b = appendJSONString(w.b, v)
	}
	return w.closeArray(mark)
}

func (w jsonWriter) int(k string, v int64) jsonWriter {
	w = w.key(k)
	if v >= 0 {
		w.b = appendUint(w.b, uint64(v))
	} else {
		w.b = strconv.AppendInt(w.b, v, 10)
	}
	return w
}

func (w jsonWriter) intOmit(k string, v int) jsonWriter {
	if v == 0 {
		return w
	}
	return w.int(k, int64(v))
}

func (w jsonWriter) uint(k string, v uint64) jsonWriter {
	w = w.key(k)
	w.b = appendUint(w.b, v)
	return w
}

// appendUint is strconv.AppendUint(dst, v, 10), with the numbers below
// 10000 (ports, counts) written from digit pairs.
func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 10:
		return append(dst, byte('0'+v))
	case v < 100:
		return append(dst, digitPairs[2*v], digitPairs[2*v+1])
	case v < 1000:
		lo := v % 100
		return append(dst, byte('0'+v/100), digitPairs[2*lo], digitPairs[2*lo+1])
	case v < 10000:
		hi, lo := v/100, v%100
		return append(dst, digitPairs[2*hi], digitPairs[2*hi+1], digitPairs[2*lo], digitPairs[2*lo+1])
	}
	return strconv.AppendUint(dst, v, 10)
}

func (w jsonWriter) bool(k string, v bool) jsonWriter {
	w = w.key(k)
	w.b = strconv.AppendBool(w.b, v)
	return w
}

// timeOmit writes t in timeLayout, UTC; the zero time is left out. The
// layout's output never needs escaping.
func (w jsonWriter) timeOmit(k string, t time.Time) jsonWriter {
	if t.IsZero() {
		return w
	}
	w = w.key(k)
	w.b = append(w.b, '"')
	w.b = appendTime(w.b, t)
	w.b = append(w.b, '"')
	return w
}

// appendTime appends t.UTC().AppendFormat(dst, timeLayout) without parsing
// the layout each time: the fraction is truncated to microseconds, as
// Format does. Years Format writes otherwise than as four digits go to it.
func appendTime(dst []byte, t time.Time) []byte {
	var year, month, day, hour, minute, sec int
	if u := t.Unix(); u >= 0 && u < unix10000 { // capture times: no calendar tables
		year, month, day = civilDate(int(u / 86400))
		s := int(u % 86400)
		hour, minute, sec = s/3600, s/60%60, s%60
	} else {
		t = t.UTC()
		var m time.Month
		if year, m, day = t.Date(); year < 0 || year > 9999 {
			return t.AppendFormat(dst, timeLayout)
		}
		month = int(m)
		hour, minute, sec = t.Clock()
	}
	var b [len("2006-01-02T15:04:05.000000Z")]byte
	us := t.Nanosecond() / 1000
	put2(b[0:], year/100)
	put2(b[2:], year%100)
	b[4] = '-'
	put2(b[5:], month)
	b[7] = '-'
	put2(b[8:], day)
	b[10] = 'T'
	put2(b[11:], hour)
	b[13] = ':'
	put2(b[14:], minute)
	b[16] = ':'
	put2(b[17:], sec)
	b[19] = '.'
	put2(b[20:], us/10000)
	put2(b[22:], us/100%100)
	put2(b[24:], us%100)
	b[26] = 'Z'
	return append(dst, b[:]...)
}

// unix10000 is the Unix time of 10000-01-01T00:00:00Z.
const unix10000 = 253402300800

// civilDate returns the date (proleptic Gregorian) days >= 0 days after
// 1970-01-01: Howard Hinnant's civil_from_days.
func civilDate(days int) (year, month, day int) {
	z := days + 719468 // days since 0000-03-01
	era, doe := z/146097, z%146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, from March
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	year = era*400 + yoe
	if month > 12 {
		month -= 12
		year++
	}
	return year, month, day
}

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" +
	"60616263646566676869" + "70717273747576777879" + "80818283848586878889" + "90919293949596979899"

// put2 writes v, 0 <= v < 100, as two digits at b[0:2].
func put2(b []byte, v int) {
	b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
}

// member copies a member ("k":v) written elsewhere, without the comma
// that may precede it there; nothing if m is empty.
func (w jsonWriter) member(m []byte) jsonWriter {
	if len(m) > 0 && m[0] == ',' {
		m = m[1:]
	}
	if len(m) == 0 {
		return w
	}
	w = w.sep()
	w.b = append(w.b, m...)
	return w
}
