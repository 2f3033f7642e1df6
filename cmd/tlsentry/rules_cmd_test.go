package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("rules:\n  - id: a.b\n    category: c\n    severity: low\n    condition: tls.client.server_name == 'x'\n"), 0o644)
	os.WriteFile(bad, []byte("rules:\n  - id: a.b\n    category: c\n    severity: low\n    condition: tls.snii == 'x'\n"), 0o644)
	var out, errb bytes.Buffer
	if err := rulesMain([]string{"check", good}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "good.yaml: 1 rules OK") {
		t.Errorf("output %q", out.String())
	}
	err := rulesMain([]string{"check", good, bad}, &out, &errb)
	if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "bad.yaml:5") {
		t.Errorf("bad file: %v", err)
	}
	if err := rulesMain([]string{"frobnicate"}, &out, &errb); !errors.Is(err, errUsage) {
		t.Errorf("unknown subcommand: %v", err)
	}
}

func TestRulesList(t *testing.T) {
	var out, errb bytes.Buffer
	if err := rulesMain([]string{"list", "--disable", "intel", "--disable", "tls.missing_sni"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "tls.deprecated_version") || strings.Contains(s, "intel.ja3") || strings.Contains(s, "tls.missing_sni") {
		t.Errorf("list:\n%s", s)
	}
}

// An intel list that loads nothing is a warning on stderr, naming it.
func TestRulesIntelWarning(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "ja3.csv")
	os.WriteFile(empty, []byte("\uFEFF# ja3_md5,Firstseen,Lastseen,Listingreason\n"), 0o644)
	var out, errb bytes.Buffer
	if err := rulesMain([]string{"list", "--intel", "ja3:" + empty}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "warning: intel list "+empty) || !strings.Contains(errb.String(), "no entries loaded") {
		t.Errorf("stderr %q", errb.String())
	}
}

// rules test over a corpus capture with an SSH flow on 443.
func TestRulesTestCapture(t *testing.T) {
	p := filepath.Join("..", "..", "..", "shared", "corpus", "pcaps", "zeek", "ssl-and-ssh-using-sslh.pcap")
	if _, err := os.Stat(p); err != nil {
		t.Skip("shared corpus absent")
	}
	var out, errb bytes.Buffer
	if err := rulesMain([]string{"test", "-r", p, "--workers", "1"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	s := out.String()
	for _, want := range []string{"proto.non_tls_on_443", "SSH (not TLS) on port 443: 192.168.2.144:49641 to 192.168.2.230:443", "cert.self_signed"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
}

// A bad suppress block fails rules check with file:line and a did-you-mean.
func TestRulesCheckSuppress(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: a.b\n    category: c\n    severity: low\n    condition: \"true\"\n"+
		"    suppress:\n      track: [destination.ipp]\n      for: 1h\n"), 0o644)
	var out, errb bytes.Buffer
	err := rulesMain([]string{"check", bad}, &out, &errb)
	if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `bad.yaml:7: rule a.b: suppress: track: unknown field "destination.ipp" (did you mean "destination.ip"?)`) {
		t.Errorf("bad suppress block: %v", err)
	}
}

const testSuricataRules = `alert tls $HOME_NET 443 -> any any (msg:"x230 certificate"; tls.cert_subject; content:"CN=x230"; classtype:policy-violation; sid:9000001; rev:2;)
alert tls !$HOME_NET any -> any any (msg:"outside home"; tls.cert_subject; content:"CN=x230"; sid:9000002; rev:1;)
alert tls any any -> any any (msg:"flowbits"; flowbits:isset,a; tls.sni; content:"x"; sid:9000003; rev:1;)
alert tls any any -> any any (msg:"bad hex"; tls.sni; content:"|4|"; sid:9000004; rev:1;)
`

// rules check on a .rules file lists the skipped rules and exits non-zero
// on a parse error, naming file:line.
func TestRulesCheckSuricata(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "et.rules")
	os.WriteFile(p, []byte(testSuricataRules), 0o644)
	var out, errb bytes.Buffer
	err := rulesMain([]string{"check", p}, &out, &errb)
	if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), p+":4: content: odd number of hex digits") {
		t.Errorf("check: %v", err)
	}
	s := out.String()
	for _, want := range []string{p + ": 2 rules OK, 1 skipped, 1 parse error", p + ":3: sid 9000003 skipped: flowbits: keyword not supported"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	good := filepath.Join(dir, "good.rules")
	os.WriteFile(good, []byte(testSuricataRules[:strings.Index(testSuricataRules, "alert tls any any -> any any (msg:\"bad hex\"")]), 0o644)
	out.Reset()
	if err := rulesMain([]string{"check", good}, &out, &errb); err != nil || !strings.Contains(out.String(), "2 rules OK, 1 skipped, 0 parse errors") {
		t.Errorf("good file: %v\n%s", err, out.String())
	}
}

// rules list shows the Suricata rules with the file they came from, and
// the start-up summary is a warning.
func TestRulesListSuricata(t *testing.T) {
	p := filepath.Join(t.TempDir(), "et.rules")
	os.WriteFile(p, []byte(testSuricataRules), 0o644)
	var out, errb bytes.Buffer
	if err := rulesMain([]string{"list", "--no-builtin", "--rules", p}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !regexp.MustCompile(`9000001\s+policy-violation\s+high\s+73\s+et.rules\s+x230 certificate`).MatchString(s) {
		t.Errorf("list:\n%s", s)
	}
	if s := errb.String(); !strings.Contains(s, "warning: suricata rules: 2 loaded from 1 file, 1 skipped (flowbits 1), 1 parse error") ||
		!strings.Contains(s, p+":4: content: odd number of hex digits") {
		t.Errorf("stderr %q", s)
	}
}

// rules test fires a .rules file on a capture, with rules.vars from the
// configuration.
func TestRulesTestSuricata(t *testing.T) {
	pcap := filepath.Join("..", "..", "..", "shared", "corpus", "pcaps", "zeek", "ssl-and-ssh-using-sslh.pcap")
	if _, err := os.Stat(pcap); err != nil {
		t.Skip("shared corpus absent")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "et.rules")
	os.WriteFile(p, []byte(testSuricataRules), 0o644)
	cfg := filepath.Join(dir, "tlsentry.yaml")
	os.WriteFile(cfg, []byte("rules:\n  vars:\n    HOME_NET: \"[192.168.2.0/24]\"\n"), 0o644)
	var out, errb bytes.Buffer
	if err := rulesMain([]string{"test", "-r", pcap, "--workers", "1", "--no-builtin", "--config", cfg, "--rules", p}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	s := out.String()
	if !strings.Contains(s, "9000001                  tcp 192.168.2.144:49643 -> 192.168.2.230:443  x230 certificate") ||
		strings.Contains(s, "9000002") || !strings.Contains(s, "2 sessions, 1 alerts") {
		t.Errorf("output:\n%s", s)
	}
}
