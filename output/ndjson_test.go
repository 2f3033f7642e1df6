package output

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestNDJSONLines(t *testing.T) {
	var buf bytes.Buffer
	s := NewNDJSON(&buf)
	ctx := context.Background()
	docs := NewEncoder(testObserver).Encode(sessionLegacy(), verdictLegacy())
	if err := s.Write(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, Document{}); err != nil { // empty bodies are skipped
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Error("output not buffered")
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(docs) {
		t.Fatalf("%d lines, want %d", len(lines), len(docs))
	}
	for i, l := range lines {
		if l != string(docs[i].Body) {
			t.Errorf("line %d differs from the document", i)
		}
	}
	if err := s.Write(ctx, docs[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNDJSONConcurrent(t *testing.T) {
	var buf bytes.Buffer
	s := NewNDJSON(&buf)
	ctx := context.Background()
	const writers, per = 8, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				body := fmt.Appendf(nil, `{"w":%d,"i":%d,"pad":%q}`, w, i, strings.Repeat("x", i%300))
				if err := s.Write(ctx, Document{Body: body}, Document{Body: body}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	n := 0
	var prev string
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not JSON: %q", n, sc.Text())
		}
		// documents of one Write stay together
		if n%2 == 1 && sc.Text() != prev {
			t.Fatalf("line %d: a Write call was interleaved", n)
		}
		prev = sc.Text()
		n++
	}
	if n != writers*per*2 {
		t.Errorf("%d lines, want %d", n, writers*per*2)
	}
}

// failWriter accepts n bytes, then fails.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	k := f.n
	f.n = 0
	return k, syscall.ENOSPC
}

func TestNDJSONWriteErrorsAreReturned(t *testing.T) {
	ctx := context.Background()
	s := NewNDJSON(&failWriter{n: 100})
	big := Document{Body: []byte(`"` + strings.Repeat("a", ndjsonBufferSize) + `"`)}
	err := s.Write(ctx, big)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write of more than the buffer: %v, want ENOSPC", err)
	}
	if err := s.Write(ctx, Document{Body: []byte(`{}`)}); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("later Write: %v, want the sticky ENOSPC", err)
	}
	if err := s.Close(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close: %v, want ENOSPC", err)
	}

	// A small write fails only when flushed: Close reports it.
	s = NewNDJSON(&failWriter{n: 1})
	if err := s.Write(ctx, Document{Body: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close: %v, want ENOSPC", err)
	}
}

func TestNDJSONDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	s, err := CreateNDJSONFile("/dev/full")
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	s.Write(ctx, Document{Body: []byte(`{"a":1}`)})
	if err := s.Close(ctx); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close on /dev/full: %v, want ENOSPC", err)
	}
}

func TestNDJSONFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "out.ndjson")
	s, err := CreateNDJSONFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs := NewEncoder(testObserver).Encode(sessionTLS12(), verdictLegacy())
	if err := s.Write(ctx, docs...); err != nil {
		t.Fatal(err)
	}
	// The timer flushes without Close.
	deadline := time.Now().Add(NDJSONFlushInterval + 3*time.Second)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte{'\n'}) == len(docs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not flushed after %v: %d bytes", NDJSONFlushInterval, len(b))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Reopening appends; a torn last line is terminated first.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"torn":`)
	f.Close()
	s, err = CreateNDJSONFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(ctx, docs[0])
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(docs)+2 || lines[len(docs)] != `{"torn":` || lines[len(docs)+1] != string(docs[0].Body) {
		t.Errorf("after reopening: %d lines, want %d (old documents, the torn line, the new document)", len(lines), len(docs)+2)
	}
	if _, err := CreateNDJSONFile(filepath.Join(t.TempDir(), "missing", "x.ndjson")); err == nil {
		t.Error("creating a file in a missing directory succeeded")
	}
}

func BenchmarkNDJSONWrite(b *testing.B) {
	docs := NewEncoder(testObserver).Encode(sessionTLS12(), verdictLegacy())
	var buf bytes.Buffer
	s := newNDJSON(&buf, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if buf.Len() > 1<<24 {
			buf.Reset()
		}
		s.Write(ctx, docs...)
	}
}
