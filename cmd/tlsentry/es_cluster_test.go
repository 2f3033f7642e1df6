package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
	"github.com/tlsentry/tlsentry/output"
)

// TestESClusterNodeKilled replays ~20,000 connections (about 43,000
// documents: genlarge, small flows) with tlsentry -r --es URL1,URL2,URL3 into
// the three-node 8.19 cluster, kills one node with kill -9 mid-replay and
// starts it again (scripts/elasticsearch.sh start with the cluster's
// options, TLSENTRY_ES_CLUSTER_START), then checks the sensor exited 0,
// nothing stayed in the spool or the dead letter, and every NDJSON document
// is in Elasticsearch exactly once. It depends on the sink moving to another
// URL when one dies (issue 14).
func TestESClusterNodeKilled(t *testing.T) {
	urls := estest.ClusterURLs(t)
	startOpts := strings.Fields(os.Getenv("TLSENTRY_ES_CLUSTER_START"))
	if len(startOpts) == 0 {
		t.Fatal("TLSENTRY_ES_CLUSTER_START unset: scripts/test.sh sets it to the cluster's elasticsearch.sh options")
	}
	script, err := filepath.Abs("../../scripts/elasticsearch.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "cluster.pcap")
	gen := exec.Command("go", "run", "../../internal/cmd/genlarge", "-o", pcap, "-flows", "20000", "-mb", "1000", "-bulk-max", "1024",
		"-seed", "14", "-certs", "../../testdata/certs", "-q")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("genlarge: %v\n%s", err, out)
	}
	ns := fmt.Sprintf("cluster%d", time.Now().UnixNano()%1e12)
	state := filepath.Join(dir, "state")
	env := []string{"TLSENTRY_ES_NAMESPACE=" + ns, "STATE_DIRECTORY=" + state}
	all := strings.Join(urls, ",")
	if r := runTlsentry(t, env, "setup", "--es", all); r.code != 0 {
		t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
	}
	out := filepath.Join(dir, "out.ndjson")
	t0 := time.Now()
	wait := startTlsentry(t, env, "-r", pcap, "-w", out, "--es", all, "-progress", "never")

	// Mid-replay: once the cluster holds some documents, kill -9 the last
	// node (not the one the count asks) and start it again at once.
	victim := len(urls) - 1
	n0 := plainNode(urls[0])
	deadline := time.Now().Add(3 * time.Minute)
	for countNS(t, n0, ns) < 5000 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 5000 documents after 3 minutes")
		}
		time.Sleep(time.Second)
	}
	pidOut, err := exec.Command("bash", append([]string{script, "pid", "--node", strconv.Itoa(victim)}, startOpts...)...).Output()
	if err != nil {
		t.Fatalf("pid of node %d: %v", victim, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidOut)))
	if pid <= 0 {
		t.Fatalf("pid of node %d: %q", victim, pidOut)
	}
	killedAt := countNS(t, n0, ns)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed node %d (pid %d, %s) after %s with %d documents in", victim, pid, urls[victim], time.Since(t0).Round(time.Millisecond), killedAt)
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(50 * time.Millisecond)
	}
	restart := exec.Command("bash", append([]string{script, "start"}, startOpts...)...)
	restartOut, restartErr := make(chan []byte, 1), make(chan error, 1)
	go func() {
		b, err := restart.CombinedOutput()
		restartOut <- b
		restartErr <- err
	}()

	r := wait()
	t.Logf("replay done after %s: exit %d", time.Since(t0).Round(time.Millisecond), r.code)
	if err := <-restartErr; err != nil {
		t.Errorf("restarting node %d: %v\n%s", victim, err, <-restartOut)
	} else {
		t.Logf("node %d back after %s", victim, time.Since(t0).Round(time.Millisecond))
	}
	if r.code != 0 {
		t.Errorf("replay with a node killed: exit %d\n%s", r.code, output.Truncate([]byte(r.stderr), 3000))
	}
	checkNoLeftovers(t, state)

	want := map[string]bool{}
	var ids []string
	for _, d := range readNDJSONDocs(t, out) {
		if k := d.Dataset + "/" + d.ID; !want[k] {
			want[k] = true
			ids = append(ids, d.ID)
		}
	}
	if len(want) < 20000 {
		t.Fatalf("only %d documents in the NDJSON", len(want))
	}
	total := countNS(t, n0, ns)
	present := 0
	for i := 0; i < len(ids); i += 5000 {
		q, _ := json.Marshal(map[string]any{"query": map[string]any{"ids": map[string]any{"values": ids[i:min(i+5000, len(ids))]}}})
		st, body := n0.call(t, http.MethodPost, "/logs-tlsentry.*-"+ns+"/_count", q)
		if st != 200 {
			t.Fatalf("count ids: %d %s", st, output.Truncate(body, 300))
		}
		var c struct{ Count int }
		json.Unmarshal(body, &c)
		present += c.Count
	}
	// tls and alert documents may share an event.id: the ids query counts
	// each index's document, so present counts documents, as total does.
	if total != len(want) || present != len(want) {
		t.Errorf("%d distinct documents in the NDJSON; Elasticsearch holds %d, of which %d have the NDJSON's ids (want %d and %d: every document exactly once)",
			len(want), total, present, len(want), len(want))
	}
}

// countNS refreshes and counts the namespace's documents.
func countNS(t *testing.T, n esNode, ns string) int {
	t.Helper()
	target := "/logs-tlsentry.*-" + ns
	n.call(t, http.MethodPost, target+"/_refresh?allow_no_indices=true&ignore_unavailable=true", nil)
	st, body := n.call(t, http.MethodPost, target+"/_count?allow_no_indices=true&ignore_unavailable=true", []byte(`{"query":{"match_all":{}}}`))
	if st != 200 {
		t.Fatalf("count: %d %s", st, output.Truncate(body, 300))
	}
	var c struct{ Count int }
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c.Count
}
