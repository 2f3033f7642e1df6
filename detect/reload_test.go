package detect

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestReloaderKeepsOldSetOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "local.yaml")
	write := func(cond string) {
		err := os.WriteFile(p, []byte("rules:\n  - id: local.x\n    category: policy\n    severity: low\n    condition: "+cond+"\n"), 0o644)
		if err != nil {
			t.Fatal(err)
		}
	}
	write(`tls.client.server_name == "www.example.test"`)
	roots := getPKI(t).pool
	r, err := NewReloader(func() (Config, error) { return Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: roots}, nil })
	if err != nil {
		t.Fatal(err)
	}
	s := testSession(t)
	has := func() bool { _, ok := fired(r.Evaluate(s))["local.x"]; return ok }
	if !has() {
		t.Fatal("rule did not fire")
	}

	write(`tls.client.server_name == `) // broken
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), "local.yaml:5") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if !has() {
		t.Fatal("old rule set not kept after a failed reload")
	}

	write(`tls.client.server_name == "other.test"`)
	// Reload while sessions are evaluated concurrently.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				r.Evaluate(s)
			}
		}()
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if has() {
		t.Fatal("new rule set not in use")
	}
	if ok, failed := r.ReloadStats(); ok != 1 || failed != 1 {
		t.Errorf("reload stats %d/%d", ok, failed)
	}
}
