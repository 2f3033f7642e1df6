package output

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oddStrings are wire strings that exercise the escaper: invalid UTF-8,
// U+2028/U+2029, HTML characters (not escaped), control characters.
var oddStrings = []string{
	"\xff\xfe<&>\"\\\n\r\t\b\f\x00\x1f\x7f",
	"a\u2028b\u2029c\u2027",
	"é\xc3(\xe2\x82\xf0\x9f\x98\x80\xed\xa0\x80",
	"<script>alert(1)</script>&amp;",
}

// stdJSONString is s as encoding/json writes it with SetEscapeHTML(false),
// the oracle of appendJSONString.
func stdJSONString(t *testing.T, s string) []byte {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(want.Bytes(), []byte{'\n'})
}

// FuzzJSONString: appendJSONString writes what encoding/json writes with
// SetEscapeHTML(false), for any bytes, as a string and as a []byte.
func FuzzJSONString(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s)
	}
	f.Add("")
	f.Add("plain ascii")
	f.Fuzz(func(t *testing.T, s string) {
		w := stdJSONString(t, s)
		if got := appendJSONString([]byte("x"), s); !bytes.Equal(got[1:], w) || got[0] != 'x' {
			t.Errorf("%q: got %s, encoding/json %s", s, got, w)
		}
		if got := appendJSONString(nil, []byte(s)); !bytes.Equal(got, w) {
			t.Errorf("%q as []byte: got %s, encoding/json %s", s, got, w)
		}
	})
}

// FuzzAppendTime: appendTime writes what AppendFormat writes with
// timeLayout, for any instant and zone.
func FuzzAppendTime(f *testing.F) {
	for _, t := range []time.Time{
		{},
		time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 1000, time.UTC),
	} {
		f.Add(t.Unix(), int64(t.Nanosecond()), 0)
	}
	f.Add(int64(1714557600), int64(999), 3600*5+1800)
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", offset%(86400*2)))
		want := tm.UTC().AppendFormat(nil, timeLayout)
		if got := appendTime(nil, tm); !bytes.Equal(got, want) {
			t.Errorf("%v: %s, AppendFormat %s", tm, got, want)
		}
	})
}

// BenchmarkAppendJSONString escapes the kinds of string documents carry.
func BenchmarkAppendJSONString(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"hash", "8daaf6152771e5627efa2ab1a9e5f3b2"},
		{"ja3", "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-21,29-23-24,0"},
		{"dn", "CN=www.example.com,O=Example Inc.,L=San Francisco,ST=California,C=US"},
		{"short", "h2"},
		{"escapes", "a\"b\\c\x01d\xffé"},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				buf = appendJSONString(buf[:0], c.s)
			}
		})
	}
}

// TestJSONStringEachPosition puts each kind of byte that needs escaping
// (or is on the edge of it) at every position of a 24-byte string, so that
// the eight-byte fast path meets it at every offset of a word.
func TestJSONStringEachPosition(t *testing.T) {
	for _, special := range []string{"\"", "\\", "\x00", "\x1f", " ", "\x7f", "\x80", "\xff", "é", "\u2028", "<"} {
		for pos := 0; pos < 24; pos++ {
			s := strings.Repeat("a", pos) + special + strings.Repeat("b", 24-pos)
			w := stdJSONString(t, s)
			if got := appendJSONString(nil, s); !bytes.Equal(got, w) {
				t.Errorf("%q at %d: got %s, encoding/json %s", special, pos, got, w)
			}
		}
	}
}

// TestPlain8 checks plain8 against jsonSafe for every byte at every
// position of a word, among bytes that are safe and bytes that are not
// (above and below it: a borrow must not hide the byte).
func TestPlain8(t *testing.T) {
	for _, fill := range []byte{'a', ' ', '~', 0, 0x1f, '"', '\\', 0x7f, 0x80, 0xff} {
		for b := 0; b < 256; b++ {
			for pos := 0; pos < 8; pos++ {
				var w [8]byte
				for i := range w {
					w[i] = 'a'
				}
				w[pos] = byte(b)
				for i := pos + 1; i < 8; i += 2 {
					w[i] = fill
				}
				want := true
				for _, c := range w {
					want = want && jsonSafe[c]
				}
				if got := plain8(load8(string(w[:]), 0)); got != want {
					t.Errorf("%q: plain8 %v, want %v", w, got, want)
				}
			}
		}
	}
}

// TestCivilDate: civilDate agrees with the time package on every day from
// 1970 to 9999.
func TestCivilDate(t *testing.T) {
	for d := 0; d < unix10000/86400; d++ {
		y, m, dd := time.Unix(int64(d)*86400, 0).UTC().Date()
		if gy, gm, gd := civilDate(d); gy != y || gm != int(m) || gd != dd {
			t.Fatalf("day %d: %d-%d-%d, want %d-%d-%d", d, gy, gm, gd, y, m, dd)
		}
	}
}

func TestAppendUint(t *testing.T) {
	vs := []uint64{1<<64 - 1, 1 << 32, 65535, 123456}
	for v := uint64(0); v <= 10001; v++ {
		vs = append(vs, v)
	}
	for _, v := range vs {
		if got, want := string(appendUint([]byte("x"), v)), "x"+strconv.FormatUint(v, 10); got != want {
			t.Fatalf("appendUint(%d) = %q, want %q", v, got, want)
		}
	}
}
