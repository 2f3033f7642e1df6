package sensor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/session"
)

// capture is a testdata capture with several sessions.
const testCapture = "../testdata/tls12-resumption-ticket.pcap"

func openCapture(t *testing.T, path string) []capture.Source {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return []capture.Source{src}
}

// fakeES answers the bulk API: every item created.
func fakeES(t *testing.T) *output.ESOptions {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		var items []string
		for _, l := range bytes.Split(readAll(r), []byte("\n")) {
			if bytes.Contains(l, []byte(`"create"`)) {
				items = append(items, `{"create":{"status":201}}`)
			}
		}
		w.Write([]byte(`{"errors":false,"items":[` + strings.Join(items, ",") + `]}`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	return &output.ESOptions{URLs: []string{srv.URL}, SpoolDir: filepath.Join(dir, "spool"), DeadLetter: filepath.Join(dir, "dead.ndjson")}
}

func readAll(r *http.Request) []byte {
	var b bytes.Buffer
	b.ReadFrom(r.Body)
	return b.Bytes()
}

func names(ss Sinks) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name())
	}
	return out
}

func TestOpenSinks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string // "path": a file in a temporary directory
		es     bool
		want   []string
		stdout bool // documents on Stdout
	}{
		{"stdout", "", false, []string{SinkNDJSON}, true},
		{"dash", "-", false, []string{SinkNDJSON}, true},
		{"file", "path", false, []string{SinkNDJSON}, false},
		{"es replaces stdout", "", true, []string{SinkElasticsearch}, false},
		{"es and stdout", "-", true, []string{SinkNDJSON, SinkElasticsearch}, true},
		{"es and file", "path", true, []string{SinkNDJSON, SinkElasticsearch}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			c := SinkConfig{File: tc.file, Stdout: &stdout}
			if tc.file == "path" {
				c.File = filepath.Join(t.TempDir(), "out.ndjson")
			}
			if tc.es {
				c.ES = fakeES(t)
			}
			sinks, err := OpenSinks(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(sinks); !slices.Equal(got, tc.want) {
				t.Errorf("sinks %v, want %v", got, tc.want)
			}
			snap, err := New(Config{Sinks: sinks}).Run(context.Background(), openCapture(t, testCapture))
			if err != nil {
				t.Fatal(err)
			}
			n := int(snap.Get(capture.CSessions))
			if n < 2 {
				t.Fatalf("%d sessions in %s", n, testCapture)
			}
			for _, s := range sinks {
				if ok, failed := s.Docs(); ok != uint64(n) || failed != 0 {
					t.Errorf("%s: %d documents written, %d failed; want %d, 0", s.Name(), ok, failed, n)
				}
			}
			want := 0
			if tc.stdout {
				want = n
			}
			if got := strings.Count(stdout.String(), "\n"); got != want {
				t.Errorf("%d documents on stdout, want %d", got, want)
			}
			if tc.file == "path" {
				b, _ := os.ReadFile(c.File)
				if got := bytes.Count(b, []byte("\n")); got != n {
					t.Errorf("%d documents in the file, want %d", got, n)
				}
			}
		})
	}
}

func TestOpenSinksErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing", "out.ndjson")
	for _, tc := range []struct {
		name string
		c    SinkConfig
		sink string
	}{
		{"file", SinkConfig{File: bad}, SinkNDJSON},
		{"elasticsearch", SinkConfig{File: "-", Stdout: &bytes.Buffer{}, ES: &output.ESOptions{URLs: []string{"http://127.0.0.1:1"}, Namespace: "Not Valid"}}, SinkElasticsearch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sinks, err := OpenSinks(tc.c)
			var se *SinkError
			if !errors.As(err, &se) || se.Sink != tc.sink || sinks != nil {
				t.Fatalf("OpenSinks: %v, %v; want a %s *SinkError", sinks, err, tc.sink)
			}
			if !strings.HasPrefix(err.Error(), tc.sink+": ") {
				t.Errorf("error %q does not name the sink", err)
			}
		})
	}
}

// recSink records the order of writes; it fails from the fail-th write on
// (0: never) and fails Close when closeErr is set.
type recSink struct {
	name     string
	log      *eventLog
	fail     int
	closeErr error
	n        atomic.Int64
}

func (s *recSink) Write(_ context.Context, docs ...output.Document) error {
	n := s.n.Add(1)
	for _, d := range docs {
		var m struct {
			Event struct{ Kind string } `json:"event"`
			Rule  struct{ ID string }   `json:"rule"`
		}
		json.Unmarshal(d.Body, &m)
		s.log.add(s.name + ":" + m.Event.Kind + m.Rule.ID)
	}
	if s.fail > 0 && n >= int64(s.fail) {
		return errors.New("disk full")
	}
	return nil
}

func (s *recSink) Close(context.Context) error { return s.closeErr }

type eventLog struct {
	mu  sync.Mutex
	evs []string
}

func (l *eventLog) add(e string) { l.mu.Lock(); l.evs = append(l.evs, e); l.mu.Unlock() }

// recJudge fires one alert on every session.
type recJudge struct{ log *eventLog }

var testRule = &detect.Rule{ID: "test.rule", Name: "test", Category: "anomaly", Severity: "low"}

func (j recJudge) Evaluate(*session.Session) detect.Verdict {
	j.log.add("evaluate")
	return detect.Verdict{Validation: detect.ValidationNotChecked, Alerts: []detect.Alert{{Rule: testRule, Message: "m"}}}
}

// TestHandlerOrder: per session, the judge, then OnVerdict, then every sink
// in order, each with the session document and its alert.
func TestHandlerOrder(t *testing.T) {
	log := &eventLog{}
	a, b := &recSink{name: "a", log: log}, &recSink{name: "b", log: log}
	sn := New(Config{
		Capture:   capture.Config{Workers: 1},
		Judge:     recJudge{log},
		Sinks:     Sinks{NewSink("a", a), NewSink("b", b)},
		OnVerdict: func(_ *session.Session, v detect.Verdict) { log.add("verdict:" + v.Alerts[0].Rule.ID) },
	})
	snap, err := sn.Run(context.Background(), openCapture(t, testCapture))
	if err != nil {
		t.Fatal(err)
	}
	one := []string{"evaluate", "verdict:test.rule", "a:event", "a:alerttest.rule", "b:event", "b:alerttest.rule"}
	var want []string
	for range snap.Get(capture.CSessions) {
		want = append(want, one...)
	}
	if len(want) == 0 || !slices.Equal(log.evs, want) {
		t.Errorf("events\n%v\nwant\n%v", log.evs, want)
	}
}

// TestNoJudgeNoSinks: without a judge every verdict is "not checked";
// without sinks nothing is encoded.
func TestNoJudgeNoSinks(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	sn := New(Config{OnVerdict: func(_ *session.Session, v detect.Verdict) {
		mu.Lock()
		got[v.Validation] += 1 + len(v.Alerts)
		mu.Unlock()
	}})
	snap, err := sn.Run(context.Background(), openCapture(t, testCapture))
	if err != nil {
		t.Fatal(err)
	}
	if n := int(snap.Get(capture.CSessions)); len(got) != 1 || got[detect.ValidationNotChecked] != n {
		t.Errorf("verdicts %v, want %d not checked without alerts", got, n)
	}
}

// stopSource is a source that never ends until stopped (a quiet live
// socket).
type stopSource struct {
	capture.Source
	stopped atomic.Bool
}

func (s *stopSource) Stop() { s.stopped.Store(true) }

func (s *stopSource) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.Source.ReadPacket()
	for err != nil && !s.stopped.Load() {
		time.Sleep(time.Millisecond)
	}
	return data, ci, err
}

// TestRunErrors: a failing sink ends the run (stopping a source that would
// not end by itself) and wins over the Close errors; Close errors are
// joined and name their sinks; CaptureDone runs before the sinks close.
func TestRunErrors(t *testing.T) {
	closeErr := errors.New("flush failed")
	for _, tc := range []struct {
		name      string
		failWrite int // nth write of sink a fails
		closeA    error
		closeB    error
		want      string // error text; "" none
	}{
		{"ok", 0, nil, nil, ""},
		{"write", 1, closeErr, nil, "a: disk full"},
		{"close one", 0, nil, closeErr, "b: flush failed"},
		{"close both", 0, closeErr, closeErr, "a: flush failed\nb: flush failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &eventLog{}
			a := &recSink{name: "a", log: log, fail: tc.failWrite, closeErr: tc.closeA}
			b := &recSink{name: "b", log: log, closeErr: tc.closeB}
			var doneBeforeClose atomic.Bool
			sinks := Sinks{NewSink("a", a), NewSink("b", b)}
			sn := New(Config{Capture: capture.Config{Workers: 1}, Sinks: sinks,
				CaptureDone: func() { doneBeforeClose.Store(true) }})
			srcs := openCapture(t, testCapture) // ends by itself
			if tc.failWrite > 0 {
				srcs = []capture.Source{&stopSource{Source: srcs[0]}} // ends when stopped
			}
			errc := make(chan error, 1)
			go func() { _, err := sn.Run(context.Background(), srcs); errc <- err }()
			var err error
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("run did not end")
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			var se *SinkError
			if err != nil && !errors.As(err, &se) {
				t.Errorf("%v is no *SinkError", err)
			}
			if !doneBeforeClose.Load() {
				t.Error("CaptureDone not called")
			}
			if okN, failed := sinks[0].Docs(); tc.failWrite > 0 && (failed == 0 || okN >= uint64(tc.failWrite)) {
				t.Errorf("sink a: %d ok, %d failed", okN, failed)
			}
		})
	}
}

// TestRunInputError: a source's error is returned as it is, after every
// session read before it was delivered.
func TestRunInputError(t *testing.T) {
	b, err := os.ReadFile(testCapture)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, b[:len(b)-10], 0o644)
	var buf bytes.Buffer
	sinks, _ := OpenSinks(SinkConfig{Stdout: &buf})
	_, err = New(Config{Sinks: sinks}).Run(context.Background(), openCapture(t, cut))
	var se *SinkError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("err %v, want the source's", err)
	}
	if n := strings.Count(buf.String(), "\n"); n == 0 {
		t.Error("no session delivered before the error")
	}
}

// TestJudgeReady: sessions wait for Config.JudgeReady (called once,
// however many workers), and are then all judged and written; its error
// ends the run with it, and no session reaches a stage, the judge or a
// sink.
func TestJudgeReady(t *testing.T) {
	buildErr := errors.New("rules: bad condition")
	for _, tc := range []struct {
		name    string
		workers int
		ordered bool
		err     error
	}{
		{"ordered", 1, true, nil},
		{"unordered two workers", 2, false, nil},
		{"error ordered", 1, true, buildErr},
		{"error unordered two workers", 2, false, buildErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			var calls, judged, observed atomic.Int64
			sink := &recSink{name: "a", log: &eventLog{}}
			var sn *Sensor
			sn = New(Config{
				Capture: capture.Config{Workers: tc.workers},
				Ordered: tc.ordered,
				Sinks:   Sinks{NewSink("a", sink)},
				Stages:  []Stage{StageFunc(func(*session.Session) { observed.Add(1) })},
				JudgeReady: func() error {
					calls.Add(1)
					<-release
					return tc.err
				},
				OnVerdict: func(*session.Session, detect.Verdict) { judged.Add(1) },
			})
			go func() {
				// Packets are read and reassembled before the judge is
				// ready.
				for sn.Stats().Snapshot().Get(capture.CPackets) == 0 {
					time.Sleep(time.Millisecond)
				}
				close(release)
			}()
			snap, err := sn.Run(context.Background(), openCapture(t, testCapture))
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Run: %v, want %v", err, tc.err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("JudgeReady called %d times, want once", n)
			}
			want := int64(snap.Get(capture.CSessions))
			if tc.err != nil {
				want = 0
			} else if want == 0 {
				t.Fatal("no sessions in the capture")
			}
			if j, o, w := judged.Load(), observed.Load(), sink.n.Load(); j != want || o != want || w != want {
				t.Errorf("judged %d, observed %d, written %d: want %d each", j, o, w, want)
			}
		})
	}
}
