package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Magic numbers of the capture formats OpenFile recognises.
const (
	magicPcapMicroLE = 0xa1b2c3d4 // read little-endian
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoLE  = 0xa1b23c4d
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapNG      = 0x0a0d0d0a // section header block type, same in both byte orders
)

// errNotCapture is wrapped by OpenFile's error when the file is neither pcap
// nor pcapng (plain or gzip-compressed).
var errNotCapture = errors.New("not a pcap or pcapng file")

// FileSource reads a pcap or pcapng file, plain or gzip-compressed (detected
// by magic bytes, not by name). It is not safe for concurrent use.
type FileSource struct {
	name string
	f    *os.File
	size int64

	raw  *countingReader // bytes read from the file (compressed bytes for gzip)
	gz   *gzip.Reader    // nil for a plain file
	dec  *countingReader // bytes of the (decompressed) capture stream
	br   *bufio.Reader   // buffers dec; the pcapgo readers use it directly
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader

	rec pcapRecords // classic pcap: records read in place from br

	format   string // "pcap", "pcapng", "gzip+pcap" or "gzip+pcapng"
	linkType layers.LinkType
	packets  uint64
	err      error // sticky error after the first failure
}

var _ Source = (*FileSource)(nil)

// readBufSize is the bufio size in front of the pcapgo readers; it is also at
// least bufio's default, so pcapgo reuses our *bufio.Reader instead of
// wrapping it in another one (which keeps Offset exact).
const readBufSize = 256 << 10

// OpenFile opens a pcap (micro- or nanosecond timestamps, either byte order)
// or pcapng file, either of them optionally gzip-compressed. Errors name the
// file and the problem on one line. Besides the Source methods, a FileSource
// reports progress (Size, Offset).
func OpenFile(path string) (*FileSource, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %s: %w", name, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("capture: %s: is a directory", name)
	}
	s, err := newFileSource(name, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

// newFileSource reads the headers from r. size is the total size of r in
// bytes, or -1 when unknown.
func newFileSource(name string, r io.Reader, size int64) (*FileSource, error) {
	s := &FileSource{name: name, size: size}
	s.raw = &countingReader{r: r}
	rawBuf := bufio.NewReaderSize(s.raw, 64<<10)
	var stream io.Reader = rawBuf

	head, err := rawBuf.Peek(4)
	if len(head) == 0 && (err == io.EOF || err == nil) {
		return nil, fmt.Errorf("capture: %s: empty file", name)
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(rawBuf)
		if err != nil {
			return nil, s.wrapHeaderErr("gzip", err)
		}
		gz.Multistream(true)
		s.gz = gz
		stream = gz
		s.format = "gzip+"
	} else if err != nil && err != io.EOF {
		return nil, fmt.Errorf("capture: %s: %w", name, err)
	}

	s.dec = &countingReader{r: stream}
	s.br = bufio.NewReaderSize(s.dec, readBufSize)
	head, err = s.br.Peek(4)
	if len(head) < 4 {
		if len(head) == 0 && err == io.EOF {
			if s.gz != nil {
				return nil, fmt.Errorf("capture: %s: empty file (gzip stream holds no data)", name)
			}
			return nil, fmt.Errorf("capture: %s: empty file", name)
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("capture: %s: truncated file header: %w", name, err)
	}
	magicLE := binary.LittleEndian.Uint32(head)
	switch magicLE {
	case magicPcapMicroLE, magicPcapMicroBE, magicPcapNanoLE, magicPcapNanoBE:
		if h, err := s.br.Peek(24); err == nil {
			s.rec = newPcapRecords(h)
		}
		r, err := pcapgo.NewReader(s.br)
		if err != nil {
			return nil, s.wrapHeaderErr("pcap", err)
		}
		s.pcap = r
		s.linkType = r.LinkType()
		s.format += "pcap"
	case magicPcapNG:
		r, err := pcapgo.NewNgReader(s.br, pcapgo.NgReaderOptions{
			WantMixedLinkType:  true,
			SkipUnknownVersion: true,
		})
		if err != nil {
			return nil, s.wrapHeaderErr("pcapng", err)
		}
		s.ng = r
		s.linkType = r.LinkType()
		s.format += "pcapng"
	default:
		return nil, fmt.Errorf("capture: %s: %w (magic 0x%08x)", name, errNotCapture, binary.BigEndian.Uint32(head))
	}
	return s, nil
}

func (s *FileSource) wrapHeaderErr(format string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("capture: %s: truncated %s file header: %w", s.name, format, err)
	}
	return fmt.Errorf("capture: %s: bad %s file header: %w", s.name, format, err)
}

// pos is the offset in the (decompressed) capture stream up to which the
// readers have consumed bytes.
func (s *FileSource) pos() int64 { return s.dec.n - int64(s.br.Buffered()) }

// ReadPacket returns the next packet. The data is valid until the next call.
// It returns io.EOF at the end of the file. A file cut short yields every
// whole packet and then an error wrapping io.ErrUnexpectedEOF. After an error
// every later call returns the same error.
func (s *FileSource) ReadPacket() (data []byte, ci gopacket.CaptureInfo, err error) {
	if s.err != nil {
		return nil, ci, s.err
	}
	if s.rec.on {
		if data, ci, ok := s.rec.next(s.br); ok {
			s.packets++
			return data, ci, nil
		}
	}
	start := s.pos()
	if s.pcap != nil {
		data, ci, err = s.pcap.ZeroCopyReadPacketData()
	} else {
		data, ci, err = s.ng.ZeroCopyReadPacketData()
		if err == nil && len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				s.linkType = lt
			}
		}
	}
	if err == nil {
		s.packets++
		return data, ci, nil
	}
	s.err = s.recordErr(start, err)
	return nil, ci, s.err
}

func (s *FileSource) recordErr(start int64, err error) error {
	if err == io.EOF {
		// A clean end, unless the gzip stream ended early (gzip reports
		// ErrUnexpectedEOF then, handled below).
		return io.EOF
	}
	where := "packet record"
	if s.ng != nil {
		where = "pcapng block"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("capture: %s: truncated %s at offset %d (after %d packets): %w",
			s.name, where, start, s.packets, io.ErrUnexpectedEOF)
	}
	if s.gz != nil && (errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader)) {
		return fmt.Errorf("capture: %s: corrupt gzip stream near offset %d (after %d packets): %w",
			s.name, start, s.packets, err)
	}
	return fmt.Errorf("capture: %s: bad %s at offset %d (after %d packets): %w",
		s.name, where, start, s.packets, err)
}

// LinkType of the packet last read (pcapng files may mix interfaces with
// different link types); before the first packet, the first interface's.
func (s *FileSource) LinkType() layers.LinkType { return s.linkType }

// Size is the size of the file in bytes (compressed size for gzip), or -1.
func (s *FileSource) Size() int64 { return s.size }

// Offset is how many bytes of the file have been read so far (compressed
// bytes for gzip). With Size it gives progress; it runs ahead of the packet
// last returned by at most the read buffers (a few hundred KiB).
func (s *FileSource) Offset() int64 { return s.raw.n }

// Close closes the file.
func (s *FileSource) Close() error {
	if s.gz != nil {
		s.gz.Close()
	}
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// pcapRecords reads classic pcap records in place: the header and data
// are peeked in the bufio buffer and returned from it, not copied into
// pcapgo's packet buffer. It takes only records pcapgo would return as
// they are (whole, within the snap length and the wire length, shorter
// than the buffer); for anything else (the end, an error, a huge record)
// next declines without consuming, and pcapgo reads it, with its errors.
type pcapRecords struct {
	on         bool
	bigEndian  bool   // the file's byte order
	nanoFactor uint32 // 1 (nanosecond timestamps) or 1000
	maxCapture uint32 // pcapgo's bound: max(snaplen, 256 KiB)
}

// pcapEagerMax is pcapgo's eagerReadMax, the least bound it puts on a
// record's capture length whatever the snap length says.
const pcapEagerMax = 262144

// newPcapRecords reads the byte order, timestamp unit and snap length from
// a 24-byte file header; it is off for a header pcapgo would refuse.
func newPcapRecords(h []byte) pcapRecords {
	r := pcapRecords{nanoFactor: 1000}
	switch binary.LittleEndian.Uint32(h) {
	case magicPcapMicroLE:
	case magicPcapNanoLE:
		r.nanoFactor = 1
	case magicPcapMicroBE:
		r.bigEndian = true
	case magicPcapNanoBE:
		r.bigEndian, r.nanoFactor = true, 1
	default:
		return pcapRecords{}
	}
	r.maxCapture = max(r.u32(h[16:20]), pcapEagerMax)
	r.on = true
	return r
}

// u32 reads a header field in the file's byte order (a branch the
// compiler inlines, where a binary.ByteOrder is a call through an
// interface for each of a record's four fields).
func (r *pcapRecords) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// next returns the record at br's position, or ok false (nothing consumed).
func (r *pcapRecords) next(br *bufio.Reader) (data []byte, ci gopacket.CaptureInfo, ok bool) {
	h, err := br.Peek(16)
	if err != nil {
		return nil, ci, false
	}
	capLen, wireLen := r.u32(h[8:12]), r.u32(h[12:16])
	if capLen > r.maxCapture || capLen > wireLen || int(capLen)+16 > br.Size() {
		return nil, ci, false
	}
	rec, err := br.Peek(16 + int(capLen))
	if err != nil {
		return nil, ci, false
	}
	// As pcapgo computes it, the uint32 product included.
	ci.Timestamp = time.Unix(int64(r.u32(rec[0:4])), int64(r.u32(rec[4:8])*r.nanoFactor)).UTC()
	ci.CaptureLength, ci.Length = int(capLen), int(wireLen)
	data = rec[16:]
	br.Discard(16 + int(capLen))
	return data, ci, true
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
