package detect

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// evalFn is a CEL expression compiled to Go: what the interpreter would
// return for the activation (a *types.Err on error). Calls go to the same
// function bindings the interpreter dispatches to, with the interpreter's
// strictness, so results and error messages are the same; what the
// interpreter does around them (attribute resolution, frames, dispatch)
// is what the closures save.
type evalFn func(a *activation) ref.Val

// overloadTable maps overload ids of env's functions to their bindings.
type overloadTable map[string]*functions.Overload

var overloadCache sync.Map // *cel.Env → overloadTable

func overloadsOf(env *cel.Env) overloadTable {
	if t, ok := overloadCache.Load(env); ok {
		return t.(overloadTable)
	}
	t := overloadTable{}
	defer overloadCache.Store(env, t)
	for _, fd := range env.Functions() {
		bs, err := fd.Bindings()
		if err != nil {
			continue
		}
		for _, b := range bs {
			t[b.Operator] = b
		}
	}
	return t
}

// compiler compiles the checked AST of one expression.
type compiler struct {
	refs map[int64]*celast.ReferenceInfo
	ovl  overloadTable
}

// compileFn compiles a checked expression whose run-time cost needs no
// tracking; ok is false when it has a node the compiler does not know
// (the caller keeps the CEL program).
func compileFn(ovl overloadTable, a *celast.AST) (evalFn, bool) {
	if a == nil || !a.IsChecked() {
		return nil, false
	}
	c := compiler{refs: a.ReferenceMap(), ovl: ovl}
	return c.expr(a.Expr())
}

func (c *compiler) expr(e celast.Expr) (evalFn, bool) {
	if i, ok := c.variable(e); ok {
		return func(a *activation) ref.Val { return a.value(i) }, true
	}
	switch e.Kind() {
	case celast.LiteralKind:
		v := e.AsLiteral()
		return func(*activation) ref.Val { return v }, true
	case celast.ListKind:
		return c.list(e.AsList())
	case celast.CallKind:
		return c.call(e)
	}
	return nil, false
}

// variable is the index of the variable e names (like gatesOf's varOf).
func (c *compiler) variable(e celast.Expr) (int, bool) {
	if e.Kind() != celast.IdentKind && e.Kind() != celast.SelectKind {
		return 0, false
	}
	if e.Kind() == celast.SelectKind && e.AsSelect().IsTestOnly() {
		return 0, false
	}
	r, ok := c.refs[e.ID()]
	if !ok || r.Name == "" || r.Value != nil {
		return 0, false
	}
	i, ok := variableIndex[r.Name]
	return i, ok
}

// list compiles a list of literals to a constant (the only lists the
// rules write: `x in [...]`).
func (c *compiler) list(l celast.ListExpr) (evalFn, bool) {
	if len(l.OptionalIndices()) > 0 {
		return nil, false
	}
	var vals []ref.Val
	for _, el := range l.Elements() {
		if el.Kind() != celast.LiteralKind {
			return nil, false
		}
		vals = append(vals, el.AsLiteral())
	}
	v := types.DefaultTypeAdapter.NativeToValue(vals)
	return func(*activation) ref.Val { return v }, true
}

func (c *compiler) call(e celast.Expr) (evalFn, bool) {
	call := e.AsCall()
	var args []evalFn
	if call.IsMemberFunction() {
		t, ok := c.expr(call.Target())
		if !ok {
			return nil, false
		}
		args = append(args, t)
	}
	for _, x := range call.Args() {
		f, ok := c.expr(x)
		if !ok {
			return nil, false
		}
		args = append(args, f)
	}
	switch call.FunctionName() {
	case operators.LogicalAnd:
		return logic(args, types.False), len(args) == 2
	case operators.LogicalOr:
		return logic(args, types.True), len(args) == 2
	case operators.Conditional:
		return ternary(args), len(args) == 3
	case operators.Equals:
		return equals(args, false), len(args) == 2
	case operators.NotEquals:
		return equals(args, true), len(args) == 2
	case operators.Index, operators.OptIndex, operators.OptSelect:
		return nil, false
	}
	r, ok := c.refs[e.ID()]
	if !ok || len(r.OverloadIDs) != 1 {
		return nil, false
	}
	o := c.ovl[r.OverloadIDs[0]]
	if o == nil { // as the planner does: the function's own binding
		o = c.ovl[call.FunctionName()]
	}
	if o == nil || o.NonStrict || o.LateBound || o.Async != nil {
		return nil, false
	}
	switch r.OverloadIDs[0] {
	case "list_join", "list_join_string":
		return join(o, call.FunctionName(), args), len(args) == 1 && o.Unary != nil || len(args) == 2 && o.Binary != nil
	case "name_matches_string_list":
		return nameMatches(o, call.FunctionName(), args), len(args) == 2 && o.Binary != nil
	}
	if len(args) == 2 && o.Binary != nil {
		if holds, ok := orderings[call.FunctionName()]; ok {
			if cmp := comparerOf(r.OverloadIDs[0]); cmp != nil {
				return compare(o, call.FunctionName(), cmp, holds, args[0], args[1]), true
			}
		}
		if call.FunctionName() == operators.In {
			if f, ok := inLiterals(o, call.FunctionName(), call.Args()[1], args[0], args[1]); ok {
				return f, true
			}
		}
	}
	switch {
	case len(args) == 1 && o.Unary != nil:
		return unaryFn(o, call.FunctionName(), args[0]), true
	case len(args) == 2 && o.Binary != nil:
		return binaryFn(o, call.FunctionName(), args[0], args[1]), true
	}
	return nil, false
}

// logic is && (decisive False) or || (decisive True): the decisive value
// of either side wins, even over an error; else the first error.
func logic(args []evalFn, decisive types.Bool) evalFn {
	l, r := args[0], args[1]
	return func(a *activation) ref.Val {
		lv := l(a)
		if isBool(lv, decisive) {
			return decisive
		}
		rv := r(a)
		if isBool(rv, decisive) {
			return decisive
		}
		if _, ok := lv.(types.Bool); !ok {
			return errOf(lv)
		}
		if _, ok := rv.(types.Bool); !ok {
			return errOf(rv)
		}
		return !decisive
	}
}

// errOf is a non-bool operand of && or || as the interpreter reports it.
func errOf(v ref.Val) ref.Val {
	if _, ok := v.(*types.Err); ok {
		return v
	}
	return types.MaybeNoSuchOverloadErr(v)
}

// isBool reports whether v is b: what v == b says, without the
// runtime.ifaceeq call the compiler makes of that comparison.
func isBool(v ref.Val, b types.Bool) bool {
	x, ok := v.(types.Bool)
	return ok && x == b
}

func ternary(args []evalFn) evalFn {
	cond, t, f := args[0], args[1], args[2]
	return func(a *activation) ref.Val {
		v := cond(a)
		b, ok := v.(types.Bool)
		switch {
		case !ok:
			return errOf(v)
		case b == types.True:
			return t(a)
		}
		return f(a)
	}
}

// equals is == (or != with neg), with a fast path for strings.
func equals(args []evalFn, neg bool) evalFn {
	l, r := args[0], args[1]
	return func(a *activation) ref.Val {
		lv, rv, err := operands(a, l, r)
		if err != nil {
			return err
		}
		if ls, ok := lv.(types.String); ok {
			if rs, ok := rv.(types.String); ok {
				return types.Bool((ls == rs) != neg)
			}
		}
		eq := types.Equal(lv, rv)
		if neg {
			return types.Bool(!isBool(eq, types.True))
		}
		return eq
	}
}

func unaryFn(o *functions.Overload, fn string, arg evalFn) evalFn {
	return func(a *activation) ref.Val {
		v := arg(a)
		if _, ok := v.(*types.Err); ok {
			return v
		}
		return callUnary(o, fn, v)
	}
}

func callUnary(o *functions.Overload, fn string, v ref.Val) ref.Val {
	if o.OperandTrait == 0 || v.Type().HasTrait(o.OperandTrait) {
		return o.Unary(v)
	}
	return receive(fn, o.Operator, v)
}

// operands evaluates the two operands in order; err is the first that
// is a *types.Err (the other values are then nil or unused).
func operands(a *activation, l, r evalFn) (lv, rv, err ref.Val) {
	lv = l(a)
	if _, ok := lv.(*types.Err); ok {
		return nil, nil, lv
	}
	rv = r(a)
	if _, ok := rv.(*types.Err); ok {
		return nil, nil, rv
	}
	return lv, rv, nil
}

func binaryFn(o *functions.Overload, fn string, lhs, rhs evalFn) evalFn {
	return func(a *activation) ref.Val {
		lv, rv, err := operands(a, lhs, rhs)
		if err != nil {
			return err
		}
		return callBinary(o, fn, lv, rv)
	}
}

func callBinary(o *functions.Overload, fn string, lv, rv ref.Val) ref.Val {
	if o.OperandTrait == 0 || lv.Type().HasTrait(o.OperandTrait) {
		return o.Binary(lv, rv)
	}
	return receive(fn, o.Operator, lv, rv)
}

// join is ext.Strings' l.join() or l.join(sep) (args: l, and sep if
// given), with a fast path for a Go list of strings: strings.Join, not a
// boxed value per entry.
func join(o *functions.Overload, fn string, args []evalFn) evalFn {
	if len(args) == 1 {
		arg := args[0]
		return func(a *activation) ref.Val {
			switch v := arg(a).(type) {
			case *goStrings:
				return types.String(strings.Join(v.s, ""))
			case *types.Err:
				return v
			default:
				return callUnary(o, fn, v)
			}
		}
	}
	lhs, rhs := args[0], args[1]
	return func(a *activation) ref.Val {
		lv, rv, err := operands(a, lhs, rhs)
		if err != nil {
			return err
		}
		if l, ok := lv.(*goStrings); ok {
			if sep, ok := rv.(types.String); ok {
				return types.String(strings.Join(l.s, string(sep)))
			}
		}
		return callBinary(o, fn, lv, rv)
	}
}

// nameMatches is name_matches (args: name, patterns) calling
// celNameMatches directly for a string and a Go list of strings: CEL's
// guard around the binding checks the type of each pattern, boxing it,
// and goStrings holds only strings.
func nameMatches(o *functions.Overload, fn string, args []evalFn) evalFn {
	lhs, rhs := args[0], args[1]
	return func(a *activation) ref.Val {
		lv, rv, err := operands(a, lhs, rhs)
		if err != nil {
			return err
		}
		if _, ok := lv.(types.String); ok {
			if _, ok := rv.(*goStrings); ok {
				return celNameMatches(lv, rv)
			}
		}
		return callBinary(o, fn, lv, rv)
	}
}

// orderings say by operator whether a comparison holds for the order of
// its operands (-1, 0 or 1, as Compare has it).
var orderings = map[string]func(order int) bool{
	operators.Less:          func(c int) bool { return c < 0 },
	operators.LessEquals:    func(c int) bool { return c <= 0 },
	operators.Greater:       func(c int) bool { return c > 0 },
	operators.GreaterEquals: func(c int) bool { return c >= 0 },
}

// A comparer orders two operands of the types of one overload, as their
// Compare method does; ok is false for operands of other types, and for
// a NaN (the binding finds every comparison with one false).
type comparer func(lv, rv ref.Val) (order int, ok bool)

// comparerOf is the comparer of a <, <=, > or >= overload (less_int64,
// greater_equals_double_int64, ...), nil for overloads left to the binding.
func comparerOf(overload string) comparer {
	for _, op := range []string{"less_equals_", "greater_equals_", "less_", "greater_"} {
		if operands, ok := strings.CutPrefix(overload, op); ok {
			return comparers[operands]
		}
	}
	return nil
}

// comparers are the comparers by the operand types of an overload's id.
var comparers = map[string]comparer{
	"int64_double": func(lv, rv ref.Val) (int, bool) {
		i, ok1 := lv.(types.Int)
		d, ok2 := rv.(types.Double)
		if !ok1 || !ok2 || math.IsNaN(float64(d)) {
			return 0, false
		}
		return -doubleIntOrder(d, i), true
	},
	"double_int64": func(lv, rv ref.Val) (int, bool) {
		d, ok1 := lv.(types.Double)
		i, ok2 := rv.(types.Int)
		if !ok1 || !ok2 || math.IsNaN(float64(d)) {
			return 0, false
		}
		return doubleIntOrder(d, i), true
	},
	"int64": func(lv, rv ref.Val) (int, bool) {
		x, ok1 := lv.(types.Int)
		y, ok2 := rv.(types.Int)
		return cmp.Compare(x, y), ok1 && ok2
	},
	"double": func(lv, rv ref.Val) (int, bool) {
		x, ok1 := lv.(types.Double)
		y, ok2 := rv.(types.Double)
		if !ok1 || !ok2 || math.IsNaN(float64(x)) || math.IsNaN(float64(y)) {
			return 0, false
		}
		return cmp.Compare(x, y), true
	},
	"timestamp": func(lv, rv ref.Val) (int, bool) {
		x, ok1 := lv.(types.Timestamp)
		y, ok2 := rv.(types.Timestamp)
		if !ok1 || !ok2 {
			return 0, false
		}
		return x.Time.Compare(y.Time), true
	},
}

// doubleIntOrder is Double.Compare's order of a double (not a NaN) and an
// int: an int's double when the double is within the ints' range.
func doubleIntOrder(d types.Double, i types.Int) int {
	switch {
	case d < math.MinInt64:
		return -1
	case d > math.MaxInt64:
		return 1
	}
	return cmp.Compare(d, types.Double(i))
}

// compare is <, <=, > or >= (holds) of operands order orders, in Go; other
// operands go to the binding. The result is the binding's, without its
// guard and the boxing of Compare's -1, 0 or 1 (-1 allocates).
func compare(o *functions.Overload, fn string, order comparer, holds func(int) bool, lhs, rhs evalFn) evalFn {
	return func(a *activation) ref.Val {
		lv, rv, err := operands(a, lhs, rhs)
		if err != nil {
			return err
		}
		if c, ok := order(lv, rv); ok {
			return types.Bool(holds(c))
		}
		return callBinary(o, fn, lv, rv)
	}
}

// inLiterals is `x in [...]` over a list of string literals only, or of
// int literals only (list is its AST, rhs its compiled constant): a Go
// search when x has the literals' type, which is what the list's
// Contains finds (equality of two strings, or of two ints); any other x
// goes to the binding.
func inLiterals(o *functions.Overload, fn string, list celast.Expr, elem, rhs evalFn) (evalFn, bool) {
	if list.Kind() != celast.ListKind || len(list.AsList().OptionalIndices()) > 0 {
		return nil, false
	}
	if strs, ok := literals[types.String](list); ok {
		return inGo(o, fn, strs, elem, rhs), true
	}
	if nums, ok := literals[types.Int](list); ok {
		return inGo(o, fn, nums, elem, rhs), true
	}
	return nil, false
}

func inGo[T types.String | types.Int](o *functions.Overload, fn string, list []T, elem, rhs evalFn) evalFn {
	return func(a *activation) ref.Val {
		v := elem(a)
		if _, ok := v.(*types.Err); ok {
			return v
		}
		if x, ok := v.(T); ok {
			return types.Bool(slices.Contains(list, x))
		}
		return callBinary(o, fn, v, rhs(a))
	}
}

// receive is the interpreter's last resort for an operand without the
// overload's trait.
func receive(fn, overload string, v ref.Val, args ...ref.Val) ref.Val {
	if r, ok := v.(traits.Receiver); ok && v.Type().HasTrait(traits.ReceiverType) {
		return r.Receive(fn, overload, args)
	}
	return types.NewErr("no such overload: %s", fn)
}
