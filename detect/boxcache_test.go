package detect

import (
	"testing"

	"cel.dev/cel-go/common/types"

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
