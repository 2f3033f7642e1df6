package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tlsentry/tlsentry/internal/fakees"
)

// countLines counts the NDJSON lines of out that contain all of subs.
func countLines(out string, subs ...string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		ok := l != ""
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// A replay with --state-dir writes inventory documents and first-seen
// alerts; the second replay into the same directory writes neither.
func TestStateDirReplayTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	cfg := filepath.Join(t.TempDir(), "tlsentry.yaml")
	if err := os.WriteFile(cfg, []byte("inventory:\n  learning_period: 0s\n  max_items: 1000\n  renewal_window: 240h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCLI(t, "--config", cfg, "--state-dir", dir, "-r", "../../testdata/tls12-ecdsa.pcap")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if n := countLines(out, `"dataset":"tlsentry.inventory"`); n != 4 {
		t.Errorf("first replay: %d inventory documents, want 4 (JA4, JA3, certificate, server certificate)\n%s", n, out)
	}
	if n := countLines(out, `"rule":{"id":"inventory.`); n != 2 {
		t.Errorf("first replay: %d first-seen alerts, want 2", n)
	}
	if !strings.Contains(stderr, "tlsentry: inventory: 4 items, 4 new, 0 learned, 0 evicted") {
		t.Errorf("summary: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "inventory.db")); err != nil {
		t.Error(err)
	}
	out, stderr, err = runCLI(t, "--config", cfg, "--state-dir", dir, "-r", "../../testdata/tls12-ecdsa.pcap")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if n := countLines(out, `"dataset":"tlsentry.inventory"`) + countLines(out, `"rule":{"id":"inventory.`); n != 0 {
		t.Errorf("second replay: %d inventory documents and alerts, want 0", n)
	}
	if !strings.Contains(stderr, "tlsentry: inventory: 4 items, 0 new") {
		t.Errorf("summary: %s", stderr)
	}
	// Without --state-dir: no inventory.
	out, _, err = runCLI(t, "-r", "../../testdata/tls12-ecdsa.pcap")
	if err != nil || countLines(out, `tlsentry.inventory`) != 0 {
		t.Errorf("without a state dir: %v, %d inventory documents", err, countLines(out, `tlsentry.inventory`))
	}
}

func TestInventoryConfigErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"inventory:\n  learning_perod: 1h\n", "learning_perod"},
		{"inventory:\n  state_dir: /tmp/x\n  learning_period: soon\n", `inventory.learning_period "soon"`},
		{"inventory:\n  state_dir: /tmp/x\n  renewal_window: -1h\n", `inventory.renewal_window "-1h"`},
		{"inventory:\n  state_dir: /tmp/x\n  max_items: -3\n", "inventory.max_items -3"},
	} {
		cfg := filepath.Join(t.TempDir(), "tlsentry.yaml")
		os.WriteFile(cfg, []byte(c.yaml), 0o644)
		_, _, err := runCLI(t, "--config", cfg, "-r", "../../testdata/tls12-ecdsa.pcap")
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error naming %s", c.yaml, err, c.want)
		}
	}
}

// The example configuration decodes, and its inventory block is valid.
func TestDeployConfigInventory(t *testing.T) {
	cfg, err := loadConfig("../../deploy/tlsentry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, opt, err := cfg.Inventory.options()
	if err != nil || dir != DefaultStateDir || opt.LearningPeriod.Hours() != 24 || opt.MaxItems != 50000 {
		t.Errorf("%q %+v %v", dir, opt, err)
	}
	if cfg.Rules.ExpiringDays != 30 {
		t.Errorf("expiring_days %d", cfg.Rules.ExpiringDays)
	}
}

// inventory.shared records the items in the cluster's shared index, with
// the elasticsearch block's connection.
func TestSharedInventory(t *testing.T) {
	t.Setenv(envESURL, "")
	f := fakees.New()
	var mu sync.Mutex
	shared := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		shared += bytes.Count(body, []byte(`"_index":"inv-test"`))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "tlsentry.yaml")
	os.WriteFile(cfg, []byte("inventory:\n  shared: true\n  shared_index: inv-test\n  learning_period: 0s\n"), 0o644)
	_, stderr, err := runCLI(t, "--config", cfg, "--state-dir", t.TempDir(), "--es", srv.URL, "-r", "../../testdata/tls12-ecdsa.pcap")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if shared != 4 {
		t.Errorf("%d items in the shared index, want 4", shared)
	}
	// Without Elasticsearch: a usage error.
	if _, _, err := runCLI(t, "--config", cfg, "--state-dir", t.TempDir(), "-r", "../../testdata/tls12-ecdsa.pcap"); !errors.Is(err, errUsage) {
		t.Errorf("shared without a URL: %v", err)
	}
}
