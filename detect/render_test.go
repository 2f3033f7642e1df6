package detect

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/tlsentry/tlsentry/session"
)

// TestRenderVariableParts: a ${placeholder} that only names a variable is
// read directly, and gives what running its CEL program gives, for every
// built-in rule's message on a few kinds of sessions.
func TestRenderVariableParts(t *testing.T) {
	e, err := New(Config{Roots: getPKI(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	sessions := []*session.Session{
		testSession(t),
		testSession(t, func(s *session.Session) {
			s.TLS.ServerHello.SupportedVersion = 0x0304
			s.Certificates, s.TLS.ServerCertificates = nil, nil
		}),
		testSession(t, func(s *session.Session) { s.TLS.ServerHello.LegacyVersion = 0x0301; s.TLS.ClientHello.ServerName = "" }),
		{},
	}
	direct := 0
	for _, s := range sessions {
		s.Finish()
		for _, r := range e.rules {
			a := e.pool.Get().(*activation)
			a.reset(e, s)
			fast := r.render(a)
			msg := r.msg
			r.msg = slices.Clone(msg) // every part through CEL
			for i := range r.msg {
				if r.msg[i].variable > 0 {
					direct++
				}
				r.msg[i].variable = 0
			}
			a.reset(e, s)
			want := r.render(a)
			r.msg = msg
			if fast != want {
				t.Errorf("rule %s: message %q, CEL gives %q", r.ID, fast, want)
			}
			*a = activation{}
			e.pool.Put(a)
		}
	}
	if direct == 0 {
		t.Error("no message placeholder is read directly")
	}
}

// oldValueString is the conversion render used before appendValue, kept
// to check that messages stay byte-identical.
func oldValueString(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case traits.Lister:
		n := int(x.Size().(types.Int))
		parts := make([]string, 0, n)
		for i := 0; i < n; i++ {
			parts = append(parts, oldValueString(x.Get(types.Int(i))))
		}
		return strings.Join(parts, ", ")
	}
	if s, ok := v.ConvertToType(types.StringType).(types.String); ok {
		return string(s)
	}
	return fmt.Sprint(v.Value())
}

// TestAppendValue: appendValue writes what the old conversion wrote, for
// each kind of value a part can have.
func TestAppendValue(t *testing.T) {
	a := types.DefaultTypeAdapter
	cases := []struct {
		name string
		v    ref.Val
		want string
	}{
		{"string", types.String("a.test"), "a.test"},
		{"empty string", types.String(""), ""},
		{"int", types.Int(-443), "-443"},
		{"max int", types.Int(math.MaxInt64), "9223372036854775807"},
		{"uint", types.Uint(7), "7"},
		{"bool", types.True, "true"},
		{"double", types.Double(1.5), "1.5"},
		{"timestamp", types.Timestamp{Time: t0}, t0.Format(time.RFC3339Nano)},
		{"names", &goStrings{types.NewStringList(a, []string{"a.test", "b.test"}), []string{"a.test", "b.test"}}, "a.test, b.test"},
		{"no names", emptyStrings, ""},
		{"ints", types.NewDynamicList(a, []int64{1, 2, 3}), "1, 2, 3"},
		{"strings", types.NewStringList(a, []string{"x", "", "y"}), "x, , y"},
		{"nested", types.NewDynamicList(a, []ref.Val{types.NewDynamicList(a, []int64{1}), types.String("z")}), "1, z"},
		{"null", types.NullValue, oldValueString(types.NullValue)},
		{"map", types.NewStringStringMap(a, map[string]string{"k": "v"}), oldValueString(types.NewStringStringMap(a, map[string]string{"k": "v"}))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if old := oldValueString(c.v); old != c.want {
				t.Fatalf("old conversion %q, want %q", old, c.want)
			}
			if got := string(appendValue([]byte("prefix "), c.v)); got != "prefix "+c.want {
				t.Errorf("appendValue %q, want %q", got, "prefix "+c.want)
			}
		})
	}
}

// TestRenderBuffer: render reuses the activation's buffer across messages,
// and a pooled activation does not keep one grown past maxKeptMsgBuf.
func TestRenderBuffer(t *testing.T) {
	e, err := New(Config{Roots: getPKI(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	var r *compiledRule
	for _, x := range e.rules {
		if x.ID == "cert.name_mismatch" {
			r = x
		}
	}
	small := testSession(t, func(s *session.Session) { s.TLS.ClientHello.ServerName = "other.example.test" })
	big := bigNamesSession(t, certNamesMax, "x.test")
	var a activation
	a.reset(e, small)
	m1 := r.render(&a)
	buf := a.msgBuf
	a.reset(e, small)
	if m2 := r.render(&a); m2 != m1 || &a.msgBuf[0] != &buf[0] {
		t.Errorf("second render: %q (buffer reused: %v), first %q", m2, &a.msgBuf[0] == &buf[0], m1)
	}
	a.reset(e, big)
	if m := r.render(&a); !strings.HasSuffix(m, "h37998.test, x.test, not www.example.test") || m == m1 {
		t.Errorf("big: %.80q...", m)
	}
	if cap(a.msgBuf) <= maxKeptMsgBuf {
		t.Fatalf("big message in a buffer of %d", cap(a.msgBuf))
	}
	a.reset(e, small)
	if a.msgBuf != nil {
		t.Errorf("reset kept a buffer of %d bytes", cap(a.msgBuf))
	}
	if m := r.render(&a); m != m1 {
		t.Errorf("after big: %q, want %q", m, m1)
	}
}
