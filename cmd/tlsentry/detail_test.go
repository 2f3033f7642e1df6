package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDetailFlag: documents are lean unless --detail full (or output.detail:
// full in the file, or TLSENTRY_OUTPUT_DETAIL); the flag wins; a bad value is
// a usage error.
func TestDetailFlag(t *testing.T) {
	pcap := "../../testdata/tls12-ecdsa.pcap"
	full := func(out string) bool {
		return strings.Contains(out, `"ja3_string"`) && strings.Contains(out, `"signature_algorithms"`)
	}
	out, errOut, err := runCLI(t, "-r", pcap)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if len(sessionDocs(out)) == 0 || full(out) || !strings.Contains(out, `"ja4"`) {
		t.Errorf("default: want lean session documents (ja4, no ja3_string):\n%s", out)
	}
	fullOut, errOut, err := runCLI(t, "-r", pcap, "--detail", "full")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !full(fullOut) || len(fullOut) <= len(out) {
		t.Errorf("--detail full: want the full-only fields:\n%s", fullOut)
	}
	cfg := filepath.Join(t.TempDir(), "tlsentry.yaml")
	if err := os.WriteFile(cfg, []byte("output:\n  detail: full\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if o, _, err := runCLI(t, "-r", pcap, "--config", cfg); err != nil || o != fullOut {
		t.Errorf("output.detail: full in the file: err %v, same as --detail full: %v", err, o == fullOut)
	}
	if o, _, err := runCLI(t, "-r", pcap, "--config", cfg, "--detail", "lean"); err != nil || o != out {
		t.Errorf("--detail lean over the file: err %v, lean: %v", err, o == out)
	}
	if _, _, err := runCLI(t, "-r", pcap, "--detail", "verbose"); !errors.Is(err, errUsage) {
		t.Errorf("--detail verbose: err %v, want a usage error", err)
	}
}
