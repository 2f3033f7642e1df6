package detect

import (
	"fmt"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/session"
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
	`tlsentry.version.id in [0x0301, 0x0303] && tlsentry.cipher.enc in ["NULL", "AES-GCM"] && !(tls.cipher in [])`,
	`source.port < 50001 && destination.port <= 443 && tlsentry.server.dh_prime_bits >= 0 && source.bytes > -1`,
	`tls.server.x509.public_key_size < 2048 || tlsentry.server.dh_prime_bits > 1023`,
	`tlsentry.server.x509.validity_days > 398 && tlsentry.server.x509.validity_days <= 1e300 && -1e300 < tlsentry.server.dh_prime_bits && 9.3e18 >= tlsentry.version.id`,
	`(0.0 / 0.0) < tlsentry.server.x509.validity_days || tlsentry.server.x509.validity_days >= 0.0 / 0.0 || tlsentry.server.dh_prime_bits <= 0.0 / 0.0 || 0.0 / 0.0 > 1`,
	`tls.server.x509.not_after > tls.server.x509.not_before && event.start <= tls.server.x509.not_after && 2u < 3u`,
	`name_matches(tls.client.server_name, ["*.example.test", "other.test"]) || !name_matches("x.test", tlsentry.server.x509.names)`,
}

// extraMsgs are message parts (not conditions) the compiler knows.
var extraMsgs = []string{
	`tlsentry.server.x509.names.size() == 0 ? 'no names' : tlsentry.server.x509.names.join(', ')`,
	`tlsentry.server.x509.names.join()`,
	`tlsentry.anomalies.join(',') + '/' + tls.client.server_name`,
	`size(tlsentry.server.x509.names)`,
	`['a', 'b'].join('-') + ['c'].join()`, // not a Go list: the binding
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
	for i, m := range extraMsgs {
		r, err := compileRule(env, "x", "x", &ruleSpec{ID: fmt.Sprintf("m.%d", i), Category: "c", Severity: "low",
			Condition: srcText{Value: "true", Set: true}, Message: srcText{Value: "${" + m + "}", Set: true}})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if r.msg[0].fn == nil {
			t.Errorf("%s: not compiled", m)
		}
		rs = append(rs, r)
	}
	ss := append(variedSessions(t),
		testSession(t, func(s *session.Session) { s.TLS.ServerHello = nil }),
		&session.Session{},
		bigNamesSession(t, 2000, "x.test"),
		testSession(t, func(s *session.Session) { s.TLS.ClientHello.ServerName = "other.example.test" }),
	)
	ss = append(ss, handshakeWorkload(t, 300, time.Hour)...)
	for si, s := range ss {
		for _, r := range rs {
			if diff := compareCompiled(e, s, r); diff != "" {
				t.Errorf("session %d, rule %s: %s", si, r.ID, diff)
			}
			var a, b activation
			a.reset(e, s)
			b.reset(e, s)
			if m1, m2 := renderCEL(r, &a), r.render(&b); m1 != m2 {
				t.Errorf("session %d, rule %s: message %q, CEL %q", si, r.ID, m2, m1)
			}
		}
	}
}

// compareCompiled evaluates r's condition on s compiled and with CEL and
// says how they differ ("" when they agree: equal values, or errors with
// the same message).
func compareCompiled(e *Engine, s *session.Session, r *compiledRule) string {
	var a, b activation
	a.reset(e, s)
	b.reset(e, s)
	want, _, werr := r.prg.Eval(&a)
	got := r.fn(&b)
	if ge, ok := got.(*types.Err); ok || werr != nil {
		if !ok || werr == nil || ge.Error() != werr.Error() {
			return fmt.Sprintf("compiled %v, CEL %v (%v)", got, want, werr)
		}
		return ""
	}
	if got.Equal(want) != types.True {
		return fmt.Sprintf("compiled %v, CEL %v", got, want)
	}
	pass := passAll(r.gates, &b)
	if isBool(want, types.True) && !pass {
		return "a gate failed but CEL finds the condition true"
	}
	if r.exact && pass && !b.undecided && !isBool(want, types.True) {
		return fmt.Sprintf("exact gates pass but CEL finds %v", want)
	}
	return ""
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

// FuzzCompiledExpr: expressions built from a small grammar (driven by the
// fuzz input) give the same result compiled and interpreted, and their
// gates pass where they are true.
func FuzzCompiledExpr(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{9, 9, 1, 0, 3, 200, 17, 4, 8, 2})
	e := testEngine(f)
	env, err := newEnv()
	if err != nil {
		f.Fatal(err)
	}
	ss := []*session.Session{testSession(f), testSession(f, func(s *session.Session) { s.TLS.ServerHello = nil }), {}}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := exprGen{data: data}
		src := g.boolExpr(4)
		r, err := compileRule(env, "f", "f", &ruleSpec{ID: "f", Category: "c", Severity: "low", Condition: srcText{Value: src, Set: true}})
		if err != nil || r.fn == nil {
			return
		}
		for _, s := range ss {
			if diff := compareCompiled(e, s, r); diff != "" {
				t.Fatalf("%s: %s", src, diff)
			}
		}
	})
}

// exprGen writes CEL expressions choosing each production by the next byte.
type exprGen struct {
	data []byte
	i    int
}

func (g *exprGen) next(n int) int {
	if g.i >= len(g.data) {
		return 0
	}
	b := g.data[g.i]
	g.i++
	return int(b) % n
}

func (g *exprGen) boolExpr(depth int) string {
	if depth == 0 {
		return []string{"true", "false", "tlsentry.client.hello", "tlsentry.server.hello", "tlsentry.server.x509.present",
			"name_matches(tls.client.server_name, tlsentry.server.x509.names)"}[g.next(6)]
	}
	switch g.next(9) {
	case 7:
		return "(tlsentry.server.x509.validity_days" + []string{" < ", " <= ", " > ", " >= "}[g.next(4)] +
			[]string{"89", "90", "90.0", "398", "-1.5", "9007199254740993"}[g.next(6)] + ")"
	case 0:
		return "(" + g.boolExpr(depth-1) + " && " + g.boolExpr(depth-1) + ")"
	case 1:
		return "(" + g.boolExpr(depth-1) + " || " + g.boolExpr(depth-1) + ")"
	case 2:
		return "!" + g.boolExpr(depth-1)
	case 3:
		return "(" + g.intExpr(depth-1) + []string{" < ", " <= ", " > ", " >= ", " == ", " != "}[g.next(6)] + g.intExpr(depth-1) + ")"
	case 4:
		return "(" + g.strExpr(depth-1) + []string{" == ", " != ", " < "}[g.next(3)] + g.strExpr(depth-1) + ")"
	case 5:
		return "(" + g.boolExpr(depth-1) + " ? " + g.boolExpr(depth-1) + " : " + g.boolExpr(depth-1) + ")"
	case 6:
		return g.strExpr(depth-1) + []string{".startsWith(", ".endsWith(", ".contains("}[g.next(3)] + g.strExpr(depth-1) + ")"
	}
	return g.strExpr(depth-1) + ` in ["", "TLS 1.2", "www.example.test"]`
}

func (g *exprGen) intExpr(depth int) string {
	if depth == 0 {
		return []string{"0", "1", "9223372036854775807", "destination.port", "tlsentry.server.dh_prime_bits", "tlsentry.version.id"}[g.next(6)]
	}
	switch g.next(5) {
	case 0:
		return "(" + g.intExpr(depth-1) + []string{" + ", " - ", " * ", " / ", " % "}[g.next(5)] + g.intExpr(depth-1) + ")"
	case 1:
		return "size(" + g.strExpr(depth-1) + ")"
	case 2:
		return "(" + g.boolExpr(depth-1) + " ? " + g.intExpr(depth-1) + " : " + g.intExpr(depth-1) + ")"
	}
	return g.intExpr(0)
}

func (g *exprGen) strExpr(depth int) string {
	if depth == 0 {
		return []string{`""`, `"TLS"`, "tls.version", "tls.client.server_name", "tls.cipher"}[g.next(5)]
	}
	switch g.next(4) {
	case 0:
		return "(" + g.strExpr(depth-1) + " + " + g.strExpr(depth-1) + ")"
	case 1:
		return g.strExpr(depth-1) + ".upperAscii()"
	}
	return g.strExpr(0)
}
