package output

// Tests against a real Elasticsearch: they run when ELASTICSEARCH_URL (or
// TLSENTRY_ES_URL) is set, skip when it is not, and fail when it is not set
// and CI=true (in CI a missing server is a failure). scripts/elasticsearch.sh
// start provisions one. Each test writes to its own data stream namespace,
// since the minimal distribution has no data stream delete API.
//
//	TLSENTRY_ES_OUTAGE   how long the outage test keeps Elasticsearch
//	                     stopped (default 60s with CI=true, 10s otherwise)

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
)

func esTestNamespace(tb testing.TB) string {
	name := strings.ToLower(tb.Name())
	var b strings.Builder
	for _, c := range name {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return fmt.Sprintf("%s%d", b.String(), time.Now().UnixNano()%1e12)
}

func esCall(tb testing.TB, method, url string, body []byte) (int, []byte) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

func esInstallTemplates(tb testing.TB, url string) {
	tb.Helper()
	for _, tpl := range IndexTemplates() {
		if st, body := esCall(tb, http.MethodPut, url+"/_index_template/"+tpl.Name, tpl.Body); st != 200 {
			tb.Fatalf("template %s: %d %s", tpl.Name, st, body)
		}
	}
}

// esCount refreshes and counts documents of a namespace, optionally only those
// with the given ids.
func esCount(tb testing.TB, url, ns string, ids []string) int {
	tb.Helper()
	target := url + "/logs-tlsentry.*-" + ns
	esCall(tb, http.MethodPost, target+"/_refresh?ignore_unavailable=true&allow_no_indices=true", nil)
	q := []byte(`{"query":{"match_all":{}}}`)
	if ids != nil {
		q, _ = json.Marshal(map[string]any{"query": map[string]any{"ids": map[string]any{"values": ids}}})
	}
	st, body := esCall(tb, http.MethodPost, target+"/_count?ignore_unavailable=true&allow_no_indices=true", q)
	if st != 200 {
		tb.Fatalf("count: %d %s", st, body)
	}
	var r struct{ Count int }
	if err := json.Unmarshal(body, &r); err != nil {
		tb.Fatal(err)
	}
	return r.Count
}

func idsOf(docs []Document) []string {
	out := make([]string, len(docs))
	for i := range docs {
		out[i] = docs[i].ID
	}
	return out
}

func realOptions(url, ns, dir string) ESOptions {
	return ESOptions{
		URLs:           []string{url},
		Namespace:      ns,
		FlushInterval:  100 * time.Millisecond,
		RequestTimeout: 20 * time.Second,
		BackoffMin:     50 * time.Millisecond,
		BackoffMax:     2 * time.Second,
		SpoolDir:       filepath.Join(dir, "spool"),
		DeadLetter:     filepath.Join(dir, "dead.ndjson"),
		DrainTimeout:   3 * time.Minute,
	}
}

// TestESRealReplayTwice: the documents written are exactly those in
// Elasticsearch; writing them again adds none and counts duplicates.
func TestESRealReplayTwice(t *testing.T) {
	url := estest.URL(t)
	esInstallTemplates(t, url)
	ns := esTestNamespace(t)
	docs := testDocs(3000, "rp")
	for round := 0; round < 2; round++ {
		s, err := NewElasticsearch(realOptions(url, ns, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, s, docs)
		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		st := s.Stats()
		wantIdx, wantDup := uint64(len(docs)), uint64(0)
		if round == 1 {
			wantIdx, wantDup = 0, uint64(len(docs))
		}
		if st.Indexed != wantIdx || st.Duplicates != wantDup || st.DeadLettered != 0 || st.Dropped != 0 {
			t.Errorf("round %d: stats %+v, want indexed %d duplicates %d", round, st, wantIdx, wantDup)
		}
		if n := esCount(t, url, ns, nil); n != len(docs) {
			t.Errorf("round %d: %d documents in Elasticsearch, want %d", round, n, len(docs))
		}
		if n := esCount(t, url, ns, idsOf(docs)); n != len(docs) {
			t.Errorf("round %d: %d of our ids found, want %d", round, n, len(docs))
		}
	}
}

// TestESRealMappingConflict: a document whose field contradicts the template
// (a string in a long field) lands in the dead-letter file with the reason;
// the others arrive.
func TestESRealMappingConflict(t *testing.T) {
	url := estest.URL(t)
	esInstallTemplates(t, url)
	ns := esTestNamespace(t)
	dir := t.TempDir()
	docs := testDocs(500, "mc")
	bad := Document{ID: "mc-bad", Dataset: DatasetTLS, Body: []byte(`{"@timestamp":"2024-05-01T10:00:00Z","event":{"id":"mc-bad"},"source":{"port":"not a number"}}`)}
	s, err := NewElasticsearch(realOptions(url, ns, dir))
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, docs[:250])
	writeAll(t, s, []Document{bad})
	writeAll(t, s, docs[250:])
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := esCount(t, url, ns, nil); n != len(docs) {
		t.Errorf("%d documents, want %d", n, len(docs))
	}
	dl := deadLetters(t, filepath.Join(dir, "dead.ndjson"))
	if len(dl) != 1 || dl[0].ID != "mc-bad" || dl[0].Status != 400 || dl[0].Error.Type == "" || dl[0].Error.Reason == "" ||
		!bytes.Contains(dl[0].Document, []byte("not a number")) || dl[0].Index != "logs-tlsentry.tls-"+ns {
		t.Errorf("dead letters: %+v", dl)
	}
	if st := s.Stats(); st.DeadLettered != 1 || st.Indexed != uint64(len(docs)) {
		t.Errorf("stats %+v", st)
	}
}

// TestESRealDataStreamMappings: writing creates the data streams from the
// templates, with their mappings (not dynamic ones).
func TestESRealDataStreamMappings(t *testing.T) {
	url := estest.URL(t)
	esInstallTemplates(t, url)
	ns := esTestNamespace(t)
	s, err := NewElasticsearch(realOptions(url, ns, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, testDocs(20, "dm"))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{DatasetTLS, DatasetAlert} {
		name := "logs-" + ds + "-" + ns
		st, body := esCall(t, http.MethodGet, url+"/"+name+"/_mapping", nil)
		if st != 200 {
			t.Fatalf("%s mapping: %d %s", name, st, body)
		}
		var m map[string]struct {
			Mappings struct {
				Dynamic    any `json:"dynamic"`
				Properties map[string]struct {
					Type       string                     `json:"type"`
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"properties"`
			} `json:"mappings"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 {
			t.Fatalf("%s: %d backing indices", name, len(m))
		}
		for idx, v := range m {
			if !strings.HasPrefix(idx, ".ds-"+name+"-") {
				t.Errorf("%s: backing index %s: not a data stream", name, idx)
			}
			if v.Mappings.Properties["@timestamp"].Type != "date" {
				t.Errorf("%s: @timestamp %+v", name, v.Mappings.Properties["@timestamp"])
			}
			if port := string(v.Mappings.Properties["source"].Properties["port"]); !strings.Contains(port, `"long"`) {
				t.Errorf("%s: source.port mapping %s", name, port)
			}
			if ev := string(v.Mappings.Properties["event"].Properties["ingested"]); !strings.Contains(ev, `"date"`) {
				t.Errorf("%s: event.ingested mapping %s, want date", name, ev)
			}
			if ns := string(v.Mappings.Properties["data_stream"].Properties["namespace"]); !strings.Contains(ns, `"keyword"`) {
				t.Errorf("%s: data_stream.namespace mapping %s", name, ns)
			}
			if en := string(v.Mappings.Properties["threat"].Properties["enrichments"]); ds == DatasetAlert && !strings.Contains(en, `"nested"`) {
				t.Errorf("%s: threat.enrichments mapping %s, want nested", name, en)
			}
			if fmt.Sprint(v.Mappings.Dynamic) != "false" {
				t.Errorf("%s: dynamic %v, want false (the template's)", name, v.Mappings.Dynamic)
			}
		}
	}
}

// esScript returns a function running the provisioning script for the node
// at url (its port), when that is a node the script manages (so the outage
// test may stop and start it).
func esScript(t *testing.T, url string) func(args ...string) *exec.Cmd {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "scripts", "elasticsearch.sh"))
	if err != nil {
		t.Fatal(err)
	}
	port := url[strings.LastIndex(url, ":")+1:]
	cmd := func(args ...string) *exec.Cmd { return exec.Command(script, append(args, "--port", port)...) }
	out, err := cmd("url").Output()
	if err != nil || strings.TrimSpace(string(out)) != url {
		msg := fmt.Sprintf("the outage test needs a node started by scripts/elasticsearch.sh at %s (script says %q)", url, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return cmd
}

// TestESRealOutage stops Elasticsearch in the middle of a stream of
// documents and starts it again TLSENTRY_ES_OUTAGE later; at the end every
// document is there exactly once, the spool is empty and nothing was
// dead-lettered.
// It stops its own node (estest.OutageURL), not the one the other packages'
// tests use at the same time.
func TestESRealOutage(t *testing.T) {
	url := estest.OutageURL(t)
	script := esScript(t, url)
	outage := 10 * time.Second
	if os.Getenv("CI") == "true" {
		outage = 60 * time.Second
	}
	if v := os.Getenv("TLSENTRY_ES_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TLSENTRY_ES_OUTAGE: %v", err)
		}
		outage = d
	}
	esInstallTemplates(t, url)
	ns := esTestNamespace(t)
	dir := t.TempDir()
	opt := realOptions(url, ns, dir)
	opt.RequestTimeout = 5 * time.Second
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		// About 2,000 documents a second, until told to stop.
		ctx := context.Background()
		for i := 0; !stop.Load(); i++ {
			docs := testDocs(200, fmt.Sprintf("out%05d-", i))
			if err := s.Write(ctx, docs...); err != nil {
				done <- err
				return
			}
			written.Add(int64(len(docs)))
			time.Sleep(100 * time.Millisecond)
		}
		done <- nil
	}()
	run := func(arg string) {
		cmd := script(arg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("elasticsearch.sh %s: %v", arg, err)
		}
	}
	defer func() {
		// Whatever happens, leave a running node behind for the other tests.
		if script("status").Run() != nil {
			script("start").Run()
		}
	}()
	// Until something is indexed (a fresh node on a busy machine makes the
	// first indices slowly), at least 3s.
	time.Sleep(3 * time.Second)
	for wait := time.Now().Add(time.Minute); s.Stats().Indexed == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("nothing indexed before the outage: %+v", s.Stats())
		}
	}
	run("stop")
	t.Logf("Elasticsearch stopped after %d documents; starting it again in %v", written.Load(), outage)
	time.Sleep(outage)
	if st := s.Stats(); st.Spooled == 0 || st.SpoolBytes == 0 {
		t.Errorf("nothing spooled during the outage: %+v", st)
	}
	run("start")
	time.Sleep(3 * time.Second)
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	n := int(written.Load())
	t.Logf("%d documents, stats %+v", n, st)
	if got := esCount(t, url, ns, nil); got != n {
		t.Errorf("%d documents in Elasticsearch, want %d", got, n)
	}
	if st.Indexed+st.Duplicates != uint64(n) || st.Dropped != 0 || st.DeadLettered != 0 {
		t.Errorf("stats %+v for %d documents", st, n)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "spool", "spool-*")); len(m) != 0 || st.SpoolBytes != 0 {
		t.Errorf("spool not empty: %v", m)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dead.ndjson")); err == nil && fi.Size() > 0 {
		t.Errorf("dead-letter file has %d bytes", fi.Size())
	}
}

// BenchmarkESBulk measures documents per second into the node, by bulk size
// (FlushBytes) and worker count. One op is 20,000 documents of about 400
// bytes; docs/s is the figure to read.
//
//	ELASTICSEARCH_URL=http://127.0.0.1:9200 go test ./output -run '^$' -bench ESBulk -benchtime 2x
func BenchmarkESBulk(b *testing.B) {
	url := estest.URL(b)
	esInstallTemplates(b, url)
	const perOp = 20000
	for _, fb := range []int{256 << 10, 1 << 20, 4 << 20} {
		for _, w := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("flush=%dK/workers=%d", fb>>10, w), func(b *testing.B) {
				b.ReportAllocs()
				ns := esTestNamespace(b)
				opt := realOptions(url, ns, b.TempDir())
				opt.FlushBytes, opt.Workers = fb, w
				docs := make([][]Document, b.N)
				for i := range docs {
					docs[i] = benchDocs(perOp, fmt.Sprintf("b%d-", i))
				}
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					s, err := NewElasticsearch(opt)
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Write(context.Background(), docs[i]...); err != nil {
						b.Fatal(err)
					}
					if err := s.Close(context.Background()); err != nil {
						b.Fatal(err)
					}
					if st := s.Stats(); st.Indexed != perOp {
						b.Fatalf("stats %+v", st)
					}
				}
				b.ReportMetric(float64(b.N*perOp)/time.Since(start).Seconds(), "docs/s")
			})
		}
	}
}

func benchDocs(n int, prefix string) []Document {
	docs := testDocs(n, prefix)
	for i := range docs {
		docs[i].Body = []byte(fmt.Sprintf(`{"@timestamp":"2024-05-01T10:%02d:%02dZ","event":{"id":"%s","kind":"event","dataset":"tlsentry.tls"},`+
			`"source":{"ip":"10.0.%d.%d","port":%d},"destination":{"ip":"192.0.2.%d","port":443},"network":{"transport":"tcp","protocol":"tls"},`+
			`"tls":{"version":"1.3","cipher":"TLS_AES_128_GCM_SHA256","client":{"server_name":"host%d.example.test","ja3":"d41d8cd98f00b204e9800998ecf8427e"}},`+
			`"tlsentry":{"client":{"ja4":"t13d1516h2_8daaf6152771_e5627efa2ab1"}}}`,
			(i/60)%60, i%60, docs[i].ID, (i>>8)&255, i&255, 1024+i%60000, i%250, i%1000))
	}
	return docs
}
