package detect

import (
	"fmt"
	"testing"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Gates only skip what CEL would have found false: every rule gives the same
// answer with and without its gates, over sessions that exercise each gate
// kind both ways.
func TestGatesAgreeWithCEL(t *testing.T) {
	e := testEngine(t)
	conds := []string{
		`tls.client.server_name == "www.example.test" && tlsentry.client.hello`,
		`tls.client.server_name != "" && tlsentry.version.id >= 0x0303`,
		`tlsentry.cipher.enc in ["RC4", "3DES"] || tls.client.server_name == ""`,
		`tlsentry.cipher.enc in ["AES-GCM", "3DES"] && tlsentry.server.dh_prime_bits < 2048`,
		`tlsentry.server.dh_prime_bits > 0 && tlsentry.server.dh_prime_bits <= 1024`,
		`source.port > 1024 && destination.port == 443`,
		`"tcp_overlap" in tlsentry.anomalies`,
		`"midstream" in tlsentry.anomalies && source.port > 1024`,
		`!tlsentry.server.x509.present && tlsentry.version.id in [0, 0x0301]`,
		`tlsentry.version.id in [0x0301, 0x0302] && !tlsentry.client.sslv2_hello`,
		`tlsentry.version.id in [0x0301, 771.0] && source.port > 0`, // a mixed list: CEL's
	}
	var rs []*compiledRule
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range conds {
		sp := &ruleSpec{ID: fmt.Sprintf("g.%d", i), Category: "c", Severity: "low", Condition: srcText{Value: c, Set: true}}
		r, err := compileRule(env, "gates", "gates", sp)
		if err != nil {
			t.Fatal(err)
		}
		if wantGates := i != 2; (len(r.gates) > 0) != wantGates { // a top-level || has none
			t.Errorf("%s: %d gates", c, len(r.gates))
		}
		rs = append(rs, r)
	}
	ops := map[gateOp]int{}
	for _, r := range rs {
		for _, g := range r.gates {
			ops[g.op]++
		}
	}
	for op, want := range map[gateOp]int{gateAnomaly: 2, gateFalse: 2, gateInInts: 2, gateIn: 1, gateGt: 4} {
		if ops[op] != want {
			t.Errorf("%d gates of op %d among the test conditions, want %d", ops[op], op, want)
		}
	}
	for _, r := range e.rules {
		rs = append(rs, r)
	}
	sessions := variedSessions(t)
	for si, s := range sessions {
		for _, r := range rs {
			var a activation
			a.reset(e, s)
			out, _, err := r.prg.Eval(&a)
			want := err == nil && out.Value() == true
			a.reset(e, s)
			got := true
			for i := range r.gates {
				if !r.gates[i].pass(&a) {
					got = false
				}
			}
			if !got && want {
				t.Errorf("session %d, rule %s: a gate failed but the condition holds", si, r.ID)
			}
		}
	}
}

// variedSessions are the test session and variants that make the built-in
// rules' conditions go either way: no SNI, weak and DHE ciphers, TLS 1.0,
// SSH, TCP and TLS anomalies.
func variedSessions(t *testing.T) []*session.Session {
	return []*session.Session{
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
	}
}
