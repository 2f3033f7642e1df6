package detect

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Suppression drops the alerts of some rules for some sessions, as
// Suricata's threshold.config "suppress" does: known false positives (an
// internal service with a private CA, a scanner the team runs). The session
// document is written all the same; only the alert goes, counted per rule
// in Stats.Filtered. Applied with Config.Suppress, checked always. Unlike
// suppress blocks it keeps no state: the same sessions lose their alerts
// whatever the order they are judged in.
//
// Which rules: the ids in Rules, the rules of Categories, or All. Which
// sessions: every list given must match (the entries of one list are
// alternatives); a suppression of Rules or Categories without any list
// suppresses them everywhere (disable_ids does that too, but keeps no
// count). All needs a list.
type Suppression struct {
	Rules      []string // rule ids
	Categories []string // rule categories
	All        bool     // every rule

	// Addresses are IPs or CIDRs (IPv4 or IPv6) matching either side;
	// Sources the client (source.ip), Destinations the server
	// (destination.ip).
	Addresses, Sources, Destinations []string
	// ServerNames are SNI patterns (tls.client.server_name), like domain
	// intel lists: "example.com" covers it and its subdomains,
	// "*.example.com" only its subdomains. Case-insensitive; a session
	// without SNI matches none.
	ServerNames []string
	// CertSHA256 are SHA-256 fingerprints of the leaf certificate
	// (tls.server.hash.sha256): 64 hex digits, colons allowed.
	CertSHA256 []string
	// Reason says why (for whoever reads the configuration).
	Reason string
}

// suppression is a compiled Suppression.
type suppression struct {
	index               int
	all, addr, src, dst []netip.Prefix
	names               []sniPattern
	certs               []string // upper-case hex, as tls.server.hash.sha256
	hasAll, hasAddr     bool
	hasSrc, hasDst      bool
}

type sniPattern struct {
	domain  string // lower-case, no trailing dot
	subOnly bool   // "*.domain": subdomains only
}

// compileSuppressions checks the suppressions against the loaded rules
// (ids and categories, whether enabled or not).
func compileSuppressions(list []Suppression, ids, cats map[string]bool) ([]*suppression, [][]string, error) {
	var out []*suppression
	var targets [][]string // per suppression: the rule ids or categories it names ("" for all)
	for i, s := range list {
		at := func(format string, args ...any) error {
			return fmt.Errorf("detect: suppressions[%d]: %s", i, fmt.Sprintf(format, args...))
		}
		c := &suppression{index: i}
		if s.All && (len(s.Rules) > 0 || len(s.Categories) > 0) {
			return nil, nil, at("all and rules/categories: use one")
		}
		if !s.All && len(s.Rules) == 0 && len(s.Categories) == 0 {
			return nil, nil, at("no rules, categories or all")
		}
		for _, id := range s.Rules {
			if !ids[id] {
				return nil, nil, at("no rule has id %q%s", id, closest(id, ids))
			}
		}
		for _, cat := range s.Categories {
			if !cats[cat] {
				return nil, nil, at("no rule has category %q%s", cat, closest(cat, cats))
			}
		}
		var err error
		parse := func(what string, l []string) ([]netip.Prefix, error) {
			var ps []netip.Prefix
			for _, x := range l {
				p, ok := parseAddrOrCIDR(x)
				if !ok {
					return nil, at("%s: %q is not an IP address or CIDR", what, x)
				}
				ps = append(ps, p)
			}
			return ps, nil
		}
		if c.addr, err = parse("addresses", s.Addresses); err != nil {
			return nil, nil, err
		}
		if c.src, err = parse("sources", s.Sources); err != nil {
			return nil, nil, err
		}
		if c.dst, err = parse("destinations", s.Destinations); err != nil {
			return nil, nil, err
		}
		c.hasAddr, c.hasSrc, c.hasDst = len(s.Addresses) > 0, len(s.Sources) > 0, len(s.Destinations) > 0
		for _, n := range s.ServerNames {
			p, ok := parseSNIPattern(n)
			if !ok {
				return nil, nil, at("server_names: %q is not a domain name or *.domain", n)
			}
			c.names = append(c.names, p)
		}
		for _, h := range s.CertSHA256 {
			x := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(h), ":", ""))
			if b, err := hex.DecodeString(x); err != nil || len(b) != 32 {
				return nil, nil, at("cert_sha256: %q is not a SHA-256 fingerprint (64 hex digits)", h)
			}
			c.certs = append(c.certs, x)
		}
		selectors := c.hasAddr || c.hasSrc || c.hasDst || len(c.names) > 0 || len(c.certs) > 0
		if s.All && !selectors {
			return nil, nil, at("all without addresses, sources, destinations, server_names or cert_sha256 would drop every alert")
		}
		out = append(out, c)
		var t []string
		if s.All {
			t = []string{""}
		}
		for _, id := range s.Rules {
			t = append(t, "id:"+id)
		}
		for _, cat := range s.Categories {
			t = append(t, "cat:"+cat)
		}
		targets = append(targets, t)
	}
	return out, targets, nil
}

// appliesTo reports whether the targets of a suppression name rule r.
func appliesTo(targets []string, r *Rule) bool {
	for _, t := range targets {
		if t == "" || t == "id:"+r.ID || t == "cat:"+r.Category {
			return true
		}
	}
	return false
}

func closest(s string, set map[string]bool) string {
	best, bestD := "", -1
	for c := range set {
		if d := editDistance(s, c); bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(3, len(s)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func parseAddrOrCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func parseSNIPattern(s string) (sniPattern, bool) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	var p sniPattern
	if rest, ok := strings.CutPrefix(d, "*."); ok {
		p.subOnly, d = true, rest
	}
	if !isDomain(d) {
		return p, false
	}
	p.domain = d
	return p, true
}

func (p sniPattern) match(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == p.domain {
		return !p.subOnly
	}
	return len(name) > len(p.domain) && strings.HasSuffix(name, p.domain) && name[len(name)-len(p.domain)-1] == '.'
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

// match reports whether the session of a is one the suppression is for.
func (c *suppression) match(a *activation) bool {
	cl, sv := a.s.Client.Addr(), a.s.Server.Addr()
	if c.hasAddr && !inPrefixes(c.addr, cl) && !inPrefixes(c.addr, sv) {
		return false
	}
	if c.hasSrc && !inPrefixes(c.src, cl) {
		return false
	}
	if c.hasDst && !inPrefixes(c.dst, sv) {
		return false
	}
	if len(c.names) > 0 {
		sni := a.sni()
		if sni == "" || !slices.ContainsFunc(c.names, func(p sniPattern) bool { return p.match(sni) }) {
			return false
		}
	}
	if len(c.certs) > 0 {
		h := a.leafStr(func(l *leafView) string { return l.SHA256 })
		if h == "" || !slices.Contains(c.certs, strings.ToUpper(h)) {
			return false
		}
	}
	return true
}
