package detect

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Gates only skip what CEL would have found false: every rule gives the same
// answer with and without its gates, over sessions that exercise each gate
// kind both ways.
func TestGatesAgreeWithCEL(t *testing.T) {
	e := testEngine(t)
	conds := []struct {
		cond  string
		gates int  // top-level gates
		both  bool // the gates pass for some of the sessions and fail for others
	}{
		{`tls.client.server_name == "www.example.test" && tlsentry.client.hello`, 2, false},
		{`tls.client.server_name != "" && tlsentry.version.id >= 0x0303`, 2, false},
		{`tlsentry.cipher.enc in ["RC4", "3DES"] || tls.client.server_name == ""`, 1, true}, // gateAny
		{`tlsentry.cipher.enc in ["AES-GCM", "3DES"] && tlsentry.server.dh_prime_bits < 2048`, 2, false},
		{`tlsentry.server.dh_prime_bits > 0 && tlsentry.server.dh_prime_bits <= 1024`, 2, true},
		{`source.port > 1024 && destination.port == 443`, 2, false},
		{`"tcp_overlap" in tlsentry.anomalies`, 1, false},
		{`"midstream" in tlsentry.anomalies && source.port > 1024`, 2, false},
		{`!tlsentry.server.x509.present && tlsentry.version.id in [0, 0x0301]`, 2, false},
		{`tlsentry.version.id in [0x0301, 0x0302] && !tlsentry.client.sslv2_hello`, 2, false},
		{`tlsentry.version.id in [0x0301, 771.0] && source.port > 0`, 1, false}, // a mixed list: CEL's
		{`tls.server.x509.signature_algorithm.startsWith("ECDSA") && tls.client.server_name.endsWith(".test")`, 2, true},
		{`tls.server.x509.signature_algorithm.contains("SHA256") || tlsentry.cipher.export`, 1, true},
		{`tlsentry.server.x509.validity_days >= 30 && tlsentry.server.x509.validity_days < 400.5`, 2, true},
		{`tlsentry.server.x509.validity_days > 398 || tls.client.server_name.startsWith("www.")`, 1, true},
		{`tlsentry.server.x509.present && !name_matches(tls.client.server_name, tlsentry.server.x509.names)`, 2, true},
		{`name_matches(tls.client.server_name, tlsentry.server.x509.names) && source.port > 1024`, 2, true},
		{`(tlsentry.server.dh_prime_bits > 0 && tls.cipher.size() > 3) || tlsentry.cipher.export`, 1, true},
		{`tls.client.server_name.startsWith("www.") || tls.cipher.size() > 3`, 0, false},       // an operand without a gate
		{`source.port > 0 && tlsentry.server.x509.validity_days < 9007199254740993`, 1, false}, // not exact as a double
		{`tlsentry.server.x509.validity_days < 0.0 || tlsentry.server.x509.validity_days > 1000.0`, 1, true},
	}
	var rs []*compiledRule
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range conds {
		sp := &ruleSpec{ID: fmt.Sprintf("g.%d", i), Category: "c", Severity: "low", Condition: srcText{Value: c.cond, Set: true}}
		r, err := compileRule(env, "gates", "gates", sp)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.gates) != c.gates {
			t.Errorf("%s: %d gates, want %d", c.cond, len(r.gates), c.gates)
		}
		rs = append(rs, r)
	}
	ops := map[gateOp]int{}
	var count func(gs []gate)
	count = func(gs []gate) {
		for _, g := range gs {
			ops[g.op]++
			for _, alt := range g.alts {
				count(alt)
			}
		}
	}
	for _, r := range rs {
		count(r.gates)
	}
	for op, want := range map[gateOp]int{gateAnomaly: 2, gateFalse: 2, gateInInts: 3, gateIn: 2, gateGt: 9, gateGe: 2, gateLt: 3,
		gateAny: 5, gatePrefix: 2, gateSuffix: 1, gateContains: 1, gateNameMatch: 1, gateNoNameMatch: 1} {
		if ops[op] != want {
			t.Errorf("%d gates of op %d among the test conditions, want %d", ops[op], op, want)
		}
	}
	tested := len(rs)
	for _, c := range []struct {
		cond  string
		exact bool
	}{
		{`tlsentry.server.x509.present && !name_matches(tls.client.server_name, tlsentry.server.x509.names)`, true},
		{`tls.server.x509.signature_algorithm.contains("SHA256") || tlsentry.cipher.export`, true},
		{`tlsentry.server.x509.validity_days >= 30 && tlsentry.version.id in [0x0301, 0x0303]`, true},
		{`(tlsentry.server.dh_prime_bits > 0 && tls.cipher.size() > 3) || tlsentry.cipher.export`, false}, // size() is CEL's
		{`tlsentry.server.x509.present && tls.cipher.size() > 3`, false},
		{`"tcp_overlap" in tlsentry.anomalies`, false},
		{`tlsentry.intel.ja3.list != ""`, false},
		{`tlsentry.version.id in [0x0301, 771.0] && source.port > 0`, false},
	} {
		r, err := compileRule(env, "gates", "gates", &ruleSpec{ID: "x", Category: "c", Severity: "low", Condition: srcText{Value: c.cond, Set: true}})
		if err != nil {
			t.Fatal(err)
		}
		if r.exact != c.exact {
			t.Errorf("%s: exact %v, want %v", c.cond, r.exact, c.exact)
		}
		rs = append(rs, r)
	}
	// Under a cost limit CEL may stop a condition the gates would decide.
	r, err := compileRuleCost(env, "gates", "gates", &ruleSpec{ID: "x", Category: "c", Severity: "low",
		Condition: srcText{Value: `!name_matches(tls.client.server_name, tlsentry.server.x509.names)`, Set: true}}, 10000)
	if err != nil || r.exact {
		t.Errorf("with a cost limit: exact %v, err %v", r != nil && r.exact, err)
	}
	for _, r := range e.rules {
		rs = append(rs, r)
	}
	sessions := variedSessions(t)
	exactRules := map[string]bool{}
	outcomes := make([]map[bool]bool, tested)
	for i := range outcomes {
		outcomes[i] = map[bool]bool{}
	}
	for si, s := range sessions {
		for ri, r := range rs {
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
			if got && r.exact && !a.undecided && !want {
				t.Errorf("session %d, rule %s: exact gates pass but the condition does not hold", si, r.ID)
			}
			if ri < tested {
				outcomes[ri][got] = true
			}
			if r.exact {
				exactRules[r.ID] = true
			}
		}
	}
	for _, id := range []string{"cert.name_mismatch", "cert.untrusted", "tls.missing_sni", "cert.weak_signature", "tls.weak_cipher"} {
		if !exactRules[id] {
			t.Errorf("built-in rule %s is not decided by its gates", id)
		}
	}
	for i, o := range outcomes {
		if conds[i].both && (!o[true] || !o[false]) {
			t.Errorf("%s: gates pass %v, fail %v over the sessions; want both", conds[i].cond, o[true], o[false])
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
		testSession(t, func(s *session.Session) { s.TLS.ClientHello.ServerName = "other.example.test" }),
		testSession(t, withLeaf(leafCert(t, certOpt{notBefore: t0.AddDate(-3, 0, 0), notAfter: t0.AddDate(2, 0, 0)}), getPKI(t).inter)),
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

// The unboxed accessors gates, limiter keys and messages read give what
// the variables' values hold, over sessions that give each at least two
// values (among them IPv6, zoned, IPv4-in-IPv6 and zero addresses).
func TestUnboxedAgree(t *testing.T) {
	e := testEngine(t)
	for _, name := range []string{"tls.client.server_name", "tlsentry.server.x509.names", "tlsentry.server.x509.validity_days",
		"tlsentry.server.validation", "tls.server.x509.signature_algorithm", "destination.ip", "tlsentry.server.display"} {
		if u := unboxedVars[variableIndex[name]]; u.str == nil && u.strs == nil && u.dbl == nil && u.app == nil {
			t.Errorf("%s has no unboxed accessor", name)
		}
	}
	sessions := append(variedSessions(t),
		testSession(t, func(s *session.Session) { s.TLS.ClientHello.ServerName = "dns.google" }), // a DoH resolver
		testSession(t, withLeaf(leafCert(t, certOpt{cn: "cn.example.test", dns: []string{}}))),   // names: the CN
		testSession(t, func(s *session.Session) { // IPv6, a zone, IPv4 in IPv6
			s.Server = netip.MustParseAddrPort("[2001:db8::7]:8443")
			s.Client = netip.MustParseAddrPort("[fe80::1%eth0]:50000")
		}),
		testSession(t, func(s *session.Session) {
			s.Server, s.Client = netip.MustParseAddrPort("[::ffff:198.51.100.7]:443"), netip.AddrPort{}
			s.TLS.ClientHello.ServerName = ""
		}),
		testSession(t, func(s *session.Session) { s.Server, s.Client = netip.AddrPort{}, netip.AddrPort{} }),
	)
	values := map[string]map[string]bool{}
	for si, s := range sessions {
		for i, u := range unboxedVars {
			if u.str == nil && u.strs == nil && u.dbl == nil && u.app == nil {
				continue
			}
			var a activation
			a.reset(e, s)
			name := variables[i].name
			v := variables[i].get(&a)
			if b, ok := a.appendUnboxed(nil, i); ok {
				if want := appendValue(nil, v); string(b) != string(want) {
					t.Errorf("session %d: %s: appended %q, value %q", si, name, b, want)
				}
			} else if u.app != nil || u.str != nil {
				t.Errorf("%s: appendUnboxed does not append", name)
			}
			var got, want any
			switch {
			case u.app != nil:
				got, want = string(u.app(&a, nil)), string(v.(types.String))
			case u.str != nil:
				got, want = u.str(&a), string(v.(types.String))
			case u.strs != nil:
				got, want = u.strs(&a), v.(*goStrings).s
			default:
				got, want = u.dbl(&a), float64(v.(types.Double))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("session %d: %s: unboxed %q, value %q", si, name, got, want)
			}
			if values[name] == nil {
				values[name] = map[string]bool{}
			}
			values[name][fmt.Sprint(got)] = true
		}
	}
	for name, vs := range values {
		if name != "tlsentry.tunnel.kind" && len(vs) < 2 {
			t.Errorf("%s: values %v over the sessions; want two at least", name, vs)
		}
	}
}

// Only double variables have a dbl accessor: gate.pass reads bool
// variables without looking for one.
func TestDblAccessorsAreDoubles(t *testing.T) {
	for i, u := range unboxedVars {
		if u.dbl != nil && variables[i].typ != cel.DoubleType {
			t.Errorf("%s is %s and has a dbl accessor", variables[i].name, variables[i].typ)
		}
	}
}

// A reused activation gives each session's values, whether it was
// cleared after the previous one (as Evaluate's pooled ones are) or not,
// and whether the previous one read variables or only lazy facts.
func TestActivationReuse(t *testing.T) {
	e := testEngine(t)
	sessions := variedSessions(t)
	text := func(a *activation) []string {
		out := []string{a.validation(), a.doh()}
		for i := range variables {
			out = append(out, string(appendValue(nil, a.value(i))))
		}
		return out
	}
	for _, c := range []struct{ values, cleared bool }{{false, false}, {true, false}, {true, true}} {
		for i, s := range sessions {
			var a activation
			a.reset(e, sessions[(i+1)%len(sessions)])
			a.validation()
			a.doh()
			if c.values {
				text(&a)
			}
			if c.cleared {
				a.clear()
			}
			a.reset(e, s)
			var fresh activation
			fresh.reset(e, s)
			if got, want := text(&a), text(&fresh); !reflect.DeepEqual(got, want) {
				t.Errorf("session %d (%+v): values %q, want %q", i, c, got, want)
			}
		}
	}
}
