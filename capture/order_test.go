package capture

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
)

// orderRecorder is an OrderedHandler that keeps every session with its key
// and checks the workers' promises: a session's key is not below its
// worker's last watermark, and watermarks grow.
type orderRecorder struct {
	mu      sync.Mutex
	workers int
	wm      []int64
	marks   []int // watermarks below NoKey, per worker
	keyed   []string
	broken  []string
}

func (r *orderRecorder) Begin(n int) {
	r.workers, r.wm, r.marks = n, make([]int64, n), make([]int, n)
	for i := range r.wm {
		r.wm[i] = math.MinInt64
	}
}

func (r *orderRecorder) HandleSession(s *session.Session) { r.HandleOrdered(0, NoKey, s) }

func (r *orderRecorder) HandleOrdered(w int, key int64, s *session.Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key < r.wm[w] {
		r.broken = append(r.broken, fmt.Sprintf("worker %d: key %d below its watermark %d: %s", w, key, r.wm[w], summary(s)))
	}
	r.keyed = append(r.keyed, fmt.Sprintf("%020d %s", key, summary(s)))
}

func (r *orderRecorder) Watermark(w int, t int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t <= r.wm[w] {
		r.broken = append(r.broken, fmt.Sprintf("worker %d: watermark %d after %d", w, t, r.wm[w]))
	}
	r.wm[w] = t
	if t != NoKey {
		r.marks[w]++
	}
}

func runOrdered(t *testing.T, path string, cfg Config) *orderRecorder {
	t.Helper()
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var r orderRecorder
	if _, err := Run(t.Context(), cfg, []Source{src}, &r); err != nil {
		t.Fatal(err)
	}
	for w, m := range r.wm {
		if m != NoKey {
			t.Errorf("worker %d ended on watermark %d, not NoKey", w, m)
		}
	}
	for _, b := range r.broken {
		t.Error(b)
	}
	slices.Sort(r.keyed)
	return &r
}

// TestOrderKeysWorkerInvariance: every session gets the same order key
// whatever the number of workers: closed, reset, idle-timed-out (by the
// sweep or by a later packet) and flushed ones; and no worker hands over a
// session below a watermark it published.
func TestOrderKeysWorkerInvariance(t *testing.T) {
	path := mixedCapture(t, 300)
	cfg := Config{IdleTimeout: 150 * time.Millisecond, CloseLinger: 50 * time.Millisecond}
	var base []string
	for _, workers := range []int{1, 2, 4, 7} {
		cfg.Workers = workers
		got := runOrdered(t, path, cfg).keyed
		if base == nil {
			base = got
			// sessions open at the end have keys past the last packet
			last := fmt.Sprintf("%020d", lastPacket(t, path).UnixNano())
			flushed := 0
			for _, k := range got {
				if k[:20] > last {
					flushed++
				}
			}
			if flushed == 0 || len(got)-flushed < 100 {
				t.Fatalf("%d sessions flushed of %d: the capture does not exercise both", flushed, len(got))
			}
			t.Logf("%d sessions, %d flushed at the end", len(got), flushed)
			continue
		}
		if !slices.Equal(base, got) {
			for i := range min(len(base), len(got)) {
				if base[i] != got[i] {
					t.Fatalf("workers=%d: keyed sessions differ from workers=1:\n  %s\n  %s", workers, got[i], base[i])
				}
			}
			t.Fatalf("workers=%d: %d sessions, workers=1: %d", workers, len(got), len(base))
		}
	}
}

// TestOrderIdleWorkerWatermark: a worker that gets no packet still sees
// the reader's clock (empty batches) and publishes watermarks, so that
// sessions of the others need not wait for the end of input.
func TestOrderIdleWorkerWatermark(t *testing.T) {
	path := capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		c := conv(t, w, clk, cli, srv)
		must(t, c.Handshake())
		for range 20 {
			clk.Advance(500 * time.Millisecond)
			must(t, c.Send(pcapgen.ClientToServer, []byte("ping")))
		}
		must(t, c.Close(pcapgen.ClientToServer))
	})
	r := runOrdered(t, path, Config{Workers: 4})
	if len(r.keyed) != 1 {
		t.Fatalf("%d sessions, want 1", len(r.keyed))
	}
	for w, m := range r.marks {
		if m < 3 {
			t.Errorf("worker %d published %d watermarks over 10 s of packet time", w, m)
		}
	}
}

// TestOrderKeyOfTimeout: the key of an idle-timed-out session is its last
// packet plus the idle timeout; that of a closed one the closing packet.
func TestOrderKeyOfTimeout(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.2:40001")
	var closeAt, lastAt time.Time
	path := capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		idle := conv(t, w, clk, a, srv)
		must(t, idle.Handshake())
		must(t, idle.Send(pcapgen.ClientToServer, []byte("hello")))
		lastAt = clk.T.Add(-clk.Step) // the last packet's
		c := conv(t, w, clk, cli, srv)
		must(t, c.Handshake())
		for range 5 {
			clk.Advance(600 * time.Millisecond)
			must(t, c.Send(pcapgen.ClientToServer, []byte("hello")))
		}
		must(t, c.Reset(pcapgen.ClientToServer))
		closeAt = clk.T.Add(-clk.Step)
	})
	for _, workers := range []int{1, 2} {
		r := runOrdered(t, path, Config{Workers: workers, IdleTimeout: time.Second})
		want := []string{fmt.Sprintf("%020d", lastAt.Add(time.Second).UnixNano()), fmt.Sprintf("%020d", closeAt.UnixNano())}
		if len(r.keyed) != 2 || r.keyed[0][:20] != want[0] || r.keyed[1][:20] != want[1] {
			t.Errorf("workers=%d: keys %q, want %q", workers, r.keyed, want)
		}
	}
}

func lastPacket(t *testing.T, path string) time.Time {
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var last time.Time
	for {
		_, ci, err := src.ReadPacket()
		if err != nil {
			return last
		}
		last = ci.Timestamp
	}
}
