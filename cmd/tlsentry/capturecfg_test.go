package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/capture"
)

func TestCaptureConfigPipeline(t *testing.T) {
	tests := []struct {
		checksums string
		memMB     int
		mode      capture.ChecksumMode
		limit     int64
		bad       bool
	}{
		{"", 0, capture.ChecksumAuto, 0, false},
		{"auto", 64, capture.ChecksumAuto, 64 << 20, false},
		{"on", -1, capture.ChecksumOn, -1, false},
		{"off", 0, capture.ChecksumOff, 0, false},
		{"yes", 0, 0, 0, true},
	}
	for _, tt := range tests {
		c := CaptureConfig{Checksums: tt.checksums, MemoryLimitMB: tt.memMB, MaxFlows: 7}
		pc, err := c.pipeline(3, nil)
		if tt.bad {
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "capture.checksums") {
				t.Errorf("%q: err %v, want a usage error naming capture.checksums", tt.checksums, err)
			}
			continue
		}
		if err != nil || pc.Checksums != tt.mode || pc.MemoryLimit != tt.limit || pc.Workers != 3 || pc.MaxFlows != 7 {
			t.Errorf("%q %d: %+v, %v", tt.checksums, tt.memMB, pc, err)
		}
	}
}

// TestSensorChecksumFlag: the decoy ClientHello behind a bad checksum is
// not believed by default (the real SNI is reported), is believed with
// --checksums off, and a bad mode is a usage error (exit 2).
func TestSensorChecksumFlag(t *testing.T) {
	const pcap = "../../testdata/evasion-decoy-bad-checksum.pcap"
	out, stderr, err := runCLI(t, "-r", pcap)
	if err != nil || !strings.Contains(out, `"server_name":"ecdsa.tlsentry.test"`) || strings.Contains(out, "other.tlsentry.test") {
		t.Fatalf("default: err %v\n%s", err, out)
	}
	if !strings.Contains(stderr, "packets with bad checksums not used") {
		t.Errorf("summary does not count the bad checksum:\n%s", stderr)
	}
	out, _, err = runCLI(t, "-r", pcap, "--checksums", "off")
	if err != nil || !strings.Contains(out, `"server_name":"other.tlsentry.test"`) {
		t.Errorf("--checksums off: the decoy should win (first data): err %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "-r", pcap, "--checksums", "maybe"); !errors.Is(err, errUsage) {
		t.Errorf("--checksums maybe: %v, want a usage error", err)
	}
}

// TestCaptureWatch: offload is said once, pressure on each start and end.
func TestCaptureWatch(t *testing.T) {
	var s capture.Snapshot
	var w captureWatch
	if m := w.check(s); len(m) != 0 {
		t.Fatalf("quiet capture: %v", m)
	}
	s[capture.CChecksumOffloadDirections] = 1
	s[capture.CMemPressureStarted] = 1
	if m := w.check(s); len(m) != 2 || !m[0].warn || !strings.Contains(m[0].text, "offload") || !strings.Contains(m[1].text, "memory budget reached") {
		t.Fatalf("offload and pressure: %v", m)
	}
	s[capture.CChecksumOffloadDirections] = 3
	s[capture.CMemPressureEnded] = 1
	if m := w.check(s); len(m) != 1 || m[0].warn || !strings.Contains(m[0].text, "pressure ended") {
		t.Fatalf("second offload direction, pressure ended: %v", m)
	}
}

// TestSuppressFlags: --suppress and --no-suppress set rules.suppress over
// the file; neither leaves it as configured; detectConfig passes it on.
func TestSuppressFlags(t *testing.T) {
	tests := []struct {
		args []string
		file *bool // nil: not in the file
		want bool
	}{
		{nil, nil, true}, // on by default
		{nil, ptr(false), false},
		{nil, ptr(true), true},
		{[]string{"--suppress"}, ptr(false), true},
		{[]string{"--no-suppress"}, ptr(true), false},
		{[]string{"--no-suppress"}, nil, false},
	}
	for _, tt := range tests {
		o, err := parseSensorFlags(append([]string{"-r", "x.pcap"}, tt.args...), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		rc := RulesConfig{Suppress: tt.file}
		o.rules.apply(&rc)
		if rc.suppress() != tt.want || detectConfig(rc).Suppress != tt.want {
			t.Errorf("%v over file %v: suppress %v, want %v", tt.args, tt.file, rc.suppress(), tt.want)
		}
	}
}

// TestSuppressDefault: rules.suppress is on when the file does not say,
// off with rules.suppress: false or TLSENTRY_RULES_SUPPRESS=false;
// rules.order_memory_mb is read from the file.
func TestSuppressDefault(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file, env string
		want      bool
	}{
		{"rules: {}\n", "", true},
		{"rules:\n  suppress: false\n", "", false},
		{"rules:\n  suppress: true\n", "TLSENTRY_RULES_SUPPRESS=false", false},
		{"rules:\n  order_memory_mb: 3\n", "TLSENTRY_RULES_SUPPRESS=true", true},
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if tc.env != "" {
			if err := applyEnv(cfg, []string{tc.env}); err != nil {
				t.Fatal(err)
			}
		}
		if got := detectConfig(cfg.Rules).Suppress; got != tc.want {
			t.Errorf("%q %s: suppress %v, want %v", tc.file, tc.env, got, tc.want)
		}
		if strings.Contains(tc.file, "order_memory_mb") && cfg.Rules.OrderMemoryMB != 3 {
			t.Errorf("order_memory_mb %d", cfg.Rules.OrderMemoryMB)
		}
	}
}
