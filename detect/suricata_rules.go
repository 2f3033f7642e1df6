package detect

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tlsentry/tlsentry/detect/suricata"
	"github.com/tlsentry/tlsentry/session"
)

// Suricata-format rule files (*.rules) load beside the YAML ones: each
// fully supported rule becomes a Rule (id: the sid; name: msg; version:
// rev; category: classtype; severity from the priority, else the
// classtype's; ruleset: the file's base name) and Evaluate turns each rule
// detect/suricata matches into an Alert. threshold and detection_filter
// run on the limiter of suppress and threshold blocks (with
// Config.Suppress); a matching pass rule drops the session's Suricata
// alerts (not the CEL rules'). rules/README.md, "Suricata-format rules",
// has the details.

// isSuricataFile reports whether a rule file is in Suricata's format.
func isSuricataFile(name string) bool { return strings.EqualFold(filepath.Ext(name), ".rules") }

// suricataSet is an engine's Suricata-format rules.
type suricataSet struct {
	rs     *suricata.Ruleset
	byRule map[*suricata.Rule]*suricataRule // enabled rules
	rules  []*suricataRule                  // enabled rules, in load order
	report *SuricataReport
}

type suricataRule struct {
	Rule
	src     *suricata.Rule
	pass    bool   // a pass rule: drops the session's Suricata alerts
	alerts  bool   // alert, drop or reject (IDS mode: drop and reject alert)
	key     string // limiter key prefix (ids of CEL rules cannot clash with it)
	limit   *limitRule
	filters []*suppression

	fired, suppressed, filtered atomic.Uint64
}

// SuricataReport is what loading Suricata-format rule files found.
type SuricataReport struct {
	Files  []string
	Loaded int // rules loaded (before disable_ids and disable_categories)
	// Skipped are the rules using something unsupported, never applied;
	// SkipCounts counts them per keyword or construct.
	Skipped    []suricata.Skipped
	SkipCounts map[string]int
	// Errors are the rules that could not be parsed (file:line: reason);
	// the others load, as in Suricata.
	Errors []*suricata.ParseError
}

// Summary is the one line the sensor logs at start-up:
// "suricata rules: 812 loaded from 2 files, 14557 skipped (proto http 14543, flowbits 13, ...), 1 parse error".
func (r *SuricataReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "suricata rules: %d loaded from %d %s, %d skipped", r.Loaded, len(r.Files), plural(len(r.Files), "file"), len(r.Skipped))
	if len(r.SkipCounts) > 0 {
		kws := make([]string, 0, len(r.SkipCounts))
		for k := range r.SkipCounts {
			kws = append(kws, k)
		}
		sort.Slice(kws, func(i, j int) bool {
			a, b := kws[i], kws[j]
			if r.SkipCounts[a] != r.SkipCounts[b] {
				return r.SkipCounts[a] > r.SkipCounts[b]
			}
			return a < b
		})
		parts := make([]string, len(kws))
		for i, k := range kws {
			parts[i] = fmt.Sprintf("%s %d", k, r.SkipCounts[k])
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if n := len(r.Errors); n > 0 {
		fmt.Fprintf(&b, ", %d parse %s", n, plural(n, "error"))
	}
	return b.String()
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// maxErrorWarnings bounds the parse errors listed as warnings at start-up;
// "tlsentry rules check" lists them all.
const maxErrorWarnings = 10

func (r *SuricataReport) warnings() []string {
	w := []string{r.Summary()}
	for i, e := range r.Errors {
		if i == maxErrorWarnings {
			w = append(w, fmt.Sprintf("suricata rules: %d more parse errors (tlsentry rules check lists them)", len(r.Errors)-i))
			break
		}
		w = append(w, "suricata rules: "+e.Error()+" (rule not loaded)")
	}
	return w
}

// CheckSuricata loads Suricata-format rule files as the engine would, for
// "tlsentry rules check". The error is an I/O error only.
func CheckSuricata(vars map[string]string, files ...string) (*SuricataReport, error) {
	_, _, rep, err := loadSuricataRules(files, vars)
	return rep, err
}

// loadSuricataRules loads the files and converts the rules the engine can
// apply; the others join the report's Skipped.
func loadSuricataRules(files []string, vars map[string]string) (*suricata.Ruleset, []*suricataRule, *SuricataReport, error) {
	v := make(map[string]string, len(vars))
	for k, val := range vars {
		v[strings.TrimPrefix(strings.TrimSpace(k), "$")] = val
	}
	rs, err := suricata.LoadFiles(files, suricata.Config{Vars: v})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("detect: %w", err)
	}
	rep := &SuricataReport{Files: files, Skipped: rs.Skipped, SkipCounts: rs.SkipCounts, Errors: rs.Errors}
	rules := make([]*suricataRule, 0, len(rs.Rules))
	for _, src := range rs.Rules {
		r, kw, reason := convertSuricata(src)
		if r == nil {
			rep.Skipped = append(rep.Skipped, suricata.Skipped{SID: src.SID, File: src.File, Line: src.Line, Keyword: kw, Reason: reason})
			rep.SkipCounts[kw]++
			continue
		}
		rules = append(rules, r)
	}
	rep.Loaded = len(rules)
	sort.SliceStable(rep.Skipped, func(i, j int) bool {
		a, b := rep.Skipped[i], rep.Skipped[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return rs, rules, rep, nil
}

// newSuricataSet loads the files, leaves the disabled rules out, records
// ids and categories as used (for disable_* and suppressions) and refuses
// an id a YAML rule already has.
func newSuricataSet(files []string, vars map[string]string, disabledID, disabledCat, usedID, usedCat map[string]bool, where map[string]string) (*suricataSet, error) {
	if len(files) == 0 {
		return nil, nil
	}
	rs, rules, rep, err := loadSuricataRules(files, vars)
	if err != nil {
		return nil, err
	}
	// Rules the engine leaves out (disabled, or not applicable) stay in
	// the ruleset but have no entry in byRule: their matches are ignored.
	set := &suricataSet{rs: rs, report: rep, byRule: make(map[*suricata.Rule]*suricataRule, len(rules))}
	for _, r := range rules {
		pos := fmt.Sprintf("%s:%d", r.src.File, r.src.Line)
		if prev, dup := where[r.ID]; dup {
			return nil, fmt.Errorf("detect: %s: rule %s is already defined at %s (disable the other one by id first)", pos, r.ID, prev)
		}
		where[r.ID] = pos
		usedID[r.ID] = true
		if r.Category != "" {
			usedCat[r.Category] = true
		}
		if disabledID[r.ID] || disabledCat[r.Category] {
			continue
		}
		set.byRule[r.src] = r
		set.rules = append(set.rules, r)
	}
	return set, nil
}

// convertSuricata makes a Rule of a Suricata rule, or says (keyword,
// reason) why the engine cannot apply it.
func convertSuricata(src *suricata.Rule) (*suricataRule, string, string) {
	id := strconv.FormatUint(src.SID, 10)
	if src.GID != 1 {
		id = strconv.FormatUint(src.GID, 10) + ":" + id
	}
	name := src.Msg
	if name == "" {
		name = "sid " + id
	}
	sev, risk := suricataSeverity(src.EffectivePriority())
	r := &suricataRule{
		Rule: Rule{
			ID: id, Name: name, Category: src.Classtype, Severity: sev, RiskScore: risk,
			Description: suricata.Classifications[src.Classtype].Description,
			Version:     strconv.FormatUint(src.Rev, 10), Ruleset: filepath.Base(src.File),
		},
		src: src, key: "suricata:" + id,
	}
	for _, ref := range src.References {
		r.References = append(r.References, referenceURL(ref))
	}
	switch src.Action {
	case "pass":
		r.pass = true
	case "alert", "drop", "reject", "rejectsrc", "rejectdst", "rejectboth":
		r.alerts = true
	}
	l, kw, reason := suricataLimit(src)
	if kw != "" {
		return nil, kw, reason
	}
	r.limit = l
	if l != nil {
		r.Limit = l.String()
	}
	return r, "", ""
}

// suricataSeverity maps a Suricata priority to a severity and risk score:
// 1 high, 2 medium, 3 and beyond low.
func suricataSeverity(priority int) (string, int) {
	switch priority {
	case 1:
		return "high", 73
	case 2:
		return "medium", 47
	}
	return "low", 21
}

// referenceURLs are the systems of Suricata's reference.config
// (etc/reference.config): "reference:cve,2014-0160" is
// https://cve.mitre.org/cgi-bin/cvename.cgi?name=2014-0160.
var referenceURLs = map[string]string{
	"cve":       "https://cve.mitre.org/cgi-bin/cvename.cgi?name=",
	"nessus":    "https://www.tenable.com/plugins/nessus/",
	"url":       "https://",
	"mcafee":    "https://vil.nai.com/vil/content/v_",
	"bid":       "https://www.securityfocus.com/bid/",
	"bugtraq":   "https://www.securityfocus.com/bid/",
	"md5":       "https://www.threatexpert.com/report.aspx?md5=",
	"secunia":   "https://www.secunia.com/advisories/",
	"arachnids": "https://www.whitehats.com/info/IDS",
}

// referenceURL writes a reference keyword's value as Suricata's alerts do
// with the stock reference.config: the system's prefix and the id. A url
// already carrying a scheme is kept; an unknown system stays as written.
func referenceURL(ref string) string {
	sys, val, ok := strings.Cut(ref, ",")
	if !ok {
		return strings.TrimSpace(ref)
	}
	sys, val = strings.ToLower(strings.TrimSpace(sys)), strings.TrimSpace(val)
	if sys == "url" && (strings.HasPrefix(val, "http://") || strings.HasPrefix(val, "https://")) {
		return val
	}
	if p, ok := referenceURLs[sys]; ok {
		return p + val
	}
	return sys + "," + val
}

// suricataLimit maps threshold and detection_filter onto the limiter. by_src
// and by_dst name the packet's source and destination: for a rule matching
// only server-to-client packets those are the server (destination.ip) and
// the client (source.ip). by_flow tracks the connection's addresses and
// ports (each session is judged once, so it counts sessions of that 4-tuple).
func suricataLimit(src *suricata.Rule) (*limitRule, string, string) {
	var typ limitType
	var track string
	var count, seconds int
	switch {
	case src.Threshold != nil:
		t := src.Threshold
		switch t.Type {
		case "limit":
			typ = limitLimit
		case "threshold":
			typ = limitThreshold
		case "both":
			typ = limitBoth
		default:
			return nil, "threshold type " + t.Type, "the limiter has no " + t.Type + " type"
		}
		if t.Count < 1 {
			return nil, "threshold count 0", "threshold with count 0"
		}
		track, count, seconds = t.Track, t.Count, t.Seconds
	case src.DetectionFilter != nil:
		d := src.DetectionFilter
		typ, track, count, seconds = limitAfter, d.Track, d.Count, d.Seconds
	default:
		return nil, "", ""
	}
	srcIP, dstIP := "source.ip", "destination.ip"
	if src.ToClientOnly() {
		srcIP, dstIP = dstIP, srcIP
	}
	var fields []string
	switch track {
	case "by_src":
		fields = []string{srcIP}
	case "by_dst":
		fields = []string{dstIP}
	case "by_both":
		fields = []string{"source.ip", "destination.ip"}
	case "by_flow":
		fields = []string{"source.ip", "source.port", "destination.ip", "destination.port"}
	case "by_rule":
	default:
		return nil, "threshold track " + track, "unknown track"
	}
	l := &limitRule{typ: typ, count: uint64(count), window: time.Duration(seconds) * time.Second}
	for _, f := range fields {
		l.track = append(l.track, variableIndex[f])
	}
	return l, "", ""
}

// bind attaches the suppressions and makes sure the engine has a limiter
// when a rule has a threshold (with Config.Suppress).
func (set *suricataSet) bind(e *Engine, filters []*suppression, targets [][]string, memory int64) {
	for _, r := range set.rules {
		for i, f := range filters {
			if appliesTo(targets[i], &r.Rule) {
				r.filters = append(r.filters, f)
			}
		}
		if r.limit != nil && e.limiter == nil {
			e.limiter = newLimiter(memory)
		}
	}
}

// evaluate appends the alerts of the Suricata rules matching s.
func (set *suricataSet) evaluate(e *Engine, a *activation, s *session.Session, out []Alert) []Alert {
	matched := set.rs.Match(s)
	if len(matched) == 0 {
		return out
	}
	pass := false
	var hits []*suricataRule
	for _, m := range matched {
		r := set.byRule[m]
		if r == nil {
			continue
		}
		r.fired.Add(1)
		pass = pass || r.pass
		if r.alerts {
			hits = append(hits, r)
		}
	}
	for _, r := range hits {
		if pass {
			r.filtered.Add(1)
			continue
		}
		al := Alert{Rule: &r.Rule, Count: 1, Message: r.src.Msg}
		if !e.admit(&al, r.key, r.limit, r.filters, a, &r.filtered, &r.suppressed) {
			continue
		}
		out = append(out, al)
	}
	return out
}

// SuricataReport returns what loading the Suricata-format rule files found
// (nil without any).
func (e *Engine) SuricataReport() *SuricataReport {
	if e.suricata == nil {
		return nil
	}
	return e.suricata.report
}
