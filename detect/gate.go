package detect

import (
	"slices"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// gate is a conjunct of a rule's condition that can be decided in Go
// without running CEL: a bool variable or its negation
// ("tlsentry.server.x509.present && !tlsentry.server.x509.expired && ..."),
// a variable compared with a constant ("tls.client.server_name ==
// ”", "tlsentry.server.dh_prime_bits > 0", "tlsentry.intel.ja3.list !=
// ”"), a variable in a constant list of strings or integers, or an anomaly in tlsentry.anomalies
// ("\"tcp_overlap\" in tlsentry.anomalies"). When a gate fails
// the condition is false, whatever the rest says (CEL's && is false if any
// operand is false), so the rule is skipped: most rules are gated on
// something most sessions lack (a certificate, a weak suite, a listed
// fingerprint), and a CEL evaluation costs far more than a comparison.
type gate struct {
	variable int    // index in variables
	op       gateOp // what to check
	intel    intelKind
	str      string           // gateEq, gateNe
	strs     []types.String   // gateIn
	nums     []types.Int      // gateInInts
	num      int64            // integer comparisons
	anomaly  tlsparse.Anomaly // gateAnomaly
}

type gateOp uint8

const (
	gateTrue    gateOp = iota // bool variable is true
	gateFalse                 // bool variable is not true (!variable)
	gateIntel                 // intel list of kind matched (intel.X != "")
	gateEq                    // string variable == str
	gateNe                    // string variable != str
	gateIn                    // string variable in strs
	gateInInts                // int variable in nums
	gateGt                    // int variable > num
	gateGe                    // >=
	gateLt                    // <
	gateLe                    // <=
	gateAnomaly               // the session has anomaly (its name in tlsentry.anomalies)
)

func (g *gate) pass(a *activation) bool {
	switch g.op {
	case gateIntel:
		return a.intel(g.intel) != nil
	case gateAnomaly:
		return a.s.AllAnomalies().Has(g.anomaly)
	}
	v := a.value(g.variable) // the index is known: no name lookup
	switch g.op {
	case gateTrue:
		return isBool(v, types.True)
	case gateFalse:
		return !isBool(v, types.True)
	case gateEq, gateNe, gateIn:
		s, ok := v.(types.String)
		if !ok {
			return true // let CEL decide
		}
		switch g.op {
		case gateEq:
			return string(s) == g.str
		case gateNe:
			return string(s) != g.str
		}
		return slices.Contains(g.strs, s)
	}
	n, ok := v.(types.Int)
	if !ok {
		return true
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
	return true
}

func gatesOf(a *celast.AST) []gate {
	refs := a.ReferenceMap()
	varOf := func(e celast.Expr) (int, bool) {
		if e.Kind() != celast.IdentKind && e.Kind() != celast.SelectKind {
			return 0, false
		}
		r, ok := refs[e.ID()]
		if !ok || r.Name == "" {
			return 0, false
		}
		i, ok := variableIndex[r.Name]
		return i, ok
	}
	var gates []gate
	var walk func(e celast.Expr)
	walk = func(e celast.Expr) {
		if i, ok := varOf(e); ok {
			if variables[i].typ == cel.BoolType {
				gates = append(gates, gate{variable: i, op: gateTrue})
			}
			return
		}
		if e.Kind() != celast.CallKind {
			return
		}
		c := e.AsCall()
		args := c.Args()
		switch c.FunctionName() {
		case operators.LogicalAnd:
			for _, arg := range args {
				walk(arg)
			}
			return
		case operators.LogicalNot:
			if i, ok := varOf(args[0]); ok && len(args) == 1 && variables[i].typ == cel.BoolType {
				gates = append(gates, gate{variable: i, op: gateFalse})
			}
			return
		}
		if len(args) != 2 {
			return
		}
		if c.FunctionName() == operators.In && args[0].Kind() == celast.LiteralKind {
			// "name" in tlsentry.anomalies: a bit test instead of a list.
			name, isStr := args[0].AsLiteral().(types.String)
			if i, ok := varOf(args[1]); ok && isStr && variables[i].name == "tlsentry.anomalies" {
				if an, ok := tlsparse.AnomalyByName(string(name)); ok {
					gates = append(gates, gate{variable: i, op: gateAnomaly, anomaly: an})
				}
			}
			return
		}
		i, ok := varOf(args[0])
		if !ok {
			return
		}
		typ := variables[i].typ
		if c.FunctionName() == operators.In {
			if args[1].Kind() != celast.ListKind {
				return
			}
			switch typ {
			case cel.StringType:
				if strs, ok := literals[types.String](args[1]); ok {
					gates = append(gates, gate{variable: i, op: gateIn, strs: strs})
				}
			case cel.IntType:
				if nums, ok := literals[types.Int](args[1]); ok {
					gates = append(gates, gate{variable: i, op: gateInInts, nums: nums})
				}
			}
			return
		}
		if args[1].Kind() != celast.LiteralKind {
			return
		}
		lit := args[1].AsLiteral()
		if typ == cel.StringType {
			s, ok := lit.(types.String)
			if !ok {
				return
			}
			switch c.FunctionName() {
			case operators.Equals:
				gates = append(gates, gate{variable: i, op: gateEq, str: string(s)})
			case operators.NotEquals:
				if k, ok := intelVarKind(variables[i].name); ok && s == "" && variables[i].name == intelListVar(k) {
					gates = append(gates, gate{variable: i, op: gateIntel, intel: k})
				} else {
					gates = append(gates, gate{variable: i, op: gateNe, str: string(s)})
				}
			}
			return
		}
		if typ == cel.IntType {
			n, ok := lit.(types.Int)
			if !ok {
				return
			}
			op := map[string]gateOp{operators.Greater: gateGt, operators.GreaterEquals: gateGe,
				operators.Less: gateLt, operators.LessEquals: gateLe}[c.FunctionName()]
			if op != 0 {
				gates = append(gates, gate{variable: i, op: op, num: int64(n)})
			}
		}
	}
	walk(a.Expr())
	return gates
}

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
