package output

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

func TestStampIngested(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.FixedZone("x", 3600))
	const ts = `"2026-12-02T14:04:05.123456Z"`
	cases := []struct{ name, body, want string }{
		{"tlsentry document", `{"@timestamp":"2024-01-01T00:00:00Z","ecs":{"version":"8.17.0"},"event":{"kind":"alert","id":"x"},"source":{"event":{"a":1}}}`,
			`{"@timestamp":"2024-01-01T00:00:00Z","ecs":{"version":"8.17.0"},"event":{"ingested":` + ts + `,"kind":"alert","id":"x"},"source":{"event":{"a":1}}}`},
		{"empty event", `{"event":{}}`, `{"event":{"ingested":` + ts + `}}`},
		{"no event", `{"a":1}`, `{"event":{"ingested":` + ts + `},"a":1}`},
		{"empty object", `{}`, `{"event":{"ingested":` + ts + `}}`},
		{"not an object", `[1,2]`, `[1,2]`},
		{"not JSON", `x`, `x`},
		{"event in a string", `{"m":"\"event\":{"}`, `{"event":{"ingested":` + ts + `},"m":"\"event\":{"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b batch
			b.add([]byte("{\"create\":{}}\n" + c.body + "\n"))
			b.add([]byte("{\"create\":{}}\n{\"event\":{\"kind\":\"event\"}}\n"))
			got := string(stampIngested(nil, b.buf, b.recs, at))
			want := "{\"create\":{}}\n" + c.want + "\n{\"create\":{}}\n{\"event\":{\"ingested\":" + ts + ",\"kind\":\"event\"}}\n"
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if json.Valid([]byte(c.body)) && !json.Valid([]byte(c.want)) {
				t.Errorf("stamped body is not JSON: %s", c.want)
			}
		})
	}
	// Real documents stay valid JSON, with event.ingested a date.
	for _, d := range NewEncoder(testObserver).Encode(sessionLegacy(), verdictLegacy()) {
		out := appendStamped(nil, d.Body, []byte(ts))
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if get(m, "event.ingested") != "2026-12-02T14:04:05.123456Z" || get(m, "event.kind") == nil {
			t.Errorf("event %v", get(m, "event"))
		}
	}
}

// TestESSinkStampsIngested: every document reaches Elasticsearch with
// event.ingested at the time it was sent, from the queue and from the
// spool alike (a spool drained after an outage gets the drain's time, not
// the time it was spooled).
func TestESSinkStampsIngested(t *testing.T) {
	f, srv, down := newUnavailableES(t)
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opt := fastOptions(srv.URL, dir)
	opt.DrainTimeout = 200 * time.Millisecond
	opt.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	spooled := testDocs(300, "s")
	writeAll(t, s, spooled)
	if err := s.Close(context.Background()); err == nil {
		t.Fatal("Close during an outage: no error")
	}

	// Back: a new sink drains the spool, then sends new documents.
	down.Store(false)
	clock.Store(time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC).UnixNano())
	opt.DrainTimeout = 20 * time.Second
	s2, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	fresh := testDocs(200, "f")
	writeAll(t, s2, fresh)
	if err := s2.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := f.count(); got != len(spooled)+len(fresh) {
		t.Fatalf("stored %d, want %d", got, len(spooled)+len(fresh))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, body := range f.docs {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if got := get(m, "event.ingested"); got != "2030-01-02T00:00:00.000000Z" {
			t.Errorf("%s: event.ingested %v, want the time it was sent (2030-01-02)", key, got)
		}
	}
}
