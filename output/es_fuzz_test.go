package output

import "testing"

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
