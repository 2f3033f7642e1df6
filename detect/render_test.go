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
			slow := *r
			slow.msg = slices.Clone(r.msg)
			for i := range slow.msg {
				if slow.msg[i].variable > 0 {
					direct++
				}
				slow.msg[i].variable = 0
			}
			a := e.pool.Get().(*activation)
			a.reset(e, s)
			fast := r.render(a)
			a.reset(e, s)
			if want := slow.render(a); fast != want {
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
