package output

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// spoolRec is one bulk record with a body of about pad bytes.
func spoolRec(tag string, i, pad int) string {
	return fmt.Sprintf("{\"create\":{\"_index\":\"logs-t-default\",\"_id\":\"%s-%d\"}}\n{\"n\":%d,\"pad\":%q}\n",
		tag, i, i, strings.Repeat("x", pad))
}

// splitRecords cuts reader output into records (two lines each).
func splitRecords(t testing.TB, out []byte) []string {
	t.Helper()
	var recs []string
	for len(out) > 0 {
		nl := bytes.IndexByte(out, '\n')
		if nl < 0 {
			t.Fatalf("reader output without whole records: %q", out)
		}
		nl2 := bytes.IndexByte(out[nl+1:], '\n')
		if nl2 < 0 {
			t.Fatalf("reader output without whole records: %q", out)
		}
		end := nl + 1 + nl2 + 1
		recs = append(recs, string(out[:end]))
		out = out[end:]
	}
	return recs
}

// readSegment reads every record of one segment file.
func readSegment(t testing.TB, path string, maxBytes int) (recs []string, corrupt int) {
	t.Helper()
	r, err := openSpoolReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; ; i++ {
		out, n, err := r.next(nil, maxBytes)
		got := splitRecords(t, out)
		if len(got) != n {
			t.Fatalf("next: n=%d for %d records", n, len(got))
		}
		recs = append(recs, got...)
		if errors.Is(err, io.EOF) {
			return recs, r.corrupt
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("next: no records, no error, no end")
		}
	}
}

// drainSpool reads and removes every segment, oldest first, as the sink does.
func drainSpool(t testing.TB, sp *spool) (recs []string, corrupt int) {
	t.Helper()
	for {
		seg, ok, err := sp.oldest()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got, c := readSegment(t, seg.path, 4096)
		recs, corrupt = append(recs, got...), corrupt+c
		if err := sp.remove(seg); err != nil {
			t.Fatal(err)
		}
	}
	if sp.size() != 0 {
		t.Errorf("drained spool has size %d", sp.size())
	}
	return recs, corrupt
}

func openTestSpool(t testing.TB, dir string, maxBytes, segBytes int64) *spool {
	t.Helper()
	sp, err := openSpool(dir, maxBytes, segBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.close() })
	return sp
}

func sameRecords(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("read %d records, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

// segmentFiles lists the segment files in dir.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "spool-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSpoolRoundTrip: records appended across rotations and a reopen come
// back once each, in order; the next run continues the sequence.
func TestSpoolRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sp := openTestSpool(t, dir, 0, 4<<10)
	var want []string
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; {
		var b strings.Builder
		for k := rng.IntN(4) + 1; k > 0; k-- {
			r := spoolRec("rt", i, rng.IntN(300))
			b.WriteString(r)
			want = append(want, r)
			i++
		}
		if err := sp.append([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	if err := sp.append([]byte(spoolRec("late", 0, 1))); !errors.Is(err, errSpoolClosed) {
		t.Errorf("append after close: %v", err)
	}
	segs := segmentFiles(t, dir)
	if len(segs) < 5 {
		t.Errorf("%d segments, want rotation at 4 KiB", len(segs))
	}
	sp2 := openTestSpool(t, dir, 0, 4<<10)
	var onDisk int64
	for _, p := range segs {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if sp2.size() != onDisk {
		t.Errorf("reopened size %d, files hold %d", sp2.size(), onDisk)
	}
	if err := sp2.append([]byte(spoolRec("rt", 300, 5))); err != nil {
		t.Fatal(err)
	}
	want = append(want, spoolRec("rt", 300, 5))
	got, corrupt := drainSpool(t, sp2)
	sameRecords(t, got, want)
	if corrupt != 0 {
		t.Errorf("%d corrupt", corrupt)
	}
	if m := segmentFiles(t, dir); len(m) != 0 {
		t.Errorf("segments left: %v", m)
	}
}

// TestSpoolAppendRejectsPartialRecords: append takes whole records only.
func TestSpoolAppendRejectsPartialRecords(t *testing.T) {
	sp := openTestSpool(t, t.TempDir(), 0, 1<<20)
	good := spoolRec("p", 1, 3)
	for _, bad := range []string{good[:len(good)-1], good + "{\"create\":{}}\n", "{\"index\":{}}\n{}\n", "{\"create\":{}}\n\n"} {
		if err := sp.append([]byte(bad)); err == nil {
			t.Errorf("append(%q) accepted", bad)
		}
	}
	if sp.size() != 0 {
		t.Errorf("size %d after refused appends", sp.size())
	}
}

// TestSpoolWriteFailures injects failed writes (a random prefix of the batch
// reaches the file, then an error, as with a full disk) through the write
// seam: every append that succeeded is read back exactly once, in order,
// and nothing of a failed one.
func TestSpoolWriteFailures(t *testing.T) {
	dir := t.TempDir()
	sp := openTestSpool(t, dir, 0, 8<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	failures := 0
	sp.writeFn = func(f *os.File, p []byte) (int, error) {
		if rng.IntN(3) > 0 {
			return f.Write(p)
		}
		failures++
		n, err := f.Write(p[:rng.IntN(len(p))])
		if err != nil {
			t.Fatal(err)
		}
		return n, syscall.ENOSPC
	}
	var want []string
	for i := 0; i < 1000; {
		var b strings.Builder
		var batch []string
		for k := rng.IntN(5) + 1; k > 0; k-- {
			r := spoolRec("wf", i, rng.IntN(200))
			b.WriteString(r)
			batch = append(batch, r)
			i++
		}
		err := sp.append([]byte(b.String()))
		switch {
		case err == nil:
			want = append(want, batch...)
		case errors.Is(err, syscall.ENOSPC):
		default:
			t.Fatalf("append: %v", err)
		}
	}
	if failures < 100 {
		t.Fatalf("only %d failures injected", failures)
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
	sp2 := openTestSpool(t, dir, 0, 8<<10)
	got, corrupt := drainSpool(t, sp2)
	sameRecords(t, got, want)
	if corrupt != 0 {
		t.Errorf("%d corrupt stretches: failed writes were not cut back", corrupt)
	}
}

// TestSpoolTruncateFailure: when the torn write cannot be cut back either,
// the segment is sealed and later records go to a new one; the reader skips
// the torn bytes. Every acknowledged record is read once, in order; the only
// extra records are whole ones of the failed batch.
func TestSpoolTruncateFailure(t *testing.T) {
	dir := t.TempDir()
	sp := openTestSpool(t, dir, 0, 1<<20)
	var want []string
	appendOK := func(tag string, from, n int) {
		var b strings.Builder
		for i := from; i < from+n; i++ {
			r := spoolRec(tag, i, 10)
			b.WriteString(r)
			want = append(want, r)
		}
		if err := sp.append([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	appendOK("a", 0, 10)
	sp.writeFn = func(f *os.File, p []byte) (int, error) {
		n, _ := f.Write(p[:len(p)*2/3+5]) // two whole frames and a piece
		return n, syscall.EIO
	}
	sp.truncateFn = func(*os.File, int64) error { return syscall.EROFS }
	var failed []string
	var b strings.Builder
	for i := 0; i < 3; i++ {
		r := spoolRec("failed", i, 10)
		b.WriteString(r)
		failed = append(failed, r)
	}
	err := sp.append([]byte(b.String()))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("append: %v", err)
	}
	sp.writeFn, sp.truncateFn = nil, nil
	appendOK("b", 0, 10)
	if n := len(segmentFiles(t, dir)); n != 2 {
		t.Errorf("%d segments, want the torn one sealed and a new one", n)
	}
	got, corrupt := drainSpool(t, sp)
	if corrupt != 1 {
		t.Errorf("%d corrupt stretches, want 1", corrupt)
	}
	var acked []string
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r] {
			t.Errorf("record read twice: %q", r)
		}
		seen[r] = true
		if strings.Contains(r, `"failed-`) {
			continue
		}
		acked = append(acked, r)
	}
	sameRecords(t, acked, want)
	if extra := len(got) - len(acked); extra >= len(failed) {
		t.Errorf("%d records of the torn batch read back", extra)
	}
}

// TestSpoolDiskFull fills a small tmpfs: appends fail with ENOSPC while it
// is full and succeed again once space returns; every acknowledged record is
// read back exactly once, in order, after a restart. Root only.
func TestSpoolDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (TestSpoolWriteFailures covers the logic)")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 96<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "spool")
	sp, err := openSpool(dir, 0, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	i, full := 0, 0
	appendBatch := func() error {
		var b strings.Builder
		var batch []string
		for k := 0; k < 3; k++ {
			r := spoolRec("df", i, 300+i%700)
			b.WriteString(r)
			batch = append(batch, r)
			i++
		}
		err := sp.append([]byte(b.String()))
		switch {
		case err == nil:
			want = append(want, batch...)
		case errors.Is(err, syscall.ENOSPC):
			full++
		default:
			t.Fatalf("append: %v", err)
		}
		return err
	}
	for full < 10 && i < 100000 {
		appendBatch()
	}
	if full < 10 {
		t.Fatal("the tmpfs never filled")
	}
	before := len(want)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 20; k++ {
		if err := appendBatch(); err != nil {
			t.Fatalf("append after space returned: %v", err)
		}
	}
	for full < 20 && i < 200000 {
		appendBatch() // full again: more torn writes on top
	}
	if len(want) <= before {
		t.Fatal("nothing appended after space returned")
	}
	if err := sp.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	sp2, err := openSpool(dir, 0, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer sp2.close()
	got, corrupt := drainSpool(t, sp2)
	sameRecords(t, got, want)
	if corrupt != 0 {
		t.Errorf("%d corrupt stretches after a full disk", corrupt)
	}
	t.Logf("%d records kept, %d batches refused", len(want), full)
}

// writeSegment writes a framed segment of recs and returns its bytes and the
// end offset of each frame.
func writeSegment(t testing.TB, recs []string) (data []byte, ends []int) {
	t.Helper()
	for _, r := range recs {
		data = appendFrame(data, []byte(r))
		ends = append(ends, len(data))
	}
	return data, ends
}

// TestSpoolTornTail cuts a segment at every offset: the reader returns the
// records whose frames are whole before the cut and counts the torn rest.
func TestSpoolTornTail(t *testing.T) {
	var recs []string
	for i := 0; i < 5; i++ {
		recs = append(recs, spoolRec("tt", i, i*7))
	}
	data, ends := writeSegment(t, recs)
	dir := t.TempDir()
	p := filepath.Join(dir, "spool-00000000000000000001.seg")
	for cut := 0; cut <= len(data); cut++ {
		if err := os.WriteFile(p, data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		whole := 0
		for whole < len(ends) && ends[whole] <= cut {
			whole++
		}
		got, corrupt := readSegment(t, p, 64)
		sameRecords(t, got, recs[:whole])
		torn := 0
		if whole == 0 && cut > 0 || whole > 0 && ends[whole-1] != cut {
			torn = 1
		}
		if corrupt != torn {
			t.Fatalf("cut %d: corrupt %d, want %d", cut, corrupt, torn)
		}
	}
}

// TestSpoolResync: damage in the middle of a segment costs only the damaged
// bytes; the reader finds the next whole record after it.
func TestSpoolResync(t *testing.T) {
	var a, b []string
	for i := 0; i < 5; i++ {
		a = append(a, spoolRec("a", i, 20))
		b = append(b, spoolRec("b", i, 20))
	}
	segA, _ := writeSegment(t, a)
	segB, _ := writeSegment(t, b)
	victim := appendFrame(nil, []byte(spoolRec("victim", 0, 20)))
	fakeHeader := func(size uint32, crc uint32) []byte {
		h := append([]byte(nil), frameMagic[:]...)
		h = append(h, byte(size), byte(size>>8), byte(size>>16), byte(size>>24))
		return append(h, byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	random := make([]byte, 5000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	flipped := append([]byte(nil), victim...)
	flipped[len(flipped)/2] ^= 0x40
	cases := map[string][]byte{
		"random bytes":              random,
		"newlines and json":         []byte("\n\n{\"create\":{}}\n{\"a\":1}\nnot json\n"),
		"torn frame (failed write)": victim[:len(victim)/2],
		"torn header":               victim[:7],
		"magic, huge length":        fakeHeader(maxFrame, 0),
		"magic, too long":           fakeHeader(1<<31, 0),
		"magic, bad crc":            append(fakeHeader(uint32(len(victim)-frameHeader), 12345), victim[frameHeader:]...),
		"flipped byte":              flipped,
		"magic runs":                bytes.Repeat(frameMagic[:], 50),
		"zeros (lost page)":         make([]byte, 4096),
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "spool-00000000000000000001.seg")
	for name, garbage := range cases {
		t.Run(name, func(t *testing.T) {
			seg := append(append(append([]byte(nil), segA...), garbage...), segB...)
			if err := os.WriteFile(p, seg, 0o600); err != nil {
				t.Fatal(err)
			}
			got, corrupt := readSegment(t, p, 100)
			sameRecords(t, got, append(append([]string(nil), a...), b...))
			if corrupt != 1 {
				t.Errorf("corrupt %d, want 1", corrupt)
			}
		})
	}
}

// TestSpoolLargeRecord: a record larger than the read buffer is read whole,
// and one damaged is skipped without losing what follows.
func TestSpoolLargeRecord(t *testing.T) {
	big := spoolRec("big", 1, spoolReadBuffer+1000)
	small := spoolRec("small", 2, 10)
	frame := appendFrame(nil, []byte(big))
	damaged := append([]byte(nil), frame...)
	damaged[len(damaged)-100] ^= 1
	dir := t.TempDir()
	p := filepath.Join(dir, "spool-00000000000000000001.seg")
	var seg []byte
	seg = append(seg, frame...)
	seg = append(seg, damaged...)
	seg = appendFrame(seg, []byte(small))
	seg = append(seg, frame[:len(frame)-1]...) // torn big tail
	if err := os.WriteFile(p, seg, 0o600); err != nil {
		t.Fatal(err)
	}
	got, corrupt := readSegment(t, p, 1<<20)
	sameRecords(t, got, []string{big, small})
	if corrupt != 2 {
		t.Errorf("corrupt %d, want 2", corrupt)
	}
}

// TestSpoolLegacySegments: segments of the earlier NDJSON format are still
// drained, before the framed ones written after them.
func TestSpoolLegacySegments(t *testing.T) {
	dir := t.TempDir()
	var want []string
	var legacy strings.Builder
	for i := 0; i < 5; i++ {
		r := spoolRec("old", i, 5)
		legacy.WriteString(r)
		want = append(want, r)
	}
	legacy.WriteString("{\"create\":{\"_index\":\"i\",\"_id\":\"torn\"}}\n{\"a\"") // torn tail
	if err := os.WriteFile(filepath.Join(dir, "spool-00000000000000000007.ndjson"), []byte(legacy.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	sp := openTestSpool(t, dir, 0, 1<<20)
	r := spoolRec("new", 0, 5)
	if err := sp.append([]byte(r)); err != nil {
		t.Fatal(err)
	}
	want = append(want, r)
	if _, err := os.Stat(filepath.Join(dir, "spool-00000000000000000008.seg")); err != nil {
		t.Errorf("new segment does not follow the legacy one: %v", err)
	}
	got, corrupt := drainSpool(t, sp)
	sameRecords(t, got, want)
	if corrupt != 1 {
		t.Errorf("corrupt %d, want 1", corrupt)
	}
}

// TestSpoolLock: a second spool on a directory in use fails naming the
// owner's pid; once the first closes, the second opens and drains its
// records.
func TestSpoolLock(t *testing.T) {
	dir := t.TempDir()
	sp1, err := openSpool(dir, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 10; i++ {
		r := spoolRec("first", i, 5)
		if err := sp1.append([]byte(r)); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	_, err = openSpool(dir, 0, 1<<20)
	var inUse *SpoolInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || inUse.Dir != dir {
		t.Fatalf("second open: %v, want *SpoolInUseError with pid %d", err, os.Getpid())
	}
	if msg := fmt.Sprintf("spool directory %s is in use by pid %d", dir, os.Getpid()); !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
	if err := sp1.close(); err != nil {
		t.Fatal(err)
	}
	if err := sp1.remove(spoolSegment{seq: 1, path: filepath.Join(dir, "spool-00000000000000000001.seg")}); err == nil {
		t.Error("a closed spool removed a segment")
	}
	sp2 := openTestSpool(t, dir, 0, 1<<20)
	got, _ := drainSpool(t, sp2)
	sameRecords(t, got, want)
}

// TestSpoolLockOtherProcess: the lock holds across processes (a child test
// process owns the spool) and the pid in the error is the child's.
func TestSpoolLockOtherProcess(t *testing.T) {
	if dir := os.Getenv("TLSENTRY_SPOOL_LOCK_CHILD"); dir != "" {
		sp, err := openSpool(dir, 0, 1<<20)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for i := 0; i < 3; i++ {
			if err := sp.append([]byte(spoolRec("child", i, 5))); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin) // hold the lock until the parent lets go
		if err := sp.close(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolLockOtherProcess$")
	cmd.Env = append(os.Environ(), "TLSENTRY_SPOOL_LOCK_CHILD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	_, err = openSpool(dir, 0, 1<<20)
	if want := "is in use by pid " + strconv.Itoa(cmd.Process.Pid); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("open while the child holds the spool: %v, want %q", err, want)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	sp := openTestSpool(t, dir, 0, 1<<20)
	got, _ := drainSpool(t, sp)
	sameRecords(t, got, []string{spoolRec("child", 0, 5), spoolRec("child", 1, 5), spoolRec("child", 2, 5)})
}

// TestESSinkSpoolInUse: a second sink on the spool of a running one fails at
// start with the owner's pid; after the first closes it starts and delivers.
func TestESSinkSpoolInUse(t *testing.T) {
	f := newFakeES()
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	s1, err := NewElasticsearch(fastOptions(srv.URL, dir))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewElasticsearch(fastOptions(srv.URL, dir))
	if want := "is in use by pid " + strconv.Itoa(os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second sink: %v, want %q", err, want)
	}
	if err := s1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s2, err := NewElasticsearch(fastOptions(srv.URL, dir))
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	writeAll(t, s2, testDocs(10, "u"))
	if err := s2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.count(); got != 10 {
		t.Errorf("stored %d, want 10", got)
	}
}

// TestESSinkDrainsTornSegment: a segment torn by a crash (and damaged in the
// middle) is delivered up to every whole record; the damage is counted.
func TestESSinkDrainsTornSegment(t *testing.T) {
	f := newFakeES()
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	opt := fastOptions(srv.URL, dir)
	var seg []byte
	for i, d := range testDocs(20, "torn") {
		frame := appendFrame(nil, (&ESSink{indexTLS: "logs-tls-default"}).record(&d))
		switch i {
		case 7:
			frame[len(frame)-5] ^= 1 // damaged in the middle
		case 19:
			frame = frame[:len(frame)-3] // torn tail
		}
		seg = append(seg, frame...)
	}
	if err := os.MkdirAll(opt.SpoolDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(opt.SpoolDir, "spool-00000000000000000001.seg"), seg, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := NewElasticsearch(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.count(); got != 18 {
		t.Errorf("stored %d, want 18", got)
	}
	if st := s.Stats(); st.SpoolCorrupt != 2 || st.SpoolBytes != 0 {
		t.Errorf("stats %+v, want 2 corrupt stretches and an empty spool", st)
	}
}

// FuzzSpoolReader: whatever the segment bytes, the reader never panics,
// always ends, and returns only records that are in the segment as a whole
// frame, each framed as the bulk body expects.
func FuzzSpoolReader(f *testing.F) {
	// Seeds: real segments written by the spool, whole, torn and damaged.
	dir := f.TempDir()
	sp, err := openSpool(filepath.Join(dir, "seed"), 0, 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if err := sp.append([]byte(spoolRec("s", i, i*11) + spoolRec("s2", i, 1))); err != nil {
			f.Fatal(err)
		}
	}
	seg, _, err := sp.oldest()
	if err != nil {
		f.Fatal(err)
	}
	real, err := os.ReadFile(seg.path)
	if err != nil {
		f.Fatal(err)
	}
	sp.close()
	f.Add(real)
	f.Add(real[:len(real)-9])
	f.Add(append(append(append([]byte(nil), real[:100]...), "garbage\n"...), real[100:]...))
	mid := append([]byte(nil), real...)
	mid[len(mid)/2] ^= 0xff
	f.Add(mid)
	f.Add(append(append([]byte(nil), frameMagic[:]...), 0xff, 0xff, 0, 0))
	f.Add([]byte{})
	p := filepath.Join(dir, "spool-00000000000000000001.seg")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := openSpoolReader(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for i := 0; i < len(data)+2; i++ {
			out, n, err := r.next(nil, 64)
			var b batch
			b.setRecords(out)
			if len(b.recs) != n {
				t.Fatalf("read %d records, framed %d: %q", n, len(b.recs), out)
			}
			for _, sp := range b.recs {
				rec := out[sp.start:sp.end]
				if !bytes.Contains(data, appendFrame(nil, rec)) {
					t.Fatalf("record %q is not a whole frame of the segment", rec)
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("read error on a regular file: %v", err)
				}
				return
			}
		}
		t.Fatalf("reader did not end on %d bytes", len(data))
	})
}

// FuzzSpoolReaderLegacy: any content of a segment of the earlier NDJSON
// format reads as whole records (each an action line starting {"create": and
// a body line starting {) plus a count of skipped ones; it never panics or
// loops.
func FuzzSpoolReaderLegacy(f *testing.F) {
	rec := "{\"create\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{\"a\":1}\n"
	f.Add([]byte(rec + rec))
	f.Add([]byte(rec + "{\"create\":{}}\n{\"a\""))
	f.Add([]byte("\n\n\nxx\n{\"create\":1}\nnot json\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "spool-00000000000000000001.ndjson")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := openSpoolReader(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for i := 0; i < len(data)+2; i++ {
			out, n, err := r.next(nil, 64)
			var b batch
			b.setRecords(out)
			if len(b.recs) != n {
				t.Fatalf("read %d records, framed %d: %q", n, len(b.recs), out)
			}
			for _, sp := range b.recs {
				rec := out[sp.start:sp.end]
				if !bytes.HasPrefix(rec, []byte(`{"create":`)) || !bytes.Contains(rec, []byte("\n{")) {
					t.Fatalf("not a record: %q", rec)
				}
			}
			if err != nil {
				return
			}
		}
		t.Fatalf("reader did not end on %d bytes", len(data))
	})
}
