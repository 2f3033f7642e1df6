package pcapgen

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Dir is the direction of a segment.
type Dir int

const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "c2s"
	}
	return "s2c"
}

// Flags are TCP flags.
type Flags uint8

const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
)

// Segment is one TCP segment before it is framed. Seq and Ack are absolute.
type Segment struct {
	Dir      Dir
	Seq, Ack uint32
	Flags    Flags
	Payload  []byte
	Options  []layers.TCPOption
	// FragmentSize, when > 0, sends the segment as IPv4 fragments each
	// carrying at most FragmentSize bytes of IP payload (rounded down to a
	// multiple of 8). Ignored for IPv6.
	FragmentSize int
	// FragmentOverlap, when > 0 with FragmentSize, sends before the last
	// fragment an extra one of FragmentOverlap bytes (a multiple of 8)
	// overlapping the first fragment's data with different bytes: an
	// IP-layer evasion whose first-arrived bytes are the real ones.
	FragmentOverlap int
	// BadChecksum sends the segment with a wrong TCP checksum (a decoy no
	// receiver accepts, or what checksum offload looks like).
	BadChecksum bool
}

// ConvConfig describes a TCP connection.
type ConvConfig struct {
	Client, Server netip.AddrPort // both IPv4 or both IPv6
	Link           Link
	Clock          *Clock // shared clock; nil means a clock at 2024-01-01T00:00:00Z, 100µs step
	MSS            int    // payload bytes per segment; 0 means 1460 (IPv4) / 1440 (IPv6)
	// ISN are the initial sequence numbers of client and server; zero values
	// are derived from the addresses (deterministic).
	ISN [2]uint32
}

// Conv writes the packets of one TCP connection. It keeps the next sequence
// number of each side so that segments, ACKs and FINs are consistent.
type Conv struct {
	w      *Writer
	Clock  *Clock
	Link   Link
	Client netip.AddrPort
	Server netip.AddrPort
	MSS    int
	// Window is the advertised window of segments other than SYNs (which
	// advertise 64240 and a window scale of 7): 502 means 64256 bytes.
	Window uint16
	// BadChecksum, per direction, sends every segment of that direction
	// with a wrong TCP checksum (as captured on a host with TX checksum
	// offload).
	BadChecksum [2]bool

	next [2]uint32 // next sequence number each side sends
	ipid [2]uint16
	ls   []gopacket.SerializableLayer
}

// NewConv starts a connection on w. No packet is written until a method says so;
// to start mid-connection, send data without calling Handshake.
func (w *Writer) NewConv(cfg ConvConfig) (*Conv, error) {
	if !cfg.Client.IsValid() || !cfg.Server.IsValid() || cfg.Client.Addr().Is4() != cfg.Server.Addr().Is4() {
		return nil, fmt.Errorf("pcapgen: conversation needs two endpoints of one family, got %v and %v", cfg.Client, cfg.Server)
	}
	c := &Conv{w: w, Clock: cfg.Clock, Link: cfg.Link, Client: cfg.Client, Server: cfg.Server, MSS: cfg.MSS, Window: 502}
	if c.Clock == nil {
		c.Clock = NewClock(DefaultBase, 0)
	}
	if c.MSS <= 0 {
		c.MSS = 1460
		if cfg.Client.Addr().Is6() {
			c.MSS = 1440
		}
	}
	h := fnv.New64a()
	h.Write([]byte(cfg.Client.String() + ">" + cfg.Server.String()))
	sum := h.Sum64()
	c.next = cfg.ISN
	if c.next[0] == 0 {
		c.next[0] = uint32(sum)
	}
	if c.next[1] == 0 {
		c.next[1] = uint32(sum >> 32)
	}
	c.ipid = [2]uint16{uint16(sum >> 7), uint16(sum >> 23)}
	return c, nil
}

// Next returns the next sequence number side d will send.
func (c *Conv) Next(d Dir) uint32 { return c.next[d] }

// Skip advances side d's sequence number by n without writing anything: the
// bytes are lost to the capture (a gap).
func (c *Conv) Skip(d Dir, n int) { c.next[d] += uint32(n) }

func synOptions(mss int) []layers.TCPOption {
	var m [2]byte
	binary.BigEndian.PutUint16(m[:], uint16(mss))
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: m[:]},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}
}

// Handshake writes SYN, SYN-ACK and ACK.
func (c *Conv) Handshake() error { return c.HandshakeTFO(nil) }

// HandshakeTFO writes a three-way handshake whose SYN carries data with a TCP
// Fast Open cookie (RFC 7413); the server's SYN-ACK acknowledges the data.
// With empty data it is a plain handshake.
func (c *Conv) HandshakeTFO(data []byte) error {
	opts := synOptions(c.MSS)
	if len(data) > 0 {
		opts = append(opts, layers.TCPOption{OptionType: layers.TCPOptionKind(34), OptionLength: 10,
			OptionData: []byte{0xc0, 0x0c, 0x1e, 0x5e, 0x00, 0x01, 0x02, 0x03}})
	}
	syn := Segment{Dir: ClientToServer, Seq: c.next[0], Flags: SYN, Payload: data, Options: opts}
	c.next[0] += 1 + uint32(len(data))
	synack := Segment{Dir: ServerToClient, Seq: c.next[1], Ack: c.next[0], Flags: SYN | ACK, Options: synOptions(c.MSS)}
	c.next[1]++
	ack := Segment{Dir: ClientToServer, Seq: c.next[0], Ack: c.next[1], Flags: ACK}
	return c.Emit(syn, synack, ack)
}

// Segments cuts data into segments of at most size bytes (0 means MSS) from
// side d's next sequence number, acknowledging everything the peer sent, with
// PSH on the last one. It advances the sequence number but writes nothing:
// pass the result (possibly reordered, duplicated or thinned) to Emit.
func (c *Conv) Segments(d Dir, data []byte, size int) []Segment {
	if size <= 0 {
		size = c.MSS
	}
	segs := make([]Segment, 0, (len(data)+size-1)/size)
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		s := Segment{Dir: d, Seq: c.next[d], Ack: c.next[1-d], Flags: ACK, Payload: data[off:end]}
		if end == len(data) {
			s.Flags |= PSH
		}
		c.next[d] += uint32(end - off)
		segs = append(segs, s)
	}
	return segs
}

// SegmentAt returns (without writing or advancing anything) a segment of
// side d whose sequence number is off bytes from the next one: negative off
// retransmits or overlaps bytes already sent, positive leaves a hole.
func (c *Conv) SegmentAt(d Dir, off int, data []byte) Segment {
	return Segment{Dir: d, Seq: c.next[d] + uint32(off), Ack: c.next[1-d], Flags: ACK | PSH, Payload: data}
}

// Send writes data from side d in MSS-sized segments, then an ACK from the
// peer.
func (c *Conv) Send(d Dir, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if err := c.Emit(c.Segments(d, data, 0)...); err != nil {
		return err
	}
	return c.Ack(1 - d)
}

// Ack writes a pure ACK from side d for everything the peer sent.
func (c *Conv) Ack(d Dir) error {
	return c.Emit(Segment{Dir: d, Seq: c.next[d], Ack: c.next[1-d], Flags: ACK})
}

// Fin writes a FIN from side d.
func (c *Conv) Fin(d Dir) error {
	s := Segment{Dir: d, Seq: c.next[d], Ack: c.next[1-d], Flags: FIN | ACK}
	c.next[d]++
	return c.Emit(s)
}

// Close writes the usual FIN exchange started by side d: FIN, FIN-ACK, ACK.
func (c *Conv) Close(d Dir) error {
	if err := c.Fin(d); err != nil {
		return err
	}
	if err := c.Fin(1 - d); err != nil {
		return err
	}
	return c.Ack(d)
}

// Reset writes a RST from side d.
func (c *Conv) Reset(d Dir) error {
	return c.Emit(Segment{Dir: d, Seq: c.next[d], Ack: c.next[1-d], Flags: RST | ACK})
}

// Emit writes segments in the order given, one packet time each.
func (c *Conv) Emit(segs ...Segment) error {
	for i := range segs {
		if err := c.emit(&segs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conv) emit(s *Segment) error {
	src, dst := c.Client, c.Server
	rev := s.Dir == ServerToClient
	if rev {
		src, dst = dst, src
	}
	ls, err := c.w.prefix(c.ls[:0], &c.Link, rev, src.Addr())
	if err != nil {
		return err
	}
	c.ipid[s.Dir]++
	ip := ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolTCP, c.ipid[s.Dir])
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: s.Seq, Ack: s.Ack, Window: c.Window, Options: s.Options,
		FIN: s.Flags&FIN != 0, SYN: s.Flags&SYN != 0, RST: s.Flags&RST != 0,
		PSH: s.Flags&PSH != 0, ACK: s.Flags&ACK != 0}
	tcp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
	if s.Flags&SYN != 0 {
		tcp.Window = 64240
	}
	if s.Flags&SYN == 0 && s.Flags&ACK == 0 {
		tcp.Ack = 0
	}
	ts := c.Clock.Next()
	ip4, isV4 := ip.(*layers.IPv4)
	if s.FragmentSize <= 0 || !isV4 {
		c.ls = append(ls, ip, tcp, gopacket.Payload(s.Payload))
		frame, err := c.w.serialize(c.ls)
		if err != nil {
			return err
		}
		if s.BadChecksum || c.BadChecksum[s.Dir] {
			spoilTCPChecksum(frame, c.w.LinkType(c.Link.Iface))
		}
		return c.w.WritePacket(ts, c.Link.Iface, frame)
	}
	// Fragmented: serialize the transport segment with its checksum first,
	// then cut the IP payload into fragments.
	if err := gopacket.SerializeLayers(c.w.sbuf2, serOpts, ip, tcp, gopacket.Payload(s.Payload)); err != nil {
		return fmt.Errorf("pcapgen: serialize: %w", err)
	}
	whole := c.w.sbuf2.Bytes()
	l4 := append([]byte(nil), whole[int(whole[0]&0x0f)*4:]...)
	fs := s.FragmentSize &^ 7
	if fs < 8 {
		fs = 8
	}
	for off := 0; off < len(l4); off += fs {
		end := min(off+fs, len(l4))
		if n := s.FragmentOverlap &^ 7; n > 0 && end == len(l4) && off > 0 {
			// the decoy: different bytes over [8, 8+n) of the first fragment
			n = min(n, fs-8)
			frag := *ip4
			frag.Flags = layers.IPv4MoreFragments
			frag.FragOffset = 1
			decoy := make([]byte, n)
			for i := range decoy {
				decoy[i] = l4[8+i] ^ 0xff
			}
			ls, err := c.w.prefix(c.ls[:0], &c.Link, rev, src.Addr())
			if err != nil {
				return err
			}
			c.ls = append(ls, &frag, gopacket.Payload(decoy))
			frame, err := c.w.serialize(c.ls)
			if err != nil {
				return err
			}
			if err := c.w.WritePacket(c.Clock.Next(), c.Link.Iface, frame); err != nil {
				return err
			}
		}
		frag := *ip4
		frag.Flags = 0
		if end < len(l4) {
			frag.Flags = layers.IPv4MoreFragments
		}
		frag.FragOffset = uint16(off / 8)
		ls, err := c.w.prefix(c.ls[:0], &c.Link, rev, src.Addr())
		if err != nil {
			return err
		}
		c.ls = append(ls, &frag, gopacket.Payload(l4[off:end]))
		frame, err := c.w.serialize(c.ls)
		if err != nil {
			return err
		}
		if off > 0 {
			ts = c.Clock.Next()
		}
		if err := c.w.WritePacket(ts, c.Link.Iface, frame); err != nil {
			return err
		}
	}
	return nil
}

// Reorder returns segs with each adjacent pair swapped (1,0,3,2,...).
func Reorder(segs []Segment) []Segment {
	out := append([]Segment(nil), segs...)
	for i := 0; i+1 < len(out); i += 2 {
		out[i], out[i+1] = out[i+1], out[i]
	}
	return out
}

// Duplicate returns segs with segment i sent twice in a row (a retransmission).
func Duplicate(segs []Segment, i int) []Segment {
	if i < 0 || i >= len(segs) {
		return append([]Segment(nil), segs...)
	}
	out := append([]Segment(nil), segs[:i+1]...)
	out = append(out, segs[i])
	return append(out, segs[i+1:]...)
}

// Drop returns segs without segment i (a gap the capture missed).
func Drop(segs []Segment, i int) []Segment {
	if i < 0 || i >= len(segs) {
		return append([]Segment(nil), segs...)
	}
	out := append([]Segment(nil), segs[:i]...)
	return append(out, segs[i+1:]...)
}

// spoilTCPChecksum flips bits of the (innermost) TCP checksum of frame.
// The TCP header is found by decoding: Ethernet frames shorter than 60
// bytes carry padding after the segment.
func spoilTCPChecksum(frame []byte, lt layers.LinkType) {
	pkt := gopacket.NewPacket(frame, lt, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
	if l := pkt.Layer(layers.LayerTypeTCP); l != nil {
		off := cap(frame) - cap(l.LayerContents())
		frame[off+16] ^= 0x5a
	}
}
