package suricata

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tlsentry/tlsentry/session"
)

// Ruleset is a set of loaded rules, ready to evaluate sessions. It is
// immutable after loading and safe for concurrent use.
type Ruleset struct {
	Rules   []*Rule
	Skipped []Skipped
	// SkipCounts counts skipped rules per keyword.
	SkipCounts map[string]int
	// Errors are rules that could not be parsed (file:line and reason);
	// loading goes on after them, as Suricata does.
	Errors []*ParseError

	pf   [numBufs]*acMatcher
	pfOf [numBufs][][]int32 // pattern index -> rule ids
	// always are the rules without a usable fast pattern.
	always []int32
	bySID  map[[2]uint64]int
	hdr    *headerCache
	pool   sync.Pool
	certs  certCache
}

// Load reads rules from r. name is used in errors. The returned error is an
// I/O error only; bad rules are in Errors, unsupported ones in Skipped.
func Load(r io.Reader, name string, cfg Config) (*Ruleset, error) {
	rs := &Ruleset{SkipCounts: map[string]int{}}
	if err := rs.add(r, name, cfg); err != nil {
		return nil, err
	}
	rs.build()
	return rs, nil
}

// LoadFiles loads several rule files into one ruleset.
func LoadFiles(paths []string, cfg Config) (*Ruleset, error) {
	rs := &Ruleset{SkipCounts: map[string]int{}}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		err = rs.add(f, p, cfg)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	rs.build()
	return rs, nil
}

func (rs *Ruleset) add(r io.Reader, name string, cfg Config) error {
	if rs.hdr == nil {
		rs.hdr = &headerCache{addrs: map[string]*addrExpr{}, ports: map[string]*portExpr{}}
	}
	return readRules(r, func(line int, text string) {
		rule, err := parseRule(text, cfg, rs.hdr)
		if err != nil {
			var se *skipError
			if errors.As(err, &se) {
				sid := uint64(0)
				if rule != nil {
					sid = rule.SID
				}
				rs.Skipped = append(rs.Skipped, Skipped{SID: sid, File: name, Line: line, Keyword: se.keyword, Reason: se.reason})
				rs.SkipCounts[se.keyword]++
				return
			}
			rs.Errors = append(rs.Errors, &ParseError{File: name, Line: line, Reason: err.Error()})
			return
		}
		rule.File, rule.Line = name, line
		key := [2]uint64{rule.GID, rule.SID}
		if rs.bySID == nil {
			rs.bySID = map[[2]uint64]int{}
		}
		if i, dup := rs.bySID[key]; dup {
			// Suricata keeps the rule with the higher rev.
			old := rs.Rules[i]
			loser := rule
			if rule.Rev > old.Rev {
				rule.id = old.id
				rs.Rules[i], loser = rule, old
			}
			rs.Errors = append(rs.Errors, &ParseError{File: loser.File, Line: loser.Line,
				Reason: fmt.Sprintf("duplicate sid %d (gid %d): the rule with the higher rev is kept", rule.SID, rule.GID)})
			return
		}
		rule.id = len(rs.Rules)
		rs.bySID[key] = rule.id
		rs.Rules = append(rs.Rules, rule)
	})
}

// ParseRule parses one rule. An unsupported rule returns an error wrapping
// a skip reason (see Skipped) together with a partial Rule carrying the sid
// when it could be read.
func ParseRule(text string, cfg Config) (*Rule, error) {
	return parseRule(text, cfg, nil)
}

// headerCache shares parsed addresses and ports between the rules of one
// load (rule sets repeat "$HOME_NET any -> $EXTERNAL_NET any" thousands of
// times). The expressions are read-only once parsed.
type headerCache struct {
	addrs map[string]*addrExpr
	ports map[string]*portExpr
}

func (hc *headerCache) addr(s string, vars map[string]string) (*addrExpr, error) {
	if hc == nil {
		return parseAddr(s, vars)
	}
	if a, ok := hc.addrs[s]; ok {
		return a, nil
	}
	a, err := parseAddr(s, vars)
	if err == nil {
		hc.addrs[s] = a
	}
	return a, err
}

func (hc *headerCache) port(s string, vars map[string]string) (*portExpr, error) {
	if hc == nil {
		return parsePort(s, vars)
	}
	if p, ok := hc.ports[s]; ok {
		return p, nil
	}
	p, err := parsePort(s, vars)
	if err == nil {
		hc.ports[s] = p
	}
	return p, err
}

func parseRule(text string, cfg Config, hc *headerCache) (*Rule, error) {
	h, opts, err := splitRule(text)
	if err != nil {
		return nil, err
	}
	r := &Rule{Raw: text, Action: h.action, Proto: strings.ToLower(h.proto), dirs: bothDirs, GID: 1}
	for _, o := range opts {
		if strings.EqualFold(o.name, "sid") {
			fmt.Sscan(strings.TrimSpace(o.value), &r.SID)
		}
	}
	switch r.Action {
	case "alert", "drop", "pass", "reject", "rejectsrc", "rejectdst", "rejectboth", "config":
	default:
		return nil, fmt.Errorf("unknown action %q", trunc(r.Action))
	}
	switch h.dir {
	case "->":
		r.Direction = DirForward
	case "<>":
		r.Direction = DirBoth
	case "=>":
		r.Direction = DirBidir
	default:
		return nil, fmt.Errorf("bad direction %q", trunc(h.dir))
	}
	if r.src, err = hc.addr(h.src, cfg.Vars); err != nil {
		return nil, fmt.Errorf("source address: %v", err)
	}
	if r.dst, err = hc.addr(h.dst, cfg.Vars); err != nil {
		return nil, fmt.Errorf("destination address: %v", err)
	}
	if r.srcPort, err = hc.port(h.sport, cfg.Vars); err != nil {
		return nil, fmt.Errorf("source port: %v", err)
	}
	if r.dstPort, err = hc.port(h.dport, cfg.Vars); err != nil {
		return nil, fmt.Errorf("destination port: %v", err)
	}
	switch r.Proto {
	case "tls", "quic", "tcp", "udp", "ip", "any":
	default:
		return r, skip("proto "+r.Proto, "rule protocol %q is not TLS", r.Proto)
	}
	if err := r.compile(opts); err != nil {
		return r, err
	}
	if err := r.finish(); err != nil {
		return r, err
	}
	return r, nil
}

// finish works out the rule's directions and which sessions it can apply to.
func (r *Rule) finish() error {
	kwDirs := bothDirs
	app := false
	allowTLS, allowQUIC := true, true
	for _, s := range r.sections {
		kwDirs &= s.dirs
		app = true
		allowTLS = allowTLS && bufInfos[s.buf].tls
		allowQUIC = allowQUIC && bufInfos[s.buf].quic
	}
	for _, c := range r.checks {
		kwDirs &= c.dirs
		app = true
		switch c.kind {
		case chkAppProto:
			allowTLS = allowTLS && c.appTLS
			allowQUIC = allowQUIC && c.appQUIC
		default:
			allowQUIC = false // tls.version etc. are registered for ALPROTO_TLS
		}
	}
	switch r.Proto {
	case "tls":
		allowQUIC, app = false, true
	case "quic":
		allowTLS, app = false, true
	case "udp":
		allowTLS = false
	case "tcp":
		allowQUIC = false
	}
	if app && !allowTLS && !allowQUIC {
		return skip("proto "+r.Proto, "keywords do not apply to protocol %q", r.Proto)
	}
	r.needApp, r.allowTLS, r.allowQUIC = app, allowTLS, allowQUIC
	if r.Direction != DirBidir {
		if kwDirs == 0 {
			// Suricata refuses a uni-directional rule mixing to_server-only
			// and to_client-only keywords; "=>" is the way to write it.
			return errors.New("rule mixes to_server and to_client keywords (use => for a bidirectional rule)")
		}
		r.dirs &= kwDirs
		if r.dirs == 0 {
			return errors.New("flow direction conflicts with the keywords' direction")
		}
	}
	return nil
}

// Match returns the rules that match s, in load order.
func (rs *Ruleset) Match(s *session.Session) []*Rule {
	var out []*Rule
	rs.each(s, func(r *Rule) { out = append(out, r) })
	return out
}

// MatchSIDs is Match returning sids.
func (rs *Ruleset) MatchSIDs(s *session.Session) []uint64 {
	var out []uint64
	rs.each(s, func(r *Rule) { out = append(out, r.SID) })
	return out
}

func (rs *Ruleset) getCtx() *evalCtx {
	if c, ok := rs.pool.Get().(*evalCtx); ok {
		return c
	}
	return &evalCtx{mark: make([]uint32, len(rs.Rules)), cache: &rs.certs}
}

func (rs *Ruleset) each(s *session.Session, fn func(*Rule)) {
	if s == nil || len(rs.Rules) == 0 {
		return
	}
	c := rs.getCtx()
	defer rs.pool.Put(c)
	c.reset(s)
	c.gen++
	if c.gen == 0 {
		clear(c.mark)
		c.gen = 1
	}
	c.cands = c.cands[:0]
	add := func(id int32) {
		if c.mark[id] != c.gen {
			c.mark[id] = c.gen
			c.cands = append(c.cands, id)
		}
	}
	for k := range rs.pf {
		m := rs.pf[k]
		if m == nil {
			continue
		}
		for d := 0; d < 2; d++ {
			for _, b := range c.get(bufKind(k), d) {
				m.scan(b, func(p int32) {
					for _, id := range rs.pfOf[k][p] {
						add(id)
					}
				})
			}
		}
	}
	for _, id := range rs.always {
		add(id)
	}
	slices.Sort(c.cands)
	for _, id := range c.cands {
		r := rs.Rules[id]
		if c.matchRule(r) {
			fn(r)
		}
	}
}

func (c *evalCtx) matchRule(r *Rule) bool {
	s := c.s
	switch r.Proto {
	case "tcp", "tls":
		if s.Transport != session.TCP {
			return false
		}
	case "udp", "quic":
		if s.Transport != session.UDP {
			return false
		}
	}
	if r.needApp {
		if !(r.allowTLS && s.Protocol == session.TLS || r.allowQUIC && s.Protocol == session.QUIC) {
			return false
		}
	}
	est := s.ClientPackets > 0 && s.ServerPackets > 0
	if r.flow.established && !est || r.flow.notEstablished && est {
		return false
	}
	if r.Direction == DirBidir {
		if !r.headerMatch(s, 0) {
			return false
		}
		for _, sec := range r.sections {
			if !c.sectionAnyDir(sec, sec.dirs&r.dirs) {
				return false
			}
		}
		for i := range r.checks {
			ck := &r.checks[i]
			ok := false
			for d := 0; d < 2; d++ {
				if dirBit(d)&ck.dirs&r.dirs != 0 && c.matchCheck(ck, d) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	for d := 0; d < 2; d++ {
		if dirBit(d)&r.dirs == 0 || !r.headerMatch(s, d) {
			continue
		}
		if c.matchDir(r, d) {
			return true
		}
	}
	return false
}

func (c *evalCtx) sectionAnyDir(sec *section, dirs dirMask) bool {
	for d := 0; d < 2; d++ {
		if dirBit(d)&dirs != 0 && c.sectionMatch(sec, d) {
			return true
		}
	}
	return false
}

func (c *evalCtx) matchDir(r *Rule, d int) bool {
	for i := range r.checks {
		if !c.matchCheck(&r.checks[i], d) {
			return false
		}
	}
	for _, sec := range r.sections {
		if !c.sectionMatch(sec, d) {
			return false
		}
	}
	return true
}

func (c *evalCtx) sectionMatch(sec *section, d int) bool {
	for _, b := range c.get(sec.buf, d) {
		if c.matchBuf(sec, b) {
			return true
		}
	}
	return false
}

// headerMatch checks addresses and ports for a packet in direction d
// (0: client to server). "<>" accepts either orientation.
func (r *Rule) headerMatch(s *session.Session, d int) bool {
	src, dst := s.Client, s.Server
	if d == 1 {
		src, dst = dst, src
	}
	m := r.src.match(src.Addr()) && r.srcPort.match(src.Port()) && r.dst.match(dst.Addr()) && r.dstPort.match(dst.Port())
	if m || r.Direction != DirBoth {
		return m
	}
	return r.src.match(dst.Addr()) && r.srcPort.match(dst.Port()) && r.dst.match(src.Addr()) && r.dstPort.match(src.Port())
}

// build sets up the prefilter: for each rule the longest (or fast_pattern)
// non-negated content of a section whose buffer is inspected untransformed
// (dotprefix, to_lowercase and to_uppercase allowed) is a literal the
// buffer must contain, case-insensitively; one Aho-Corasick automaton per
// buffer finds the rules worth evaluating.
func (rs *Ruleset) build() {
	var pats [numBufs][][]byte
	var idx [numBufs]map[string]int32
	for _, r := range rs.Rules {
		k, p, ok := fastPattern(r)
		if !ok {
			rs.always = append(rs.always, int32(r.id))
			continue
		}
		if idx[k] == nil {
			idx[k] = map[string]int32{}
		}
		lp := string(lowerInto(nil, p))
		pi, seen := idx[k][lp]
		if !seen {
			pi = int32(len(pats[k]))
			idx[k][lp] = pi
			pats[k] = append(pats[k], []byte(lp))
			rs.pfOf[k] = append(rs.pfOf[k], nil)
		}
		rs.pfOf[k][pi] = append(rs.pfOf[k][pi], int32(r.id))
	}
	for k := range pats {
		if len(pats[k]) > 0 {
			rs.pf[k] = newAC(pats[k])
		}
	}
	n := len(rs.Rules)
	rs.hdr = nil
	rs.pool.New = func() any { return &evalCtx{mark: make([]uint32, n), cache: &rs.certs} }
	sort.Slice(rs.always, func(i, j int) bool { return rs.always[i] < rs.always[j] })
}

func fastPattern(r *Rule) (bufKind, []byte, bool) {
	var best *item
	var bestBuf bufKind
	var bestDot bool
	for _, sec := range r.sections {
		dot, usable := false, true
		for i, t := range sec.transforms {
			switch t {
			case trDotPrefix:
				if i == 0 {
					dot = true
				} else {
					usable = false
				}
			case trLower, trUpper:
			default:
				usable = false
			}
		}
		if !usable {
			continue
		}
		for _, it := range sec.items {
			if it.kind != itemContent || it.negated {
				continue
			}
			p := it.pat
			if dot && p[0] == '.' {
				p = p[1:]
			}
			if len(p) == 0 {
				continue
			}
			better := best == nil || it.fastPattern && !best.fastPattern ||
				it.fastPattern == best.fastPattern && len(p) > len(best.pat)-b2i(bestDot && best.pat[0] == '.')
			if better {
				best, bestBuf, bestDot = it, sec.buf, dot
			}
		}
	}
	if best == nil {
		return 0, nil, false
	}
	p := best.pat
	if bestDot && p[0] == '.' {
		p = p[1:]
	}
	return bestBuf, p, true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
