package detect

import (
	"slices"
	"testing"

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
