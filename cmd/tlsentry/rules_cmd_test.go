package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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
