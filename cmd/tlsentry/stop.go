package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/sensor"
)

// Exit statuses of the sensor (README, "Exit status"). When several apply
// the highest of 3-5 wins; 1 and 2 win over them.
const (
	exitOK          = 0
	exitError       = 1 // a failure: a sink could not be opened or written, Elasticsearch refused the credentials (401/403)...
	exitUsage       = 2 // the command line, the configuration or the input file
	exitInterrupted = 3 // a replay stopped by SIGINT/SIGTERM before the end of its input
	exitRejected    = 4 // Elasticsearch rejected documents (in the dead-letter file)
	exitUndelivered = 5 // documents dropped, or left in the spool for the next start
)

// defaultFlushTimeout bounds the final flush after the first SIGINT/SIGTERM.
const defaultFlushTimeout = 10 * time.Second

// exitStatus carries an exit status; err (may be nil) is printed first.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitStatus) Unwrap() error { return e.err }

// stopper turns SIGINT and SIGTERM into the sensor's stop. The first one
// calls onFirst (stop the sources) and starts the flush deadline: Flush()
// ends timeout later, and the sinks spool what they could not deliver by
// then. A second one ends Flush() at once: the sinks stop waiting, spool
// and sync, and the sensor exits. A third exits on the spot (status 5).
type stopper struct {
	flush       context.Context
	cancelFlush context.CancelCauseFunc
	sigs        chan os.Signal
	done        chan struct{}
	wg          sync.WaitGroup

	mu  sync.Mutex
	sig os.Signal // the first signal; nil: none
}

// errStopNow is the cause of the flush context after a second signal.
var errStopNow = errors.New("stopped at once by a second signal")

func newStopper(timeout time.Duration, stderr io.Writer, onFirst func(os.Signal)) *stopper {
	s := &stopper{sigs: make(chan os.Signal, 4), done: make(chan struct{})}
	s.flush, s.cancelFlush = context.WithCancelCause(context.Background())
	signal.Notify(s.sigs, os.Interrupt, syscall.SIGTERM)
	s.wg.Add(1)
	go s.loop(timeout, stderr, onFirst)
	return s
}

func (s *stopper) loop(timeout time.Duration, stderr io.Writer, onFirst func(os.Signal)) {
	defer s.wg.Done()
	var sig os.Signal
	select {
	case sig = <-s.sigs:
	case <-s.done:
		return
	}
	s.mu.Lock()
	s.sig = sig
	s.mu.Unlock()
	fmt.Fprintf(stderr, "tlsentry: %v: stopping; delivering what is queued for at most %s, the rest is spooled (signal again to stop at once)\n", sig, timeout)
	t := time.AfterFunc(timeout, func() { s.cancelFlush(context.DeadlineExceeded) })
	defer t.Stop()
	go onFirst(sig)
	select {
	case sig = <-s.sigs:
		fmt.Fprintf(stderr, "tlsentry: %v again: stopping at once; what is not delivered is spooled\n", sig)
		s.cancelFlush(errStopNow)
	case <-s.done:
		return
	}
	// A third signal: something hangs (a sink that ignores its context);
	// exit without waiting for it.
	select {
	case sig = <-s.sigs:
		fmt.Fprintf(stderr, "tlsentry: %v a third time: exiting now\n", sig)
		os.Exit(exitUndelivered)
	case <-s.done:
	}
}

// Flush is the sinks' flush context (sensor.Config.FlushCtx).
func (s *stopper) Flush() context.Context { return s.flush }

// Signal returns the first signal received, or nil.
func (s *stopper) Signal() os.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig
}

// close stops listening (signals get their default action again).
func (s *stopper) close() {
	signal.Stop(s.sigs)
	close(s.done)
	s.wg.Wait()
	s.cancelFlush(context.Canceled)
}

// printDelivery writes one summary line per sink:
//
//	tlsentry: ndjson: 1200 documents written
//	tlsentry: elasticsearch: 1200 documents: 1100 indexed, 50 duplicates, 40 rejected (dead letter /var/lib/tlsentry/dead.ndjson), 10 spooled, 0 dropped, 10 undelivered (4.1 KiB stay in spool /var/lib/tlsentry/spool)
func printDelivery(w io.Writer, ds []sensor.Delivery) {
	for _, d := range ds {
		if !d.ES {
			line := fmt.Sprintf("tlsentry: %s: %d documents written", d.Sink, d.Written)
			if d.Failed > 0 {
				line += fmt.Sprintf(", %d failed", d.Failed)
			}
			fmt.Fprintln(w, line)
			continue
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "tlsentry: %s: %d documents: %d indexed, %d duplicates, %d rejected", d.Sink, d.Written, d.Indexed, d.Duplicates, d.Rejected)
		if d.Rejected > 0 {
			if d.DeadLetter != "" {
				fmt.Fprintf(&sb, " (dead letter %s)", d.DeadLetter)
			} else {
				sb.WriteString(" (no dead-letter file: counted only)")
			}
		}
		fmt.Fprintf(&sb, ", %d spooled, %d dropped, %d undelivered", d.Spooled, d.Dropped, d.Undelivered)
		if d.SpoolBytes > 0 {
			fmt.Fprintf(&sb, " (%s stay in spool %s)", humanBytes(uint64(d.SpoolBytes)), d.SpoolDir)
		}
		if d.Failed > 0 {
			fmt.Fprintf(&sb, ", %d refused by Write", d.Failed)
		}
		fmt.Fprintln(w, sb.String())
	}
}

// deliveryStatus is the exit status the sinks' counters call for.
func deliveryStatus(ds []sensor.Delivery) int {
	code := exitOK
	for _, d := range ds {
		if d.Lost() {
			code = max(code, exitUndelivered)
		}
		if d.Rejected > 0 {
			code = max(code, exitRejected)
		}
	}
	return code
}

// onlyUndelivered reports whether err is nothing but sinks saying that
// documents were not delivered (an exit status, not a failure).
func onlyUndelivered(err error) bool {
	if err == nil {
		return false
	}
	var se *sensor.SinkError
	if errors.As(err, &se) && se == err {
		return onlyUndelivered(se.Err)
	}
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range m.Unwrap() {
			if !onlyUndelivered(e) {
				return false
			}
		}
		return true
	}
	var ue *output.UndeliveredError
	return errors.As(err, &ue) && ue == err
}

// finish turns the end of a run into the command's error: err (a failure:
// status 1, or 2 for input errors) wins; else the sinks' counters and an
// interrupted replay decide the status. Messages that only say what was
// not delivered are printed, not returned as failures.
func finish(stderr io.Writer, err error, ds []sensor.Delivery, interrupted, named bool, inputErr func(error) error) error {
	code := deliveryStatus(ds)
	if interrupted {
		code = max(code, exitInterrupted)
	}
	if err != nil && onlyUndelivered(err) {
		var ue *output.UndeliveredError
		errors.As(err, &ue)
		fmt.Fprintln(stderr, "tlsentry: elasticsearch:", strings.TrimPrefix(ue.Error(), "output: elasticsearch: "))
		err = nil
		code = max(code, exitUndelivered)
	}
	if err != nil {
		if oerr := outputError(err, named); oerr != nil {
			return oerr
		}
		return inputErr(err)
	}
	if code == exitOK {
		return nil
	}
	return &exitStatus{code: code}
}
