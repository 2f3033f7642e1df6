package pcapgen

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TunnelKind selects an outer encapsulation.
type TunnelKind int

const (
	NoTunnel    TunnelKind = iota
	VXLAN                  // outer IP / UDP 4789 / VXLAN / Ethernet / inner IP
	GRE                    // outer IP / GRE (protocol IPv4 or IPv6) / inner IP
	GREEthernet            // outer IP / GRE (transparent Ethernet bridging 0x6558) / Ethernet / inner IP
	GENEVE                 // outer IP / UDP 6081 / GENEVE / Ethernet / inner IP
	ERSPAN2                // outer IP / GRE (0x88BE, with sequence) / ERSPAN II / Ethernet / inner IP
)

func (k TunnelKind) String() string {
	switch k {
	case NoTunnel:
		return "none"
	case VXLAN:
		return "vxlan"
	case GRE:
		return "gre"
	case GREEthernet:
		return "gre-eth"
	case GENEVE:
		return "geneve"
	case ERSPAN2:
		return "erspan2"
	}
	return fmt.Sprintf("tunnel(%d)", int(k))
}

// Tunnel describes the outer headers mirrored traffic arrives in. The outer
// addresses stay the same in both directions (they are the mirror source and
// the sensor).
type Tunnel struct {
	Kind     TunnelKind
	Src, Dst netip.Addr // outer IP addresses, both IPv4 or both IPv6
	ID       uint32     // VXLAN/GENEVE VNI (24 bits), GRE key (when non-zero), ERSPAN session id (10 bits)
	// VLANs tag the Ethernet header this tunnel carries (VXLAN, GENEVE,
	// GRE-Ethernet, ERSPAN), outermost first.
	VLANs []uint16
	// Inner, when set, is a tunnel nested in this one: this tunnel carries
	// Inner's outer IP packet, which carries the inner packet.
	Inner *Tunnel
	seq   uint32
}

// Link says how IP packets are framed: which interface (of a pcapng file), the
// Ethernet addresses, 802.1Q tags and an optional tunnel. The zero value is
// plain Ethernet on interface 0 with fixed MAC addresses.
type Link struct {
	Iface          int
	SrcMAC, DstMAC net.HardwareAddr // client side and server side; defaults 02:00:00:00:00:01 / :02
	VLANs          []uint16         // outermost first; with two or more the outer ones use 802.1ad (0x88a8)
	Tunnel         *Tunnel
}

var (
	defaultClientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	defaultServerMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	outerSrcMAC      = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x11}
	outerDstMAC      = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x12}
)

func (l *Link) macs(reverse bool) (src, dst net.HardwareAddr) {
	src, dst = l.SrcMAC, l.DstMAC
	if src == nil {
		src = defaultClientMAC
	}
	if dst == nil {
		dst = defaultServerMAC
	}
	if reverse {
		src, dst = dst, src
	}
	return
}

func ethTypeFor(a netip.Addr) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

// ethernetLayers appends Ethernet and 802.1Q headers whose final EtherType is et.
func ethernetLayers(ls []gopacket.SerializableLayer, src, dst net.HardwareAddr, vlans []uint16, et layers.EthernetType) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
	ls = append(ls, eth)
	if len(vlans) == 0 {
		return ls
	}
	eth.EthernetType = layers.EthernetTypeDot1Q
	if len(vlans) > 1 {
		eth.EthernetType = layers.EthernetTypeQinQ
	}
	for i, v := range vlans {
		next := et
		if i+1 < len(vlans) {
			next = layers.EthernetTypeDot1Q
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: v & 0x0fff, Type: next})
	}
	return ls
}

// outerIP returns the outer IP layer of a tunnel.
func outerIP(t *Tunnel, proto layers.IPProtocol) (gopacket.SerializableLayer, error) {
	if !t.Src.IsValid() || !t.Dst.IsValid() || t.Src.Is4() != t.Dst.Is4() {
		return nil, fmt.Errorf("pcapgen: tunnel needs two outer addresses of one family")
	}
	if t.Src.Is4() {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, Flags: layers.IPv4DontFragment,
			SrcIP: t.Src.AsSlice(), DstIP: t.Dst.AsSlice()}, nil
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
		SrcIP: t.Src.AsSlice(), DstIP: t.Dst.AsSlice()}, nil
}

// prefix appends the layers in front of an inner IP packet whose family is
// given by inner, for the link type of the chosen interface.
func (w *Writer) prefix(ls []gopacket.SerializableLayer, l *Link, reverse bool, inner netip.Addr) ([]gopacket.SerializableLayer, error) {
	lt := w.LinkType(l.Iface)
	innerET := ethTypeFor(inner)
	t := l.Tunnel
	// The link layer of the capture itself.
	var firstET layers.EthernetType = innerET
	if t != nil && t.Kind != NoTunnel {
		firstET = ethTypeFor(t.Src)
	}
	src, dst := l.macs(reverse)
	if t != nil && t.Kind != NoTunnel {
		src, dst = outerSrcMAC, outerDstMAC
	}
	switch lt {
	case layers.LinkTypeEthernet:
		ls = ethernetLayers(ls, src, dst, l.VLANs, firstET)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
	case layers.LinkTypeLinuxSLL:
		var h [16]byte
		binary.BigEndian.PutUint16(h[0:], 0) // packet type: to us
		if reverse {
			binary.BigEndian.PutUint16(h[0:], 4) // sent by us
		}
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], src)
		binary.BigEndian.PutUint16(h[14:], uint16(firstET))
		ls = append(ls, gopacket.Payload(h[:]))
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		fam := layers.ProtocolFamilyIPv4
		if firstET == layers.EthernetTypeIPv6 {
			fam = layers.ProtocolFamilyIPv6Linux
		}
		ls = append(ls, &layers.Loopback{Family: fam})
	default:
		return nil, fmt.Errorf("pcapgen: cannot frame for link type %v", lt)
	}
	if t == nil || t.Kind == NoTunnel {
		return ls, nil
	}
	isrc, idst := l.macs(reverse)
	for ; t != nil && t.Kind != NoTunnel; t = t.Inner {
		next := innerET
		if t.Inner != nil && t.Inner.Kind != NoTunnel {
			next = ethTypeFor(t.Inner.Src)
		}
		var err error
		if ls, err = tunnelLayers(ls, t, isrc, idst, next); err != nil {
			return nil, err
		}
	}
	return ls, nil
}

// tunnelLayers appends the headers of tunnel t, whose payload is of
// EtherType next; the Ethernet header a tunnel carries uses the MAC
// addresses isrc and idst.
func tunnelLayers(ls []gopacket.SerializableLayer, t *Tunnel, isrc, idst net.HardwareAddr, next layers.EthernetType) ([]gopacket.SerializableLayer, error) {
	switch t.Kind {
	case VXLAN, GENEVE:
		ip, err := outerIP(t, layers.IPProtocolUDP)
		if err != nil {
			return nil, err
		}
		port := layers.UDPPort(4789)
		if t.Kind == GENEVE {
			port = 6081
		}
		udp := &layers.UDP{SrcPort: 49152 + layers.UDPPort(t.ID&0x3fff), DstPort: port}
		udp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
		ls = append(ls, ip, udp)
		if t.Kind == VXLAN {
			ls = append(ls, &layers.VXLAN{ValidIDFlag: true, VNI: t.ID & 0xffffff})
		} else {
			ls = append(ls, &layers.Geneve{Version: 0, Protocol: layers.EthernetTypeTransparentEthernetBridging, VNI: t.ID & 0xffffff})
		}
		ls = ethernetLayers(ls, isrc, idst, t.VLANs, next)
	case GRE, GREEthernet:
		ip, err := outerIP(t, layers.IPProtocolGRE)
		if err != nil {
			return nil, err
		}
		g := &layers.GRE{Protocol: next}
		if t.ID != 0 {
			g.KeyPresent, g.Key = true, t.ID
		}
		ls = append(ls, ip, g)
		if t.Kind == GREEthernet {
			g.Protocol = layers.EthernetTypeTransparentEthernetBridging
			ls = ethernetLayers(ls, isrc, idst, t.VLANs, next)
		}
	case ERSPAN2:
		ip, err := outerIP(t, layers.IPProtocolGRE)
		if err != nil {
			return nil, err
		}
		t.seq++
		g := &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: t.seq}
		e := &layers.ERSPANII{Version: layers.ERSPANIIVersion, SessionID: uint16(t.ID & 0x3ff)}
		ls = append(ls, ip, g, e)
		ls = ethernetLayers(ls, isrc, idst, t.VLANs, next)
	default:
		return nil, fmt.Errorf("pcapgen: unknown tunnel kind %v", t.Kind)
	}
	return ls, nil
}

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// serialize builds a frame from the layers into the writer's buffer. The
// result is valid until the next call.
func (w *Writer) serialize(ls []gopacket.SerializableLayer) ([]byte, error) {
	if err := gopacket.SerializeLayers(w.sbuf, serOpts, ls...); err != nil {
		return nil, fmt.Errorf("pcapgen: serialize: %w", err)
	}
	return w.sbuf.Bytes(), nil
}

// WriteIP frames a complete IP packet (made by hand or by another tool) for
// link l and writes it; the IP version nibble selects the framing's
// EtherType. reverse swaps the link's MAC addresses (server to client).
func (w *Writer) WriteIP(ts time.Time, l *Link, reverse bool, ipPacket []byte) error {
	if len(ipPacket) == 0 {
		return fmt.Errorf("pcapgen: empty IP packet")
	}
	var fam netip.Addr
	switch ipPacket[0] >> 4 {
	case 4:
		fam = netip.IPv4Unspecified()
	case 6:
		fam = netip.IPv6Unspecified()
	default:
		return fmt.Errorf("pcapgen: not an IP packet")
	}
	ls, err := w.prefix(nil, l, reverse, fam)
	if err != nil {
		return err
	}
	frame, err := w.serialize(append(ls, gopacket.Payload(ipPacket)))
	if err != nil {
		return err
	}
	return w.WritePacket(ts, l.Iface, frame)
}

// WriteUDP writes one UDP datagram from src to dst. reverse says the packet
// travels from the server side of the link (it swaps the MAC addresses).
func (w *Writer) WriteUDP(ts time.Time, l *Link, reverse bool, src, dst netip.AddrPort, payload []byte) error {
	if src.Addr().Is4() != dst.Addr().Is4() {
		return fmt.Errorf("pcapgen: mixed address families %v → %v", src, dst)
	}
	ls, err := w.prefix(nil, l, reverse, src.Addr())
	if err != nil {
		return err
	}
	ip := ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolUDP, 0)
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	udp.SetNetworkLayerForChecksum(ip.(gopacket.NetworkLayer))
	frame, err := w.serialize(append(ls, ip, udp, gopacket.Payload(payload)))
	if err != nil {
		return err
	}
	return w.WritePacket(ts, l.Iface, frame)
}

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol, id uint16) gopacket.SerializableLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, TTL: 64, Id: id, Flags: layers.IPv4DontFragment, Protocol: proto,
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}
