package capture

import (
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Source delivers packets. A file, a live AF_PACKET socket and libpcap all
// implement it; the rest of capture does not care which.
type Source interface {
	// ReadPacket returns the next packet. The data is valid until the next
	// call. It returns io.EOF at the end of a file.
	ReadPacket() (data []byte, ci gopacket.CaptureInfo, err error)
	// LinkType of the packet at hand (pcapng files may mix interfaces).
	LinkType() layers.LinkType
	Close() error
}

// LiveStats are the counters of a live source, cumulative since it opened.
type LiveStats struct {
	Packets uint64 // packets the kernel (or libpcap) saw for this socket, dropped ones included
	Drops   uint64 // packets dropped because the ring or buffer was full
	// QueueFreezes counts TPACKET_V3 ring freezes (AF_PACKET only).
	QueueFreezes uint64
}
