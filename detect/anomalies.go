package detect

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// anomalyVars are the variables that list anomaly names
// (tlsparse.AnomalyTable).
var anomalyVars = map[string]bool{"tlsentry.anomalies": true, "tlsentry.parse_anomalies": true}

// exprErr is a mistake at a place in an expression.
type exprErr struct {
	loc common.Location
	msg string
}

// checkAnomalies refuses an expression that compares an anomaly list with a
// name tlsparse does not know: a misspelt anomaly would never match, and
// nothing would say so. It looks at string constants tested against the
// lists or their elements:
//
//	"midstream" in tlsentry.anomalies
//	tlsentry.anomalies.exists(a, a == "midstream")   // and all, exists_one, filter, map
//	tlsentry.anomalies.exists(a, a in ["tcp_gap", "tcp_overlap"])
//	tlsentry.anomalies.exists(a, a.startsWith("quic_"))   // endsWith, contains: some name must fit
//	tlsentry.anomalies[0] == "midstream"
//	tlsentry.anomalies == ["midstream"]
//
// An anomaly name computed at run time is not judged.
func checkAnomalies(a *celast.AST) *exprErr {
	c := anomalyChecker{refs: a.ReferenceMap(), info: a.SourceInfo()}
	c.walk(a.Expr(), nil)
	return c.err
}

type anomalyChecker struct {
	refs map[int64]*celast.ReferenceInfo
	info *celast.SourceInfo
	err  *exprErr
}

// isList reports whether e reads an anomaly list variable.
func (c *anomalyChecker) isList(e celast.Expr) bool {
	if e.Kind() != celast.IdentKind && e.Kind() != celast.SelectKind {
		return false
	}
	r, ok := c.refs[e.ID()]
	return ok && anomalyVars[r.Name]
}

// isElem reports whether e is one element of an anomaly list: an iteration
// variable over one (elems), or an index into one.
func (c *anomalyChecker) isElem(e celast.Expr, elems []string) bool {
	switch e.Kind() {
	case celast.IdentKind:
		return slices.Contains(elems, e.AsIdent())
	case celast.CallKind:
		call := e.AsCall()
		return (call.FunctionName() == operators.Index || call.FunctionName() == operators.OptIndex) &&
			len(call.Args()) == 2 && c.isList(call.Args()[0])
	}
	return false
}

func (c *anomalyChecker) fail(id int64, msg string) {
	if c.err == nil {
		c.err = &exprErr{c.info.GetStartLocation(id), msg}
	}
}

// name checks a constant that should be an anomaly name.
func (c *anomalyChecker) name(e celast.Expr) {
	s, ok := stringLit(e)
	if !ok {
		return
	}
	if _, ok := tlsparse.AnomalyByName(s); !ok {
		c.fail(e.ID(), fmt.Sprintf("no anomaly is named %q%s", s, suggestAnomaly(s, nil)))
	}
}

// names checks the elements of a constant list.
func (c *anomalyChecker) names(e celast.Expr) {
	if e.Kind() != celast.ListKind {
		return
	}
	for _, el := range e.AsList().Elements() {
		c.name(el)
	}
}

// part checks the argument of elem.startsWith(s) (endsWith, contains): some
// anomaly name must fit.
func (c *anomalyChecker) part(fn string, e celast.Expr) {
	s, ok := stringLit(e)
	if !ok {
		return
	}
	fits := func(name string) bool {
		switch fn {
		case "startsWith":
			return strings.HasPrefix(name, s)
		case "endsWith":
			return strings.HasSuffix(name, s)
		}
		return strings.Contains(name, s)
	}
	for _, info := range tlsparse.AnomalyTable() {
		if fits(info.Name) {
			return
		}
	}
	c.fail(e.ID(), fmt.Sprintf("no anomaly name %s %q%s", map[string]string{
		"startsWith": "starts with", "endsWith": "ends with", "contains": "contains"}[fn], s, suggestAnomaly(s, fits)))
}

func (c *anomalyChecker) walk(e celast.Expr, elems []string) {
	if c.err != nil {
		return
	}
	switch e.Kind() {
	case celast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch fn := call.FunctionName(); {
		case fn == operators.In && len(args) == 2:
			if c.isList(args[1]) {
				c.name(args[0])
			}
			if c.isElem(args[0], elems) {
				c.names(args[1])
			}
		case (fn == operators.Equals || fn == operators.NotEquals) && len(args) == 2:
			for i := range 2 {
				x, y := args[i], args[1-i]
				if c.isElem(x, elems) {
					c.name(y)
				}
				if c.isList(x) {
					c.names(y)
				}
			}
		case (fn == "startsWith" || fn == "endsWith" || fn == "contains") && call.IsMemberFunction() && len(args) == 1:
			if c.isElem(call.Target(), elems) {
				c.part(fn, args[0])
			}
		}
		if call.IsMemberFunction() {
			c.walk(call.Target(), elems)
		}
		for _, arg := range args {
			c.walk(arg, elems)
		}
	case celast.ComprehensionKind:
		comp := e.AsComprehension()
		c.walk(comp.IterRange(), elems)
		// Inside, the iteration and accumulator variables shadow outer names.
		shadow := []string{comp.IterVar(), comp.AccuVar()}
		if comp.HasIterVar2() {
			shadow = append(shadow, comp.IterVar2())
		}
		inner := slices.DeleteFunc(slices.Clone(elems), func(n string) bool { return slices.Contains(shadow, n) })
		if c.isList(comp.IterRange()) {
			if comp.HasIterVar2() {
				inner = append(inner, comp.IterVar2()) // (index, value)
			} else {
				inner = append(inner, comp.IterVar())
			}
		}
		c.walk(comp.AccuInit(), elems)
		c.walk(comp.LoopCondition(), inner)
		c.walk(comp.LoopStep(), inner)
		c.walk(comp.Result(), slices.DeleteFunc(slices.Clone(elems), func(n string) bool { return n == comp.AccuVar() }))
	case celast.SelectKind:
		c.walk(e.AsSelect().Operand(), elems)
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			c.walk(el, elems)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			m := en.AsMapEntry()
			c.walk(m.Key(), elems)
			c.walk(m.Value(), elems)
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			c.walk(f.AsStructField().Value(), elems)
		}
	}
}

func stringLit(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// suggestAnomaly returns ` (did you mean "x"?)` with the anomaly name
// closest to s (among those fits accepts, when fits is not nil).
func suggestAnomaly(s string, fits func(string) bool) string {
	best, bestD := "", -1
	for _, info := range tlsparse.AnomalyTable() {
		cand := info.Name
		if fits != nil {
			// Compare s with the part of the name it would stand for.
			d := -1
			for i := 0; i+len(s) <= len(cand)+2 && i <= len(cand); i++ {
				part := cand[i:min(len(cand), i+len(s))]
				if x := editDistance(s, part); d < 0 || x < d {
					d = x
				}
			}
			if bestD < 0 || d < bestD {
				best, bestD = cand, d
			}
			continue
		}
		if d := editDistance(s, cand); bestD < 0 || d < bestD {
			best, bestD = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
