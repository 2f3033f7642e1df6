package output

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// ErrClosed is returned by Write on a sink that was closed.
var ErrClosed = errors.New("output: sink closed")

// NDJSONFlushInterval is how long a written document may sit in the buffer
// before it is flushed, so `tail -f` and pipes see live traffic promptly.
const NDJSONFlushInterval = time.Second

const ndjsonBufferSize = 64 << 10

// NDJSON writes one document per line to an io.Writer. It is safe for
// concurrent use; documents of one Write call stay together. Output is
// buffered and flushed when the buffer fills, NDJSONFlushInterval after the
// first unflushed document, and on Flush and Close. The first write error
// (disk full, closed pipe) is kept: every later Write, Flush and Close
// returns it.
type NDJSON struct {
	mu      sync.Mutex
	w       *bufio.Writer
	closer  io.Closer // the file, when the sink owns it
	err     error
	closed  bool
	timer   *time.Timer
	pending bool // unflushed bytes, timer armed
	docs    uint64
}

var _ Sink = (*NDJSON)(nil)

// NewNDJSON returns a sink writing NDJSON to w. Close flushes but does not
// close w.
func NewNDJSON(w io.Writer) Sink { return newNDJSON(w, nil) }

// CreateNDJSONFile opens path for appending, creating it when missing, and
// returns a sink writing NDJSON to it; Close flushes, syncs and closes the
// file. Appending keeps what earlier runs wrote (a restarted sensor must not
// wipe its log, and shippers such as Filebeat tail by offset); when the file
// does not end in a newline (a crash mid-line), one is written first so the
// next document starts on its own line. "" and "-" mean stdout.
func CreateNDJSONFile(path string) (Sink, error) {
	if path == "" || path == "-" {
		return NewNDJSON(os.Stdout), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if err := terminateLastLine(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return newNDJSON(f, f), nil
}

// terminateLastLine writes a newline to f (opened for appending) when the
// file at path is not empty and does not end in one.
func terminateLastLine(f *os.File, path string) error {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
		return nil // a FIFO or device: nothing to repair
	}
	r, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer r.Close()
	var last [1]byte
	if _, err := r.ReadAt(last[:], st.Size()-1); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if last[0] != '\n' {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	return nil
}

func newNDJSON(w io.Writer, c io.Closer) *NDJSON {
	return &NDJSON{w: bufio.NewWriterSize(w, ndjsonBufferSize), closer: c}
}

// Write appends each document's body and a newline. ctx is not consulted
// while writing: a local write either completes or fails.
func (s *NDJSON) Write(ctx context.Context, docs ...Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		return s.err
	}
	for _, d := range docs {
		if len(d.Body) == 0 {
			continue // an empty line would break bulk loaders
		}
		s.w.Write(d.Body)
		if err := s.w.WriteByte('\n'); err != nil {
			s.err = fmt.Errorf("output: ndjson: %w", err)
			return s.err
		}
		s.docs++
	}
	if s.w.Buffered() > 0 && !s.pending {
		s.pending = true
		if s.timer == nil {
			s.timer = time.AfterFunc(NDJSONFlushInterval, s.timedFlush)
		} else {
			s.timer.Reset(NDJSONFlushInterval)
		}
	}
	return nil
}

func (s *NDJSON) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = false
	if !s.closed {
		s.flushLocked()
	}
}

func (s *NDJSON) flushLocked() error {
	if s.err != nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("output: ndjson: %w", err)
	}
	return s.err
}

// Flush writes buffered documents out.
func (s *NDJSON) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.flushLocked()
}

// Documents returns how many documents were written to the buffer.
func (s *NDJSON) Documents() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs
}

// Close flushes and, when the sink owns the file, syncs and closes it. It
// returns the first error seen by the sink. Closing twice returns nil.
func (s *NDJSON) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	err := s.flushLocked()
	if s.closer != nil {
		if f, ok := s.closer.(*os.File); ok && err == nil {
			// EINVAL: the path is a FIFO or device that cannot sync.
			if serr := f.Sync(); serr != nil && !errors.Is(serr, syscall.EINVAL) {
				err = fmt.Errorf("output: ndjson: %w", serr)
			}
		}
		if cerr := s.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("output: ndjson: %w", cerr)
		}
	}
	return err
}
