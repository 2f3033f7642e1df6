// Package suricata parses Suricata rule files and evaluates their TLS rules
// against tlsentry sessions, with Suricata 8 semantics judged per connection:
// a rule matches a session when Suricata would alert on some packet of that
// connection.
//
// Only rules whose every keyword is understood are loaded; the others are
// returned as Skipped with the keyword that stopped them, never half-applied.
//
// Usage:
//
//	rs, err := suricata.LoadFiles([]string{"emerging-tls.rules"}, suricata.Config{Vars: vars})
//	// rs.Errors: unparsable rules (file:line: reason); rs.Skipped / rs.SkipCounts: unsupported ones
//	for _, r := range rs.Match(sess) { ... r.SID, r.Msg, r.Action, r.Threshold ... }
//
// Per-connection judgement. Suricata inspects each packet in one direction
// with the application-layer state reached so far; this package looks at the
// finished session and asks whether some direction (to_server: ClientHello,
// client certificate; to_client: ServerHello, server certificates) matches
// every keyword of the rule, as Suricata would for a packet of that
// direction. Bidirectional rules (=>) let each keyword use its own
// direction. A "->" rule mixing to_server-only and to_client-only buffers is
// refused, as Suricata 8 refuses it.
//
// Known differences from Suricata, by design or approximation:
//   - ssl_state is judged on the handshake messages seen (client_keyx is
//     inferred from a TLS <= 1.2 handshake going encrypted, not resumed);
//     "unknown" never matches.
//   - tls.version / ssl_version use the ClientHello's (first valid
//     supported_versions entry, else legacy) and the ServerHello's final
//     version, not the version of the record a packet happened to carry.
//   - tls_cert_expired / tls_cert_valid compare with the session's last
//     packet time (Suricata: the flow's last packet at inspection time).
//   - pcre runs on Go's RE2; constructs RE2 lacks are refused, see compilePcre.
//   - threshold, detection_filter and pass rules are data for the caller:
//     Match reports every matching rule whatever its action. Package detect
//     applies them (rules/README.md, "Suricata-format rules").
//
// As in Suricata's SigParseOptions, an option ends at the first ';' without
// a backslash before it: quotes do not protect a ';'. Header addresses
// match by binary search in an interval set computed once per distinct
// expression (ipset.go), so IP-list rules cost no more than others.
package suricata

import (
	"fmt"
	"net/netip"
)

// Direction is the rule header's direction operator.
type Direction uint8

const (
	DirForward Direction = iota // ->
	DirBoth                     // <>: either orientation of the header
	DirBidir                    // =>: Suricata 8 bidirectional rule (keywords of both directions)
)

func (d Direction) String() string {
	switch d {
	case DirBoth:
		return "<>"
	case DirBidir:
		return "=>"
	}
	return "->"
}

// Threshold is a parsed threshold: keyword. It is kept as data; the engine
// does not apply it.
type Threshold struct {
	Type    string // limit, threshold, both, backoff
	Track   string // by_src, by_dst, by_rule, by_both, by_flow
	Count   int
	Seconds int
	// Multiplier is backoff's (type backoff, track by_flow, count 1,
	// multiplier 10: alerts on the 1st, 10th, 100th... match).
	Multiplier int
	Raw        string
}

// DetectionFilter is a parsed detection_filter: keyword, kept as data.
type DetectionFilter struct {
	Track   string
	Count   int
	Seconds int
	Raw     string
}

// Rule is one loaded (fully supported) rule.
type Rule struct {
	Action    string // alert, drop, pass, reject, ...
	Proto     string // tls, tcp, udp, ip, any, quic
	Direction Direction

	SID, Rev, GID   uint64
	Msg             string
	Classtype       string
	Priority        int
	References      []string
	Metadata        []string
	Target          string
	Threshold       *Threshold
	DetectionFilter *DetectionFilter

	File string
	Line int
	Raw  string // the rule text (continuation lines joined)

	src, dst         *addrExpr
	srcPort, dstPort *portExpr

	sections []*section
	checks   []check
	flow     flowOpts
	// dirs is the set of directions the rule can match in (after flow:
	// and the direction of its keywords); bidir rules use each keyword's own.
	dirs dirMask
	// needTLS/allowQUIC describe which sessions the rule's app-layer can
	// apply to.
	needApp   bool
	allowTLS  bool
	allowQUIC bool

	id int // index in the ruleset
}

// Skipped is a rule the loader did not load because it uses something
// this package does not implement (or rejects as Suricata would).
type Skipped struct {
	SID     uint64
	File    string
	Line    int
	Keyword string // the keyword or construct responsible
	Reason  string
}

func (s Skipped) String() string {
	return fmt.Sprintf("%s:%d: sid %d skipped: %s: %s", s.File, s.Line, s.SID, s.Keyword, s.Reason)
}

// ParseError is a rule that cannot be parsed at all.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// skipError is returned by the option compiler for unsupported keywords.
type skipError struct {
	keyword, reason string
}

func (e *skipError) Error() string { return e.keyword + ": " + e.reason }

func skip(kw, format string, a ...any) error {
	return &skipError{keyword: kw, reason: fmt.Sprintf(format, a...)}
}

// dirMask is a set of packet directions.
type dirMask uint8

const (
	toServer dirMask = 1 << iota
	toClient
	bothDirs = toServer | toClient
)

type flowOpts struct {
	established    bool
	notEstablished bool
}

// addrExpr is a Suricata address: a list whose positive entries are OR'd
// (none: any) and whose negated entries exclude.
type addrExpr struct {
	any      bool
	prefixes []netip.Prefix
	children []*addrExpr
	negated  bool
	// set is what the whole expression matches (top-level expressions:
	// see parseAddr); match is a binary search in it.
	set *ipSet
}

func (a *addrExpr) match(ip netip.Addr) bool {
	if a.set != nil && ip.IsValid() {
		return a.set.contains(ip)
	}
	return a.matchTree(ip)
}

// matchTree walks the expression: the reference semantics of toSet.
func (a *addrExpr) matchTree(ip netip.Addr) bool {
	r := a.matchInner(ip)
	if a.negated {
		return !r
	}
	return r
}

func (a *addrExpr) matchInner(ip netip.Addr) bool {
	if a.any {
		return true
	}
	ip = ip.Unmap()
	pos, hasPos := false, false
	for _, p := range a.prefixes {
		hasPos = true
		if p.Contains(ip) {
			pos = true
		}
	}
	for _, c := range a.children {
		if c.negated {
			if !c.match(ip) {
				return false
			}
			continue
		}
		hasPos = true
		if c.match(ip) {
			pos = true
		}
	}
	return pos || !hasPos
}

// portExpr is like addrExpr for ports.
type portExpr struct {
	any      bool
	ranges   [][2]uint16
	children []*portExpr
	negated  bool
}

func (p *portExpr) match(port uint16) bool {
	r := p.matchInner(port)
	if p.negated {
		return !r
	}
	return r
}

func (p *portExpr) matchInner(port uint16) bool {
	if p.any {
		return true
	}
	pos, hasPos := false, false
	for _, r := range p.ranges {
		hasPos = true
		if port >= r[0] && port <= r[1] {
			pos = true
		}
	}
	for _, c := range p.children {
		if c.negated {
			if !c.match(port) {
				return false
			}
			continue
		}
		hasPos = true
		if c.match(port) {
			pos = true
		}
	}
	return pos || !hasPos
}
