package detect

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// DefaultMaxRuleCost is the default bound on the cost of one CEL expression
// (a rule's condition, or one ${...} of its message), in CEL cost units
// (about one per variable access, comparison or comprehension step). A
// condition whose worst-case cost, as cel-go's estimator puts it with the
// size hints below, is over the bound is refused at load; a condition that
// reaches it while evaluating one session is interrupted, counted
// (Stats.CostExceeded, and EvalErrors as before) and does not match.
//
// A cost unit is 10 to 25 ns of CPU (25 with cost tracking), so a rule
// takes at most 10 to 25 ms a session. One comprehension over the largest
// list a ClientHello can carry (32,767 cipher suites) is estimated at about
// 200,000 (on a real ClientHello of 20 suites it costs about 120); the
// largest built-in estimate is 255,000 (cert.name_mismatch's message, a
// join of 1,000 names). Two nested comprehensions over the cipher suites
// are estimated at about 9×10⁹, three at 3×10¹⁴, and are refused.
const DefaultMaxRuleCost = 1_000_000

// sizeHints are the sizes the cost estimate assumes for the list and string
// variables. Each has two: the hint a condition is judged by at load (over
// the limit with it: refused), and the hard bound of what the parser can
// produce (tlsparse keeps at most a 64 KiB ClientHello and a 512 KiB
// Certificate message). The TLS lists' hints are their wire format's
// bounds (a length field of 2 bytes over entries of 2 bytes) and equal the
// hard bound; the others are chosen, and a session beyond them may make a
// rule reach the run-time limit and not match. An expression whose cost
// is within the limit even at the hard bounds runs without cost tracking,
// which costs allocations at each evaluation.
var sizeHints = map[string]sizeHint{
	// 2-byte vector length / 2-byte entries.
	"tlsentry.client.cipher_ids": {list: 65535 / 2},
	"tlsentry.client.group_ids":  {list: 65535 / 2},
	// Extensions: 2-byte block length, 4 bytes each at least.
	"tlsentry.client.extension_ids": {list: 65535 / 4},
	// supported_versions: 1-byte length / 2-byte entries.
	"tlsentry.client.version_ids": {list: 255 / 2},
	// ALPN: 2-byte length, each name at least 2 bytes (length + 1), at most
	// 255 (hard); chosen: 32 bytes (registered ones have at most 16), since
	// the estimate multiplies entries by their size where the wire bounds
	// their sum.
	"tlsentry.client.alpn": {list: 65535 / 2, elem: 32, hardElem: 255},
	"tls.next_protocol":    {str: 255},
	// Anomaly sets are 64-bit sets.
	"tlsentry.anomalies":       {list: 64, elem: 64},
	"tlsentry.parse_anomalies": {list: 64, elem: 64},
	// Chosen: 1,000 certificate names (SAN DNS names) of a DNS name's 253
	// bytes; public CAs issue at most a few hundred (Let's Encrypt: 100).
	// Hard: a name takes at least 2 bytes of a 512 KiB message (its SAN
	// entry's tag and length; crypto/x509 keeps empty dNSNames), and all the
	// names with those 2 bytes each fit in it (wire; a name has at most as
	// many code points as encoded bytes).
	"tlsentry.server.x509.names": {list: maxHintCertNames, elem: 253,
		hardList: tlsparse.MaxCertificateMessage / 2, hardElem: tlsparse.MaxCertificateMessage,
		wire: tlsparse.MaxCertificateMessage, wireEach: 2},
	// The SNI host name: chosen 1,024 bytes (a DNS name has at most 253),
	// hard 64 KiB.
	"tls.client.server_name":  {str: 1024, hardStr: tlsparse.MaxClientHello},
	"tlsentry.server.display": {str: 1024, hardStr: tlsparse.MaxClientHello},
}

// maxHintCertNames is the number of certificate names the estimate assumes.
const maxHintCertNames = 1000

// defaultStrHint is the size assumed for other string variables
// (distinguished names, algorithm names, hashes, addresses): chosen, 4 KiB;
// hard, the largest certificate message.
const defaultStrHint = 4096

type sizeHint struct {
	list, hardList uint64 // entries of a list variable
	elem, hardElem uint64 // bytes of each string entry
	str, hardStr   uint64 // bytes of a string variable
	// wire bounds a list's entries together (hard, 0: no bound): their
	// sizes plus wireEach for each (its length prefix) are at most wire,
	// as they all come from one message.
	wire, wireEach uint64
}

func (h sizeHint) bounds(hard bool) (list, elem, str uint64) {
	list, elem, str = h.list, h.elem, h.str
	if hard {
		list, elem, str = max(list, h.hardList), max(elem, h.hardElem), max(str, h.hardStr)
	}
	return
}

// costEstimator gives cel-go's cost estimator the sizes of the variables
// (the chosen hints, or the hard bounds) and the cost of name_matches.
type costEstimator struct{ hard bool }

func (ce costEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	p := n.Path()
	if len(p) == 0 {
		return nil
	}
	name := strings.Join(p, ".")
	elem := false
	if base, ok := strings.CutSuffix(name, ".@items"); ok {
		name, elem = base, true
	}
	h, ok := sizeHints[name]
	if !ok {
		if i, known := variableIndex[name]; known && !elem && variables[i].typ == cel.StringType {
			h = sizeHint{str: defaultStrHint, hardStr: tlsparse.MaxCertificateMessage}
		} else {
			return nil
		}
	}
	list, elemSize, str := h.bounds(ce.hard)
	var sz cost.SizeEstimate
	switch {
	case elem && elemSize > 0:
		sz = cost.RangedSizeEstimate(0, elemSize)
	case elem:
		return nil
	case list > 0:
		sz = cost.RangedSizeEstimate(0, list)
	default:
		sz = cost.RangedSizeEstimate(0, str)
	}
	return &sz
}

func (ce costEstimator) EstimateCallCost(fn, overload string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	if overload != "name_matches_string_list" || len(args) != 2 {
		return nil
	}
	l := cost.EstimateSize(ce, args[1])
	return cost.NewCallEstimate(cost.RangedCostEstimate(1, cost.SafeAdd(1, cost.SafeMultiply(l.Max, nameMatchCost))), nil)
}

// hardCostOptions replace, at the hard bounds, ext.Strings' estimate of a
// join (which the Estimator cannot override) with joinCost's.
var hardCostOptions = []cost.Option{
	cost.OverloadCostEstimate("list_join", joinEstimator(listJoinModel("list_join", false))),
	cost.OverloadCostEstimate("list_join_string", joinEstimator(listJoinModel("list_join_string", true))),
}

// listJoinModel is ext.Strings' model of l.join() (or l.join(sep)): one,
// a tenth of the entries plus one, and the result's length, which is at
// most the entries' sizes (plus a separator each).
func listJoinModel(id string, sep bool) cost.OverloadModel {
	res := cost.ElemTotal(cost.Target())
	if sep {
		res = cost.Sum(res, cost.Mul(cost.Length(cost.Target()), cost.Arg(0)))
	}
	return cost.MemberOverload(id,
		cost.EvalCost(cost.Sum(cost.Const(cost.CallCost), cost.StringScan(cost.Sum(cost.Length(cost.Target()), cost.Const(1))), cost.Length(cost.Result()))),
		cost.ResultSize(cost.AtMost(res)))
}

// joinEstimator is joinCost for a list variable with a wire bound, else
// the model's estimate.
func joinEstimator(m cost.OverloadModel) cost.FunctionEstimator {
	model := m.FunctionEstimator()
	return func(est cost.Estimator, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
		if target != nil && len(args) <= 1 {
			var sep uint64
			if len(args) == 1 {
				sep = cost.EstimateSize(est, args[0]).Max
			}
			if c := joinCost(*target, sep); c != nil {
				return c
			}
		}
		return model(est, target, args)
	}
}

// joinCost bounds the join of a list variable whose entries are bounded
// together (sizeHint.wire) with a separator of at most sep code points;
// nil for other lists. The cost is the model's with the sound wire bound
// in place of entries × entry size: n entries of T code points in all
// have T + n×wireEach ≤ wire, so n ≤ wire/wireEach, and the result, at
// most T + n×sep, is at most wire + n×(sep-wireEach) (wire when the
// separator is no longer than wireEach).
func joinCost(target cost.AstNode, sep uint64) *cost.CallEstimate {
	h, ok := sizeHints[strings.Join(target.Path(), ".")]
	if !ok || h.wire == 0 || h.wireEach == 0 {
		return nil
	}
	n := h.wire / h.wireEach
	res := cost.SafeAdd(h.wire, cost.SafeMultiply(n, cost.SafeSubtract(sep, h.wireEach)))
	sz := cost.RangedSizeEstimate(0, res)
	scan := cost.RangedSizeEstimate(1, cost.SafeAdd(n, 1)).MultiplyByCostFactor(cost.StringTraversalCostFactor)
	c := cost.FixedCostEstimate(cost.CallCost).Add(scan).Add(cost.RangedCostEstimate(0, res))
	return cost.NewCallEstimate(c, &sz)
}

// nameMatchCost is the cost of name_matches per pattern: one MatchHostname,
// Go code comparing at most a DNS name's length, about as long as two CEL
// steps. (Counted as CEL counts a string comparison, a 174,762-name
// certificate would put cert.name_mismatch over the limit, and a
// certificate stuffed with names would evade it.)
const nameMatchCost = 2

// CallCost is the run-time cost of name_matches (the interpreter counts one
// per call otherwise).
func (costEstimator) CallCost(fn, overload string, args []ref.Val, result ref.Val) *uint64 {
	if overload != "name_matches_string_list" || len(args) != 2 {
		return nil
	}
	var n uint64
	switch l := args[1].(type) {
	case *goStrings:
		n = uint64(len(l.s))
	case traits.Lister:
		if sz, ok := l.Size().(types.Int); ok {
			n = uint64(sz)
		}
	}
	c := 1 + n*nameMatchCost
	return &c
}

// checkCost refuses an expression whose estimated worst-case cost (with the
// chosen hints) is over maxCost. It returns the program options that bound
// its run-time cost: none when it is within maxCost even at the hard
// bounds, else cost tracking with the limit.
func checkCost(env *cel.Env, ast *cel.Ast, maxCost uint64) ([]cel.ProgramOption, error) {
	est, err := env.EstimateCost(ast, costEstimator{})
	if err != nil {
		return nil, fmt.Errorf("cost estimate: %w", err)
	}
	if est.Max > maxCost {
		return nil, fmt.Errorf("estimated cost %s is over the limit of %d (nested comprehensions over lists multiply their sizes: a list of cipher suites can have 32,767 entries)",
			costString(est.Max), maxCost)
	}
	if hard, err := env.EstimateCost(ast, costEstimator{hard: true}, hardCostOptions...); err == nil && hard.Max <= maxCost {
		return nil, nil
	}
	return []cel.ProgramOption{cel.CostTracking(costEstimator{}), cel.CostLimit(maxCost)}, nil
}

func costString(c uint64) string {
	if c == ^uint64(0) {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

// limitProgram wraps a program built with the options checkCost returned
// so that it counts the evaluations its cost limit interrupts; a program
// without a limit is returned as it is.
func limitProgram(p cel.Program, costOpts []cel.ProgramOption, exceeded *atomic.Uint64) cel.Program {
	if len(costOpts) == 0 {
		return p
	}
	return limitedProgram{p, exceeded}
}

// limitedProgram counts the evaluations its cost limit interrupted.
type limitedProgram struct {
	cel.Program
	exceeded *atomic.Uint64
}

func (p limitedProgram) Eval(in any) (ref.Val, *cel.EvalDetails, error) {
	v, det, err := p.Program.Eval(in)
	if err != nil && isCostExceeded(err) {
		p.exceeded.Add(1)
	}
	return v, det, err
}

func isCostExceeded(err error) bool {
	var ce interpreter.EvalCancelledError
	return errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded
}
