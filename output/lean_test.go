package output

import (
	"bytes"
	"testing"
)

// sessionBody returns the members of the session document of s from source
// to tlsentry, as Encode hands them to appendLean.
func sessionBody(tb testing.TB, enc *Encoder, docs []Document) []byte {
	tb.Helper()
	b := docs[0].Body
	i := bytes.Index(b, []byte(`,"source":`))
	if i < 0 {
		tb.Fatalf("no source in %s", b)
	}
	return b[i : len(b)-1]
}

// TestAppendLeanAllocs: copying the triage fields allocates nothing once
// the buffer has grown.
func TestAppendLeanAllocs(t *testing.T) {
	enc := NewEncoder(testObserver)
	body := sessionBody(t, enc, enc.Encode(sessionLegacy(), verdictLegacy()))
	buf := make([]byte, 0, len(body))
	if n := testing.AllocsPerRun(100, func() { appendLean(jsonWriter{b: buf[:0]}, body) }); n != 0 {
		t.Errorf("%v allocations per appendLean", n)
	}
}

func BenchmarkAppendLean(b *testing.B) {
	enc := NewEncoder(testObserver)
	enc.SetDetail(DetailFull)
	body := sessionBody(b, enc, enc.Encode(sessionLegacy(), verdictLegacy()))
	buf := make([]byte, 0, len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendLean(jsonWriter{b: buf[:0]}, body).b
	}
}
