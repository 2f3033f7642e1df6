package detect

import (
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/tlsentry/tlsentry/session"
)

// TestBoxedNames: the shared boxed values of the protocol and transport
// variables are the names the session gives, for every value.
func TestBoxedNames(t *testing.T) {
	get := func(name string, s *session.Session) string {
		i, ok := lookupVariable(name)
		if !ok {
			t.Fatalf("no variable %s", name)
		}
		var a activation
		a.reset(nil, s)
		return string(a.value(i).(types.String))
	}
	for i := range 256 {
		s := &session.Session{Protocol: session.Protocol(i), Transport: session.Transport(i)}
		for _, c := range []struct{ variable, want string }{
			{"network.protocol", s.Protocol.String()},
			{"tlsentry.network.protocol_name", s.Protocol.Display()},
			{"network.transport", s.Transport.String()},
		} {
			if got := get(c.variable, s); got != c.want {
				t.Errorf("%s of %d = %q, want %q", c.variable, i, got, c.want)
			}
		}
	}
}

// boxSink keeps TestBoxedValues' results on the heap, as the activation does.
var boxSink ref.Val

// boxedName and smallIntVal give the value str and types.Int give,
// without allocating for the names and ints they keep boxed (inputs are
// made at run time: a constant would be boxed statically).
func TestBoxedValues(t *testing.T) {
	for _, c := range []struct {
		s       string
		noAlloc bool
	}{
		{ValidationUntrusted, true}, {"ECDSA", true}, {"SHA256-RSA", true}, {"", true},
		{"1.2.840.10045.4.3.9", false},
	} {
		s := strings.Clone(c.s)
		if got := boxedName(s); got != types.String(c.s) {
			t.Errorf("boxedName(%q) = %#v", c.s, got)
		}
		if n := testing.AllocsPerRun(10, func() { boxSink = boxedName(s) }); c.noAlloc && n != 0 {
			t.Errorf("boxedName(%q): %.0f allocations, want none", c.s, n)
		}
	}
	for _, c := range []struct {
		n       int
		noAlloc bool
	}{{2048, true}, {65535, true}, {0, true}, {65536, false}, {-1, false}} {
		n := c.n
		if got := smallIntVal(n); got != types.Int(c.n) {
			t.Errorf("smallIntVal(%d) = %#v", c.n, got)
		}
		if a := testing.AllocsPerRun(10, func() { boxSink = smallIntVal(n) }); c.noAlloc && a != 0 {
			t.Errorf("smallIntVal(%d): %.0f allocations, want none", c.n, a)
		}
	}
}
