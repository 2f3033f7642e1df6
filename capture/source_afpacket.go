//go:build linux

package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// AFPacketOptions configure OpenAFPacketSources. Zero fields take the defaults.
type AFPacketOptions struct {
	Interface   string
	Sockets     int    // sockets in one fanout group, e.g. one per worker (default 1)
	fanoutID    uint16 // fanout group id; 0: derived from the process id
	Snaplen     int    // bytes kept per packet (default 65535), enforced by the kernel filter
	BlockSize   int    // TPACKET_V3 ring block size, a multiple of the page size (default 1 MiB)
	NumBlocks   int    // blocks per socket ring (default 32, so 32 MiB per socket)
	Promiscuous bool
	// Filter is a BPF expression in tcpdump syntax, attached to each socket
	// in the kernel. The kernel strips VLAN tags before its filter runs, so
	// expressions that look at tags ("vlan", "mpls", "pppoes") are not
	// attached; apply them in user space (NewFilter) instead, where the
	// tags are back in the frame.
	Filter string
	// pollTimeout bounds how long ReadPacket waits in the kernel before it
	// looks at Stop (default 100ms).
	pollTimeout time.Duration
	// blockTimeout is how long the kernel holds a partly filled block
	// (default 64ms): the worst added latency at low rates.
	blockTimeout time.Duration
}

// AFPacketSource is one AF_PACKET socket (TPACKET_V3 ring). It is used by
// one goroutine; Stop may be called from any goroutine.
type AFPacketSource struct {
	tp       *afpacket.TPacket
	iface    string
	linkType layers.LinkType
	stopped  atomic.Bool
	mu       sync.Mutex // serialises ReadPacket, Stats and Close
	closed   bool
}

var _ Source = (*AFPacketSource)(nil)

// OpenAFPacketSources opens opts.Sockets AF_PACKET sockets on one interface, in one
// PACKET_FANOUT_HASH group with the defrag flag (the kernel hashes each flow,
// both directions, to one socket, after IPv4 reassembly), each with a
// TPACKET_V3 ring, optional promiscuous mode, and the compiled filter.
// VLAN tags the NIC stripped are put back into the frames.
// It needs CAP_NET_RAW.
func OpenAFPacketSources(opts AFPacketOptions) ([]*AFPacketSource, error) {
	if opts.Interface == "" {
		return nil, errors.New("capture: AF_PACKET: no interface given")
	}
	if opts.Sockets <= 0 {
		opts.Sockets = 1
	}
	if opts.Snaplen <= 0 {
		opts.Snaplen = 65535
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = 1 << 20
	}
	if opts.NumBlocks <= 0 {
		opts.NumBlocks = 32
	}
	if opts.pollTimeout <= 0 {
		opts.pollTimeout = 100 * time.Millisecond
	}
	if opts.blockTimeout <= 0 {
		opts.blockTimeout = 64 * time.Millisecond
	}
	if opts.fanoutID == 0 {
		opts.fanoutID = uint16(os.Getpid())
	}
	if opts.BlockSize%os.Getpagesize() != 0 || opts.BlockSize < afpacket.DefaultFrameSize {
		return nil, fmt.Errorf("capture: AF_PACKET %s: block size %d is not a multiple of the page size %d", opts.Interface, opts.BlockSize, os.Getpagesize())
	}
	if opts.Snaplen > opts.BlockSize-256 {
		return nil, fmt.Errorf("capture: AF_PACKET %s: snap length %d does not fit in a block of %d bytes", opts.Interface, opts.Snaplen, opts.BlockSize)
	}
	lt, sockType, err := interfaceLinkType(opts.Interface)
	if err != nil {
		return nil, err
	}
	expr := opts.Filter
	if filterNeedsTags(expr) {
		expr = ""
	}
	// Without an expression the program only cuts packets to the snap
	// length ("ret #snaplen"), which needs no libpcap.
	prog := []bpf.RawInstruction{{Op: 0x06, K: uint32(opts.Snaplen)}}
	if expr != "" {
		if prog, err = compileBPF(lt, opts.Snaplen, expr); err != nil {
			return nil, err
		}
	}

	var srcs []*AFPacketSource
	closeAll := func() {
		for _, s := range srcs {
			s.Close()
		}
	}
	for i := range opts.Sockets {
		tp, err := afpacket.NewTPacket(
			afpacket.OptInterface(opts.Interface),
			afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
			afpacket.OptSocketType(sockType),
			afpacket.OptFrameSize(afpacket.DefaultFrameSize),
			afpacket.OptBlockSize(opts.BlockSize),
			afpacket.OptNumBlocks(opts.NumBlocks),
			afpacket.OptBlockTimeout(opts.blockTimeout),
			afpacket.OptPollTimeout(opts.pollTimeout),
			afpacket.OptAddVLANHeader(true),
		)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("capture: AF_PACKET %s: socket %d: %v", opts.Interface, i, err)
		}
		s := &AFPacketSource{tp: tp, iface: opts.Interface, linkType: lt}
		srcs = append(srcs, s)
		if err := tp.SetBPF(prog); err != nil {
			closeAll()
			return nil, fmt.Errorf("capture: AF_PACKET %s: attach filter: %v", opts.Interface, err)
		}
		if err := tp.InitSocketStats(); err != nil {
			closeAll()
			return nil, fmt.Errorf("capture: AF_PACKET %s: statistics: %v", opts.Interface, err)
		}
		if opts.Promiscuous {
			if err := tp.SetPromiscuous(true); err != nil {
				closeAll()
				return nil, fmt.Errorf("capture: AF_PACKET %s: promiscuous mode: %v", opts.Interface, err)
			}
		}
		if opts.Sockets > 1 {
			if err := tp.SetFanout(afpacket.FanoutHash|afpacket.FanoutHashWithDefrag, opts.fanoutID); err != nil {
				closeAll()
				return nil, fmt.Errorf("capture: AF_PACKET %s: fanout group %d: %v", opts.Interface, opts.fanoutID, err)
			}
		}
	}
	return srcs, nil
}

// filterNeedsTags reports whether a filter expression looks at VLAN or MPLS
// tags, which the kernel filter cannot see (they are stripped before it).
func filterNeedsTags(expr string) bool {
	for _, f := range strings.FieldsFunc(expr, func(r rune) bool { return !(r >= 'a' && r <= 'z') }) {
		switch f {
		case "vlan", "mpls", "pppoes", "pppoed":
			return true
		}
	}
	return false
}

// interfaceLinkType picks the socket type and link type from the
// interface's ARPHRD type (SIOCGIFHWADDR, in the calling thread's network
// namespace).
func interfaceLinkType(iface string) (layers.LinkType, afpacket.OptSocketType, error) {
	ifr, err := unix.NewIfreq(iface)
	if err != nil {
		return 0, 0, fmt.Errorf("capture: AF_PACKET %s: %v", iface, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("capture: AF_PACKET %s: %v", iface, err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, 0, fmt.Errorf("capture: AF_PACKET %s: no such interface", iface)
		}
		return 0, 0, fmt.Errorf("capture: AF_PACKET %s: %v", iface, err)
	}
	switch ifr.Uint16() { // sa_family of the hardware address: the ARPHRD type
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK: // loopback frames carry an Ethernet header with zero MACs
		return layers.LinkTypeEthernet, afpacket.SocketRaw, nil
	case unix.ARPHRD_NONE, unix.ARPHRD_SIT, unix.ARPHRD_IPGRE, unix.ARPHRD_IP6GRE: // tun, WireGuard, tunnels: IP, no link header
		return layers.LinkTypeRaw, afpacket.SocketRaw, nil
	}
	// Anything else: let the kernel strip the link header, and read IP.
	return layers.LinkTypeRaw, afpacket.SocketDgram, nil
}

// ReadPacket returns the next packet; the data is valid until the next call
// (it points into the ring). It returns io.EOF once Stop was called.
func (s *AFPacketSource) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed || s.stopped.Load() {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		if err == nil {
			return data, ci, nil
		}
		if errors.Is(err, afpacket.ErrTimeout) {
			continue
		}
		if errors.Is(err, afpacket.ErrPoll) {
			// EINTR and friends: retry, but not in a tight loop.
			time.Sleep(time.Millisecond)
			continue
		}
		return nil, ci, fmt.Errorf("capture: AF_PACKET %s: %v", s.iface, err)
	}
}

// LinkType is the interface's link type.
func (s *AFPacketSource) LinkType() layers.LinkType { return s.linkType }

// Stop makes ReadPacket return io.EOF within the poll timeout. It is safe
// to call from any goroutine, and more than once.
func (s *AFPacketSource) Stop() { s.stopped.Store(true) }

// Stats returns the kernel's counters for this socket (TPACKET_V3).
func (s *AFPacketSource) Stats() (LiveStats, error) {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture: AF_PACKET %s: statistics: %v", s.iface, err)
	}
	return LiveStats{Packets: uint64(v3.Packets()), Drops: uint64(v3.Drops()), QueueFreezes: uint64(v3.QueueFreezes())}, nil
}

// Close releases the socket and its ring. Call it when no ReadPacket is
// running and the last packet's data is no longer used (after Stop and the
// reader's io.EOF).
func (s *AFPacketSource) Close() error {
	s.stopped.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.tp.Close()
	}
	return nil
}
