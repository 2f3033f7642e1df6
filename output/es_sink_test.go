package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeES is a bulk endpoint that stores documents by _id (create semantics)
// and lets a test decide, per request and per item, how to answer.
type fakeES struct {
	mu       sync.Mutex
	docs     map[string]json.RawMessage // index/_id → body
	attempts map[string]int             // _id → times seen
	requests atomic.Int64

	// request, when set, may answer the whole request itself (return true).
	request func(n int64, w http.ResponseWriter, nitems int) bool
	// item, when set, may override an item's status (0: normal behaviour).
	item func(id string, attempt int) (status int, errType string)
}

func newFakeES() *fakeES {
	return &fakeES{docs: map[string]json.RawMessage{}, attempts: map[string]int{}}
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		http.Error(w, `{"error":"unexpected"}`, http.StatusNotFound)
		return
	}
	n := f.requests.Add(1)
	var lines [][]byte
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if len(lines)%2 != 0 {
		http.Error(w, `{"error":"odd number of lines"}`, http.StatusBadRequest)
		return
	}
	if f.request != nil && f.request(n, w, len(lines)/2) {
		return
	}
	type item struct {
		Status int            `json:"status"`
		Error  map[string]any `json:"error,omitempty"`
	}
	var resp struct {
		Errors bool              `json:"errors"`
		Items  []map[string]item `json:"items"`
	}
	f.mu.Lock()
	for i := 0; i < len(lines); i += 2 {
		var a struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(lines[i], &a); err != nil {
			f.mu.Unlock()
			http.Error(w, `{"error":"bad action"}`, http.StatusBadRequest)
			return
		}
		key := a.Create.Index + "/" + a.Create.ID
		f.attempts[a.Create.ID]++
		it := item{Status: 201}
		if f.item != nil {
			if st, typ := f.item(a.Create.ID, f.attempts[a.Create.ID]); st != 0 {
				it = item{Status: st, Error: map[string]any{"type": typ, "reason": "test says " + typ}}
			}
		}
		if it.Status == 201 {
			if !json.Valid(lines[i+1]) {
				it = item{Status: 400, Error: map[string]any{"type": "document_parsing_exception", "reason": "not json"}}
			} else if _, ok := f.docs[key]; ok {
				it = item{Status: 409, Error: map[string]any{"type": "version_conflict_engine_exception", "reason": "exists"}}
			} else {
				f.docs[key] = lines[i+1]
			}
		}
		if it.Status > 201 {
			resp.Errors = true
		}
		resp.Items = append(resp.Items, map[string]item{"create": it})
	}
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeES) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.docs)
}

func testDocs(n int, prefix string) []Document {
	docs := make([]Document, n)
	for i := range docs {
		ds := DatasetTLS
		if i%7 == 0 {
			ds = DatasetAlert
		}
		id := fmt.Sprintf("%s%06d", prefix, i)
		docs[i] = Document{
			ID: id, Dataset: ds, Timestamp: time.Unix(1700000000+int64(i), 0).UTC(),
			Body: []byte(fmt.Sprintf(`{"@timestamp":"%s","event":{"id":"%s","kind":"event"},"source":{"port":%d}}`,
				time.Unix(1700000000+int64(i), 0).UTC().Format(time.RFC3339), id, i%65536)),
		}
	}
	return docs
}

func fastOptions(url, dir string) ESOptions {
	return ESOptions{
		URLs:           []string{url},
		Workers:        2,
		FlushBytes:     4 << 10,
		FlushInterval:  20 * time.Millisecond,
		RequestTimeout: 2 * time.Second,
		BackoffMin:     5 * time.Millisecond,
		BackoffMax:     50 * time.Millisecond,
		RetryMax:       3,
		SpoolDir:       filepath.Join(dir, "spool"),
		DeadLetter:     filepath.Join(dir, "dead.ndjson"),
		DrainTimeout:   20 * time.Second,
	}
}

func writeAll(t *testing.T, s *ESSink, docs []Document) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(docs); i += 50 {
		j := min(i+50, len(docs))
		if err := s.Write(ctx, docs[i:j]...); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

func deadLetters(t *testing.T, path string) []deadLetterEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []deadLetterEntry
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var e deadLetterEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("dead letter line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "spool", "spool-*"))
	return m
}

// TestESSinkItemMixes answers with 429, 500, 503, 409 and 400 mixed per
// item: every good document arrives once, the rejected ones are dead-lettered
// with their reason, and the counters add up.
func TestESSinkItemMixes(t *testing.T) {
	f := newFakeES()
	f.item = func(id string, attempt int) (int, string) {
		switch {
		case strings.HasPrefix(id, "bad"):
			return 400, "document_parsing_exception"
		case id[len(id)-1] == '3' && attempt <= 2:
			return 429, "es_rejected_execution_exception"
		case id[len(id)-1] == '5' && attempt == 1:
			return 500, "internal_server_error"
		case id[len(id)-1] == '7' && attempt == 1:
			return 503, "unavailable_shards_exception"
		}
		return 0, ""
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	// The counts below are exact only if no request times out: a request
	// stored and then retried after a timeout makes its documents
	// duplicates (as it should). The fake answers at once; only a starved
	// machine takes seconds.
	opt.RequestTimeout = time.Minute
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	good := testDocs(1000, "d")
	bad := testDocs(10, "bad")
	writeAll(t, s, good)
	writeAll(t, s, bad)
	writeAll(t, s, good[:100]) // sent again: duplicates
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	if got := f.count(); got != len(good) {
		t.Errorf("stored %d documents, want %d", got, len(good))
	}
	if st.Failures != 0 {
		t.Errorf("%d requests failed: %+v", st.Failures, st)
	}
	if st.Indexed != uint64(len(good)) || st.Duplicates != 100 || st.DeadLettered != uint64(len(bad)) {
		t.Errorf("stats %+v: want indexed %d, duplicates 100, dead-lettered %d", st, len(good), len(bad))
	}
	if st.Retried == 0 {
		t.Errorf("no retries counted: %+v", st)
	}
	if st.Written != st.Indexed+st.Duplicates+st.DeadLettered {
		t.Errorf("written %d != indexed+duplicates+dead %d", st.Written, st.Indexed+st.Duplicates+st.DeadLettered)
	}
	dl := deadLetters(t, filepath.Join(dir, "dead.ndjson"))
	if len(dl) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(bad))
	}
	for _, e := range dl {
		if !strings.HasPrefix(e.ID, "bad") || e.Status != 400 || e.Error.Type != "document_parsing_exception" ||
			e.Index == "" || len(e.Document) == 0 {
			t.Errorf("dead letter %+v", e)
		}
	}
	if n := len(spoolFiles(t, dir)); n != 0 {
		t.Errorf("%d spool segments left", n)
	}
}

// TestESSinkBadAnswers: whole-request errors and answers that do not match
// the request (garbage, HTML, wrong item counts, an item with no operation)
// never panic and never lose a document.
func TestESSinkBadAnswers(t *testing.T) {
	answers := []struct {
		name string
		fn   func(w http.ResponseWriter, nitems int)
	}{
		{"429", func(w http.ResponseWriter, _ int) { w.WriteHeader(429); w.Write([]byte(`{"error":"too many"}`)) }},
		{"502 html", func(w http.ResponseWriter, _ int) { w.WriteHeader(502); w.Write([]byte(`<html>bad gateway</html>`)) }},
		{"garbage 200", func(w http.ResponseWriter, _ int) { w.Write([]byte("\x00\xff{{{not json")) }},
		{"empty 200", func(w http.ResponseWriter, _ int) {}},
		{"more items", func(w http.ResponseWriter, n int) {
			items := strings.Repeat(`{"create":{"status":201}},`, n+3)
			fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.TrimSuffix(items, ","))
		}},
		{"fewer items", func(w http.ResponseWriter, n int) {
			fmt.Fprintf(w, `{"errors":false,"items":[{"create":{"status":201}}]}`)
		}},
		{"item without op", func(w http.ResponseWriter, n int) {
			items := strings.Repeat(`{},`, n)
			fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.TrimSuffix(items, ","))
		}},
		{"items not array", func(w http.ResponseWriter, n int) { w.Write([]byte(`{"errors":true,"items":{"a":1}}`)) }},
		{"error as string", func(w http.ResponseWriter, n int) {
			items := strings.Repeat(`{"create":{"status":503,"error":"busy"}},`, n)
			fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.TrimSuffix(items, ","))
		}},
		{"hijack close", func(w http.ResponseWriter, n int) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		}},
		{"no product header", func(w http.ResponseWriter, n int) {
			w.Header().Del("X-Elastic-Product")
			w.Write([]byte(`{"errors":false,"items":[]}`))
		}},
	}
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			f := newFakeES()
			var bad atomic.Int64
			f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
				if n <= 3 {
					bad.Add(1)
					a.fn(w, nitems)
					return true
				}
				return false
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			dir := t.TempDir()
			s, err := NewElasticsearch(fastOptions(srv.URL, dir))
			if err != nil {
				t.Fatal(err)
			}
			docs := testDocs(300, "x")
			writeAll(t, s, docs)
			if err := s.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v (stats %+v)", err, s.Stats())
			}
			if got := f.count(); got != len(docs) {
				t.Errorf("stored %d, want %d (stats %+v)", got, len(docs), s.Stats())
			}
			st := s.Stats()
			if st.Indexed+st.Duplicates != uint64(len(docs)) || st.Dropped != 0 || st.DeadLettered != 0 {
				t.Errorf("stats %+v", st)
			}
			if bad.Load() == 0 {
				t.Errorf("the bad answer was never sent")
			}
		})
	}
}

// TestESSinkOutageSpools: the server refuses everything for a while; the
// documents go to the spool and arrive, in order of spooling, once it is back.
func TestESSinkOutageSpools(t *testing.T) {
	f := newFakeES()
	var down atomic.Bool
	down.Store(true)
	f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
		if !down.Load() {
			return false
		}
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return true
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	s, err := NewElasticsearch(fastOptions(srv.URL, dir))
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(2000, "o")
	writeAll(t, s, docs[:1000])
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Spooled < 1000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.Stats(); st.Spooled < 1000 || st.SpoolBytes == 0 {
		t.Fatalf("documents not spooled during the outage: %+v", st)
	}
	if f.count() != 0 {
		t.Fatalf("server down but stored %d", f.count())
	}
	down.Store(false)
	writeAll(t, s, docs[1000:])
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	if got := f.count(); got != len(docs) {
		t.Errorf("stored %d, want %d (stats %+v)", got, len(docs), st)
	}
	if st.SpoolBytes != 0 || len(spoolFiles(t, dir)) != 0 {
		t.Errorf("spool not empty: %+v %v", st, spoolFiles(t, dir))
	}
	if st.Indexed+st.Duplicates != uint64(len(docs)) {
		t.Errorf("stats %+v", st)
	}
}

// newUnavailableES is a fake node that answers 503 to every request while
// down (it starts down); the server is closed with the test.
func newUnavailableES(t *testing.T) (*fakeES, *httptest.Server, *atomic.Bool) {
	f := newFakeES()
	down := new(atomic.Bool)
	down.Store(true)
	f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
		if down.Load() {
			w.WriteHeader(503)
			return true
		}
		return false
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv, down
}

// TestESSinkSpoolSurvivesRestart: a sink closed during an outage leaves its
// documents in the spool and says so; the next sink on the same directory
// delivers them.
func TestESSinkSpoolSurvivesRestart(t *testing.T) {
	f, srv, down := newUnavailableES(t)
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	opt.DrainTimeout = 200 * time.Millisecond
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(500, "r")
	writeAll(t, s, docs)
	err = s.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "spool") {
		t.Fatalf("Close during an outage: %v, want an error naming the spool", err)
	}
	if len(spoolFiles(t, dir)) == 0 {
		t.Fatal("no spool segments left")
	}
	down.Store(false)
	s2, err := NewElasticsearch(fastOptions(srv.URL, dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := f.count(); got != len(docs) {
		t.Errorf("stored %d, want %d", got, len(docs))
	}
	if len(spoolFiles(t, dir)) != 0 {
		t.Errorf("spool left: %v", spoolFiles(t, dir))
	}
}

// TestESSinkHang: a server that never answers trips the request timeout and
// the documents still arrive once it answers.
func TestESSinkHang(t *testing.T) {
	f := newFakeES()
	release := make(chan struct{})
	f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
		if n == 1 {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return true
		}
		return false
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	defer close(release)
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	opt.RequestTimeout = 300 * time.Millisecond
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	docs := testDocs(200, "h")
	writeAll(t, s, docs)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := f.count(); got != len(docs) {
		t.Errorf("stored %d, want %d (%+v)", got, len(docs), s.Stats())
	}
}

// TestESSinkLiveSheds: in live mode a stuck server makes Write shed, counted,
// instead of blocking.
func TestESSinkLiveSheds(t *testing.T) {
	f := newFakeES()
	block := make(chan struct{})
	f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
		<-block
		return false
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	opt.SpoolDir = ""
	opt.Live = true
	opt.QueueSize = 10
	opt.LiveMaxBlock = time.Millisecond
	opt.RequestTimeout = 10 * time.Second
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	writeAll(t, s, testDocs(2000, "l"))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("live Write blocked %v", d)
	}
	st := s.Stats()
	if st.Shed == 0 {
		t.Errorf("nothing shed: %+v", st)
	}
	close(block)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st = s.Stats()
	if st.Written != st.Indexed+st.Duplicates+st.Shed {
		t.Errorf("written %d != indexed %d + dup %d + shed %d", st.Written, st.Indexed, st.Duplicates, st.Shed)
	}
}

// TestESSinkWriteAfterClose and other edge cases of the API.
func TestESSinkAPI(t *testing.T) {
	f := newFakeES()
	srv := httptest.NewServer(f)
	defer srv.Close()
	s, err := NewElasticsearch(fastOptions(srv.URL, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	// A body spread over lines is compacted, an empty one still frames.
	if err := s.Write(context.Background(),
		Document{ID: "multi", Dataset: DatasetTLS, Body: []byte("{\n \"a\": 1\n}")},
		Document{ID: "q\"uote", Dataset: DatasetAlert, Body: []byte(`{"b":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), testDocs(1, "z")...); err != ErrClosed {
		t.Errorf("Write after Close: %v", err)
	}
	if err := s.Close(context.Background()); err != ErrClosed {
		t.Errorf("second Close: %v", err)
	}
	f.mu.Lock()
	_, ok1 := f.docs["logs-tlsentry.tls-default/multi"]
	_, ok2 := f.docs[`logs-tlsentry.alert-default/q"uote`]
	f.mu.Unlock()
	if !ok1 || !ok2 {
		t.Errorf("documents missing: %v", f.docs)
	}
	for _, ns := range []string{"", "Bad", "a-b", "a b", strings.Repeat("a", 101)} {
		if ns == "" {
			continue
		}
		if _, err := NewElasticsearch(ESOptions{Namespace: ns}); err == nil {
			t.Errorf("namespace %q accepted", ns)
		}
	}
}

type recordSink struct {
	docs   []Document
	closed bool
	err    error
}

func (r *recordSink) Write(_ context.Context, docs ...Document) error {
	r.docs = append(r.docs, docs...)
	return r.err
}

func (r *recordSink) Close(context.Context) error { r.closed = true; return r.err }

func TestTee(t *testing.T) {
	a, b := &recordSink{}, &recordSink{}
	s := Tee(a, b)
	if err := s.Write(context.Background(), testDocs(3, "t")...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(a.docs) != 3 || len(b.docs) != 3 || !a.closed || !b.closed {
		t.Errorf("a %d %v, b %d %v", len(a.docs), a.closed, len(b.docs), b.closed)
	}
	c := &recordSink{err: ErrClosed}
	d := &recordSink{}
	if err := Tee(c, d).Close(context.Background()); err != ErrClosed || !d.closed {
		t.Errorf("Close error %v, second closed %v", err, d.closed)
	}
}

// TestESSinkSpoolFull: past the spool's size limit documents are dropped and
// counted; segments rotate at their size.
func TestESSinkSpoolFull(t *testing.T) {
	f := newFakeES()
	f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return true
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	opt.SpoolMaxBytes = 40 << 10
	opt.SpoolSegmentBytes = 8 << 10
	opt.DrainTimeout = 100 * time.Millisecond
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, s, testDocs(1000, "f"))
	err = s.Close(context.Background())
	if err == nil {
		t.Fatal("Close with a full spool and no server: no error")
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Spooled == 0 || st.Spooled+st.Dropped != st.Written || st.SpoolBytes > opt.SpoolMaxBytes {
		t.Errorf("stats %+v", st)
	}
	if n := len(spoolFiles(t, dir)); n < 4 {
		t.Errorf("%d segments, want rotation at 8 KiB", n)
	}
}

// logRec collects the sink's log lines.
type logRec struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRec) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// count returns how many lines contain sub.
func (l *logRec) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func (l *logRec) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// hangUp closes the connection without an answer: a node going away.
func hangUp(w http.ResponseWriter) {
	if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
		c.Close()
	}
}

// openSink opens a sink on opt, closed at the end of the test if the
// test did not.
func openSink(t *testing.T, opt ESOptions) *ESSink {
	t.Helper()
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// storedOnce checks that every document of docs is stored, exactly once
// created (the fake refuses a second create with 409, as Elasticsearch does).
func storedOnce(t *testing.T, f *fakeES, docs []Document) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	missing := 0
	for _, d := range docs {
		index := "logs-" + d.Dataset + "-default"
		if _, ok := f.docs[index+"/"+d.ID]; !ok {
			missing++
		}
	}
	if missing > 0 || len(f.docs) != len(docs) {
		t.Errorf("%d of %d documents missing, %d stored", missing, len(docs), len(f.docs))
	}
}

// TestESSinkNodeKilled: three nodes of one cluster (one shared store), one
// killed (listener and connections closed, as kill -9 does) in the middle
// of the stream. The others take its share at once: nothing is spooled,
// every document is indexed exactly once, and the node is logged
// unreachable once.
func TestESSinkNodeKilled(t *testing.T) {
	f := newFakeES()
	// A killed node answers nothing: its listener closes, and a connection
	// the server accepted just before (which CloseClientConnections can
	// miss while Serve registers it) hangs up instead of answering.
	var killed atomic.Bool
	var srvs []*httptest.Server
	for i := range 3 {
		h := http.Handler(f)
		if i == 1 {
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if killed.Load() {
					hangUp(w)
					return
				}
				f.ServeHTTP(w, r)
			})
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		srvs = append(srvs, srv)
	}
	dir := t.TempDir()
	opt := fastOptions(srvs[0].URL, dir)
	opt.URLs = []string{srvs[0].URL, srvs[1].URL, srvs[2].URL}
	opt.BackoffMax = time.Second
	lr := &logRec{}
	opt.Logf = lr.logf
	s := openSink(t, opt)
	docs := testDocs(20000, "k")
	writeAll(t, s, docs[:5000])
	killed.Store(true)
	srvs[1].Listener.Close()
	srvs[1].CloseClientConnections()
	writeAll(t, s, docs[5000:])
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v\n%s", err, lr)
	}
	storedOnce(t, f, docs)
	st := s.Stats()
	if st.Indexed+st.Duplicates != uint64(len(docs)) || st.Dropped != 0 || st.DeadLettered != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Spooled != 0 {
		t.Errorf("%d documents spooled although two nodes answered\n%s", st.Spooled, lr)
	}
	if n := lr.count("node " + srvs[1].URL + " unreachable"); n != 1 {
		t.Errorf("node logged unreachable %d times, want 1:\n%s", n, lr)
	}
	if n := lr.count("no node reachable"); n != 0 {
		t.Errorf("sink went offline:\n%s", lr)
	}
}

// TestESSinkNodeRejoins: a node that drops every connection is left out,
// tried again after its backoff, and takes bulks again once it answers.
func TestESSinkNodeRejoins(t *testing.T) {
	f := newFakeES()
	var down atomic.Bool
	var served, refused atomic.Int64
	down.Store(true)
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			refused.Add(1)
			hangUp(w)
			return
		}
		served.Add(1)
		f.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	good := httptest.NewServer(f)
	defer good.Close()
	dir := t.TempDir()
	opt := fastOptions(good.URL, dir)
	opt.URLs = []string{flaky.URL, good.URL}
	lr := &logRec{}
	opt.Logf = lr.logf
	s := openSink(t, opt)
	docs := testDocs(6000, "j")
	writeAll(t, s, docs[:2000])
	for deadline := time.Now().Add(10 * time.Second); refused.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	down.Store(false)
	for i := 2000; i < len(docs); i += 500 {
		writeAll(t, s, docs[i:i+500])
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	storedOnce(t, f, docs)
	if lr.count("node "+flaky.URL+" unreachable") != 1 || lr.count("node "+flaky.URL+" reachable again") != 1 {
		t.Errorf("want one unreachable and one reachable again:\n%s", lr)
	}
	if served.Load() == 0 {
		t.Error("the node that came back got no bulk")
	}
	if st := s.Stats(); st.Spooled != 0 {
		t.Errorf("spooled %d", st.Spooled)
	}
}

// TestESSinkDrainFullBulks: what was spooled while every node was down is
// drained in bulks of FlushBytes (not record by record), through the
// workers, and arrives exactly once. Counted in bulks, not time.
func TestESSinkDrainFullBulks(t *testing.T) {
	f := newFakeES()
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	var sizes []int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			hangUp(w)
			return
		}
		mu.Lock()
		sizes = append(sizes, r.ContentLength)
		mu.Unlock()
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	opt.FlushBytes = 64 << 10
	opt.SpoolSegmentBytes = 1 << 20
	opt.DrainTimeout = 100 * time.Millisecond
	s := openSink(t, opt)
	docs := testDocs(40000, "s") // about 6 MB of records
	writeAll(t, s, docs)
	if err := s.Close(context.Background()); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Close while down: %v, want ErrUndelivered", err)
	}
	segs := len(spoolFiles(t, dir))
	spooled := s.Stats().SpoolBytes
	if spooled < 4<<20 {
		t.Fatalf("only %d bytes spooled", spooled)
	}

	down.Store(false)
	opt.DrainTimeout = 20 * time.Second
	if err := openSink(t, opt).Close(context.Background()); err != nil {
		t.Fatalf("drain: %v", err)
	}
	storedOnce(t, f, docs)
	mu.Lock()
	defer mu.Unlock()
	var total int64
	small := 0
	for _, n := range sizes {
		total += n
		if n < int64(opt.FlushBytes) {
			small++
		}
	}
	// Spool frames add 12 bytes a record: the records are less than spooled.
	maxBulks := int(spooled/int64(opt.FlushBytes)) + segs
	if len(sizes) > maxBulks || small > segs {
		t.Errorf("%d bulks (%d below %d bytes) for %d bytes in %d segments; want at most %d bulks, %d short ones",
			len(sizes), small, opt.FlushBytes, spooled, segs, maxBulks, segs)
	}
}

// TestESSinkErrorsShown: every kind of failure is logged once with its
// status and reason; 401 and 403 (also on an item) stop delivery with an
// ESAuthError that says what to check, keep the documents in the spool
// (not the dead-letter file), and a later sink delivers them: none lost.
func TestESSinkErrorsShown(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(w http.ResponseWriter, nitems int)
		auth bool
		want []string // in the log
	}{
		{"401", func(w http.ResponseWriter, _ int) {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"type":"security_exception","reason":"unable to authenticate with provided credentials"},"status":401}`))
		}, true, []string{"401 Unauthorized", "security_exception", "unable to authenticate", "API key"}},
		{"403", func(w http.ResponseWriter, _ int) {
			w.WriteHeader(403)
			w.Write([]byte(`{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"},"status":403}`))
		}, true, []string{"403 Forbidden", "is unauthorized", "privileges", "create_doc"}},
		{"403 item", func(w http.ResponseWriter, n int) {
			items := strings.Repeat(`{"create":{"status":403,"error":{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized for API key"}}},`, n)
			fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.TrimSuffix(items, ","))
		}, true, []string{"403 Forbidden", "unauthorized for API key", "logs-tlsentry"}},
		{"429", func(w http.ResponseWriter, _ int) {
			w.WriteHeader(429)
			w.Write([]byte(`{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"},"status":429}`))
		}, false, []string{"429 Too Many Requests", "es_rejected_execution_exception: rejected execution"}},
		{"500", func(w http.ResponseWriter, _ int) {
			w.WriteHeader(500)
			w.Write([]byte(`{"error":{"type":"illegal_state_exception","reason":"boom"},"status":500}`))
		}, false, []string{"500 Internal Server Error", "illegal_state_exception: boom"}},
		{"html", func(w http.ResponseWriter, _ int) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte(`<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>`))
		}, false, []string{"502 Bad Gateway", "HTML page", "proxy"}},
		{"truncated json", func(w http.ResponseWriter, _ int) { w.Write([]byte(`{"errors":false,"items":[{"create":{"sta`)) },
			false, []string{"200 OK", "unreadable answer", "unexpected end of JSON input"}},
		{"fewer items", func(w http.ResponseWriter, n int) {
			w.Write([]byte(`{"errors":false,"items":[{"create":{"status":201}}]}`))
		},
			false, []string{"wrong item count", "1 items for"}},
		{"more items", func(w http.ResponseWriter, n int) {
			items := strings.Repeat(`{"create":{"status":201}},`, n+2)
			fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.TrimSuffix(items, ","))
		}, false, []string{"wrong item count"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeES()
			var bad atomic.Bool
			bad.Store(true)
			f.request = func(n int64, w http.ResponseWriter, nitems int) bool {
				if tc.auth && bad.Load() || !tc.auth && n <= 4 {
					tc.fn(w, nitems)
					return true
				}
				return false
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			dir := t.TempDir()
			opt := fastOptions(srv.URL, dir)
			opt.RetryMax = 10
			opt.Live = tc.auth // an auth failure is logged in live mode (a replay gets it as its error)
			lr := &logRec{}
			opt.Logf = lr.logf
			s := openSink(t, opt)
			docs := testDocs(300, "e")
			var werr error
			for i := 0; i < len(docs) && werr == nil; i += 50 {
				werr = s.Write(context.Background(), docs[i:i+50]...)
				time.Sleep(5 * time.Millisecond)
			}
			err := s.Close(context.Background())
			for _, w := range tc.want {
				if !strings.Contains(lr.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, lr)
				}
			}
			st := s.Stats()
			if !tc.auth {
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
				if n := lr.count("status"); n != 1 {
					t.Errorf("%d log lines with a status, want 1 (once per kind):\n%s", n, lr)
				}
				storedOnce(t, f, docs)
				return
			}
			var ae *ESAuthError
			if !errors.As(err, &ae) || !errors.Is(err, ErrAuth) || !errors.Is(err, ErrUndelivered) || !strings.Contains(err.Error(), tc.want[0]) {
				t.Fatalf("Close: %v, want an ESAuthError and undelivered documents", err)
			}
			if !errors.Is(werr, ErrAuth) {
				t.Errorf("Write after the stop: %v, want the ESAuthError", werr)
			}
			if st.DeadLettered != 0 || len(deadLetters(t, opt.DeadLetter)) != 0 {
				t.Errorf("auth failures dead-lettered: %+v", st)
			}
			if st.Spooled == 0 || st.Dropped != 0 {
				t.Errorf("stats %+v: want the documents in the spool", st)
			}
			if n := lr.count(tc.want[0]); n != 1 {
				t.Errorf("auth error logged %d times:\n%s", n, lr)
			}
			// With the right key, the next start delivers the spool.
			bad.Store(false)
			opt.Logf = nil
			if err := openSink(t, opt).Close(context.Background()); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			f.mu.Lock()
			stored := len(f.docs)
			f.mu.Unlock()
			if uint64(stored) != st.Written {
				t.Errorf("stored %d of the %d documents written", stored, st.Written)
			}
		})
	}
}

// TestESSinkFlushDeadline: a node that answers every bulk after seconds;
// Close's context ends (the flush deadline after a signal): Close returns
// at once, says what stays in the spool and why, and a later sink delivers
// all of it: nothing lost. A Write that waits past its context spools too.
func TestESSinkFlushDeadline(t *testing.T) {
	f := newFakeES()
	var slow atomic.Bool
	slow.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			// Read the body first: the server notices a client going away
			// only once the request is read.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(30 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer srv.CloseClientConnections()
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	opt.RequestTimeout = time.Minute
	opt.QueueSize = 100
	s := openSink(t, opt)
	docs := testDocs(2000, "w")
	wctx, wcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer wcancel()
	for i := 0; i < len(docs); i += 100 {
		if err := s.Write(wctx, docs[i:i+100]...); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Close(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v after its deadline", d)
	}
	var ue *UndeliveredError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "flush deadline") || ue.SpoolBytes == 0 {
		t.Fatalf("Close: %v, want the spool and the flush deadline named", err)
	}
	if st := s.Stats(); st.Written != uint64(len(docs)) || st.Dropped != 0 || st.Undelivered() == 0 {
		t.Errorf("stats %+v", st)
	}
	slow.Store(false)
	if err := openSink(t, fastOptions(srv.URL, dir)).Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	storedOnce(t, f, docs)
}

// TestESSinkWaitsForSlowCluster: without a deadline Close waits for a
// cluster that answers slowly, even past DrainTimeout (which counts time
// without progress and without a request in flight).
func TestESSinkWaitsForSlowCluster(t *testing.T) {
	f := newFakeES()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	opt := fastOptions(srv.URL, t.TempDir())
	opt.DrainTimeout = 50 * time.Millisecond
	opt.FlushBytes = 64 << 10
	s := openSink(t, opt)
	docs := testDocs(3000, "v")
	writeAll(t, s, docs)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	storedOnce(t, f, docs)
}

// TestESSinkReportRateLimit: a kind of failure is logged once; in live
// mode again after reportEvery, with how many were not logged.
func TestESSinkReportRateLimit(t *testing.T) {
	for _, live := range []bool{false, true} {
		lr := &logRec{}
		opt := fastOptions("http://127.0.0.1:1", t.TempDir())
		opt.SpoolDir, opt.Live, opt.Logf = "", live, lr.logf
		s := openSink(t, opt)
		s.reportEvery = 50 * time.Millisecond
		for range 3 {
			s.report("status 500", "elasticsearch: boom")
		}
		s.report("status 429", "elasticsearch: slow down")
		time.Sleep(60 * time.Millisecond)
		s.report("status 500", "elasticsearch: boom")
		want := 1
		if live {
			want = 2
		}
		if n := lr.count("boom"); n != want {
			t.Errorf("live %v: %d lines, want %d:\n%s", live, n, want, lr)
		}
		if live && lr.count("(3 more times in the last") != 1 {
			t.Errorf("no count of the lines left out:\n%s", lr)
		}
		if lr.count("slow down") != 1 {
			t.Errorf("second kind not logged:\n%s", lr)
		}
	}
}
