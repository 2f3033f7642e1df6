package detect

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/detect/suricata"
)

const suricataTestRules = `# test rules
alert tls any any -> any any (msg:"ET INFO example SNI"; flow:established,to_server; tls.sni; content:"example.test"; endswith; reference:url,example.org/x; reference:cve,2014-0160; reference:url,https://already.example/; classtype:trojan-activity; sid:2000001; rev:7;)
alert tls any any -> any any (msg:"prio 3 override"; tls.sni; content:"www."; classtype:trojan-activity; priority:3; sid:2000002; rev:1;)
alert tls any any -> any any (msg:"no classtype"; tls.sni; content:"www."; sid:2000003; rev:1;)
alert tls any any -> any any (msg:"medium class"; tls.sni; content:"www."; classtype:bad-unknown; sid:2000004; rev:2;)
alert tls any any -> any any (msg:"uses flowbits"; flowbits:isset,x; tls.sni; content:"www."; sid:2000005; rev:1;)
alert http any any -> any any (msg:"http"; http.host; content:"x"; sid:2000006; rev:1;)
alert tls any any -> any any (msg:"backoff"; tls.sni; content:"www."; threshold: type backoff, track by_src, count 1, multiplier 10; sid:2000007; rev:1;)
alert tls any any -> any any (msg:"broken"; tls.sni; content:"|4|"; sid:2000008;)
alert tls any any -> $HOME_NET any (msg:"home only"; tls.sni; content:"www."; sid:2000009; rev:1;)
`

func writeRules(t testing.TB, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSuricataRulesAlerts(t *testing.T) {
	p := writeRules(t, "et-test.rules", suricataTestRules)
	e, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool,
		RuleVars: map[string]string{"$HOME_NET": "[10.0.0.0/8]"}})
	if err != nil {
		t.Fatal(err)
	}
	v := e.Evaluate(testSession(t))
	got := fired(v)
	for _, id := range []string{"2000001", "2000002", "2000003", "2000004"} {
		if got[id] == nil {
			t.Errorf("rule %s did not fire; alerts %v", id, keys(got))
		}
	}
	if len(got) != 4 {
		t.Errorf("alerts %v, want 4 (2000009: server not in HOME_NET)", keys(got))
	}
	a := got["2000001"]
	if a == nil {
		t.FailNow()
	}
	r := a.Rule
	wantRefs := []string{"https://example.org/x", "https://cve.mitre.org/cgi-bin/cvename.cgi?name=2014-0160", "https://already.example/"}
	if r.Name != "ET INFO example SNI" || a.Message != r.Name || r.Version != "7" || r.Category != "trojan-activity" ||
		r.Ruleset != "et-test.rules" || r.Severity != "high" || r.RiskScore != 73 ||
		r.Description != "A Network Trojan was detected" || !slices.Equal(r.References, wantRefs) || a.Count != 1 {
		t.Errorf("alert %+v rule %+v", a, r)
	}
	for id, sev := range map[string]string{"2000002": "low", "2000003": "low", "2000004": "medium"} {
		if g := got[id]; g != nil && g.Rule.Severity != sev {
			t.Errorf("rule %s severity %s, want %s", id, g.Rule.Severity, sev)
		}
	}
	rep := e.SuricataReport()
	if rep.Loaded != 5 || len(rep.Errors) != 1 || rep.Errors[0].Line != 9 || len(rep.Skipped) != 3 ||
		rep.SkipCounts["flowbits"] != 1 || rep.SkipCounts["proto http"] != 1 || rep.SkipCounts["threshold type backoff"] != 1 {
		t.Errorf("report %+v", rep)
	}
	w := e.Warnings()
	if len(w) != 2 || w[0] != "suricata rules: 5 loaded from 1 file, 3 skipped (flowbits 1, proto http 1, threshold type backoff 1), 1 parse error" ||
		!strings.Contains(w[1], "et-test.rules:9:") {
		t.Errorf("warnings %q", w)
	}
	var listed []string
	for _, r := range e.Rules() {
		listed = append(listed, r.ID)
	}
	if !slices.Contains(listed, "2000001") || slices.Contains(listed, "2000005") {
		t.Errorf("Rules() = %v", listed)
	}
	if st := e.Stats(); st.Fired["2000001"] != 1 {
		t.Errorf("fired %v", st.Fired)
	}
}

func keys(m map[string]*Alert) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// disable_ids and disable_categories take sids and classtypes; a sid a
// YAML rule also has is refused.
func TestSuricataRulesDisable(t *testing.T) {
	p := writeRules(t, "a.rules", suricataTestRules)
	e, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool,
		DisableIDs: []string{"2000002"}, DisableCategories: []string{"bad-unknown"}})
	if err != nil {
		t.Fatal(err)
	}
	got := fired(e.Evaluate(testSession(t)))
	if got["2000002"] != nil || got["2000004"] != nil || got["2000001"] == nil {
		t.Errorf("alerts %v", keys(got))
	}
	y := writeRules(t, "y.yaml", "rules:\n  - id: \"2000001\"\n    category: c\n    severity: low\n    condition: \"true\"\n")
	if _, err := New(Config{RuleFiles: []string{y, p}, NoBuiltin: true, Roots: getPKI(t).pool}); err == nil ||
		!strings.Contains(err.Error(), "rule 2000001 is already defined at "+y+":2") {
		t.Errorf("duplicate id: %v", err)
	}
}

// A matching pass rule drops the session's Suricata alerts, not the CEL
// rules'.
func TestSuricataPassRule(t *testing.T) {
	p := writeRules(t, "p.rules", `alert tls any any -> any any (msg:"a"; tls.sni; content:"www."; sid:1;)
pass tls any any -> 198.51.100.7 any (msg:"trusted server"; sid:2;)
`)
	y := writeRules(t, "y.yaml", "rules:\n  - id: x.always\n    category: c\n    severity: low\n    condition: \"true\"\n")
	e, err := New(Config{RuleFiles: []string{y, p}, NoBuiltin: true, Roots: getPKI(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	got := fired(e.Evaluate(testSession(t)))
	if got["1"] != nil || got["2"] != nil || got["x.always"] == nil {
		t.Errorf("passed session: alerts %v", keys(got))
	}
	other := at(t, 0, "192.0.2.10", "203.0.113.9")
	if got := fired(e.Evaluate(other)); got["1"] == nil {
		t.Errorf("other server: alerts %v", keys(got))
	}
	if st := e.Stats(); st.Filtered["1"] != 1 || st.Fired["2"] != 1 {
		t.Errorf("stats fired %v filtered %v", st.Fired, st.Filtered)
	}
}

// threshold and detection_filter run on the limiter with Config.Suppress.
func TestSuricataThresholds(t *testing.T) {
	p := writeRules(t, "t.rules", `alert tls any any -> any any (msg:"limit"; tls.sni; content:"www."; threshold: type limit, track by_src, count 1, seconds 60; sid:10;)
alert tls any any -> any any (msg:"df"; tls.sni; content:"www."; detection_filter: track by_dst, count 2, seconds 60; sid:11;)
alert tls any any -> any any (msg:"both by_rule"; tls.sni; content:"www."; threshold: type both, track by_rule, count 3, seconds 60; sid:12;)
alert tls any any -> any any (msg:"to_client by_src"; flow:to_client; tls.cert_subject; content:"CN="; threshold: type limit, track by_src, count 1, seconds 60; sid:13;)
`)
	e, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool, Suppress: true})
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ limit, df, both, toClient bool }
	steps := []struct {
		sec  int
		c, s string
		want
	}{
		{0, "192.0.2.1", "198.51.100.1", want{true, false, false, true}},
		{1, "192.0.2.1", "198.51.100.1", want{false, false, false, false}},
		{2, "192.0.2.2", "198.51.100.1", want{true, true, true, false}}, // df: 3rd match to .1; both: 3rd of the rule
		{3, "192.0.2.2", "198.51.100.1", want{false, true, false, false}},
		{4, "192.0.2.2", "198.51.100.2", want{false, false, false, true}}, // to_client: by_src is the server
		{70, "192.0.2.1", "198.51.100.1", want{true, false, false, true}}, // windows passed
	}
	for i, st := range steps {
		got := fired(e.Evaluate(at(t, st.sec, st.c, st.s)))
		g := want{got["10"] != nil, got["11"] != nil, got["12"] != nil, got["13"] != nil}
		if g != st.want {
			t.Errorf("step %d: got %+v, want %+v", i, g, st.want)
		}
		if i == 2 && got["11"] != nil && got["11"].Count != 3 {
			t.Errorf("df count %d, want 3", got["11"].Count)
		}
	}
	for id, want := range map[string]string{
		"11": "every match after the first 2 within 1m per (destination.ip)",
		"13": "one alert per 1m per (destination.ip)",
	} {
		for _, r := range e.Rules() {
			if r.ID == id && r.Limit != want {
				t.Errorf("rule %s limit %q, want %q", id, r.Limit, want)
			}
		}
	}
	// Without Config.Suppress every match alerts.
	e, err = New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if got := fired(e.Evaluate(at(t, i, "192.0.2.1", "198.51.100.1"))); len(got) != 4 {
			t.Errorf("no suppress, session %d: %v", i, keys(got))
		}
	}
}

func TestReferenceURL(t *testing.T) {
	for in, want := range map[string]string{
		"url,example.com/a":        "https://example.com/a",
		"url, http://x.example/":   "http://x.example/",
		"cve,2021-44228":           "https://cve.mitre.org/cgi-bin/cvename.cgi?name=2021-44228",
		"md5,abc":                  "https://www.threatexpert.com/report.aspx?md5=abc",
		"CVE,CVE-2014-0160":        "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2014-0160",
		"unknownsys,whatever":      "unknownsys,whatever",
		"nocomma":                  "nocomma",
		"nessus,12345":             "https://www.tenable.com/plugins/nessus/12345",
		"arachNIDS,IDS123":         "https://www.whitehats.com/info/IDSIDS123",
		"bugtraq,1":                "https://www.securityfocus.com/bid/1",
		"url,doc.emergingthreats.": "https://doc.emergingthreats.",
	} {
		if got := referenceURL(in); got != want {
			t.Errorf("referenceURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// The summary counts files and sorts skip reasons by count.
func TestSuricataSummary(t *testing.T) {
	r := &SuricataReport{Files: []string{"a", "b"}, Loaded: 5, SkipCounts: map[string]int{"flowbits": 13, "proto http": 14543, "byte_test": 13}}
	for range 14569 {
		r.Skipped = append(r.Skipped, suricata.Skipped{})
	}
	want := "suricata rules: 5 loaded from 2 files, 14569 skipped (proto http 14543, byte_test 13, flowbits 13)"
	if got := r.Summary(); got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}
