package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapCorpusDir is the shared corpus, relative to this package (../shared/corpus
// from the repository root).
const pcapCorpusDir = "../../shared/corpus/pcaps"

func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(pcapCorpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Skipf("corpus not present at %s", pcapCorpusDir)
	}
	slices.Sort(files)
	return files
}

type testPacket struct {
	data []byte
	ci   gopacket.CaptureInfo
	lt   layers.LinkType
}

func testPackets(t testing.TB, n int) []testPacket {
	var ps []testPacket
	for i := range n {
		frame := serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)
		frame[len(frame)-1] = byte(i) // distinguishable
		ps = append(ps, testPacket{data: frame, lt: layers.LinkTypeEthernet, ci: gopacket.CaptureInfo{
			Timestamp: time.Unix(1700000000+int64(i), int64(i)*1001+7).UTC(), CaptureLength: len(frame), Length: len(frame) + i}})
	}
	return ps
}

func writePcap(t testing.TB, ps []testPacket, nanos bool) []byte {
	var buf bytes.Buffer
	var w *pcapgo.Writer
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	} else {
		w = pcapgo.NewWriter(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// toBigEndian rewrites a little-endian pcap file as big-endian.
func toBigEndian(le []byte) []byte {
	be := slices.Clone(le)
	for _, off := range []int{0, 8, 12, 16, 20} {
		binary.BigEndian.PutUint32(be[off:], binary.LittleEndian.Uint32(le[off:]))
	}
	binary.BigEndian.PutUint16(be[4:], binary.LittleEndian.Uint16(le[4:]))
	binary.BigEndian.PutUint16(be[6:], binary.LittleEndian.Uint16(le[6:]))
	for off := 24; off < len(le); {
		for i := 0; i < 16; i += 4 {
			binary.BigEndian.PutUint32(be[off+i:], binary.LittleEndian.Uint32(le[off+i:]))
		}
		off += 16 + int(binary.LittleEndian.Uint32(le[off+8:]))
	}
	return be
}

// writePcapng writes the packets over two interfaces: Ethernet and raw IP
// (odd packets have their Ethernet header stripped and go to interface 1).
func writePcapng(t testing.TB, ps []testPacket) ([]byte, []testPacket) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	var out []testPacket
	for i, p := range ps {
		if i%2 == 1 {
			p.data = p.data[14:]
			p.ci.CaptureLength = len(p.data)
			p.ci.Length -= 14
			p.ci.InterfaceIndex = raw
			p.lt = layers.LinkTypeRaw
		}
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), out
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t testing.TB, s Source) ([]testPacket, error) {
	var got []testPacket
	for {
		data, ci, err := s.ReadPacket()
		if err != nil {
			return got, err
		}
		ci.AncillaryData = nil
		got = append(got, testPacket{data: slices.Clone(data), ci: ci, lt: s.LinkType()})
	}
}

func TestOpenFileFormats(t *testing.T) {
	ps := testPackets(t, 5)
	micro := testPackets(t, 5)
	for i := range micro {
		micro[i].ci.Timestamp = micro[i].ci.Timestamp.Truncate(time.Microsecond)
	}
	ng, ngPackets := writePcapng(t, ps)
	cases := []struct {
		name, format string
		file         []byte
		want         []testPacket
	}{
		{"micro-le.pcap", "pcap", writePcap(t, ps, false), micro},
		{"micro-be.pcap", "pcap", toBigEndian(writePcap(t, ps, false)), micro},
		{"nano-le.pcap", "pcap", writePcap(t, ps, true), ps},
		{"nano-be.pcap", "pcap", toBigEndian(writePcap(t, ps, true)), ps},
		{"capture.pcapng", "pcapng", ng, ngPackets},
		{"a.pcap.gz", "gzip+pcap", gz(writePcap(t, ps, true)), ps},
		{"no-suffix", "gzip+pcapng", gz(ng), ngPackets},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, c.name, c.file)
			src, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.format != c.format || src.Size() != int64(len(c.file)) {
				t.Errorf("format %q size %d, want %q %d", src.format, src.Size(), c.format, len(c.file))
			}
			got, err := readAll(t, src)
			if err != io.EOF {
				t.Fatalf("error %v, want io.EOF", err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d packets, want %d", len(got), len(c.want))
			}
			for i := range got {
				g, w := got[i], c.want[i]
				if !bytes.Equal(g.data, w.data) || g.lt != w.lt || !g.ci.Timestamp.Equal(w.ci.Timestamp) ||
					g.ci.Length != w.ci.Length || g.ci.CaptureLength != w.ci.CaptureLength {
					t.Errorf("packet %d: lt %v ts %v len %d/%d, want lt %v ts %v len %d/%d",
						i, g.lt, g.ci.Timestamp, g.ci.CaptureLength, g.ci.Length, w.lt, w.ci.Timestamp, w.ci.CaptureLength, w.ci.Length)
				}
			}
			if src.Offset() != int64(len(c.file)) {
				t.Errorf("Offset %d at EOF, want %d", src.Offset(), len(c.file))
			}
			// EOF is sticky.
			if _, _, err := src.ReadPacket(); err != io.EOF {
				t.Errorf("second read after EOF: %v", err)
			}
		})
	}
}

func TestOpenFileErrors(t *testing.T) {
	ps := testPackets(t, 3)
	pcapFile := writePcap(t, ps, false)
	ng, _ := writePcapng(t, ps)
	cases := []struct {
		name    string
		file    []byte
		openErr string // substring of OpenFile's error; "" if it opens
		packets int    // whole packets before the read error
		readErr string
		eof     bool // read error wraps io.ErrUnexpectedEOF
	}{
		{name: "empty.pcap", file: nil, openErr: "capture: empty.pcap: empty file"},
		{name: "text.pcap", file: []byte("hello world, not a capture"), openErr: "capture: text.pcap: not a pcap or pcapng file (magic 0x68656c6c)"},
		{name: "short.pcap", file: pcapFile[:2], openErr: "capture: short.pcap: truncated file header"},
		{name: "header-only.pcap", file: pcapFile[:10], openErr: "capture: header-only.pcap: truncated pcap file header"},
		{name: "empty.gz", file: gz(nil), openErr: "capture: empty.gz: empty file"},
		{name: "text.gz", file: gz([]byte("not a capture file")), openErr: "not a pcap or pcapng file (magic 0x6e6f7420)"},
		{name: "badgzip.gz", file: []byte{0x1f, 0x8b, 0xff, 0xff, 0xff}, openErr: "capture: badgzip.gz: "},
		{name: "no-packets.pcap", file: pcapFile[:24], packets: 0},
		{name: "cut-record.pcap", file: pcapFile[:len(pcapFile)-5], packets: 2,
			readErr: "capture: cut-record.pcap: truncated packet record at offset", eof: true},
		{name: "cut-header.pcap", file: pcapFile[:24+16+len(ps[0].data)+7], packets: 1,
			readErr: "truncated packet record at offset " + strconv.Itoa(24+16+len(ps[0].data)) + " (after 1 packets)", eof: true},
		{name: "cut.pcapng", file: ng[:len(ng)-9], packets: 2, readErr: "capture: cut.pcapng: truncated pcapng block at offset", eof: true},
		{name: "cut.pcap.gz", file: gz(pcapFile)[:len(gz(pcapFile))-12], packets: 3, readErr: "capture: cut.pcap.gz: truncated", eof: true},
		{name: "huge-record.pcap", file: func() []byte {
			b := slices.Clone(pcapFile)
			binary.LittleEndian.PutUint32(b[24+8:], 0x7fffffff)
			return b
		}(), packets: 0, readErr: "capture: huge-record.pcap: bad packet record at offset 24 (after 0 packets): capture length exceeds snap length"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, c.name, c.file)
			src, err := OpenFile(path)
			if c.openErr != "" {
				if err == nil {
					t.Fatalf("OpenFile succeeded, want error %q", c.openErr)
				}
				if !strings.Contains(err.Error(), c.openErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q, want %q on one line", err, c.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, err := readAll(t, src)
			if len(got) != c.packets {
				t.Errorf("%d packets, want %d", len(got), c.packets)
			}
			if c.readErr == "" {
				if err != io.EOF {
					t.Errorf("error %v, want io.EOF", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.readErr) {
				t.Fatalf("error %v, want %q", err, c.readErr)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != c.eof {
				t.Errorf("errors.Is(err, io.ErrUnexpectedEOF) = %v, want %v", !c.eof, c.eof)
			}
			if _, _, err2 := src.ReadPacket(); err2 != err {
				t.Errorf("error not sticky: %v then %v", err, err2)
			}
		})
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); err == nil || !strings.HasPrefix(err.Error(), "capture: open ") {
		t.Errorf("missing file: %v", err)
	}
}

// TestCorpusRead opens every capture of the shared corpus, reads it to the
// end and decodes every packet. All must read without error; the per-file
// counts are logged (go test -v -run TestCorpusRead).
func TestCorpusRead(t *testing.T) {
	files := corpusFiles(t)
	d := NewDecoder()
	var p Packet
	var total, totalDecoded uint64
	for _, path := range files {
		rel, _ := filepath.Rel(pcapCorpusDir, path)
		src, err := OpenFile(path)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		before := d.stats
		var n int
		for {
			data, ci, err := src.ReadPacket()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				break
			}
			n++
			d.Decode(data, ci, src.LinkType(), &p)
		}
		src.Close()
		dec := d.stats.Decoded - before.Decoded
		total += uint64(n)
		totalDecoded += dec
		if n > 0 && dec == 0 {
			t.Errorf("%s: none of %d packets decoded to IP TCP/UDP (stats now %+v)", rel, n, d.stats)
		}
		t.Logf("%-70s %5d packets %5d TCP/UDP", rel, n, dec)
	}
	t.Logf("%d files, %d packets, %d decoded to TCP/UDP; decoder stats %+v; defrag %+v",
		len(files), total, totalDecoded, d.stats, d.defrag.snapshot())
	if n := decodeOutcomes(&d.stats); n != d.stats.Packets {
		t.Errorf("outcome counters add up to %d of %d packets", n, d.stats.Packets)
	}
	if len(files) < 97 {
		t.Errorf("%d corpus files, want 97", len(files))
	}
}

func BenchmarkReadFile(b *testing.B) {
	ps := testPackets(b, 1000)
	path := writeTemp(b, "bench.pcap", writePcap(b, ps, false))
	b.ReportAllocs()
	for b.Loop() {
		src, err := OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, _, err := src.ReadPacket(); err != nil {
				break
			}
		}
		src.Close()
	}
}

// TestCorpusDecodeMatchesTshark checks, per corpus file, that the number of
// packets Decode returns equals the number of TCP/UDP packets tshark (an
// independent decoder) finds. Skipped without tshark or with -short.
func TestCorpusDecodeMatchesTshark(t *testing.T) {
	files := corpusFiles(t)
	if testing.Short() {
		t.Skip("-short")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	d := NewDecoder()
	var p Packet
	for _, path := range files {
		out, err := exec.Command(tshark, "-n", "-r", path, "-Y", "(tcp or udp) and not icmp and not icmpv6", "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Errorf("%s: tshark: %v", path, err)
			continue
		}
		want := strings.Count(string(out), "\n")
		src, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			data, ci, err := src.ReadPacket()
			if err != nil {
				break
			}
			if d.Decode(data, ci, src.LinkType(), &p) {
				got++
			}
		}
		src.Close()
		if got != want {
			t.Errorf("%s: %d packets decoded to TCP/UDP, tshark finds %d", path, got, want)
		}
	}
}

// readBoth reads path with the in-place record reader and with pcapgo's
// alone: the packets and the final error must be the same.
func readBoth(t *testing.T, path string) int {
	t.Helper()
	open := func(inPlace bool) ([]testPacket, string) {
		src, err := OpenFile(path)
		if err != nil {
			return nil, "open: " + err.Error()
		}
		defer src.Close()
		if !inPlace {
			src.rec.on = false
		}
		got, err := readAll(t, src)
		return got, err.Error()
	}
	fast, fastErr := open(true)
	slow, slowErr := open(false)
	if fastErr != slowErr {
		t.Errorf("%s: error %q, pcapgo %q", filepath.Base(path), fastErr, slowErr)
	}
	if len(fast) != len(slow) {
		t.Fatalf("%s: %d packets, pcapgo %d", filepath.Base(path), len(fast), len(slow))
	}
	for i := range fast {
		if !bytes.Equal(fast[i].data, slow[i].data) || !fast[i].ci.Timestamp.Equal(slow[i].ci.Timestamp) ||
			fast[i].ci.CaptureLength != slow[i].ci.CaptureLength || fast[i].ci.Length != slow[i].ci.Length || fast[i].lt != slow[i].lt {
			t.Fatalf("%s: packet %d: %+v, pcapgo %+v", filepath.Base(path), i, fast[i].ci, slow[i].ci)
		}
	}
	return len(fast)
}

// TestPcapRecordsMatchPcapgo: reading classic pcap records in place gives
// what pcapgo gives, packets and errors, for the corpus and for files cut
// or damaged anywhere in their first records.
func TestPcapRecordsMatchPcapgo(t *testing.T) {
	ps := testPackets(t, 4)
	base := writePcap(t, ps, false)
	variants := map[string][]byte{
		"micro.pcap":   base,
		"nano.pcap":    writePcap(t, ps, true),
		"bigend.pcap":  toBigEndian(base),
		"bignano.pcap": toBigEndian(writePcap(t, ps, true)),
		"cap-gt-wire":  func() []byte { b := slices.Clone(base); binary.LittleEndian.PutUint32(b[24+12:], 10); return b }(),
		"huge-cap": func() []byte {
			b := slices.Clone(base)
			binary.LittleEndian.PutUint32(b[24+8:], 1<<20)
			binary.LittleEndian.PutUint32(b[24+12:], 1<<21)
			return b
		}(),
		"snaplen-small": func() []byte { b := slices.Clone(base); binary.LittleEndian.PutUint32(b[16:], 20); return b }(),
		"usec-overflow": func() []byte { b := slices.Clone(base); binary.LittleEndian.PutUint32(b[24+4:], 0xffffffff); return b }(),
	}
	for cut := 24; cut < len(base); cut += 3 {
		variants["cut-"+strconv.Itoa(cut)] = base[:cut]
	}
	n := 0
	for name, b := range variants {
		n += readBoth(t, writeTemp(t, name, b))
	}
	if n == 0 {
		t.Fatal("no packets read")
	}
	files := corpusFiles(t)
	for _, path := range files {
		readBoth(t, path)
	}
}

// TestPcapRecordsByteOrder: the in-place reader takes the records of
// both byte orders itself (pcapgo would read them too, hiding a wrong
// order from TestPcapRecordsMatchPcapgo), with their lengths and times.
func TestPcapRecordsByteOrder(t *testing.T) {
	ps := testPackets(t, 2)
	for name, b := range map[string][]byte{
		"little": writePcap(t, ps, false), "big": toBigEndian(writePcap(t, ps, false)),
		"little-nano": writePcap(t, ps, true), "big-nano": toBigEndian(writePcap(t, ps, true)),
	} {
		r := newPcapRecords(b[:24])
		br := bufio.NewReaderSize(bytes.NewReader(b[24:]), readBufSize)
		for i, p := range ps {
			data, ci, ok := r.next(br)
			want := p.ci.Timestamp
			if !strings.HasSuffix(name, "nano") {
				want = want.Truncate(time.Microsecond)
			}
			if !ok || !bytes.Equal(data, p.data) || ci.Length != p.ci.Length || !ci.Timestamp.Equal(want) {
				t.Fatalf("%s: record %d: ok %v, %d of %d bytes at %v, want %d of %d at %v",
					name, i, ok, len(data), ci.Length, ci.Timestamp, len(p.data), p.ci.Length, want)
			}
		}
	}
}
