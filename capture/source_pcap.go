//go:build cgo

package capture

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// PcapSource reads a live interface through libpcap: the fallback where
// AF_PACKET is missing (other systems, or the "any" pseudo-interface). It is
// used by one goroutine; Stop may be called from any goroutine.
type PcapSource struct {
	h       *pcap.Handle
	iface   string
	stopped atomic.Bool
	mu      sync.Mutex
	closed  bool
}

var _ Source = (*PcapSource)(nil)

// pcapPollTimeout is how long a read waits in libpcap before ReadPacket
// looks at Stop.
const pcapPollTimeout = 100 * time.Millisecond

// OpenPcapLiveSource opens iface with libpcap (immediate mode, a 16 MiB buffer),
// with the given snap length (0: 65535), promiscuous mode and BPF filter
// ("" for none), which libpcap compiles for the live handle (so "vlan" works
// as in tcpdump).
func OpenPcapLiveSource(iface string, snaplen int, promisc bool, filter string) (*PcapSource, error) {
	if snaplen <= 0 {
		snaplen = 65535
	}
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("capture: libpcap %s: %v", iface, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(snaplen) },
		func() error { return in.SetPromisc(promisc) },
		func() error { return in.SetTimeout(pcapPollTimeout) },
		func() error { return in.SetImmediateMode(true) },
		func() error { return in.SetBufferSize(16 << 20) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("capture: libpcap %s: %v", iface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, fmt.Errorf("capture: libpcap %s: %v", iface, err)
	}
	if filter != "" {
		if err := h.SetBPFFilter(filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("capture: filter %q: %v", filter, err)
		}
	}
	return &PcapSource{h: h, iface: iface}, nil
}

// ReadPacket returns the next packet; the data is valid until the next call.
// It returns io.EOF once Stop was called.
func (s *PcapSource) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed || s.stopped.Load() {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		data, ci, err := s.h.ZeroCopyReadPacketData()
		if err == nil {
			return data, ci, nil
		}
		if errors.Is(err, pcap.NextErrorTimeoutExpired) {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, pcap.NextErrorNoMorePackets) {
			return nil, ci, io.EOF
		}
		return nil, ci, fmt.Errorf("capture: libpcap %s: %v", s.iface, err)
	}
}

// LinkType is the handle's link type.
func (s *PcapSource) LinkType() layers.LinkType { return s.h.LinkType() }

// Stop makes ReadPacket return io.EOF within the poll timeout. It is safe
// to call from any goroutine, and more than once.
func (s *PcapSource) Stop() { s.stopped.Store(true) }

// Stats returns libpcap's counters (pcap_stats).
func (s *PcapSource) Stats() (LiveStats, error) {
	st, err := s.h.Stats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture: libpcap %s: statistics: %v", s.iface, err)
	}
	return LiveStats{Packets: uint64(st.PacketsReceived), Drops: uint64(st.PacketsDropped) + uint64(st.PacketsIfDropped)}, nil
}

// Close releases the handle. Call it when no ReadPacket is running and the
// last packet's data is no longer used.
func (s *PcapSource) Close() error {
	s.stopped.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.h.Close()
	}
	return nil
}
