package sensor

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/internal/fakees"
	"github.com/tlsentry/tlsentry/output"
)

// TestRunFlushDeadline: Elasticsearch answers every bulk after 30 s; the
// run's flush context ends (the deadline a signal sets): Run returns at
// once, the documents not delivered are in the spool and said so, and
// the next sink on the spool delivers every one of them.
func TestRunFlushDeadline(t *testing.T) {
	f, url := fakees.Start(t)
	f.SetDelay(30 * time.Second)
	dir := t.TempDir()
	opt := &output.ESOptions{URLs: []string{url}, SpoolDir: filepath.Join(dir, "spool"), FlushInterval: 10 * time.Millisecond}
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
	f.SetDelay(0)
	s2, err := output.NewElasticsearch(*opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.Stored(); got != n {
		t.Errorf("%d documents stored, want %d", got, n)
	}
}

// TestDelivery: the counters of a run with rejections, and -w emptied
// unless Append.
func TestDelivery(t *testing.T) {
	f := fakees.New()
	var first atomic.Bool
	f.Reject = func(string) bool { return !first.Swap(true) } // the first document only
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

// TestOpenSinksDevice: -w /dev/null (a device, not a regular file) is
// written as it is, neither truncated nor refused.
func TestOpenSinksDevice(t *testing.T) {
	sinks, err := OpenSinks(SinkConfig{File: os.DevNull})
	if err != nil {
		t.Fatalf("OpenSinks(%s): %v", os.DevNull, err)
	}
	if err := sinks.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
