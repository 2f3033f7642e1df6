package output

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseBulkAnswer: any answer either yields exactly one result per record
// or an error; it never panics.
func FuzzParseBulkAnswer(f *testing.F) {
	f.Add(200, []byte(`{"errors":false,"items":[{"create":{"status":201}}]}`), 1)
	f.Add(200, []byte(`{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}},{"create":{"status":400,"error":"str"}}]}`), 2)
	f.Add(200, []byte(`{"items":[{}]}`), 1)
	f.Add(429, []byte(`<html>`), 3)
	f.Add(200, []byte(`{"items":{"a":1}}`), 0)
	f.Fuzz(func(t *testing.T, status int, data []byte, nrec int) {
		if nrec < 0 || nrec > 1<<16 {
			return
		}
		items, err := parseBulkAnswer(status, data, nrec)
		if err == nil && len(items) != nrec {
			t.Fatalf("%d items for %d records without an error", len(items), nrec)
		}
		if err == nil && (status < 200 || status > 299) {
			t.Fatalf("status %d accepted", status)
		}
	})
}

// FuzzSpoolReader: any segment content reads as whole records (each an action
// line starting {"create": and a body line starting {) plus a count of
// skipped ones; it never panics or loops.
func FuzzSpoolReader(f *testing.F) {
	rec := "{\"create\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{\"a\":1}\n"
	f.Add([]byte(rec + rec))
	f.Add([]byte(rec + "{\"create\":{}}\n{\"a\""))
	f.Add([]byte("\n\n\nxx\n{\"create\":1}\nnot json\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "seg.ndjson")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := openSpoolReader(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		total := 0
		for i := 0; i < len(data)+2; i++ {
			out, n, err := r.next(nil, 64)
			total += n
			var b batch
			b.setRecords(out)
			if len(b.recs) != n {
				t.Fatalf("read %d records, framed %d: %q", n, len(b.recs), out)
			}
			if err != nil {
				return
			}
		}
		t.Fatalf("reader did not end on %d bytes", len(data))
	})
}
