package suricata

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/internal/corpustest"
	"github.com/tlsentry/tlsentry/session"
)

// Tests of the suricata-verify corpus that cannot pass, with the reason.
// (Empty when every test passes.)
var verifyKnownFailures = map[string]string{}

type verifyTest struct {
	Pcap   string           `yaml:"pcap"`
	Checks []map[string]any `yaml:"checks"`
}

// TestSuricataVerify replays each suricata-verify TLS test's capture through
// capture, evaluates its rules on every session and compares, per sid,
// "fired on some session" (count > 0) and "fired on none" (count 0). A
// check on alerts without a sid (a total count) means no sid outside the
// expected ones may fire.
func TestSuricataVerify(t *testing.T) {
	root := filepath.Join(corpustest.Dir(t), "suricata-verify-tls", "tests")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("suricata-verify corpus not found: %v", err)
	}
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "test.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	sort.Strings(dirs)
	pass := 0
	for _, dir := range dirs {
		name, _ := filepath.Rel(root, dir)
		ok := t.Run(name, func(t *testing.T) {
			if why, bad := verifyKnownFailures[name]; bad {
				t.Skip("known failure: " + why)
			}
			runVerify(t, dir)
		})
		if ok {
			if _, bad := verifyKnownFailures[name]; !bad {
				pass++
			}
		}
	}
	t.Logf("suricata-verify: %d/%d tests pass", pass, len(dirs))
}

func runVerify(t *testing.T, dir string) {
	raw, err := os.ReadFile(filepath.Join(dir, "test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vt verifyTest
	if err := yaml.Unmarshal(raw, &vt); err != nil {
		t.Fatal(err)
	}
	rules, _ := filepath.Glob(filepath.Join(dir, "*.rules"))
	rs, err := LoadFiles(rules, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rs.Errors {
		t.Errorf("rule error: %v", e)
	}
	for _, s := range rs.Skipped {
		t.Logf("skipped: %v", s)
	}
	pcap := vt.Pcap
	if pcap == "" {
		ps, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
		if len(ps) != 1 {
			t.Fatalf("want one pcap in %s, have %d", dir, len(ps))
		}
		pcap = ps[0]
	} else {
		pcap = filepath.Join(dir, pcap)
	}
	sessions := replay(t, pcap)
	fired := map[uint64]int{}
	for _, s := range sessions {
		for _, sid := range rs.MatchSIDs(s) {
			fired[sid]++
		}
	}
	bySig := map[string][]uint64{}
	for _, r := range rs.Rules {
		bySig[r.Msg] = append(bySig[r.Msg], r.SID)
	}
	want := map[uint64]bool{}
	exclusive := false
	for _, c := range vt.Checks {
		f, ok := c["filter"].(map[string]any)
		if !ok {
			continue
		}
		m, _ := f["match"].(map[string]any)
		if m["event_type"] != "alert" {
			continue
		}
		count, _ := f["count"].(int)
		var sids []uint64
		if v, ok := m["alert.signature_id"]; ok {
			sids = append(sids, uint64(toInt(v)))
		} else if v, ok := m["alert.signature"].(string); ok {
			sids = bySig[v]
			if len(sids) == 0 {
				t.Errorf("no rule has msg %q", v)
			}
		} else {
			exclusive = true
			continue
		}
		for _, sid := range sids {
			if count > 0 {
				want[sid] = true
				if fired[sid] == 0 {
					t.Errorf("sid %d: want an alert (count %d), fired on no session", sid, count)
				}
			} else if fired[sid] > 0 {
				t.Errorf("sid %d: want no alert, fired on %d sessions", sid, fired[sid])
			}
		}
	}
	if exclusive {
		for sid, n := range fired {
			if !want[sid] {
				t.Errorf("sid %d fired on %d sessions; the test expects only %v", sid, n, keys(want))
			}
		}
	}
	t.Logf("%d sessions, fired %v", len(sessions), fired)
}

func keys(m map[uint64]bool) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case string:
		var n int
		fmt.Sscan(x, &n)
		return n
	}
	return -1
}

func replay(t testing.TB, path string) []*session.Session {
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var mu sync.Mutex
	var out []*session.Session
	_, err = capture.Run(context.Background(), capture.Config{Workers: 1}, []capture.Source{src},
		session.HandlerFunc(func(s *session.Session) { mu.Lock(); out = append(out, s); mu.Unlock() }))
	if err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Fatal(err)
	}
	return out
}
