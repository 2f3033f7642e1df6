package detect

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"

	"github.com/tlsentry/tlsentry/rules"
	"github.com/tlsentry/tlsentry/session"
)

// Config configures an Engine.
type Config struct {
	// RuleFiles are user rule files, added to the built-in rules: YAML,
	// or Suricata-format when the name ends in .rules (see
	// suricata_rules.go).
	RuleFiles []string
	// RuleVars are the address and port variables of Suricata-format
	// rules (HOME_NET: "[10.0.0.0/8]"; a leading '$' is dropped). A
	// variable not set is any.
	RuleVars map[string]string
	// NoBuiltin leaves the built-in rules out.
	NoBuiltin bool
	// DisableIDs and DisableCategories switch rules off. Naming a rule id or
	// category that no loaded rule has is an error (a typo would otherwise
	// leave the rule on).
	DisableIDs        []string
	DisableCategories []string
	// Intel lists the threat-intel list files.
	Intel []IntelList
	// CABundle replaces the system roots with the PEM certificates in it.
	CABundle string
	// Roots, when non-nil, is the trust store (overrides CABundle; for
	// tests). An empty non-nil slice trusts nothing.
	Roots []*x509.Certificate
	// ChainCacheSize bounds the cache of chain verifications (default 16384).
	ChainCacheSize int
	// MaxIntelBytes bounds the size of each intel list file (default
	// DefaultMaxIntelBytes); a longer list is refused.
	MaxIntelBytes int64
	// MaxRuleCost bounds the CEL cost of a rule's condition and of each
	// ${...} of its message, estimated at load and counted while
	// evaluating (default DefaultMaxRuleCost; see there).
	MaxRuleCost uint64

	// Suppress applies the rules' suppress and threshold blocks and
	// Suppressions; without it every match is an alert (Count 1) and they
	// are only checked. The command sets it unless --no-suppress
	// (rules.suppress is on by default). The blocks keep state: which
	// session of a key carries its alert follows the order sessions are
	// judged in, so the sensor judges a replay in packet-time order
	// (sensor.Config.Ordered), whatever the number of capture workers;
	// live capture judges in arrival order.
	Suppress bool
	// Suppressions drop alerts of some rules for some addresses, SNIs or
	// certificates (Suricata's threshold.config suppress).
	Suppressions []Suppression
	// SuppressMemory bounds the memory of the suppress and threshold
	// state, in bytes (default DefaultSuppressMemory, 16 MiB: some 50,000
	// keys of the size the built-in rules make); past it the least
	// recently matched keys are evicted.
	SuppressMemory int64

	// ExpiringWindow is how close to its not_after a valid leaf makes
	// tlsentry.server.x509.expiring_soon true (cert.expiring_soon);
	// default DefaultExpiringWindow.
	ExpiringWindow time.Duration
	// DoHResolvers is a file of DNS-over-HTTPS resolver names and
	// addresses replacing the shipped rules/doh-resolvers.txt
	// (policy.dns_over_https); "" keeps the shipped list.
	DoHResolvers string
}

// DefaultExpiringWindow is Config.ExpiringWindow's default: 30 days.
const DefaultExpiringWindow = 30 * 24 * time.Hour

// Engine judges sessions. It is immutable once built and safe for
// concurrent use; Reloader swaps whole engines.
type Engine struct {
	rules []*compiledRule
	// judged is what Evaluate runs: rules but those that cannot match,
	// their first gate asking an intel list the engine has none of.
	judged []*compiledRule
	intel  *intelSet
	trust  *trustStore
	pool   sync.Pool

	limiter  *limiter // nil when no rule has suppress or threshold, or without Config.Suppress
	suppress bool

	suricata *suricataSet // nil without Suricata-format rule files

	doh            *dohSet
	expiringWindow time.Duration

	sessions, alerts, evalErrors atomic.Uint64

	warnings []string
}

type compiledRule struct {
	Rule
	gates []gate // conjuncts checked in Go before running prg
	exact bool   // the gates decide the condition (gatesOf)
	prg   cel.Program
	fn    evalFn // prg compiled to Go; nil: run prg
	msg   []msgPart
	intel []intelKind // intel list types the condition reads
	limit *limitRule  // suppress or threshold block; nil without
	// filters are the Suppressions for this rule.
	filters []*suppression

	fired      atomic.Uint64 // matches
	suppressed atomic.Uint64 // matches held back by limit
	filtered   atomic.Uint64 // matches dropped by filters
	// costExceeded counts the evaluations the cost limit interrupted.
	costExceeded atomic.Uint64
}

type msgPart struct {
	text string
	prg  cel.Program // nil for literal text
	fn   evalFn      // prg compiled to Go; nil: run prg
	// variable is the index+1 of the variable a ${placeholder} names and
	// nothing else (render reads it without running prg); 0 otherwise.
	variable int
}

// Stats are the engine's counters.
type Stats struct {
	Sessions, Alerts, EvalErrors uint64
	Fired                        map[string]uint64 // matches per rule id (alerts or not)
	// Suppressed counts per rule id the matches a suppress or threshold
	// block held back (a later alert of the same key may carry them in its
	// Count); Filtered the matches Config.Suppressions dropped.
	Suppressed, Filtered map[string]uint64
	Limiter              LimiterStats
	Trust                TrustStats
	Intel                IntelStats

	// CostExceeded counts the evaluations (of conditions and messages)
	// interrupted at the cost limit; conditions among them count in
	// EvalErrors too and did not match.
	CostExceeded uint64
}

// New loads, checks and compiles the rules, loads the intel lists and the
// trust store. Any mistake fails with the file, line and reason.
func New(cfg Config) (*Engine, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	maxCost := cfg.MaxRuleCost
	if maxCost == 0 {
		maxCost = DefaultMaxRuleCost
	}
	type source struct {
		name, ruleset string
		data          []byte
	}
	var sources []source
	if !cfg.NoBuiltin {
		names, err := fs.Glob(rules.FS, "*.yaml")
		if err != nil {
			return nil, fmt.Errorf("detect: built-in rules: %w", err)
		}
		sort.Strings(names)
		for _, n := range names {
			data, err := fs.ReadFile(rules.FS, n)
			if err != nil {
				return nil, fmt.Errorf("detect: built-in rules: %w", err)
			}
			sources = append(sources, source{"rules/" + n, "builtin", data})
		}
	}
	var suricataFiles []string
	for _, f := range cfg.RuleFiles {
		if isSuricataFile(f) {
			suricataFiles = append(suricataFiles, f)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		sources = append(sources, source{f, f, data})
	}

	disabledID := setOf(cfg.DisableIDs)
	disabledCat := setOf(cfg.DisableCategories)
	usedID, usedCat := map[string]bool{}, map[string]bool{}
	where := map[string]string{}
	e := &Engine{}
	for _, src := range sources {
		specs, err := parseRuleFile(src.name, src.data)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		for i := range specs {
			sp := &specs[i]
			pos := fmt.Sprintf("%s:%d", src.name, sp.line)
			if prev, dup := where[sp.ID]; dup {
				return nil, fmt.Errorf("detect: %s: rule %s is already defined at %s (disable the other one by id first)", pos, sp.ID, prev)
			}
			where[sp.ID] = pos
			r, err := compileRuleCost(env, src.name, src.ruleset, sp, maxCost)
			if err != nil {
				return nil, fmt.Errorf("detect: %w", err)
			}
			usedID[r.ID], usedCat[r.Category] = true, true
			if disabledID[r.ID] || disabledCat[r.Category] || (sp.Enabled != nil && !*sp.Enabled) {
				continue
			}
			r.limit = sp.limit
			if r.limit != nil {
				r.Limit = r.limit.String()
			}
			e.rules = append(e.rules, r)
		}
	}
	if e.suricata, err = newSuricataSet(suricataFiles, cfg.RuleVars, disabledID, disabledCat, usedID, usedCat, where); err != nil {
		return nil, err
	}
	for id := range disabledID {
		if !usedID[id] {
			return nil, fmt.Errorf("detect: disable_ids: no rule has id %q", id)
		}
	}
	for c := range disabledCat {
		if !usedCat[c] {
			return nil, fmt.Errorf("detect: disable_categories: no rule has category %q", c)
		}
	}
	if cfg.SuppressMemory < 0 {
		return nil, fmt.Errorf("detect: suppress memory %d is negative", cfg.SuppressMemory)
	}
	filters, targets, err := compileSuppressions(cfg.Suppressions, usedID, usedCat)
	if err != nil {
		return nil, err
	}
	e.suppress = cfg.Suppress
	if cfg.Suppress {
		for _, r := range e.rules {
			for i, f := range filters {
				if appliesTo(targets[i], &r.Rule) {
					r.filters = append(r.filters, f)
				}
			}
			if r.limit != nil && e.limiter == nil {
				e.limiter = newLimiter(cfg.SuppressMemory)
			}
		}
	}
	if cfg.Suppress && e.suricata != nil {
		e.suricata.bind(e, filters, targets, cfg.SuppressMemory)
	}
	if e.intel, e.warnings, err = loadIntel(cfg.Intel, cfg.MaxIntelBytes); err != nil {
		return nil, err
	}
	for _, r := range e.rules {
		if len(r.gates) == 0 || r.gates[0].op != gateIntel || e.intel.loaded(r.gates[0].intel) {
			e.judged = append(e.judged, r)
		}
	}
	if e.suricata != nil {
		e.warnings = append(e.suricata.report.warnings(), e.warnings...)
	}
	if e.trust, err = newTrustStore(cfg.CABundle, cfg.Roots, cfg.ChainCacheSize); err != nil {
		return nil, err
	}
	if e.doh, err = loadDoH(cfg.DoHResolvers); err != nil {
		return nil, err
	}
	switch e.expiringWindow = cfg.ExpiringWindow; {
	case e.expiringWindow < 0:
		return nil, fmt.Errorf("detect: expiring window %v is negative", cfg.ExpiringWindow)
	case e.expiringWindow == 0:
		e.expiringWindow = DefaultExpiringWindow
	}
	e.pool.New = func() any { return new(activation) }
	return e, nil
}

func setOf(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, s := range l {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

// Check loads and compiles rule files without built-in rules, lists or trust
// store: what "tlsentry rules check" does.
func Check(files ...string) (n int, err error) {
	e, err := New(Config{RuleFiles: files, NoBuiltin: true, Roots: []*x509.Certificate{}})
	if err != nil {
		return 0, err
	}
	return len(e.rules), nil
}

// Rules returns the enabled rules, in load order.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, r := range e.rules {
		out[i] = &r.Rule
	}
	if e.suricata != nil {
		for _, r := range e.suricata.rules {
			out = append(out, &r.Rule)
		}
	}
	return out
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	st := Stats{
		Sessions: e.sessions.Load(), Alerts: e.alerts.Load(), EvalErrors: e.evalErrors.Load(),
		Fired:      make(map[string]uint64, len(e.rules)),
		Suppressed: make(map[string]uint64, len(e.rules)),
		Filtered:   make(map[string]uint64, len(e.rules)),
		Trust:      e.trust.stats(), Intel: e.intel.stats(),
	}
	for _, r := range e.rules {
		st.Fired[r.ID] = r.fired.Load()
		st.CostExceeded += r.costExceeded.Load()
		st.Suppressed[r.ID] = r.suppressed.Load()
		st.Filtered[r.ID] = r.filtered.Load()
	}
	if e.suricata != nil {
		for _, r := range e.suricata.rules {
			st.Fired[r.ID] = r.fired.Load()
			st.Suppressed[r.ID] = r.suppressed.Load()
			st.Filtered[r.ID] = r.filtered.Load()
		}
	}
	if e.limiter != nil {
		st.Limiter = e.limiter.stats()
	}
	return st
}

// SuppressedCounts returns per rule id the matches that gave no alert of
// their own: held back by the rule's suppress or threshold block, or
// dropped by Config.Suppressions (Stats has them apart).
func (e *Engine) SuppressedCounts() map[string]uint64 {
	m := make(map[string]uint64, len(e.rules))
	for _, r := range e.rules {
		m[r.ID] = r.suppressed.Load() + r.filtered.Load()
	}
	if e.suricata != nil {
		for _, r := range e.suricata.rules {
			m[r.ID] = r.suppressed.Load() + r.filtered.Load()
		}
	}
	return m
}

// LimiterStats returns the state of the suppress and threshold blocks
// (what Stats().Limiter holds, without the per-rule maps), and false when
// the engine keeps none: no rule has such a block, or Config.Suppress is
// off.
func (e *Engine) LimiterStats() (LimiterStats, bool) {
	if e.limiter == nil {
		return LimiterStats{}, false
	}
	return e.limiter.stats(), true
}

// adopt takes over the suppress and threshold state of old (a reload):
// windows open before a SIGHUP stay open. Keys name the rule id, so a rule
// whose block changed starts afresh only where its keys changed.
func (e *Engine) adopt(old *Engine) {
	if e.limiter != nil && old != nil && old.limiter != nil && old.limiter.maxBytes == e.limiter.maxBytes {
		e.limiter = old.limiter
	}
}

// Evaluate judges one session. Safe for concurrent use.
func (e *Engine) Evaluate(s *session.Session) Verdict {
	a := e.pool.Get().(*activation)
	a.reset(e, s)
	var v Verdict
rules:
	for _, r := range e.judged {
		for i := range r.gates {
			if !r.gates[i].pass(a) {
				continue rules
			}
		}
		if !r.exact || a.undecided {
			out, ok := r.eval(a)
			if !ok {
				e.evalErrors.Add(1)
				continue
			}
			if !isBool(out, types.True) {
				continue
			}
		}
		r.fired.Add(1)
		al := Alert{Rule: &r.Rule, Count: 1}
		if !e.admit(&al, r.ID, r.limit, r.filters, a, &r.filtered, &r.suppressed) {
			continue
		}
		al.Message = r.render(a)
		for _, k := range r.intel {
			if m := a.intel(k); m != nil {
				al.Intel = m
				break
			}
		}
		v.Alerts = append(v.Alerts, al)
	}
	if e.suricata != nil {
		v.Alerts = e.suricata.evaluate(e, a, s, v.Alerts)
	}
	v.Validation = a.validation()
	e.sessions.Add(1)
	e.alerts.Add(uint64(len(v.Alerts)))
	a.clear()
	e.pool.Put(a)
	return v
}

// admit applies a rule's suppressions (filters) and suppress or threshold
// block (l, keyed by key) to a match on a's session, with Config.Suppress:
// false when the match gives no alert (counted in filtered or
// suppressed); else it sets al's Count, First and CountText.
func (e *Engine) admit(al *Alert, key string, l *limitRule, filters []*suppression, a *activation, filtered, suppressed *atomic.Uint64) bool {
	if !e.suppress {
		return true
	}
	for _, f := range filters {
		if f.match(a) {
			filtered.Add(1)
			return false
		}
	}
	if l == nil {
		return true
	}
	now := packetTime(a.s.End, a.s.Start)
	a.keyBuf = l.appendKey(a.keyBuf[:0], key, a)
	ok, n, since := e.limiter.decide(l, a.keyBuf, now)
	if !ok {
		suppressed.Add(1)
		return false
	}
	al.Count = n
	if n > 1 {
		al.First = time.Unix(0, since).UTC()
		al.CountText = countText(n, since, now)
	}
	return true
}

// eval evaluates the condition: false on error.
func (r *compiledRule) eval(a *activation) (ref.Val, bool) {
	if r.fn != nil {
		out := r.fn(a)
		_, isErr := out.(*types.Err)
		return out, !isErr
	}
	out, _, err := r.prg.Eval(a)
	return out, err == nil
}

// render writes the rule's message into a's reused buffer and returns it
// as one string.
func (r *compiledRule) render(a *activation) string {
	if len(r.msg) == 1 && r.msg[0].prg == nil {
		return r.msg[0].text
	}
	b := a.msgBuf[:0]
	for i := range r.msg {
		switch p := &r.msg[i]; {
		case p.prg == nil:
			b = append(b, p.text...)
		case p.variable > 0: // what p.prg.Eval would return, without CEL
			var ok bool
			if b, ok = a.appendUnboxed(b, p.variable-1); !ok {
				b = appendPart(b, a.value(p.variable-1))
			}
		default:
			b = appendPart(b, p.eval(a))
		}
	}
	a.msgBuf = b
	return string(b)
}

// appendPart appends a ${...} part's value, or its error in <>.
func appendPart(b []byte, v ref.Val) []byte {
	if e, ok := v.(*types.Err); ok {
		b = append(b, '<')
		return append(append(b, e.Error()...), '>')
	}
	return appendValue(b, v)
}

// eval is the value of a ${...} part (a *types.Err on error).
func (p *msgPart) eval(a *activation) ref.Val {
	if p.fn != nil {
		return p.fn(a)
	}
	out, _, err := p.prg.Eval(a)
	if err != nil {
		return types.NewErr("%s", err.Error())
	}
	return out
}

// appendValue appends v's string conversion; a list's entries are
// separated by ", ".
func appendValue(b []byte, v ref.Val) []byte {
	switch x := v.(type) {
	case types.String:
		return append(b, x...)
	case types.Int:
		return strconv.AppendInt(b, int64(x), 10)
	case types.Bool:
		return strconv.AppendBool(b, bool(x))
	case *goStrings:
		for i, s := range x.s {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, s...)
		}
		return b
	case traits.Lister:
		n := int(x.Size().(types.Int))
		for i := 0; i < n; i++ {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendValue(b, x.Get(types.Int(i)))
		}
		return b
	}
	if s, ok := v.ConvertToType(types.StringType).(types.String); ok {
		return append(b, s...)
	}
	return fmt.Append(b, v.Value())
}

// newEnv declares the variables and functions rules can use.
func newEnv() (*cel.Env, error) {
	opts := []cel.EnvOption{
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.Function("name_matches",
			cel.Overload("name_matches_string_list", []*cel.Type{cel.StringType, listOfStrings}, cel.BoolType,
				cel.BinaryBinding(celNameMatches))),
	}
	for _, v := range variables {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("detect: CEL environment: %w", err)
	}
	return env, nil
}

func celNameMatches(lhs, rhs ref.Val) ref.Val {
	name, ok := lhs.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(lhs)
	}
	if gl, ok := rhs.(*goStrings); ok {
		for _, p := range gl.s {
			if MatchHostname(string(name), p) {
				return types.True
			}
		}
		return types.False
	}
	l, ok := rhs.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(rhs)
	}
	n, _ := l.Size().(types.Int)
	for i := types.Int(0); i < n; i++ {
		if p, ok := l.Get(i).(types.String); ok && MatchHostname(string(name), string(p)) {
			return types.True
		}
	}
	return types.False
}

func compileRule(env *cel.Env, file, ruleset string, sp *ruleSpec) (*compiledRule, error) {
	return compileRuleCost(env, file, ruleset, sp, DefaultMaxRuleCost)
}

// compileRuleCost compiles a rule whose expressions may cost at most maxCost.
func compileRuleCost(env *cel.Env, file, ruleset string, sp *ruleSpec, maxCost uint64) (*compiledRule, error) {
	r := &compiledRule{Rule: Rule{
		ID: sp.ID, Name: sp.Name, Category: sp.Category, Severity: sp.Severity,
		Description: strings.TrimSpace(sp.Description), References: sp.References, Version: sp.Version, Ruleset: ruleset,
		Techniques: sp.techniques,
	}}
	if r.Name == "" {
		r.Name = r.ID
	}
	if sp.RiskScore != nil {
		r.RiskScore = *sp.RiskScore
	} else {
		r.RiskScore = r.SeverityScore()
	}
	ast, err := compileExpr(env, file, sp.ID, "condition", sp.Condition)
	if err != nil {
		return nil, err
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("%s:%d: rule %s: condition is %s, not bool", file, sp.Condition.Line, sp.ID, ast.OutputType())
	}
	costOpts, err := checkCost(env, ast, maxCost)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: rule %s: condition: %w", file, sp.Condition.Line, sp.ID, err)
	}
	prg, err := env.Program(ast, append(costOpts, cel.EvalOptions(cel.OptOptimize))...)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: rule %s: condition: %w", file, sp.Condition.Line, sp.ID, err)
	}
	r.prg = limitProgram(prg, costOpts, &r.costExceeded)
	if len(costOpts) == 0 { // a tracked cost needs the interpreter
		r.fn, _ = compileFn(overloadsOf(env), ast.NativeRep())
	}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if k, ok := intelVarKind(ref.Name); ok && !slices.Contains(r.intel, k) {
			r.intel = append(r.intel, k)
		}
	}
	slices.Sort(r.intel)
	r.gates, r.exact = gatesOf(ast.NativeRep())
	r.exact = r.exact && len(costOpts) == 0 // else CEL may stop it at the cost limit
	msg := sp.Message
	if !msg.Set || msg.Value == "" {
		msg = srcText{Value: r.Name + " on ${tlsentry.server.display}", Line: sp.line, Set: true}
	}
	if r.msg, err = compileMessage(env, file, sp.ID, msg, maxCost, &r.costExceeded); err != nil {
		return nil, err
	}
	return r, nil
}

func compileExpr(env *cel.Env, file, id, what string, src srcText) (*cel.Ast, error) {
	ast, iss := env.Compile(src.Value)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		line := src.Line
		for i, e := range iss.Errors() {
			if i == 0 {
				line = src.Line + e.Location.Line() - 1
			}
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		// CEL names only the first part of an undeclared name ('tls'); an
		// old variable name is reported whole, with its new name.
		if refs := oldNames(env, src.Value); len(refs) > 0 {
			msgs = msgs[:0]
			for i, r := range refs {
				if i == 0 {
					line = src.Line + r.loc.Line() - 1
				}
				msgs = append(msgs, fmt.Sprintf("%d:%d: undeclared reference to '%s' (renamed: did you mean '%s'?)",
					r.loc.Line(), r.loc.Column()+1, r.old, r.now))
			}
		}
		return nil, fmt.Errorf("%s:%d: rule %s: %s: %s", file, line, id, what, strings.Join(msgs, "; "))
	}
	if err := checkAnomalies(ast.NativeRep()); err != nil {
		line := src.Line + err.loc.Line() - 1
		return nil, fmt.Errorf("%s:%d: rule %s: %s: %d:%d: %s", file, line, id, what, err.loc.Line(), err.loc.Column()+1, err.msg)
	}
	return ast, nil
}

// compileMessage splits "text ${expr} text" into parts; each ${...} is a
// CEL expression whose value is written with its string conversion.
func compileMessage(env *cel.Env, file, id string, src srcText, maxCost uint64, exceeded *atomic.Uint64) ([]msgPart, error) {
	var parts []msgPart
	s := src.Value
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			parts = append(parts, msgPart{text: s})
			break
		}
		if i > 0 {
			parts = append(parts, msgPart{text: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%s:%d: rule %s: message: unclosed ${", file, src.Line, id)
		}
		expr := s[i+2 : i+j]
		ast, err := compileExpr(env, file, id, "message ${"+expr+"}", srcText{Value: expr, Line: src.Line})
		if err != nil {
			return nil, err
		}
		costOpts, err := checkCost(env, ast, maxCost)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: rule %s: message ${%s}: %w", file, src.Line, id, expr, err)
		}
		prg, err := env.Program(ast, append(costOpts, cel.EvalOptions(cel.OptOptimize))...)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: rule %s: message: %w", file, src.Line, id, err)
		}
		part := msgPart{prg: limitProgram(prg, costOpts, exceeded)}
		if len(costOpts) == 0 {
			part.fn, _ = compileFn(overloadsOf(env), ast.NativeRep())
		}
		if i, ok := lookupVariable(strings.TrimSpace(expr)); ok {
			part.variable = i + 1
		}
		parts = append(parts, part)
		s = s[i+j+1:]
	}
	if len(parts) == 0 {
		parts = []msgPart{{text: ""}}
	}
	return parts, nil
}

var errNoRules = errors.New("detect: no rules")
