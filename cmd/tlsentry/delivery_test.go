package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/fakees"
	"github.com/tlsentry/tlsentry/output"
)

// sensorCmd is the test binary run as tlsentry (see TestMain).
func sensorCmd(args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], append([]string{"-progress", "never"}, args...)...)
	cmd.Env = append(os.Environ(), roleEnv+"=sensor")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// esConfig writes a configuration with a spool and a dead-letter file in
// dir and returns its path.
func esConfig(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "tlsentry.yaml")
	y := fmt.Sprintf("elasticsearch:\n  spool_dir: %s\n  dead_letter: %s\n", filepath.Join(dir, "spool"), filepath.Join(dir, "dead.ndjson"))
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ndjsonIDs returns the event ids of the documents in file.
func ndjsonIDs(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var d struct {
			Event struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		ids = append(ids, d.Event.ID)
	}
	return ids
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if ee != nil {
		return ee.ExitCode()
	}
	return 0
}

// waitFor polls cond every 10ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// drainSpool delivers what dir's spool holds to f, as the next start would.
func drainSpool(t *testing.T, url, dir string) {
	t.Helper()
	s, err := output.NewElasticsearch(output.ESOptions{URLs: []string{url}, SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSignalSlowElasticsearch: Elasticsearch answers every bulk after 30 s.
// The first SIGINT bounds the final flush (--flush-timeout); a SIGINT and
// then a SIGTERM stop at once. Either way the sensor exits soon, with the
// undelivered status, says what stays in the spool, and the spool holds
// every document that was not delivered: a later start delivers them all.
func TestSignalSlowElasticsearch(t *testing.T) {
	capFile := genCapture(t, 300)
	for _, tc := range []struct {
		name    string
		timeout string
		second  bool
		max     time.Duration
	}{
		{"flush deadline", "1s", false, 8 * time.Second},
		{"second signal", "60s", true, 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := fakees.Start(t)
			f.SetDelay(30 * time.Second)
			dir := t.TempDir()
			out := filepath.Join(dir, "out.ndjson")
			cmd, stderr := sensorCmd("-r", capFile, "-w", out, "--es", url, "--config", esConfig(t, dir), "--flush-timeout", tc.timeout)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if !waitFor(10*time.Second, func() bool { return f.Requests.Load() > 0 }) {
				cmd.Process.Kill()
				t.Fatal("no bulk request")
			}
			start := time.Now()
			cmd.Process.Signal(os.Interrupt)
			if tc.second {
				time.Sleep(200 * time.Millisecond)
				cmd.Process.Signal(syscall.SIGTERM)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 30 s after the signal:\n%s", stderr)
			}
			t.Logf("stderr:\n%s", stderr)
			if d := time.Since(start); d > tc.max {
				t.Errorf("exited %v after the signal, want < %v", d, tc.max)
			}
			if code := exitCode(t, err); code != exitUndelivered {
				t.Errorf("exit status %d, want %d:\n%s", code, exitUndelivered, stderr)
			}
			for _, want := range []string{"stay in spool", "undelivered", "elasticsearch: "} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			ids := ndjsonIDs(t, out)
			f.SetDelay(0)
			drainSpool(t, url, dir)
			for _, id := range ids {
				if !f.Has(id) {
					t.Fatalf("document %s lost (%d of %d stored):\n%s", id, f.Stored(), len(ids), stderr)
				}
			}
		})
	}
}

// TestExitStatus: rejected documents, refused credentials, an interrupted
// replay and -w without --append each have their status and their words.
func TestExitStatus(t *testing.T) {
	capFile := genCapture(t, 50)
	offline := filepath.Join(t.TempDir(), "offline.ndjson")
	if _, errOut, err := runCLI(t, "-r", capFile, "-w", offline); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	docs := len(ndjsonIDs(t, offline))
	t.Run("rejected", func(t *testing.T) {
		f := fakees.New()
		n := 0
		f.Reject = func(string) bool { n++; return n <= 10 } // called under the fake's lock
		srv := httptest.NewServer(f)
		defer srv.Close()
		dir := t.TempDir()
		cmd, stderr := sensorCmd("-r", capFile, "--es", srv.URL, "--config", esConfig(t, dir))
		code := exitCode(t, cmd.Run())
		t.Logf("stderr:\n%s", stderr)
		if code != exitRejected {
			t.Errorf("exit status %d, want %d:\n%s", code, exitRejected, stderr)
		}
		if !strings.Contains(stderr.String(), "rejected (dead letter "+filepath.Join(dir, "dead.ndjson")) ||
			!strings.Contains(stderr.String(), "document_parsing_exception") {
			t.Errorf("summary:\n%s", stderr)
		}
	})
	t.Run("401", func(t *testing.T) {
		f := fakees.New()
		f.SetStatus(401)
		srv := httptest.NewServer(f)
		defer srv.Close()
		dir := t.TempDir()
		cmd, stderr := sensorCmd("-r", capFile, "--es", srv.URL, "--config", esConfig(t, dir))
		start := time.Now()
		code := exitCode(t, cmd.Run())
		t.Logf("stderr:\n%s", stderr)
		if code != exitError {
			t.Errorf("exit status %d, want %d:\n%s", code, exitError, stderr)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("took %v", d)
		}
		for _, want := range []string{"401 Unauthorized", "API key", "delivery stopped"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		// What was not delivered stays in the spool for a right key.
		f.SetStatus(0)
		drainSpool(t, srv.URL, dir)
		if f.Stored() == 0 {
			t.Error("nothing in the spool")
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "in.pcap")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skip("mkfifo:", err)
		}
		out := filepath.Join(dir, "out.ndjson")
		cmd, stderr := sensorCmd("-r", fifo, "-w", out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // returns once the sensor opened it
		if err != nil {
			t.Fatal(err)
		}
		// Half the capture, the signal, then the rest: the sensor stops
		// reading before the end.
		data, _ := os.ReadFile(genCapture(t, 400)) // 4400 packets: the sensor looks at its context every 1024
		w.Write(data[:len(data)/4])
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
		go func() { w.Write(data[len(data)/4:]); w.Close() }()
		code := exitCode(t, cmd.Wait())
		if code != exitInterrupted {
			t.Errorf("exit status %d, want %d:\n%s", code, exitInterrupted, stderr)
		}
		if !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("stderr:\n%s", stderr)
		}
		// What was read was delivered: the summary's count is in the file.
		n := len(ndjsonIDs(t, out))
		if n == 0 || n >= 800 || !strings.Contains(stderr.String(), fmt.Sprintf("ndjson: %d documents written", n)) {
			t.Errorf("%d documents in the file (of 800):\n%s", n, stderr)
		}
	})
	t.Run("-w empties unless --append", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.ndjson")
		for range 2 {
			if _, errOut, err := runCLI(t, "-r", capFile, "-w", out); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
		}
		if n := len(ndjsonIDs(t, out)); n != docs {
			t.Errorf("two replays into one file: %d documents, want %d", n, docs)
		}
		_, errOut, err := runCLI(t, "-r", capFile, "-w", out, "--append")
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if n := len(ndjsonIDs(t, out)); n != 2*docs {
			t.Errorf("--append: %d documents, want %d", n, 2*docs)
		}
		if !strings.Contains(errOut, fmt.Sprintf("ndjson: %d documents written", docs)) {
			t.Errorf("summary lacks the ndjson line:\n%s", errOut)
		}
	})
}
