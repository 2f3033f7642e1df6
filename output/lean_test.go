package output

import "testing"

// TestTriageAllocs: writing the triage fields allocates nothing once the
// buffer has grown.
func TestTriageAllocs(t *testing.T) {
	enc := NewEncoder(testObserver)
	s, v := sessionLegacy(), verdictLegacy()
	st := new(encodeState)
	jsonWriter{}.body(st, s, &v, enc.observer, nil) // the document the triage copy is of
	buf := make([]byte, 0, 4096)
	jsonWriter{b: buf[:0], triage: true}.body(st, s, &v, enc.observer, nil) // st.names grows
	if n := testing.AllocsPerRun(100, func() { jsonWriter{b: buf[:0], triage: true}.body(st, s, &v, enc.observer, nil) }); n != 0 {
		t.Errorf("%v allocations per triage body", n)
	}
}

func BenchmarkTriage(b *testing.B) {
	enc := NewEncoder(testObserver)
	s, v := sessionLegacy(), verdictLegacy()
	st := new(encodeState)
	jsonWriter{}.body(st, s, &v, enc.observer, nil) // the document the triage copy is of
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = jsonWriter{b: buf[:0], triage: true}.body(st, s, &v, enc.observer, nil).b
	}
}
