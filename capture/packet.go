package capture

import (
	"net/netip"
	"time"
)

// Packet is one decoded packet: the innermost IP header and its TCP or UDP
// header, after link layers, VLAN tags and tunnels were peeled off.
// Payload and the addresses alias the decoder's buffers and are valid only
// until the next Decode on the same Decoder.
type Packet struct {
	Timestamp time.Time
	WireLen   int // length on the wire (from the capture header)

	VLANs  [maxVLANs]uint16 // outermost first
	NVLANs int

	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8 // 6 TCP, 17 UDP

	// TCP only.
	Seq, Ack uint32
	Flags    uint8 // TCP flags byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10

	Payload []byte // transport payload
	// Truncated: the capture cut the packet short (snap length), so Payload
	// holds less than the IP/UDP length fields announce.
	Truncated bool
	// Checksum is the TCP or UDP checksum's validation: csUnchecked (not
	// validated), csGood or csBad (checksum.go).
	Checksum uint8
	// FragOverlapOffset and FragOverlapLength: the packet is a reassembled
	// datagram whose fragments overlapped with different bytes there
	// (offset in the payload; length 0: no such overlap).
	FragOverlapOffset, FragOverlapLength uint16

	// head is the packet's first hashedBytes from the (innermost) IP
	// header on, aliasing like Payload, until firstHash hashes it into
	// hash: only a flow's first packet needs its hash.
	head []byte
	hash uint64
}

// firstHash is a hash of the packet's first hashedBytes from the
// (innermost) IP header on, computed on first use (before the next
// Decode); a flow's first packet's goes into session.Session.FirstPacket.
func (p *Packet) firstHash() uint64 {
	if p.head != nil {
		p.hash, p.head = hash64(p.head), nil
	}
	return p.hash
}

const maxVLANs = 4

// TCP flag bits of Packet.Flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)
