package detect

import (
	"fmt"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Every built-in condition is compiled to Go (no interpreter fallback).
func TestBuiltinRulesCompiled(t *testing.T) {
	e := testEngine(t)
	for _, r := range e.rules {
		if r.fn == nil {
			t.Errorf("rule %s: condition not compiled", r.ID)
		}
		for _, p := range r.msg {
			if p.prg != nil && p.fn == nil && p.variable == 0 {
				t.Logf("rule %s: a message part runs the interpreter", r.ID)
			}
		}
	}
}

// extraConds cover each node kind the compiler knows and its error cases.
var extraConds = []string{
	`tlsentry.client.hello && !tlsentry.server.hello`,
	`tlsentry.server.x509.present || tls.client.server_name == "www.example.test"`,
	`(1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1) && false`,
	`false && (1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1)`,
	`true || (1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1)`,
	`(1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1) || true`,
	`(1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1) || false`,
	`tlsentry.client.hello && (1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1)`,
	`!(1 / (tlsentry.server.dh_prime_bits - tlsentry.server.dh_prime_bits) == 1)`,
	`(tlsentry.client.hello_bytes * 9223372036854775807 > 0) || tlsentry.client.hello`,
	`source.bytes + destination.bytes - 1 > 0 && source.port * 2 >= 2048`,
	`tls.cipher != "" && tlsentry.cipher.enc in ["AES-GCM", "RC4"]`,
	`destination.port in [443, 8443] && 3u > 2u && 1.5 < tlsentry.server.x509.validity_days`,
	`(tlsentry.server.hello ? tls.version : "none") == "TLS 1.2"`,
	`tls.client.server_name.startsWith("www") || tls.client.server_name.endsWith(".test") || tls.client.server_name.contains("ample")`,
	`size(tls.client.server_name) > 3 && tlsentry.server.x509.names.size() >= 1 && size(tlsentry.anomalies) == 0`,
	`name_matches(tls.client.server_name, tlsentry.server.x509.names)`,
	`tls.server.x509.not_before >= timestamp("2020-09-01T00:00:00Z") && tls.server.x509.not_after < timestamp("2100-01-01T00:00:00Z")`,
	`tls.version_protocol.upperAscii() == "TLS"`,
	`int(tlsentry.server.x509.validity_days) > 10 && string(destination.port) == "443"`,
	`"midstream" in tlsentry.anomalies || 5 in tlsentry.client.cipher_ids`,
	`tlsentry.server.dh_prime_bits < 2048.0 || tlsentry.version.id > 1.5`,
}

// A comprehension is not compiled: the condition keeps the CEL program.
func TestCompileFallback(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{`tlsentry.client.cipher_ids.exists(x, x == 5)`, `tlsentry.client.alpn[0] == "h2"`} {
		r, err := compileRule(env, "t", "t", &ruleSpec{ID: "f", Category: "c", Severity: "low", Condition: srcText{Value: c, Set: true}})
		if err != nil {
			t.Fatal(err)
		}
		if r.fn != nil {
			t.Errorf("%s: compiled, want the interpreter", c)
		}
	}
}

// The compiled conditions and message parts give what CEL gives (value,
// or an error with the same message) on every built-in rule and the extra
// conditions, over varied and workload sessions.
func TestCompiledAgreesWithCEL(t *testing.T) {
	e := testEngine(t)
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	rs := append([]*compiledRule(nil), e.rules...)
	for i, c := range extraConds {
		r, err := compileRule(env, "x", "x", &ruleSpec{ID: fmt.Sprintf("x.%d", i), Category: "c", Severity: "low",
			Condition: srcText{Value: c, Set: true}, Message: srcText{Value: "${" + c + "}", Set: true}})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if r.fn == nil {
			t.Errorf("%s: not compiled", c)
		}
		rs = append(rs, r)
	}
	ss := []*session.Session{
		testSession(t),
		testSession(t, func(s *session.Session) { s.TLS.ClientHello.ServerName = "" }),
		testSession(t, func(s *session.Session) { s.TLS.ServerHello.CipherSuite = 0x000a }),
		testSession(t, func(s *session.Session) {
			s.TLS.ServerHello.CipherSuite = 0x009e
			s.TLS.KeyExchange = &tlsparse.ServerKeyExchange{DHPrimeBits: 1024}
		}),
		testSession(t, func(s *session.Session) { s.TLS.ServerHello.LegacyVersion = 0x0301 }),
		testSession(t, func(s *session.Session) { s.Protocol, s.TLS, s.Certificates = session.SSH, nil, nil }),
		testSession(t, func(s *session.Session) { s.Anomalies.Add(tlsparse.AnomalyTCPOverlap) }),
		testSession(t, func(s *session.Session) { s.TLS.Anomalies.Add(tlsparse.AnomalyMidstream) }),
		testSession(t, func(s *session.Session) { s.TLS.ServerHello = nil }),
		{},
	}
	ss = append(ss, handshakeWorkload(t, 300, time.Hour)...)
	for si, s := range ss {
		for _, r := range rs {
			var a, b activation
			a.reset(e, s)
			b.reset(e, s)
			want, _, werr := r.prg.Eval(&a)
			got := r.fn(&b)
			if ge, ok := got.(*types.Err); ok || werr != nil {
				if !ok || werr == nil || ge.Error() != werr.Error() {
					t.Errorf("session %d, rule %s: compiled %v, CEL %v (%v)", si, r.ID, got, want, werr)
				}
			} else if got.Equal(want) != types.True {
				t.Errorf("session %d, rule %s: compiled %v, CEL %v", si, r.ID, got, want)
			}
			a.reset(e, s)
			b.reset(e, s)
			if m1, m2 := renderCEL(r, &a), r.render(&b); m1 != m2 {
				t.Errorf("session %d, rule %s: message %q, CEL %q", si, r.ID, m2, m1)
			}
		}
	}
}

// renderCEL is render with the interpreter only.
func renderCEL(r *compiledRule, a *activation) string {
	c := &compiledRule{}
	for _, p := range r.msg {
		p.fn = nil
		c.msg = append(c.msg, p)
	}
	return c.render(a)
}
