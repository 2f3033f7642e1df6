package detect

import (
	"crypto/x509"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/tlsentry/tlsentry/rules"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// TestBuiltinRulesCost: every built-in condition and message stays within
// a third of the cost limit, so that extending a rule does not put it near
// the limit unnoticed. The largest is cert.name_mismatch's message, the
// join of up to 1,000 names of 253 bytes (about 255,000).
func TestBuiltinRulesCost(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(rules.FS, "*.yaml")
	sort.Strings(names)
	n := 0
	for _, name := range names {
		data, _ := fs.ReadFile(rules.FS, name)
		specs, err := parseRuleFile(name, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range specs {
			exprs := []string{sp.Condition.Value}
			for m := sp.Message.Value; ; {
				i := strings.Index(m, "${")
				if i < 0 {
					break
				}
				j := strings.IndexByte(m[i:], '}')
				exprs = append(exprs, m[i+2:i+j])
				m = m[i+j+1:]
			}
			for _, x := range exprs {
				ast, iss := env.Compile(x)
				if iss != nil && iss.Err() != nil {
					t.Fatalf("%s: %v", sp.ID, iss.Err())
				}
				est, err := env.EstimateCost(ast, costEstimator{})
				if err != nil {
					t.Fatal(err)
				}
				if est.Max > DefaultMaxRuleCost/3 {
					t.Errorf("%s: %q: estimated cost %d, over a third of the limit %d", sp.ID, x, est.Max, DefaultMaxRuleCost)
				}
				if testing.Verbose() {
					fmt.Printf("%-40s %8d  %s\n", sp.ID, est.Max, x)
				}
				n++
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d expressions", n)
	}
}

func ruleYAML(id, cond, msg string) string {
	y := "rules:\n  - id: " + id + "\n    category: policy\n    severity: low\n    condition: " + cond + "\n"
	if msg != "" {
		y += "    message: " + msg + "\n"
	}
	return y
}

// TestRuleCostRefused: a condition or message whose worst case is over the
// limit is refused at load with the estimate, file:line and rule id.
func TestRuleCostRefused(t *testing.T) {
	ciphers := "tlsentry.client.cipher_ids"
	names := "tlsentry.server.x509.names"
	cases := []struct {
		name, cond, msg string
		refused         bool
	}{
		{"triple nested ciphers", ciphers + ".all(a, " + ciphers + ".all(b, " + ciphers + ".all(c, a+b+c > 0)))", "", true},
		{"double nested ciphers", ciphers + ".exists(a, " + ciphers + ".exists(b, a == b + 1))", "", true},
		{"ciphers times names", ciphers + ".exists(a, " + names + ".exists(n, n.size() == a))", "", true},
		{"double nested names", names + ".exists(a, " + names + ".exists(b, a != b && a.endsWith(b)))", "", true},
		{"nested in message", "tlsentry.client.hello", "'${" + ciphers + ".filter(a, " + ciphers + ".exists(b, a < b)).size()}'", true},
		{"one comprehension over ciphers", ciphers + ".exists(a, a == 0x0005)", "", false},
		{"one comprehension over names", names + ".exists(n, n.endsWith('.evil.test'))", "", false},
		{"name_matches", `name_matches("a.test", ` + names + `)`, "", false},
		{"plain", "tlsentry.server.dh_prime_bits > 0 && tlsentry.server.dh_prime_bits < 1024", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "cost.yaml", ruleYAML("local.cost", c.cond, c.msg))
			_, err := Check(p)
			if !c.refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded; want refused for its cost")
			}
			for _, want := range []string{p + ":", "rule local.cost", "estimated cost", "over the limit of 1000000"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
	// A higher limit admits the double comprehension.
	p := writeFile(t, t.TempDir(), "cost.yaml", ruleYAML("local.cost", cases[1].cond, ""))
	if _, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: []*x509.Certificate{}, MaxRuleCost: 1 << 40}); err != nil {
		t.Fatalf("MaxRuleCost 2^40: %v", err)
	}
}

// bigNamesSession has a leaf certificate with n DNS names, the last one
// last.
func bigNamesSession(t testing.TB, n int, last string) *session.Session {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("h%05d.test", i)
	}
	names[n-1] = last
	return testSession(t, func(s *session.Session) {
		sum := *s.Certificates[0]
		c := *sum.Cert
		c.DNSNames = names
		sum.Cert = &c
		s.Certificates[0] = &sum
	})
}

const cutRule = `tlsentry.server.x509.names.exists(n, n.matches('^c2-[a-z0-9]+[.](evil|bad|malware)[.](test|example|invalid)$') || ` +
	`n.matches('^([a-z0-9]+-)*cdn[0-9]+[.]evil[.]test$'))`

// certNamesMax is about as many names of 11 bytes as a Certificate message
// of tlsparse.MaxCertificateMessage (512 KiB) can carry.
const certNamesMax = 38000

// TestRuleCostRuntime: a condition whose estimate passes (1,000 names
// assumed) but meets a certificate with 38,000 names is interrupted at the
// limit, counted, and does not match; it still matches normally.
func TestRuleCostRuntime(t *testing.T) {
	p := writeFile(t, t.TempDir(), "cut.yaml", ruleYAML("local.cut", cutRule, "'${tlsentry.server.x509.names.join(\",\")}'"))
	e, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	if v := e.Evaluate(bigNamesSession(t, 10, "c2-x.evil.test")); fired(v)["local.cut"] == nil {
		t.Fatalf("10 names: not fired: %+v", v.Alerts)
	}
	if st := e.Stats(); st.CostExceeded != 0 || st.EvalErrors != 0 {
		t.Fatalf("10 names: %+v", st)
	}
	v := e.Evaluate(bigNamesSession(t, certNamesMax, "c2-x.evil.test"))
	if fired(v)["local.cut"] != nil {
		t.Fatal("38,000 names: fired; want interrupted at the cost limit")
	}
	if st := e.Stats(); st.CostExceeded != 1 || st.EvalErrors != 1 {
		t.Fatalf("38,000 names: CostExceeded %d, EvalErrors %d; want 1, 1", st.CostExceeded, st.EvalErrors)
	}
	// The message of a rule that matches is cut too, and says so.
	p = writeFile(t, t.TempDir(), "msg.yaml", ruleYAML("local.msg", "tlsentry.server.x509.present",
		`'${tlsentry.server.x509.names.filter(n, n.matches("^c2-[a-z0-9]+[.](evil|bad|malware)[.](test|example|invalid)$") || n.matches("^([a-z0-9]+-)*cdn[0-9]+[.]evil[.]test$")).join(",")}'`))
	if e, err = New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool}); err != nil {
		t.Fatal(err)
	}
	v = e.Evaluate(bigNamesSession(t, certNamesMax, "x.test"))
	if a := fired(v)["local.msg"]; a == nil || !strings.Contains(a.Message, "cost limit") {
		t.Fatalf("message: %+v", v.Alerts)
	}
	if st := e.Stats(); st.CostExceeded != 1 || st.EvalErrors != 0 {
		t.Fatalf("message: CostExceeded %d, EvalErrors %d; want 1, 0", st.CostExceeded, st.EvalErrors)
	}
}

// TestBuiltinRulesRuntimeCost: the built-in rules on ordinary sessions are
// never near the run-time limit, and only those that could pass it on a
// session the parser can produce pay for cost tracking.
func TestBuiltinRulesRuntimeCost(t *testing.T) {
	e := testEngine(t)
	var conds, msgs []string
	for _, r := range e.rules {
		if _, ok := r.prg.(limitedProgram); ok {
			conds = append(conds, r.ID)
		}
		for _, p := range r.msg {
			if _, ok := p.prg.(limitedProgram); ok {
				msgs = append(msgs, r.ID)
			}
		}
	}
	// cert.name_mismatch's message joins the names of one Certificate
	// message: within the limit at the hard bounds too (see joinCost).
	if len(conds) != 0 || len(msgs) != 0 {
		t.Errorf("cost tracking: conditions %v, messages %v; want none", conds, msgs)
	}
	e.Evaluate(testSession(t))
	// A certificate with as many names as the parser keeps does not evade
	// cert.name_mismatch (nor does its message get cut).
	s := bigNamesSession(t, certNamesMax, "x.test")
	a := fired(e.Evaluate(s))["cert.name_mismatch"]
	want := "certificate of 198.51.100.7:443 covers " + strings.Join(s.Certificates[0].Cert.DNSNames, ", ") + ", not www.example.test"
	if a == nil || a.Message != want {
		t.Errorf("cert.name_mismatch on %d names: %v", certNamesMax, a)
	}
	if st := e.Stats(); st.CostExceeded != 0 {
		t.Fatalf("CostExceeded %d", st.CostExceeded)
	}
}

// BenchmarkCostCut: the condition of TestRuleCostRuntime on a certificate
// with 38,000 names, with the default limit (interrupted after a million
// cost units) and without a limit that bites (2^62: the whole list is
// scanned), and on 1,000,000 names (more than tlsparse keeps: what the
// limit bounds when an estimate is off by far). cpu-ns/op shows the bound
// on the time a rule can take.
func BenchmarkCostCut(b *testing.B) {
	p := writeFile(b, b.TempDir(), "cut.yaml", ruleYAML("local.cut", cutRule, ""))
	for _, c := range []struct {
		names int
		limit uint64
	}{{certNamesMax, 0}, {certNamesMax, 1 << 62}, {1_000_000, 0}, {1_000_000, 1 << 62}} {
		s := bigNamesSession(b, c.names, "c2-x.evil.test")
		lim := c.limit
		b.Run(fmt.Sprintf("names=%d/limit=%d", c.names, lim), func(b *testing.B) {
			e, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(b).pool, MaxRuleCost: lim})
			if err != nil {
				b.Fatal(err)
			}
			e.Evaluate(s)
			loopCPU(b, func(int) { e.Evaluate(s) })
		})
	}
}

// TestJoinHardCost: a join of a list whose entries one message bounds
// together is estimated at the hard bounds from the message's size, and
// runs without cost tracking; other joins keep ext.Strings' estimate. The
// estimate is above what the tracker counts for lists that fill the
// message.
func TestJoinHardCost(t *testing.T) {
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	const names = "tlsentry.server.x509.names"
	cases := []struct {
		expr    string
		tracked bool
	}{
		{names + ".size() == 0 ? 'no names' : " + names + ".join(', ')", false},
		{names + ".join(', ')", false},
		{names + ".join()", false},
		{names + ".join(',')", false},
		{"tlsentry.anomalies.join(', ')", false},
		{names + ".join(' and then ')", true},                    // 10 bytes after each of up to 262,144 names
		{names + ".join(', ') + " + names + ".join(', ')", true}, // two joins of 512 KiB
		{names + ".map(n, n).join(', ')", true},                  // not the variable: the model's estimate
	}
	for _, c := range cases {
		ast, iss := env.Compile(c.expr)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		opts, err := checkCost(env, ast, DefaultMaxRuleCost)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if tracked := len(opts) > 0; tracked != c.tracked {
			t.Errorf("%s: cost tracked %v, want %v", c.expr, tracked, c.tracked)
		}
	}

	// Lists that fill a Certificate message: empty names, names of one
	// byte, one name of all of it (T + 2n = 512 KiB each).
	m := tlsparse.MaxCertificateMessage
	one := make([]string, m/3)
	for i := range one {
		one[i] = "a"
	}
	lists := [][]string{make([]string, m/2), one, {strings.Repeat("a", m-2)}}
	for _, sep := range []string{"", ",", ", ", ",,,,,"} {
		x := names + ".join('" + sep + "')"
		ast, iss := env.Compile(x)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		est, err := env.EstimateCost(ast, costEstimator{hard: true}, hardCostOptions...)
		if err != nil {
			t.Fatal(err)
		}
		prg, err := env.Program(ast, cel.CostTracking(costEstimator{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lists {
			_, det, err := prg.Eval(map[string]any{names: l})
			if err != nil {
				t.Fatal(err)
			}
			if got := *det.ActualCost(); got > est.Max {
				t.Errorf("%s on %d names: cost %d, estimate %d", x, len(l), got, est.Max)
			}
		}
	}
}
