package output

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// spool is a directory of segment files holding bulk-ready records
// ("{create action}\n{body}\n") that could not be delivered. Segments are
// named spool-<seq>.seg with a growing sequence number and are drained in
// that order (oldest first). One segment, the newest, is open for appending;
// the drainer seals it (rotates) before it reads it. A segment is removed only
// after every record in it was delivered, dead-lettered or found corrupt, so a
// crash in the middle of a drain re-sends some records, which op_type create
// and the deterministic _id turn into counted duplicates, never into copies.
//
// Record format. Each record is one frame:
//
//	magic   4 bytes  0xFE 'T' 'S' 'R' (0xFE never occurs in UTF-8 text)
//	length  4 bytes  little-endian uint32, the payload length
//	crc     4 bytes  little-endian CRC-32C (Castagnoli) of length and payload
//	payload          one record: action line and body line, each ending in '\n'
//
// A segment is just frames back to back (no file header). The reader accepts
// a frame only when magic, length bound, checksum and payload shape all hold;
// anything else (a torn tail after a crash or a failed write, garbage in the
// middle) is skipped byte by byte up to the next frame that checks out, so it
// costs only the bytes that are actually damaged. Each damaged stretch counts
// as one corrupt record.
//
// Segments of the earlier format (spool-<seq>.ndjson: bare NDJSON records)
// are still read and drained in sequence order with the framed ones; new
// records are only written framed. The new extension means an older build of
// tlsentry ignores (and keeps) framed segments instead of misreading them.
//
// Writes: a record batch is framed and written with one write; if the write
// fails (disk full, I/O error), the segment is truncated back to its last
// whole frame and the error is returned, so nothing of the failed batch is
// ever read back and later appends follow whole frames. If even the truncate
// fails, the segment is sealed as it is and the next append starts a new
// segment; the reader then skips the torn bytes (whole frames of the failed
// batch before the tear may then be delivered although append reported an
// error: counted as dropped, indexed anyway, never lost). A segment is
// fsynced when it is sealed (rotation, drain, Close); the directory is
// fsynced when a segment is created.
//
// Ownership: one spool per directory. openSpool takes an exclusive lock
// (flock; LockFileEx on Windows) on the file "lock" in the directory (and writes its pid there) and holds it
// until close; a second process, or a second spool in this process, fails
// with *SpoolInUseError ("spool directory X is in use by pid N") instead of
// sharing segment numbers and deleting the other's files while draining. The
// kernel drops the lock when the process dies, so a crashed sensor never
// leaves the directory locked. A run that must work beside a live sensor
// (an ad-hoc replay) needs its own spool directory.
//
// The spool is safe for concurrent use.
type spool struct {
	dir      string
	maxBytes int64 // total size limit; 0: none
	segBytes int64 // rotate the active segment past this size

	// Seams for tests (failure injection); nil: the os.File methods.
	writeFn    func(f *os.File, p []byte) (int, error)
	truncateFn func(f *os.File, size int64) error

	mu      sync.Mutex
	lock    *os.File       // holds the directory's flock; nil once closed
	sealed  []spoolSegment // oldest first
	active  *os.File
	actSeg  spoolSegment // bytes: whole frames only (unless a truncate failed)
	nextSeq uint64
	bytes   int64 // bytes in all segments
	frame   []byte
}

type spoolSegment struct {
	seq   uint64
	path  string
	bytes int64
}

var (
	errSpoolFull   = errors.New("output: spool full")
	errSpoolClosed = errors.New("output: spool closed")
)

// SpoolInUseError is returned when the spool directory is locked by another
// spool (another tlsentry process, or another sink in this one).
type SpoolInUseError struct {
	Dir string
	PID int // 0: unknown (the owner had not written its pid yet)
}

func (e *SpoolInUseError) Error() string {
	if e.PID <= 0 {
		return "output: spool directory " + e.Dir + " is in use by another process"
	}
	return "output: spool directory " + e.Dir + " is in use by pid " + strconv.Itoa(e.PID)
}

const (
	spoolLockName  = "lock"
	spoolExt       = ".seg"
	spoolLegacyExt = ".ndjson"
	frameHeader    = 12
	// maxRecordLine bounds one line of a record (an action or a document body).
	maxRecordLine = 64 << 20
	// maxFrame bounds a frame's payload: an action line and a body line.
	maxFrame = 2*maxRecordLine + 2
)

var (
	frameMagic = [4]byte{0xFE, 'T', 'S', 'R'}
	crcTable   = crc32.MakeTable(crc32.Castagnoli)
)

// openSpool opens (creating) dir, locks it, and picks up the segments a
// previous run left.
func openSpool(dir string, maxBytes, segBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	lock, err := lockSpoolDir(dir)
	if err != nil {
		return nil, err
	}
	s, err := scanSpool(dir, maxBytes, segBytes)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// errLocked: lockFile found the lock held by someone else.
var errLocked = errors.New("output: spool: locked")

// lockSpoolDir takes the directory's lock without waiting and records the
// owner's pid in the lock file. The file is never removed: removing it would
// let two processes lock two different files of the same name.
func lockSpoolDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, spoolLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	if err := lockFile(f); err != nil {
		if errors.Is(err, errLocked) {
			var buf [32]byte
			n, _ := f.ReadAt(buf[:], 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
			f.Close()
			return nil, &SpoolInUseError{Dir: dir, PID: pid}
		}
		f.Close()
		return nil, fmt.Errorf("output: spool: lock %s: %w", path, err)
	}
	// Without the pid the lock still holds; a contender just cannot name us.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func scanSpool(dir string, maxBytes, segBytes int64) (*spool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, segBytes: segBytes, nextSeq: 1}
	for _, e := range ents {
		name := e.Name()
		ext := filepath.Ext(name)
		if !strings.HasPrefix(name, "spool-") || (ext != spoolExt && ext != spoolLegacyExt) || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "spool-"), ext), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("output: spool: %w", err)
		}
		if seq >= s.nextSeq {
			s.nextSeq = seq + 1
		}
		if info.Size() == 0 {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		s.sealed = append(s.sealed, spoolSegment{seq: seq, path: filepath.Join(dir, name), bytes: info.Size()})
		s.bytes += info.Size()
	}
	sort.Slice(s.sealed, func(i, j int) bool { return s.sealed[i].seq < s.sealed[j].seq })
	return s, nil
}

// appendFrames frames each record of records (whole, bulk-ready: action line
// and body line) onto dst. Anything that is not whole records is refused, so
// that no frame can hold what the bulk API would reject as a whole request.
func appendFrames(dst, records []byte) ([]byte, error) {
	for len(records) > 0 {
		nl := bytes.IndexByte(records, '\n')
		if nl < 0 {
			return dst, errors.New("output: spool: not whole records")
		}
		nl2 := bytes.IndexByte(records[nl+1:], '\n')
		if nl2 < 0 {
			return dst, errors.New("output: spool: not whole records")
		}
		rec := records[:nl+1+nl2+1]
		if !validRecord(rec) {
			return dst, errors.New("output: spool: not a bulk create record")
		}
		dst = appendFrame(dst, rec)
		records = records[len(rec):]
	}
	return dst, nil
}

func appendFrame(dst, rec []byte) []byte {
	var hdr [frameHeader]byte
	copy(hdr[:4], frameMagic[:])
	binary.LittleEndian.PutUint32(hdr[4:8], uint32(len(rec)))
	crc := crc32.Update(0, crcTable, hdr[4:8])
	crc = crc32.Update(crc, crcTable, rec)
	binary.LittleEndian.PutUint32(hdr[8:12], crc)
	dst = append(dst, hdr[:]...)
	return append(dst, rec...)
}

// validRecord: exactly an action line starting {"create": and a non-empty
// body line, each ending in '\n'.
func validRecord(rec []byte) bool {
	if len(rec) < 2 || rec[len(rec)-1] != '\n' {
		return false
	}
	nl := bytes.IndexByte(rec, '\n')
	body := rec[nl+1 : len(rec)-1]
	return bytes.HasPrefix(rec[:nl], []byte(`{"create":`)) && nl <= maxRecordLine &&
		len(body) > 0 && len(body) <= maxRecordLine && bytes.IndexByte(body, '\n') < 0
}

// append writes records (whole, bulk-ready) to the active segment, all or
// nothing. It fails with errSpoolFull when the size limit would be passed,
// and with the write error (the segment cut back to its last whole frame)
// when the disk refuses them.
func (s *spool) append(records []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return errSpoolClosed
	}
	if len(records) == 0 {
		return nil
	}
	var err error
	s.frame, err = appendFrames(s.frame[:0], records)
	if err != nil {
		return err
	}
	frames := s.frame
	if s.maxBytes > 0 && s.bytes+int64(len(frames)) > s.maxBytes {
		return errSpoolFull
	}
	if s.active != nil && s.actSeg.bytes >= s.segBytes {
		if err := s.sealLocked(); err != nil {
			return err
		}
	}
	if s.active == nil {
		seg := spoolSegment{seq: s.nextSeq, path: filepath.Join(s.dir, fmt.Sprintf("spool-%020d%s", s.nextSeq, spoolExt))}
		f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o640)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				s.nextSeq++ // not ours (cannot happen under the lock); do not reuse
			}
			return fmt.Errorf("output: spool: %w", err)
		}
		s.nextSeq++
		s.active, s.actSeg = f, seg
		syncDir(s.dir)
	}
	n, err := s.write(frames)
	if err == nil && n != len(frames) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if terr := s.truncate(s.actSeg.bytes); terr != nil {
			// The torn bytes stay: account for them and leave the segment,
			// so that later frames do not follow them; the reader skips them.
			s.actSeg.bytes += int64(n)
			s.bytes += int64(n)
			if serr := s.sealLocked(); serr != nil {
				err = errors.Join(err, serr)
			}
			return fmt.Errorf("output: spool: append: %w (and cutting the torn write failed: %v; segment sealed)", err, terr)
		}
		return fmt.Errorf("output: spool: append: %w", err)
	}
	s.actSeg.bytes += int64(n)
	s.bytes += int64(n)
	return nil
}

func (s *spool) write(p []byte) (int, error) {
	if s.writeFn != nil {
		return s.writeFn(s.active, p)
	}
	return s.active.Write(p)
}

func (s *spool) truncate(size int64) error {
	if s.truncateFn != nil {
		return s.truncateFn(s.active, size)
	}
	return s.active.Truncate(size)
}

// syncDir makes a new segment's directory entry durable. Best effort: the
// segment's data is synced when it is sealed.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// sealLocked syncs and closes the active segment and queues it for draining
// (an empty one is removed).
func (s *spool) sealLocked() error {
	if s.active == nil {
		return nil
	}
	err := s.active.Sync()
	if cerr := s.active.Close(); err == nil {
		err = cerr
	}
	if s.actSeg.bytes == 0 {
		_ = os.Remove(s.actSeg.path)
	} else {
		s.sealed = append(s.sealed, s.actSeg)
	}
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
	if s.lock == nil {
		return errSpoolClosed // the directory may belong to another spool now
	}
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

// close seals (syncs) the active segment and releases the directory; the
// records stay for the next spool opened on it. Later appends fail.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := s.sealLocked()
	if cerr := s.lock.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("output: spool: %w", cerr)
	}
	s.lock = nil
	return err
}

// spoolReader reads records from a segment in batches of about maxBytes.
type spoolReader struct {
	r       *bufio.Reader
	f       *os.File
	off     int64 // file offset of r's next byte
	size    int64 // segment size (sealed segments do not grow)
	legacy  bool  // a .ndjson segment of the earlier format
	damaged bool  // inside a damaged stretch (counted once)
	corrupt int   // damaged stretches skipped (framed) or records skipped (legacy)
}

const spoolReadBuffer = 256 << 10

func openSpoolReader(path string) (*spoolReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("output: spool: %w", err)
	}
	return &spoolReader{
		r:      bufio.NewReaderSize(f, spoolReadBuffer),
		f:      f,
		size:   info.Size(),
		legacy: strings.HasSuffix(path, spoolLegacyExt),
	}, nil
}

func (r *spoolReader) Close() error { return r.f.Close() }

// next appends whole records to dst until it holds at least maxBytes or the
// segment ends; n is the number of records added. At the end of the segment
// it returns io.EOF (possibly with records).
func (r *spoolReader) next(dst []byte, maxBytes int) (out []byte, n int, err error) {
	if r.legacy {
		return r.nextLegacy(dst, maxBytes)
	}
	out = dst
	for len(out) < maxBytes {
		rec, err := r.frame()
		if err != nil {
			return out, n, err
		}
		out = append(out, rec...)
		n++
	}
	return out, n, nil
}

func (r *spoolReader) discard(k int) {
	d, _ := r.r.Discard(k)
	r.off += int64(d)
}

func (r *spoolReader) damage() {
	if !r.damaged {
		r.damaged = true
		r.corrupt++
	}
}

// frame returns the payload of the next frame that checks out, skipping
// damaged bytes before it. The payload aliases the reader's buffer (or a
// scratch buffer) until the next call.
func (r *spoolReader) frame() ([]byte, error) {
	for {
		hdr, err := r.r.Peek(frameHeader)
		if len(hdr) < frameHeader {
			if err == nil || errors.Is(err, io.EOF) {
				if len(hdr) > 0 {
					r.damage() // a torn tail
					r.discard(len(hdr))
				}
				return nil, io.EOF
			}
			return nil, fmt.Errorf("output: spool: %w", err)
		}
		if !bytes.Equal(hdr[:4], frameMagic[:]) {
			r.damage()
			// Skip to the next magic in what is buffered (or to its last 3
			// bytes, which may start one).
			avail, _ := r.r.Peek(r.r.Buffered())
			if i := bytes.Index(avail[1:], frameMagic[:]); i >= 0 {
				r.discard(1 + i)
			} else {
				r.discard(len(avail) - 3)
			}
			continue
		}
		size := binary.LittleEndian.Uint32(hdr[4:8])
		want := binary.LittleEndian.Uint32(hdr[8:12])
		if size < 4 || size > maxFrame {
			r.damage()
			r.discard(1)
			continue
		}
		crc := crc32.Update(0, crcTable, hdr[4:8])
		if frameHeader+int(size) <= r.r.Size() {
			buf, err := r.r.Peek(frameHeader + int(size))
			if len(buf) < frameHeader+int(size) {
				if err != nil && !errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("output: spool: %w", err)
				}
				// The segment ends inside the frame: torn, or garbage that
				// looks like a header; look for a frame after its magic.
				r.damage()
				r.discard(1)
				continue
			}
			payload := buf[frameHeader:]
			if crc32.Update(crc, crcTable, payload) != want || !validRecord(payload) {
				r.damage()
				r.discard(1)
				continue
			}
			r.damaged = false
			rec := payload
			r.discard(len(buf)) // rec stays valid: Discard does not refill
			return rec, nil
		}
		// A frame larger than the buffer: read it whole, and go back to just
		// after its start when it does not check out.
		start := r.off
		if start+frameHeader+int64(size) > r.size {
			r.damage() // torn, or a garbage length
			r.discard(1)
			continue
		}
		rec := make([]byte, size)
		r.discard(frameHeader)
		k, err := io.ReadFull(r.r, rec)
		r.off += int64(k)
		if err == nil && crc32.Update(crc, crcTable, rec) == want && validRecord(rec) {
			r.damaged = false
			return rec, nil
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("output: spool: %w", err)
		}
		r.damage()
		if _, err := r.f.Seek(start+1, io.SeekStart); err != nil {
			return nil, fmt.Errorf("output: spool: %w", err)
		}
		r.r.Reset(r.f)
		r.off = start + 1
	}
}

// nextLegacy reads a segment of the earlier format (bare NDJSON records).
// A line that is not an action is skipped alone, so one damaged line does
// not shift the pairing of the lines after it.
func (r *spoolReader) nextLegacy(dst []byte, maxBytes int) (out []byte, n int, err error) {
	out = dst
	var pending []byte // an action line waiting for its body (copied)
	for len(out) < maxBytes {
		line, err := r.line()
		if err != nil {
			if pending != nil || err == errTornLine {
				r.corrupt++
			}
			if err == errTornLine || errors.Is(err, io.EOF) {
				return out, n, io.EOF
			}
			return out, n, err
		}
		if len(line) == 0 {
			continue
		}
		isAction := bytes.HasPrefix(line, []byte(`{"create":`))
		if pending == nil {
			if !isAction {
				r.corrupt++
				continue
			}
			pending = append([]byte(nil), line...)
			continue
		}
		if isAction {
			// The previous action lost its body; this one starts afresh.
			r.corrupt++
			pending = append(pending[:0], line...)
			continue
		}
		if line[0] != '{' {
			r.corrupt++
			pending = nil
			continue
		}
		out = append(out, pending...)
		out = append(out, '\n')
		out = append(out, line...)
		out = append(out, '\n')
		pending = nil
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
