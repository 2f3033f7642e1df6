package sensor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/internal/alertgen"
	"github.com/tlsentry/tlsentry/session"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// sess is a session told apart by its client port.
func sess(port uint16) *session.Session {
	return &session.Session{
		Start:  t0,
		Client: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port),
		Server: netip.MustParseAddrPort("192.0.2.1:443"),
	}
}

func ports(ss []*session.Session) []uint16 {
	var p []uint16
	for _, s := range ss {
		p = append(p, s.Client.Port())
	}
	return p
}

// event is what a worker does: hand over a session (port != 0) or publish
// a watermark.
type event struct {
	worker int
	key    int64
	port   uint16
}

func TestOrdererStage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		limit   int64
		events  []event
		// want is the order of release; atWM, the ports released by the
		// time each event was applied
		want                []uint16
		before              []uint16 // released before the end-of-input flush
		early, late, inline uint64
	}{
		{
			name: "key order across workers", workers: 2,
			events: []event{{0, 30, 3}, {1, 10, 1}, {0, 20, 2}, {0, 100, 0}, {1, 25, 0}, {1, 40, 4}},
			// worker 1 at 25, worker 0 at 100: 10 and 20 go; 30 waits for
			// worker 1
			want: []uint16{1, 2, 3, 4}, before: []uint16{1, 2},
		},
		{
			name: "a key equal to the watermark waits", workers: 1,
			events: []event{{0, 10, 1}, {0, 10, 0}},
			want:   []uint16{1}, before: nil,
		},
		{
			name: "ties broken by the session", workers: 2,
			events: []event{{0, 10, 9}, {1, 10, 5}, {0, 10, 7}},
			want:   []uint16{5, 7, 9},
		},
		{
			name: "an idle worker holds everything back", workers: 3,
			events: []event{{0, 10, 1}, {1, 20, 2}, {0, 50, 0}, {1, 50, 0}},
			want:   []uint16{1, 2}, before: nil,
		},
		{
			name: "the idle worker's clock moves", workers: 3,
			events: []event{{0, 10, 1}, {1, 20, 2}, {0, 50, 0}, {1, 50, 0}, {2, 15, 0}},
			want:   []uint16{1, 2}, before: []uint16{1},
		},
		{
			name: "end of input flushes in order", workers: 2,
			events: []event{{0, capture.NoKey, 4}, {1, capture.NoKey, 3}, {1, 70, 2}, {0, 60, 1}},
			want:   []uint16{1, 2, 3, 4},
		},
		{
			name: "late arrival is judged at once", workers: 2,
			events: []event{{0, 10, 1}, {0, 100, 0}, {1, 50, 0}, {1, 5, 2}, {1, 60, 3}},
			want:   []uint16{1, 2, 3}, before: []uint16{1, 2}, late: 1,
		},
		{
			name: "memory limit releases the oldest early", workers: 2, limit: 2 * 2048,
			events: []event{{0, 30, 3}, {0, 10, 1}, {0, 20, 2}, {0, 40, 4}},
			want:   []uint16{1, 2, 3, 4}, before: []uint16{1, 2}, early: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []*session.Session
			o := newOrderer(func(s *session.Session) { got = append(got, s) }, tc.limit)
			o.begin(tc.workers)
			for _, e := range tc.events {
				if e.port != 0 {
					o.push(e.key, sess(e.port))
				} else {
					o.watermark(e.worker, e.key)
				}
			}
			if p := ports(got); !slices.Equal(p, tc.before) {
				t.Errorf("released before the end %v, want %v", p, tc.before)
			}
			o.flush()
			if p := ports(got); !slices.Equal(p, tc.want) {
				t.Errorf("released %v, want %v", p, tc.want)
			}
			st := o.stats()
			if st.ReleasedEarly != tc.early || st.ArrivedLate != tc.late {
				t.Errorf("early %d late %d, want %d %d", st.ReleasedEarly, st.ArrivedLate, tc.early, tc.late)
			}
			if st.Held != 0 || st.HeldBytes != 0 {
				t.Errorf("after the flush %d held (%d bytes)", st.Held, st.HeldBytes)
			}
			if want := uint64(len(tc.want)) - tc.early - tc.late; st.Released != want {
				t.Errorf("released in order %d, want %d", st.Released, want)
			}
		})
	}
}

// TestOrderStageConcurrent: workers hand over sessions with growing keys
// and watermarks from their own goroutines; the stage releases them in key
// order whatever the interleaving (go test -race).
func TestOrderStageConcurrent(t *testing.T) {
	const workers, per = 4, 500
	var got []int64
	keyOf := map[*session.Session]int64{}
	var mu sync.Mutex
	st := newOrderStage(func(s *session.Session) {
		mu.Lock()
		got = append(got, keyOf[s])
		mu.Unlock()
	}, 0)
	st.Begin(workers)
	sessions := make([][]*session.Session, workers)
	for w := range workers {
		for i := range per {
			s := sess(uint16(w*per + i + 1))
			sessions[w] = append(sessions[w], s)
			keyOf[s] = int64(i*workers + w)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for _, s := range sessions[w] {
				k := keyOf[s]
				st.HandleOrdered(w, k, s)
				if r.IntN(3) == 0 {
					st.Watermark(w, k) // every later key is above
				}
			}
			st.Watermark(w, capture.NoKey)
		}()
	}
	wg.Wait()
	st.finish()
	if len(got) != workers*per {
		t.Fatalf("%d released, want %d", len(got), workers*per)
	}
	if !slices.IsSorted(got) {
		t.Errorf("released out of key order: %v", firstUnsorted(got))
	}
	if s := st.o.stats(); s.ArrivedLate != 0 || s.ReleasedEarly != 0 {
		t.Errorf("stats %+v", s)
	}
}

func firstUnsorted(k []int64) string {
	for i := 1; i < len(k); i++ {
		if k[i] < k[i-1] {
			return fmt.Sprintf("%d after %d at %d", k[i], k[i-1], i)
		}
	}
	return ""
}

// stageJudge records the judge's order, and checks it is never entered
// concurrently when the sensor is ordered.
type stageJudge struct {
	log    *eventLog
	inside atomic.Int32
	overl  atomic.Int32
}

func (j *stageJudge) Evaluate(s *session.Session) detect.Verdict {
	if j.inside.Add(1) > 1 {
		j.overl.Add(1)
	}
	defer j.inside.Add(-1)
	j.log.add("judge " + s.Client.String())
	return detect.Verdict{Validation: detect.ValidationNotChecked}
}

// TestStages: every Stage sees each session before the judge, one at a
// time, in judging order; ordered, that order does not depend on the
// number of workers.
func TestStages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.pcap")
	if _, err := alertgen.Write(path, alertgen.Config{Sessions: 60, Servers: 4, Clients: 20, Span: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, tc := range []struct {
		workers int
		ordered bool
	}{{1, true}, {2, true}, {4, true}, {3, false}} {
		log := &eventLog{}
		var inside, overlaps atomic.Int32
		observe := func(name string) Stage {
			return StageFunc(func(s *session.Session) {
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				log.add(name + " " + s.Client.String())
				inside.Add(-1)
			})
		}
		j := &stageJudge{log: log}
		sn := New(Config{
			Capture: capture.Config{Workers: tc.workers},
			Judge:   j,
			Ordered: tc.ordered,
			Stages:  []Stage{observe("a"), observe("b")},
		})
		snap, err := sn.Run(context.Background(), openCapture(t, path))
		if err != nil {
			t.Fatal(err)
		}
		n := int(snap.Get(capture.CSessions))
		if n != 60 || len(log.evs) != 3*n {
			t.Fatalf("workers=%d: %d events for %d sessions", tc.workers, len(log.evs), n)
		}
		if overlaps.Load() != 0 {
			t.Errorf("workers=%d: stages ran concurrently %d times", tc.workers, overlaps.Load())
		}
		if !tc.ordered {
			continue
		}
		for i := 0; i < len(log.evs); i += 3 {
			c := strings.TrimPrefix(log.evs[i], "a ")
			if log.evs[i+1] != "b "+c || log.evs[i+2] != "judge "+c {
				t.Fatalf("workers=%d: events %v: not a, b, then the judge", tc.workers, log.evs[i:i+3])
			}
		}
		if j.overl.Load() != 0 {
			t.Errorf("workers=%d ordered: judge ran concurrently", tc.workers)
		}
		if base == nil {
			base = log.evs
		} else if !slices.Equal(base, log.evs) {
			t.Errorf("workers=%d: judging order differs from workers=1:\n%v\n%v", tc.workers, log.evs, base)
		}
		if st := sn.OrderStats(); st.Released != uint64(n) || st.Held != 0 {
			t.Errorf("workers=%d: order stats %+v", tc.workers, st)
		}
	}
}

// TestOrderMemoryLimit: a stage over its bound judges the oldest early,
// counted, and still judges every session once.
func TestOrderMemoryLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.pcap")
	if _, err := alertgen.Write(path, alertgen.Config{Sessions: 200, Servers: 4, Clients: 50, Span: time.Minute, Active: 40}); err != nil {
		t.Fatal(err)
	}
	seen := map[*session.Session]int{}
	var mu sync.Mutex
	sn := New(Config{
		Capture:     capture.Config{Workers: 2},
		Ordered:     true,
		OrderMemory: 3 * 2048, // some three sessions
		OnVerdict: func(s *session.Session, _ detect.Verdict) {
			mu.Lock()
			seen[s]++
			mu.Unlock()
		},
	})
	if _, err := sn.Run(context.Background(), openCapture(t, path)); err != nil {
		t.Fatal(err)
	}
	st := sn.OrderStats()
	if len(seen) != 200 {
		t.Errorf("%d sessions judged, want 200", len(seen))
	}
	for s, n := range seen {
		if n != 1 {
			t.Errorf("%v judged %d times", s.Client, n)
		}
	}
	if st.ReleasedEarly == 0 || st.Released+st.ReleasedEarly+st.ArrivedLate != 200 || st.Held != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%+v", st)
}

// TestOrderHeap: items pushed in any order pop out in itemLess order,
// equal keys ordered by session.
func TestOrderHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000} {
		var h orderHeap
		var want []orderItem
		for i := range n {
			it := orderItem{key: rng.Int64N(int64(n/3 + 1)), s: &session.Session{FirstPacket: uint64(i)}}
			h.push(it)
			want = append(want, it)
		}
		slices.SortFunc(want, func(a, b orderItem) int {
			if itemLess(&a, &b) {
				return -1
			}
			if itemLess(&b, &a) {
				return 1
			}
			return 0
		})
		for i := range want {
			if got := h.popMin(); got.key != want[i].key || got.s != want[i].s {
				t.Fatalf("n=%d: pop %d = key %d session %d, want key %d session %d", n, i, got.key, got.s.FirstPacket, want[i].key, want[i].s.FirstPacket)
			}
		}
		if len(h) != 0 {
			t.Fatalf("n=%d: %d left", n, len(h))
		}
	}
}
