// Package pcapgen writes capture files (pcap, pcapng, optionally gzip-compressed)
// holding synthetic but well-formed traffic: TCP connections with correct
// sequence numbers, acknowledgements and checksums built from two byte streams,
// UDP datagrams, VLAN tags and tunnel encapsulations (VXLAN, GRE, GENEVE,
// ERSPAN II).
//
// Everything is deterministic: packet times come from a Clock that starts at a
// chosen base time and advances by a fixed step; nothing reads the wall clock
// and nothing is random.
//
// It is a test-data generator: it returns errors for bad input, and it does
// not try to be fast beyond using a buffered writer and reusing its buffers.
package pcapgen

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Format selects the file format.
type Format int

const (
	PCAP   Format = iota // classic libpcap format
	PCAPNG               // pcapng, one section, one or more interfaces
)

// Interface is a pcapng interface (for PCAP only the first is used, and only
// its LinkType).
type Interface struct {
	Name     string
	LinkType layers.LinkType // default LinkTypeEthernet
}

// Options configures a Writer. The zero value writes a classic pcap file,
// microsecond resolution, Ethernet, uncompressed.
type Options struct {
	Format     Format
	Nanosecond bool        // PCAP only: nanosecond time stamps (pcapng always uses ns)
	Gzip       bool        // compress the whole file with gzip
	Snaplen    uint32      // 0 means 262144
	Interfaces []Interface // default: one Ethernet interface
}

// Writer writes packets to a capture file. It is not safe for concurrent use.
type Writer struct {
	opt    Options
	ifaces []Interface
	bw     *bufio.Writer
	gz     *gzip.Writer
	pw     *pcapgo.Writer
	ngw    *pcapgo.NgWriter
	file   io.Closer // set by Create
	sbuf   gopacket.SerializeBuffer
	sbuf2  gopacket.SerializeBuffer
	closed bool

	Packets uint64 // packets written so far
	Bytes   uint64 // frame bytes written so far
}

// ErrClosed is returned when writing to a closed Writer.
var ErrClosed = errors.New("pcapgen: writer closed")

// NewWriter writes the file header to w and returns a Writer. Close flushes
// but does not close w.
func NewWriter(w io.Writer, opt Options) (*Writer, error) {
	ifaces := opt.Interfaces
	if len(ifaces) == 0 {
		ifaces = []Interface{{Name: "eth0", LinkType: layers.LinkTypeEthernet}}
	}
	for i := range ifaces {
		if ifaces[i].LinkType == 0 && ifaces[i].Name == "" {
			ifaces[i].Name = fmt.Sprintf("if%d", i)
		}
	}
	snap := opt.Snaplen
	if snap == 0 {
		snap = 262144
	}
	wr := &Writer{opt: opt, ifaces: ifaces,
		sbuf: gopacket.NewSerializeBuffer(), sbuf2: gopacket.NewSerializeBuffer()}
	var out io.Writer = w
	if opt.Gzip {
		// Fixed header (no name, no mod time) keeps the output byte-stable.
		wr.gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = wr.gz
	}
	wr.bw = bufio.NewWriterSize(out, 1<<20)
	switch opt.Format {
	case PCAP:
		if opt.Nanosecond {
			wr.pw = pcapgo.NewWriterNanos(wr.bw)
		} else {
			wr.pw = pcapgo.NewWriter(wr.bw)
		}
		if err := wr.pw.WriteFileHeader(snap, ifaces[0].LinkType); err != nil {
			return nil, fmt.Errorf("pcapgen: %w", err)
		}
	case PCAPNG:
		sec := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
			Application: "tlsentry pcapgen", OS: "linux", Hardware: "x86_64"}}
		first := pcapgo.NgInterface{Name: ifaces[0].Name, LinkType: ifaces[0].LinkType,
			SnapLength: snap, TimestampResolution: 9}
		ngw, err := pcapgo.NewNgWriterInterface(wr.bw, first, sec)
		if err != nil {
			return nil, fmt.Errorf("pcapgen: %w", err)
		}
		for _, ifc := range ifaces[1:] {
			if _, err := ngw.AddInterface(pcapgo.NgInterface{Name: ifc.Name, LinkType: ifc.LinkType,
				SnapLength: snap, TimestampResolution: 9}); err != nil {
				return nil, fmt.Errorf("pcapgen: %w", err)
			}
		}
		wr.ngw = ngw
	default:
		return nil, fmt.Errorf("pcapgen: unknown format %d", opt.Format)
	}
	return wr, nil
}

// Create creates (truncates) the file at path and returns a Writer on it.
// Close closes the file.
func Create(path string, opt Options) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w, err := NewWriter(f, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.file = f
	return w, nil
}

// LinkType returns the link type of interface i (0 when i is out of range).
func (w *Writer) LinkType(i int) layers.LinkType {
	if i < 0 || i >= len(w.ifaces) {
		return 0
	}
	return w.ifaces[i].LinkType
}

// WritePacket writes one frame, already encoded for interface iface's link
// type, captured at ts. The frame is written in full (no snap length cut).
func (w *Writer) WritePacket(ts time.Time, iface int, frame []byte) error {
	return w.WritePacketTruncated(ts, iface, frame, len(frame))
}

// WritePacketTruncated writes a frame whose original length on the wire was
// origLen (>= len(frame)), as a capture with a snap length would.
func (w *Writer) WritePacketTruncated(ts time.Time, iface int, frame []byte, origLen int) error {
	if w.closed {
		return ErrClosed
	}
	if iface < 0 || iface >= len(w.ifaces) || (w.pw != nil && iface != 0) {
		return fmt.Errorf("pcapgen: no interface %d", iface)
	}
	if origLen < len(frame) {
		origLen = len(frame)
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: origLen, InterfaceIndex: iface}
	var err error
	if w.pw != nil {
		err = w.pw.WritePacket(ci, frame)
	} else {
		err = w.ngw.WritePacket(ci, frame)
	}
	if err != nil {
		return fmt.Errorf("pcapgen: %w", err)
	}
	w.Packets++
	w.Bytes += uint64(len(frame))
	return nil
}

// Close flushes everything and closes the file if the Writer was made by
// Create. It is safe to call twice.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	if w.ngw != nil {
		errs = append(errs, w.ngw.Flush())
	}
	errs = append(errs, w.bw.Flush())
	if w.gz != nil {
		errs = append(errs, w.gz.Close())
	}
	if w.file != nil {
		errs = append(errs, w.file.Close())
	}
	return errors.Join(errs...)
}

// Clock hands out packet times: Base, Base+Step, Base+2*Step, ...
// Share one Clock between connections to interleave them in one capture.
type Clock struct {
	T    time.Time
	Step time.Duration
}

// NewClock returns a clock starting at base, advancing by step per packet
// (a step of 0 means 100µs).
func NewClock(base time.Time, step time.Duration) *Clock {
	if step == 0 {
		step = 100 * time.Microsecond
	}
	return &Clock{T: base, Step: step}
}

// Next returns the current time and advances the clock.
func (c *Clock) Next() time.Time {
	t := c.T
	c.T = c.T.Add(c.Step)
	return t
}

// Advance moves the clock forward by d (an idle gap between packets).
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// DefaultBase is the base time of clocks made without one: 2024-01-01T00:00:00Z.
var DefaultBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
