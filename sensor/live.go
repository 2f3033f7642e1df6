package sensor

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/tlsentry/tlsentry/capture"
)

// LiveSource is a live capture socket: AF_PACKET or libpcap.
type LiveSource interface {
	capture.Source
	Stop()
	Stats() (capture.LiveStats, error)
}

// LiveOptions are the live capture's settings.
type LiveOptions struct {
	Interface   string
	Source      string // "auto" or "" (AF_PACKET, libpcap if that fails), "afpacket", "pcap"
	Sockets     int    // AF_PACKET sockets in the fanout group, one per worker
	Snaplen     int    // 0: the source's default
	RingSizeMB  int    // AF_PACKET ring per socket; 0: 32
	Promiscuous bool
	Filter      string // BPF, tcpdump syntax; attached in the kernel when possible
	// Warn, when set, hears of the fall back from AF_PACKET to libpcap.
	Warn func(msg string, args ...any)
}

// Live is an open live capture.
type Live struct {
	Sources []LiveSource
	Kind    string // "afpacket" or "pcap"
	// FilterInPipeline says that the kernel could not take the filter:
	// the pipeline (capture.Config.Filter) must apply it.
	FilterInPipeline bool
}

// CaptureSources returns the sources as capture.Sources, for Run.
func (l *Live) CaptureSources() []capture.Source {
	out := make([]capture.Source, len(l.Sources))
	for i, s := range l.Sources {
		out[i] = s
	}
	return out
}

// Close closes every source.
func (l *Live) Close() {
	for _, s := range l.Sources {
		s.Close()
	}
}

// OpenLive opens the live sources: AF_PACKET (o.Sockets sockets in a
// fanout group) or one libpcap handle, as o.Source says. A permission
// error says how to grant the capture privilege.
func OpenLive(o LiveOptions) (*Live, error) {
	if o.Source != "pcap" {
		srcs, inKernel, err := openAFPacket(o)
		if err == nil {
			return &Live{Sources: srcs, Kind: "afpacket", FilterInPipeline: !inKernel}, nil
		}
		if o.Source == "afpacket" {
			return nil, liveOpenError(err)
		}
		if o.Warn != nil {
			o.Warn("AF_PACKET unavailable, falling back to libpcap", "err", err)
		}
		s, perr := openPcap(o)
		if perr != nil {
			return nil, liveOpenError(errors.Join(err, perr))
		}
		return &Live{Sources: []LiveSource{s}, Kind: "pcap"}, nil
	}
	s, err := openPcap(o)
	if err != nil {
		return nil, liveOpenError(err)
	}
	return &Live{Sources: []LiveSource{s}, Kind: "pcap"}, nil
}

func liveOpenError(err error) error {
	if errors.Is(err, syscall.EPERM) || strings.Contains(err.Error(), "operation not permitted") ||
		strings.Contains(err.Error(), "permission") {
		return fmt.Errorf("%v (capturing needs root or CAP_NET_RAW: setcap cap_net_raw+ep tlsentry, see deploy/README.md)", err)
	}
	return err
}

// ringGeometry turns a ring size in MiB (per socket) into TPACKET_V3 blocks:
// 1 MiB blocks, or 128 KiB ones for rings under 8 MiB (a 64 KiB snap
// length still fits in a block).
func ringGeometry(mb int) (blockSize, numBlocks int) {
	if mb <= 0 {
		mb = 32
	}
	blockSize = 1 << 20
	if mb < 8 {
		blockSize = 128 << 10
	}
	return blockSize, (mb << 20) / blockSize
}
