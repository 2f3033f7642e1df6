package output

import (
	"bytes"
	"encoding/json"
	"testing"
)

// oddStrings are wire strings that exercise the escaper: invalid UTF-8,
// U+2028/U+2029, HTML characters (not escaped), control characters.
var oddStrings = []string{
	"\xff\xfe<&>\"\\\n\r\t\b\f\x00\x1f\x7f",
	"a\u2028b\u2029c\u2027",
	"é\xc3(\xe2\x82\xf0\x9f\x98\x80\xed\xa0\x80",
	"<script>alert(1)</script>&amp;",
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
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		w := bytes.TrimSuffix(want.Bytes(), []byte{'\n'})
		if got := appendJSONString([]byte("x"), s); !bytes.Equal(got[1:], w) || got[0] != 'x' {
			t.Errorf("%q: got %s, encoding/json %s", s, got, w)
		}
		if got := appendJSONString(nil, []byte(s)); !bytes.Equal(got, w) {
			t.Errorf("%q as []byte: got %s, encoding/json %s", s, got, w)
		}
	})
}
