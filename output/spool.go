package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// spool is a directory of segment files holding bulk-ready records
// ("{create action}\n{body}\n") that could not be delivered. Segments are
// named spool-<seq>.ndjson with a growing sequence number and are drained in
// that order (oldest first). One segment, the newest, is open for appending;
// the drainer seals it (rotates) before it reads it. A segment is removed only
// after every record in it was delivered, dead-lettered or found corrupt, so a
// crash in the middle of a drain re-sends some records, which op_type create
// and the deterministic _id turn into counted duplicates, never into copies.
//
// The spool is safe for concurrent use.
type spool struct {
	dir      string
	maxBytes int64 // total size limit; 0: none
	segBytes int64 // rotate the active segment past this size

	mu      sync.Mutex
	sealed  []spoolSegment // oldest first
	active  *os.File
	actSeg  spoolSegment
	nextSeq uint64
	bytes   int64 // bytes in all segments
}

type spoolSegment struct {
	seq   uint64
	path  string
	bytes int64
}

var errSpoolFull = errors.New("output: spool full")

// openSpool opens (creating) dir and picks up the segments a previous run left.
func openSpool(dir string, maxBytes, segBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, segBytes: segBytes, nextSeq: 1}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "spool-") || !strings.HasSuffix(name, ".ndjson") || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "spool-"), ".ndjson"), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("output: spool: %w", err)
		}
		if info.Size() == 0 {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		s.sealed = append(s.sealed, spoolSegment{seq: seq, path: filepath.Join(dir, name), bytes: info.Size()})
		s.bytes += info.Size()
		if seq >= s.nextSeq {
			s.nextSeq = seq + 1
		}
	}
	sort.Slice(s.sealed, func(i, j int) bool { return s.sealed[i].seq < s.sealed[j].seq })
	return s, nil
}

// append writes records (whole, bulk-ready) to the active segment. It fails
// with errSpoolFull when the size limit would be passed.
func (s *spool) append(records []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(records) == 0 {
		return nil
	}
	if s.maxBytes > 0 && s.bytes+int64(len(records)) > s.maxBytes {
		return errSpoolFull
	}
	if s.active != nil && s.actSeg.bytes >= s.segBytes {
		if err := s.sealLocked(); err != nil {
			return err
		}
	}
	if s.active == nil {
		seg := spoolSegment{seq: s.nextSeq, path: filepath.Join(s.dir, fmt.Sprintf("spool-%020d.ndjson", s.nextSeq))}
		f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
		if err != nil {
			return fmt.Errorf("output: spool: %w", err)
		}
		s.nextSeq++
		s.active, s.actSeg = f, seg
	}
	n, err := s.active.Write(records)
	s.actSeg.bytes += int64(n)
	s.bytes += int64(n)
	if err != nil {
		// A partial record at the end is skipped (and counted) on read.
		return fmt.Errorf("output: spool: %w", err)
	}
	return nil
}

func (s *spool) sealLocked() error {
	if s.active == nil {
		return nil
	}
	err := s.active.Close()
	s.sealed = append(s.sealed, s.actSeg)
	s.active = nil
	s.actSeg = spoolSegment{}
	if err != nil {
		return fmt.Errorf("output: spool: %w", err)
	}
	return nil
}

// oldest returns the oldest segment to drain, sealing the active one when it
// is the only one left. ok is false when the spool is empty.
func (s *spool) oldest() (seg spoolSegment, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) == 0 && s.active != nil && s.actSeg.bytes > 0 {
		err = s.sealLocked()
	}
	if len(s.sealed) == 0 {
		return spoolSegment{}, false, err
	}
	return s.sealed[0], true, err
}

// remove deletes a drained segment (the oldest).
func (s *spool) remove(seg spoolSegment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.sealed {
		if s.sealed[i].seq == seg.seq {
			s.sealed = append(s.sealed[:i], s.sealed[i+1:]...)
			s.bytes -= seg.bytes
			break
		}
	}
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("output: spool: %w", err)
	}
	return nil
}

// size reports the bytes waiting in the spool.
func (s *spool) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// close closes the active segment; its records stay for the next start.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealLocked()
}

// spoolReader reads records from a segment in batches of about maxBytes.
type spoolReader struct {
	r       *bufio.Reader
	f       *os.File
	corrupt int // records skipped: a line that is not JSON framing, or a torn tail
}

// maxRecordLine bounds one line of a segment (an action or a document body).
const maxRecordLine = 64 << 20

func openSpoolReader(path string) (*spoolReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	return &spoolReader{r: bufio.NewReaderSize(f, 256<<10), f: f}, nil
}

func (r *spoolReader) Close() error { return r.f.Close() }

// next appends whole records to dst until it holds at least maxBytes or the
// segment ends; n is the number of records added. At the end of the segment
// it returns io.EOF (possibly with records).
func (r *spoolReader) next(dst []byte, maxBytes int) (out []byte, n int, err error) {
	out = dst
	for len(out) < maxBytes {
		action, err := r.line()
		if err != nil {
			if err == errTornLine {
				r.corrupt++
				return out, n, io.EOF
			}
			return out, n, err
		}
		if len(action) == 0 {
			continue
		}
		// The line aliases the reader's buffer until the next read: copy it first.
		mark := len(out)
		okAction := bytes.HasPrefix(action, []byte(`{"create":`))
		out = append(out, action...)
		out = append(out, '\n')
		body, err := r.line()
		if err != nil {
			out = out[:mark]
			r.corrupt++ // an action without its body
			if err == errTornLine || errors.Is(err, io.EOF) {
				return out, n, io.EOF
			}
			return out, n, err
		}
		if !okAction || len(body) == 0 || body[0] != '{' {
			out = out[:mark]
			r.corrupt++
			continue
		}
		out = append(out, body...)
		out = append(out, '\n')
		n++
	}
	return out, n, nil
}

var errTornLine = errors.New("output: spool: torn record")

// line returns the next line without its newline. A last line without a
// newline is torn (a crash during append): errTornLine.
func (r *spoolReader) line() ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.r.ReadSlice('\n')
		if err == nil {
			if buf == nil {
				return frag[:len(frag)-1], nil
			}
			buf = append(buf, frag[:len(frag)-1]...)
			return buf, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			buf = append(buf, frag...)
			if len(buf) > maxRecordLine {
				return nil, errTornLine
			}
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(buf)+len(frag) > 0 {
				return nil, errTornLine
			}
			return nil, io.EOF
		}
		return nil, fmt.Errorf("output: spool: %w", err)
	}
}
