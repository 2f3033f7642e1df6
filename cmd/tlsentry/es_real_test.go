package main

// Tests of the tlsentry command against the real Elasticsearch nodes that
// scripts/test.sh starts (internal/estest). Those nodes are the integ-test-zip
// distribution: no data-streams, ingest or analysis-common module, so "data
// streams" there are plain indices made from the templates on the first
// write, and setup's data stream requests are checked for their fallback
// only; see estest's package comment.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
	"github.com/tlsentry/tlsentry/output"
)

type cmdResult struct {
	code           int
	stdout, stderr string
}

// tlsentryCmd runs the test binary as tlsentry (TestMain's sensor role) with
// the environment less every ELASTICSEARCH_* and TLSENTRY_ES_* variable, plus
// env.
func tlsentryCmd(env []string, args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ELASTICSEARCH_") && !strings.HasPrefix(kv, "TLSENTRY_ES_") && !strings.HasPrefix(kv, "STATE_DIRECTORY=") {
			c.Env = append(c.Env, kv)
		}
	}
	c.Env = append(c.Env, roleEnv+"=sensor")
	c.Env = append(c.Env, env...)
	return c
}

func runTlsentry(t *testing.T, env []string, args ...string) cmdResult {
	t.Helper()
	return startTlsentry(t, env, args...)()
}

// startTlsentry starts tlsentry and returns the function that waits for it.
func startTlsentry(t *testing.T, env []string, args ...string) func() cmdResult {
	t.Helper()
	c := tlsentryCmd(env, args...)
	var so, se bytes.Buffer
	c.Stdout, c.Stderr = &so, &se
	if err := c.Start(); err != nil {
		t.Fatalf("tlsentry %v: %v", args, err)
	}
	return func() cmdResult {
		err := c.Wait()
		r := cmdResult{stdout: so.String(), stderr: se.String(), code: -1}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err == nil {
			r.code = 0
		}
		return r
	}
}

// testCaptures are the repository's generated captures.
func testCaptures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"../../testdata/*.pcap", "../../testdata/*.pcapng"} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	if len(out) < 5 {
		t.Fatalf("only %d captures in testdata", len(out))
	}
	return out
}

// esNode is how a test reaches one node: its URL and an HTTP client with
// the node's CA and credentials.
type esNode struct {
	url        string
	hc         *http.Client
	user, pass string
}

func plainNode(url string) esNode { return esNode{url: url, hc: http.DefaultClient} }

func secureNode(t *testing.T, s estest.Secure) esNode {
	t.Helper()
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s: no certificate", s.CAFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return esNode{url: s.URL, hc: &http.Client{Transport: tr, Timeout: time.Minute}, user: "elastic", pass: s.Password}
}

func (n esNode) call(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if n.user != "" {
		req.SetBasicAuth(n.user, n.pass)
	}
	res, err := n.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

// sources returns "<dataset>/<_id>" → _source of every document in the
// namespace.
func (n esNode) sources(t *testing.T, ns string) map[string]any {
	t.Helper()
	target := "/logs-tlsentry.*-" + ns
	n.call(t, http.MethodPost, target+"/_refresh?allow_no_indices=true&ignore_unavailable=true", nil)
	st, data := n.call(t, http.MethodPost, target+"/_search?allow_no_indices=true&ignore_unavailable=true",
		[]byte(`{"size":10000,"query":{"match_all":{}}}`))
	if st != 200 {
		t.Fatalf("search: %d %s", st, output.Truncate(data, 500))
	}
	var r struct {
		Hits struct {
			Hits []struct {
				Index  string          `json:"_index"`
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, h := range r.Hits.Hits {
		ds := output.DatasetTLS
		if strings.Contains(h.Index, output.DatasetAlert) {
			ds = output.DatasetAlert
		}
		var v any
		if err := json.Unmarshal(h.Source, &v); err != nil {
			t.Fatal(err)
		}
		out[ds+"/"+h.ID] = v
	}
	return out
}

// ndjsonSources reads "<dataset>/<event.id>" → document from NDJSON files,
// in order. Some testdata captures are the same connection (same flow and
// time, so the same event.id) seen differently (http-on-443 and
// tls12-ecdsa): the sink writes with op_type create, so Elasticsearch keeps
// the first, and so does this.
func ndjsonSources(t *testing.T, files ...string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, f := range files {
		for _, d := range readNDJSONDocs(t, f) {
			var v any
			if err := json.Unmarshal(d.Body, &v); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[d.Dataset+"/"+d.ID]; !dup {
				out[d.Dataset+"/"+d.ID] = v
			}
		}
	}
	return out
}

// replayAll replays every capture with tlsentry -r ... -w NDJSON --es URL and
// returns the NDJSON files. env carries the namespace, state directory and
// credentials.
func replayAll(t *testing.T, url, dir string, env []string, captures []string) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i, p := range captures {
		out := filepath.Join(dir, fmt.Sprintf("%02d.ndjson", i))
		r := runTlsentry(t, env, "-r", p, "-w", out, "--es", url, "-progress", "never")
		if r.code != 0 {
			t.Fatalf("tlsentry -r %s --es %s: exit %d\n%s", filepath.Base(p), url, r.code, r.stderr)
		}
		files = append(files, out)
	}
	return files
}

// checkSameDocs compares the documents in Elasticsearch with the NDJSON's.
// Those in Elasticsearch carry event.ingested (the sink's stamp, or the
// ingest pipeline's), which NDJSON never does: it must be a date, and is
// then left out of the comparison.
func checkSameDocs(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for id, g := range got {
		ev, _ := g.(map[string]any)["event"].(map[string]any)
		ts, _ := ev["ingested"].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("%s: %s: event.ingested %v: %v", what, id, ev["ingested"], err)
		}
		delete(ev, "ingested")
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d documents in Elasticsearch, %d in the NDJSON", what, len(got), len(want))
	}
	bad := 0
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s: %s not in Elasticsearch", what, id)
		case !reflect.DeepEqual(g, w):
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			t.Errorf("%s: %s differs:\n es:     %s\n ndjson: %s", what, id, output.Truncate(gb, 600), output.Truncate(wb, 600))
		default:
			continue
		}
		if bad++; bad > 5 {
			t.Fatalf("%s: too many differences", what)
		}
	}
}

// TestESRoundTrip, on 8.19 and 9.x: tlsentry setup, then every testdata
// capture replayed with tlsentry -r --es into a fresh namespace: the
// documents in Elasticsearch, by _id, are exactly the NDJSON's; a second
// replay adds none and changes none; nothing spooled or dead-lettered.
func TestESRoundTrip(t *testing.T) {
	captures := testCaptures(t)
	for _, v := range estest.Versions() {
		t.Run(v.Name, func(t *testing.T) {
			url := v.Resolve(t)
			ns := fmt.Sprintf("roundtrip%d", time.Now().UnixNano()%1e12)
			dir := t.TempDir()
			env := []string{"TLSENTRY_ES_NAMESPACE=" + ns, "STATE_DIRECTORY=" + filepath.Join(dir, "state")}
			if r := runTlsentry(t, env, "setup", "--es", url); r.code != 0 {
				t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
			}
			n := plainNode(url)
			files := replayAll(t, url, filepath.Join(dir), env, captures)
			want := ndjsonSources(t, files...)
			if len(want) < 10 {
				t.Fatalf("only %d documents from %d captures", len(want), len(captures))
			}
			checkSameDocs(t, "first replay", n.sources(t, ns), want)
			again := t.TempDir()
			replayAll(t, url, again, env, captures)
			checkSameDocs(t, "second replay", n.sources(t, ns), want)
			checkNoLeftovers(t, filepath.Join(dir, "state"))
			t.Logf("%s: %d documents from %d captures", url, len(want), len(captures))
		})
	}
}

// checkNoLeftovers: nothing spooled or dead-lettered under the state directory.
func checkNoLeftovers(t *testing.T, state string) {
	t.Helper()
	if dl, err := os.ReadFile(filepath.Join(state, "es-dead-letter.ndjson")); err == nil && len(dl) > 0 {
		t.Errorf("dead-lettered:\n%s", output.Truncate(dl, 2000))
	}
	segs, _ := filepath.Glob(filepath.Join(state, "es-spool", "spool-*")) // not the lock file
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil && fi.Size() > 0 {
			t.Errorf("left in spool: %s (%d bytes)", s, fi.Size())
		}
	}
}

// TestSetupRealNoDataStreamAPI, on 8.19 and 9.x: neither node has the
// data-streams module (8.19 answers PUT /_data_stream with 405, 9.x with 400
// "no handler found"); setup treats both the same: templates installed, one
// warning, exit 0, twice (idempotent). Only the fallback is shown here; the
// data stream request's shape is TestSetupTemplates' (a fake).
func TestSetupRealNoDataStreamAPI(t *testing.T) {
	for _, v := range estest.Versions() {
		t.Run(v.Name, func(t *testing.T) {
			url := v.Resolve(t)
			ns := fmt.Sprintf("setup%d", time.Now().UnixNano()%1e12)
			for i := 0; i < 2; i++ {
				r := runTlsentry(t, nil, "setup", "--es", url, "--namespace", ns)
				if r.code != 0 {
					t.Fatalf("run %d: exit %d\n%s", i, r.code, r.stderr)
				}
				for _, want := range []string{"index template logs-tlsentry.tls installed", "data stream logs-tlsentry.alert-" + ns + ": created on first write"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("run %d: stdout lacks %q:\n%s", i, want, r.stdout)
					}
				}
				if strings.Count(r.stderr, "warning: Elasticsearch has no data stream API") != 1 {
					t.Errorf("run %d: stderr %q", i, r.stderr)
				}
				// No ingest-common module: no set processor, so no pipeline,
				// and the templates name none (else every write would fail).
				if strings.Count(r.stderr, "warning: no ingest pipeline") != 1 {
					t.Errorf("run %d: stderr %q: want one warning about the ingest pipeline", i, r.stderr)
				}
			}
			n := plainNode(url)
			for _, tpl := range output.IndexTemplates() {
				if st, body := n.call(t, http.MethodGet, "/_index_template/"+tpl.Name, nil); st != 200 {
					t.Errorf("template %s: %d %s", tpl.Name, st, output.Truncate(body, 300))
				}
			}
		})
	}
}
