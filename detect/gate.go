package detect

import (
	"math"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// gate is a conjunct of a rule's condition that can be decided in Go
// without running CEL: a bool variable or its negation
// ("tlsentry.server.x509.present && !tlsentry.server.x509.expired && ..."),
// a variable compared with a constant ("tls.client.server_name ==
// ”", "tlsentry.server.dh_prime_bits > 0",
// "tlsentry.server.x509.validity_days > 398", "tlsentry.intel.ja3.list !=
// ”"), a variable in a constant list of strings or integers, an anomaly
// in tlsentry.anomalies ("\"tcp_overlap\" in tlsentry.anomalies"), a
// string variable's startsWith, endsWith or contains of a constant,
// name_matches of two variables or its negation, or a disjunction of
// conjunctions of these ("(a && b) || c": gateAny). When a gate fails
// the condition is false, whatever the rest says (CEL's && is false if any
// operand is false, and || of false operands is false), so the rule is
// skipped: most rules are gated on something most sessions lack (a
// certificate, a weak suite, a listed fingerprint), and a CEL evaluation
// costs far more than a comparison.
type gate struct {
	variable int    // index in variables
	op       gateOp // what to check
	intel    intelKind
	str      string           // gateEq, gateNe, gatePrefix, gateSuffix, gateContains
	strs     []types.String   // gateIn
	nums     []types.Int      // gateInInts
	num      int64            // integer comparisons
	dbl      float64          // comparisons of a double variable
	list     int              // gateNameMatch, gateNoNameMatch: the patterns' variable
	anomaly  tlsparse.Anomaly // gateAnomaly
	alts     [][]gate         // gateAny: the alternatives, each a conjunction
	// exactAlts says, for gateAny, that each alternative's gates decide it.
	exactAlts bool
}

type gateOp uint8

const (
	gateTrue        gateOp = iota // bool variable is true
	gateFalse                     // bool variable is not true (!variable)
	gateIntel                     // intel list of kind matched (intel.X != "")
	gateEq                        // string variable == str
	gateNe                        // string variable != str
	gateIn                        // string variable in strs
	gateInInts                    // int variable in nums
	gateGt                        // int variable > num, or double variable > dbl
	gateGe                        // >=
	gateLt                        // <
	gateLe                        // <=
	gateAnomaly                   // the session has anomaly (its name in tlsentry.anomalies)
	gatePrefix                    // string variable.startsWith(str)
	gateSuffix                    // string variable.endsWith(str)
	gateContains                  // string variable.contains(str)
	gateNameMatch                 // name_matches(variable, list)
	gateNoNameMatch               // !name_matches(variable, list)
	gateAny                       // every gate of one of alts passes
)

// passAll reports whether every gate of gs passes.
func passAll(gs []gate, a *activation) bool {
	for i := range gs {
		if !gs[i].pass(a) {
			return false
		}
	}
	return true
}

// pass reports whether g passes. Its switch names every op, which the
// compiler makes a jump table: gates are most of what judging a session
// runs.
func (g *gate) pass(a *activation) bool {
	switch g.op {
	case gateTrue:
		return isBool(a.value(g.variable), types.True) // bool variables have no dbl accessor
	case gateFalse:
		v := a.value(g.variable)
		if _, ok := v.(types.Bool); !ok {
			return a.leaveToCEL()
		}
		return !isBool(v, types.True)
	case gateIntel:
		return a.intel(g.intel) != nil
	case gateAnomaly:
		return a.s.AllAnomalies().Has(g.anomaly)
	case gateAny:
		for _, alt := range g.alts {
			if passAll(alt, a) {
				return true
			}
		}
		return false
	case gateNameMatch, gateNoNameMatch:
		return g.passNames(a)
	case gateEq, gateNe, gateIn, gatePrefix, gateSuffix, gateContains:
		return g.passString(a)
	case gateInInts, gateGt, gateGe, gateLt, gateLe:
		return g.passNumber(a)
	}
	return a.leaveToCEL()
}

// passString decides a gate on a string variable.
func (g *gate) passString(a *activation) bool {
	var s string
	if f := unboxedVars[g.variable].str; f != nil { // a.strOf, which does not inline
		s = f(a)
	} else if v, ok := a.value(g.variable).(types.String); ok {
		s = string(v)
	} else {
		return a.leaveToCEL()
	}
	switch g.op {
	case gateEq:
		return s == g.str
	case gateNe:
		return s != g.str
	case gatePrefix:
		return strings.HasPrefix(s, g.str)
	case gateSuffix:
		return strings.HasSuffix(s, g.str)
	case gateContains:
		return strings.Contains(s, g.str)
	}
	return slices.Contains(g.strs, types.String(s))
}

// passNumber decides a gate on an int or a double variable.
func (g *gate) passNumber(a *activation) bool {
	if f := unboxedVars[g.variable].dbl; f != nil {
		return g.passDouble(f(a), a)
	}
	v := a.value(g.variable)
	if d, ok := v.(types.Double); ok {
		return g.passDouble(float64(d), a)
	}
	n, ok := v.(types.Int)
	if !ok {
		return a.leaveToCEL()
	}
	switch g.op {
	case gateInInts:
		return slices.Contains(g.nums, n)
	case gateGt:
		return int64(n) > g.num
	case gateGe:
		return int64(n) >= g.num
	case gateLt:
		return int64(n) < g.num
	case gateLe:
		return int64(n) <= g.num
	}
	return a.leaveToCEL()
}

// passDouble compares a double variable's value with dbl; a NaN is left
// to CEL.
func (g *gate) passDouble(d float64, a *activation) bool {
	if math.IsNaN(d) {
		return a.leaveToCEL()
	}
	switch g.op {
	case gateGt:
		return d > g.dbl
	case gateGe:
		return d >= g.dbl
	case gateLt:
		return d < g.dbl
	case gateLe:
		return d <= g.dbl
	}
	return a.leaveToCEL()
}

// leaveToCEL passes a gate that cannot decide (a value of another type
// than the variable's, a NaN) and marks the session undecided: an exact
// rule's condition is then evaluated in CEL.
func (a *activation) leaveToCEL() bool {
	a.undecided = true
	return true
}

// passNames is name_matches of the variable and the list variable (what
// celNameMatches finds for a string and a goStrings), or its negation.
func (g *gate) passNames(a *activation) bool {
	name, ok := a.strOf(g.variable)
	patterns, isList := a.strsOf(g.list)
	if !ok || !isList {
		return a.leaveToCEL()
	}
	matched := slices.ContainsFunc(patterns, func(p string) bool { return MatchHostname(name, p) })
	return matched == (g.op == gateNameMatch)
}

// gatesOf is the gates of a condition: the conjuncts of its top-level &&
// chain that gates can decide. exact says that they decide the whole
// condition: each conjunct has a gate that passes exactly when it is
// true (for values of the variables' types), so when they all pass the
// condition holds and CEL need not run (unless a gate left its decision
// to CEL: activation.undecided).
func gatesOf(a *celast.AST) (gates []gate, exact bool) {
	gb := gateBuilder{refs: a.ReferenceMap()}
	return gb.conjuncts(a.Expr(), nil)
}

type gateBuilder struct {
	refs map[int64]*celast.ReferenceInfo
}

// variable is the index of the variable e names (as compiler.variable).
func (gb gateBuilder) variable(e celast.Expr) (int, bool) {
	if e.Kind() != celast.IdentKind && e.Kind() != celast.SelectKind {
		return 0, false
	}
	if e.Kind() == celast.SelectKind && e.AsSelect().IsTestOnly() {
		return 0, false
	}
	r, ok := gb.refs[e.ID()]
	if !ok || r.Name == "" || r.Value != nil {
		return 0, false
	}
	i, ok := variableIndex[r.Name]
	return i, ok
}

// overload is the one overload id a call resolved to, "" if not one.
func (gb gateBuilder) overload(e celast.Expr) string {
	r, ok := gb.refs[e.ID()]
	if !ok || len(r.OverloadIDs) != 1 {
		return ""
	}
	return r.OverloadIDs[0]
}

// conjuncts appends to gates the gates of e's && chain: each gate fails
// only when e is false. exact says every conjunct has an exact gate.
func (gb gateBuilder) conjuncts(e celast.Expr, gates []gate) (_ []gate, exact bool) {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		exact = true
		for _, arg := range e.AsCall().Args() {
			var ex bool
			gates, ex = gb.conjuncts(arg, gates)
			exact = exact && ex
		}
		return gates, exact
	}
	g, ok := gb.gate(e)
	if !ok {
		return gates, false
	}
	return append(gates, g), g.exact()
}

// exact says whether g passes exactly when its conjunct is true. An intel
// or anomaly gate is left out: it tests the match or the set, not the
// list name or the names the condition reads.
func (g *gate) exact() bool {
	switch g.op {
	case gateIntel, gateAnomaly:
		return false
	case gateAny:
		return g.exactAlts
	}
	return true
}

// disjuncts appends the operands of e's || chain to out.
func disjuncts(e celast.Expr, out []celast.Expr) []celast.Expr {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalOr {
		for _, arg := range e.AsCall().Args() {
			out = disjuncts(arg, out)
		}
		return out
	}
	return append(out, e)
}

// gate is the gate of e, one conjunct: ok is false when it has none.
func (gb gateBuilder) gate(e celast.Expr) (gate, bool) {
	if i, ok := gb.variable(e); ok {
		return gate{variable: i, op: gateTrue}, variables[i].typ == cel.BoolType
	}
	if e.Kind() != celast.CallKind {
		return gate{}, false
	}
	c := e.AsCall()
	args := c.Args()
	switch fn := c.FunctionName(); {
	case fn == operators.LogicalOr:
		return gb.any(e)
	case fn == operators.LogicalNot && len(args) == 1:
		if i, ok := gb.variable(args[0]); ok && variables[i].typ == cel.BoolType {
			return gate{variable: i, op: gateFalse}, true
		}
		if g, ok := gb.nameMatches(args[0]); ok {
			g.op = gateNoNameMatch
			return g, true
		}
		return gate{}, false
	case c.IsMemberFunction():
		return gb.stringFunc(e)
	case fn == "name_matches":
		return gb.nameMatches(e)
	case len(args) != 2:
		return gate{}, false
	case fn == operators.In && args[0].Kind() == celast.LiteralKind:
		// "name" in tlsentry.anomalies: a bit test instead of a list.
		name, isStr := args[0].AsLiteral().(types.String)
		if i, ok := gb.variable(args[1]); ok && isStr && variables[i].name == "tlsentry.anomalies" {
			if an, ok := tlsparse.AnomalyByName(string(name)); ok {
				return gate{variable: i, op: gateAnomaly, anomaly: an}, true
			}
		}
		return gate{}, false
	case fn == operators.In:
		return gb.in(args[0], args[1])
	}
	return gb.compare(c.FunctionName(), args[0], args[1])
}

// any is the gateAny of an || chain: none unless every operand has a gate
// (an operand without one may be true whatever the others are).
func (gb gateBuilder) any(e celast.Expr) (gate, bool) {
	g := gate{op: gateAny, exactAlts: true}
	for _, d := range disjuncts(e, nil) {
		alt, exact := gb.conjuncts(d, nil)
		if len(alt) == 0 {
			return gate{}, false
		}
		g.alts = append(g.alts, alt)
		g.exactAlts = g.exactAlts && exact
	}
	return g, true
}

// stringFunc is the gate of variable.startsWith(lit), .endsWith(lit) or
// .contains(lit).
func (gb gateBuilder) stringFunc(e celast.Expr) (gate, bool) {
	c := e.AsCall()
	ops := map[string]gateOp{overloads.StartsWithString: gatePrefix, overloads.EndsWithString: gateSuffix,
		overloads.ContainsString: gateContains}
	op, known := ops[gb.overload(e)]
	i, isVar := gb.variable(c.Target())
	if !known || !isVar || variables[i].typ != cel.StringType || len(c.Args()) != 1 || c.Args()[0].Kind() != celast.LiteralKind {
		return gate{}, false
	}
	s, ok := c.Args()[0].AsLiteral().(types.String)
	return gate{variable: i, op: op, str: string(s)}, ok
}

// nameMatches is the gate of name_matches(variable, list variable).
func (gb gateBuilder) nameMatches(e celast.Expr) (gate, bool) {
	if e.Kind() != celast.CallKind || gb.overload(e) != "name_matches_string_list" || len(e.AsCall().Args()) != 2 {
		return gate{}, false
	}
	args := e.AsCall().Args()
	i, ok1 := gb.variable(args[0])
	l, ok2 := gb.variable(args[1])
	if !ok1 || !ok2 || variables[i].typ != cel.StringType || !variables[l].typ.IsExactType(listOfStrings) {
		return gate{}, false
	}
	return gate{variable: i, op: gateNameMatch, list: l}, true
}

// in is the gate of variable in [literals].
func (gb gateBuilder) in(elem, list celast.Expr) (gate, bool) {
	i, ok := gb.variable(elem)
	if !ok || list.Kind() != celast.ListKind {
		return gate{}, false
	}
	switch variables[i].typ {
	case cel.StringType:
		if strs, ok := literals[types.String](list); ok {
			return gate{variable: i, op: gateIn, strs: strs}, true
		}
	case cel.IntType:
		if nums, ok := literals[types.Int](list); ok {
			return gate{variable: i, op: gateInInts, nums: nums}, true
		}
	}
	return gate{}, false
}

// maxExactInt bounds the int literals a double is compared with in Go: up
// to 2^53 a float64 holds them exactly.
const maxExactInt = 1 << 53

// compare is the gate of variable op literal: == or != of a string, == or
// an ordering of an int with an int, or an ordering of a double with an
// int or a double.
func (gb gateBuilder) compare(fn string, lhs, rhs celast.Expr) (gate, bool) {
	i, ok := gb.variable(lhs)
	if !ok || rhs.Kind() != celast.LiteralKind {
		return gate{}, false
	}
	lit := rhs.AsLiteral()
	switch typ := variables[i].typ; typ {
	case cel.StringType:
		s, ok := lit.(types.String)
		switch {
		case !ok:
		case fn == operators.Equals:
			return gate{variable: i, op: gateEq, str: string(s)}, true
		case fn == operators.NotEquals:
			if k, ok := intelVarKind(variables[i].name); ok && s == "" && variables[i].name == intelListVar(k) {
				return gate{variable: i, op: gateIntel, intel: k}, true
			}
			return gate{variable: i, op: gateNe, str: string(s)}, true
		}
	case cel.IntType, cel.DoubleType:
		if n, ok := lit.(types.Int); ok && typ == cel.IntType && fn == operators.Equals {
			return gate{variable: i, op: gateInInts, nums: []types.Int{n}}, true
		}
		op := orderOps[fn]
		if op == 0 {
			return gate{}, false
		}
		switch n := lit.(type) {
		case types.Int:
			if typ == cel.IntType {
				return gate{variable: i, op: op, num: int64(n)}, true
			}
			if n >= -maxExactInt && n <= maxExactInt {
				return gate{variable: i, op: op, dbl: float64(n)}, true
			}
		case types.Double:
			if typ == cel.DoubleType && !math.IsNaN(float64(n)) {
				return gate{variable: i, op: op, dbl: float64(n)}, true
			}
		}
	}
	return gate{}, false
}

// orderOps are the gate ops of the ordering operators.
var orderOps = map[string]gateOp{operators.Greater: gateGt, operators.GreaterEquals: gateGe,
	operators.Less: gateLt, operators.LessEquals: gateLe}

// literals is the Go values of list, a list of literals of type T only
// (a list holding another type, or an expression, is left to CEL: its
// equality across types is not Go's).
func literals[T types.String | types.Int](list celast.Expr) ([]T, bool) {
	var out []T
	for _, el := range list.AsList().Elements() {
		if el.Kind() != celast.LiteralKind {
			return nil, false
		}
		v, ok := el.AsLiteral().(T)
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}
