package sensor

import (
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

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/output"
)

// storeES is a bulk endpoint that creates documents by _id (409 when one
// exists, as Elasticsearch does), optionally slow, optionally rejecting
// the ids that reject returns true for.
type storeES struct {
	mu     sync.Mutex
	ids    map[string]int
	delay  atomic.Int64 // nanoseconds before answering
	reject func(id string) bool
}

func newStoreES() *storeES { return &storeES{ids: map[string]int{}} }

func (f *storeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if d := time.Duration(f.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	var items []string
	f.mu.Lock()
	for _, l := range bytes.Split(body, []byte("\n")) {
		var a struct {
			Create *struct {
				ID string `json:"_id"`
			} `json:"create"`
		}
		if json.Unmarshal(l, &a) != nil || a.Create == nil {
			continue
		}
		id := a.Create.ID
		switch {
		case f.reject != nil && f.reject(id):
			items = append(items, `{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"test"}}}`)
		case f.ids[id] > 0:
			items = append(items, `{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}`)
		default:
			f.ids[id]++
			items = append(items, `{"create":{"status":201}}`)
		}
	}
	f.mu.Unlock()
	fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.Join(items, ","))
}

func (f *storeES) stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// TestRunFlushDeadline: Elasticsearch answers every bulk after 30 s; the
// run's flush context ends (the deadline a signal sets): Run returns at
// once, the documents not delivered are in the spool and said so, and
// the next sink on the spool delivers every one of them.
func TestRunFlushDeadline(t *testing.T) {
	f := newStoreES()
	f.delay.Store(int64(30 * time.Second))
	srv := httptest.NewServer(f)
	defer srv.Close()
	defer srv.CloseClientConnections()
	dir := t.TempDir()
	opt := &output.ESOptions{URLs: []string{srv.URL}, SpoolDir: filepath.Join(dir, "spool"), FlushInterval: 10 * time.Millisecond}
	sinks, err := OpenSinks(SinkConfig{ES: opt})
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	snap, err := New(Config{Sinks: sinks, FlushCtx: fctx}).Run(context.Background(), openCapture(t, testCapture))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Run took %v", d)
	}
	if !errors.Is(err, output.ErrUndelivered) || !strings.Contains(err.Error(), "flush deadline") {
		t.Fatalf("Run: %v, want undelivered documents and the flush deadline named", err)
	}
	n := int(snap.Get(capture.CSessions))
	d := sinks[0].Delivery()
	if !d.ES || d.Written != uint64(n) || d.Undelivered != uint64(n) || d.SpoolBytes == 0 || !d.Lost() {
		t.Errorf("delivery %+v, want all %d undelivered in the spool", d, n)
	}
	f.delay.Store(0)
	s2, err := output.NewElasticsearch(*opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.stored(); got != n {
		t.Errorf("%d documents stored, want %d", got, n)
	}
}

// TestDelivery: the counters of a run with rejections, and -w emptied
// unless Append.
func TestDelivery(t *testing.T) {
	f := newStoreES()
	var first atomic.Bool
	f.reject = func(string) bool { return !first.Swap(true) } // the first document only
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "out.ndjson")
	run := func(appendTo bool) []Delivery {
		t.Helper()
		opt := &output.ESOptions{URLs: []string{srv.URL}, SpoolDir: filepath.Join(dir, "spool"),
			DeadLetter: filepath.Join(dir, "dead.ndjson"), FlushInterval: 10 * time.Millisecond}
		sinks, err := OpenSinks(SinkConfig{File: file, Append: appendTo, ES: opt})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Sinks: sinks}).Run(context.Background(), openCapture(t, testCapture)); err != nil {
			t.Fatal(err)
		}
		return sinks.Delivery()
	}
	d := run(false)
	nd, es := d[0], d[1]
	n := nd.Written
	if nd.ES || nd.Lost() || n < 2 {
		t.Errorf("ndjson %+v", nd)
	}
	if es.Written != n || es.Indexed != n-1 || es.Rejected != 1 || es.Lost() || es.DeadLetter == "" {
		t.Errorf("elasticsearch %+v, want %d written, one rejected", es, n)
	}
	lines := func() int {
		b, _ := os.ReadFile(file)
		return bytes.Count(b, []byte("\n"))
	}
	if lines() != int(n) {
		t.Fatalf("%d lines, want %d", lines(), n)
	}
	d = run(false)
	if lines() != int(n) {
		t.Errorf("second run without Append: %d lines, want %d", lines(), n)
	}
	if d[1].Duplicates != n-1 {
		t.Errorf("second run: %+v, want %d duplicates", d[1], n-1)
	}
	run(true)
	if lines() != 2*int(n) {
		t.Errorf("with Append: %d lines, want %d", lines(), 2*n)
	}
}
