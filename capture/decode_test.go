package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	testMAC1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testMAC2 = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	testTime = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return slices.Clone(buf.Bytes())
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: testMAC1, DstMAC: testMAC2, EthernetType: t}
}

func vlan(id uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: id, Type: next}
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func ip6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

// innerTCP is the inner packet every tunnel case wraps: 10.0.0.1:40000 ->
// 10.0.0.2:443, SYN|ACK, payload "hello".
func innerTCP() []gopacket.SerializableLayer {
	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, SYN: true, ACK: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	return []gopacket.SerializableLayer{ip, tcp, gopacket.Payload("hello")}
}

func innerTCP6() []gopacket.SerializableLayer {
	ip := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, SYN: true, ACK: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	return []gopacket.SerializableLayer{ip, tcp, gopacket.Payload("hello")}
}

func cat(outer []gopacket.SerializableLayer, inner ...gopacket.SerializableLayer) []gopacket.SerializableLayer {
	return append(slices.Clone(outer), inner...)
}

func outerUDP(dport layers.UDPPort) []gopacket.SerializableLayer {
	ip := ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 50000, DstPort: dport}
	udp.SetNetworkLayerForChecksum(ip)
	return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip, udp}
}

func outerGRE(g *layers.GRE) []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolGRE), g}
}

// erspan3Header builds a 12-byte ERSPAN type III header (plus the 8-byte
// platform subheader when sub is set) for frame type ft.
func erspan3Header(vlanID uint16, ft uint16, sub bool) gopacket.Payload {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:2], 2<<12|vlanID)
	binary.BigEndian.PutUint16(h[2:4], 7) // session id
	binary.BigEndian.PutUint32(h[4:8], 0xdeadbeef)
	last := ft << 10
	if sub {
		last |= 1
		h = append(h, 1, 2, 3, 4, 5, 6, 7, 8)
	}
	binary.BigEndian.PutUint16(h[10:12], last)
	return gopacket.Payload(h)
}

func geneveHeader(proto uint16, optWords int) gopacket.Payload {
	h := make([]byte, 8+optWords*4)
	h[0] = byte(optWords)
	binary.BigEndian.PutUint16(h[2:4], proto)
	h[4], h[5], h[6] = 0, 0x12, 0x34 // VNI
	for i := 8; i < len(h); i++ {
		h[i] = 0xaa
	}
	return gopacket.Payload(h)
}

type want struct {
	src, dst         string
	sport, dport     uint16
	proto            uint8
	vlans            []uint16
	tunneled         bool
	payload          string
	hashFromIPOffset int // offset of the innermost IP header in the frame, for the hash check; -1 to skip
}

var want4 = want{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 443, proto: 6, payload: "hello", hashFromIPOffset: -1}
var want6 = want{src: "2001:db8::1", dst: "2001:db8::2", sport: 40000, dport: 443, proto: 6, payload: "hello", hashFromIPOffset: -1}

func with(w want, f func(*want)) want { f(&w); return w }

func sll(proto layers.EthernetType) gopacket.Payload {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:2], 0) // to us
	binary.BigEndian.PutUint16(h[2:4], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:6], 6)
	copy(h[6:], testMAC1)
	binary.BigEndian.PutUint16(h[14:16], uint16(proto))
	return gopacket.Payload(h)
}

func sll2(proto layers.EthernetType) gopacket.Payload {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:2], uint16(proto))
	binary.BigEndian.PutUint32(h[4:8], 3) // ifindex
	binary.BigEndian.PutUint16(h[8:10], 1)
	h[10] = 0
	h[11] = 6
	copy(h[12:], testMAC1)
	return gopacket.Payload(h)
}

func TestDecodeEncapsulations(t *testing.T) {
	ipip := ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolIPv4)
	cases := []struct {
		name   string
		lt     layers.LinkType
		layers []gopacket.SerializableLayer
		want   want
	}{
		{"ethernet", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.hashFromIPOffset = 14 })},
		{"ethernet-ipv6", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6)}, innerTCP6()...), want6},
		{"dot1q", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(100, layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.vlans = []uint16{100}; w.hashFromIPOffset = 18 })},
		{"qinq-88a8", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeQinQ), vlan(200, layers.EthernetTypeDot1Q), vlan(100, layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.vlans = []uint16{200, 100} })},
		{"qinq-9100", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(0x9100), vlan(300, layers.EthernetTypeDot1Q), vlan(4094, layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.vlans = []uint16{300, 4094} })},
		{"five-tags", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(1, layers.EthernetTypeDot1Q), vlan(2, layers.EthernetTypeDot1Q), vlan(3, layers.EthernetTypeDot1Q), vlan(4, layers.EthernetTypeDot1Q), vlan(5, layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.vlans = []uint16{1, 2, 3, 4} })},
		{"sll", layers.LinkTypeLinuxSLL, cat([]gopacket.SerializableLayer{sll(layers.EthernetTypeIPv4)}, innerTCP()...), with(want4, func(w *want) { w.hashFromIPOffset = 16 })},
		{"sll-vlan", layers.LinkTypeLinuxSLL, cat([]gopacket.SerializableLayer{sll(layers.EthernetTypeDot1Q), vlan(42, layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.vlans = []uint16{42} })},
		{"sll2", layers.LinkTypeLinuxSLL2, cat([]gopacket.SerializableLayer{sll2(layers.EthernetTypeIPv6)}, innerTCP6()...), want6},
		{"raw-101", layers.LinkTypeRaw, innerTCP(), with(want4, func(w *want) { w.hashFromIPOffset = 0 })},
		{"raw-101-v6", layers.LinkTypeRaw, innerTCP6(), want6},
		{"raw-12", 12, innerTCP(), want4},
		{"raw-14", 14, innerTCP6(), want6},
		{"ipv4-228", layers.LinkTypeIPv4, innerTCP(), want4},
		{"ipv6-229", layers.LinkTypeIPv6, innerTCP6(), want6},
		{"null-v4", layers.LinkTypeNull, cat([]gopacket.SerializableLayer{gopacket.Payload{2, 0, 0, 0}}, innerTCP()...), want4},
		{"null-v6-darwin", layers.LinkTypeNull, cat([]gopacket.SerializableLayer{gopacket.Payload{30, 0, 0, 0}}, innerTCP6()...), want6},
		{"loop-v4", layers.LinkTypeLoop, cat([]gopacket.SerializableLayer{gopacket.Payload{0, 0, 0, 2}}, innerTCP()...), want4},
		{"ppp-v6", layers.LinkTypePPP, cat([]gopacket.SerializableLayer{gopacket.Payload{0x00, 0x57}}, innerTCP6()...), want6},
		{"ppp-hdlc-v4", layers.LinkTypePPP, cat([]gopacket.SerializableLayer{gopacket.Payload{0xff, 0x03, 0x00, 0x21}}, innerTCP()...), want4},
		{"ipv6-ext-headers", layers.LinkTypeEthernet, func() []gopacket.SerializableLayer {
			ip := ip6("2001:db8::1", "2001:db8::2", 60) // destination options
			tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, SYN: true, ACK: true}
			tcp.SetNetworkLayerForChecksum(ip)
			dst := gopacket.Payload{43, 0, 1, 4, 0, 0, 0, 0}             // dest opts -> routing, PadN
			rt := gopacket.Payload{44, 0, 0, 0, 0, 0, 0, 0}              // routing -> fragment, type 0 segs 0
			frag := gopacket.Payload{6, 0, 0, 0, 0x11, 0x22, 0x33, 0x44} // atomic fragment -> TCP
			return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip, dst, rt, frag, tcp, gopacket.Payload("hello")}
		}(), want6},
		{"gre", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: layers.EthernetTypeIPv4}), innerTCP()...),
			with(want4, func(w *want) { w.tunneled = true; w.hashFromIPOffset = 14 + 20 + 4 })},
		{"gre-key-seq-csum", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: layers.EthernetTypeIPv4, KeyPresent: true, Key: 77, SeqPresent: true, Seq: 5, ChecksumPresent: true}), innerTCP()...),
			with(want4, func(w *want) { w.tunneled = true; w.hashFromIPOffset = 14 + 20 + 16 })},
		{"gre-teb-vlan", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging, KeyPresent: true, Key: 1}), cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(555, layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) { w.tunneled = true; w.vlans = []uint16{555} })},
		{"outer-vlan-gre-inner-vlan", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(10, layers.EthernetTypeIPv4), ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging}, eth(layers.EthernetTypeDot1Q), vlan(20, layers.EthernetTypeIPv4)}, innerTCP()...),
			with(want4, func(w *want) { w.tunneled = true; w.vlans = []uint16{10, 20} })},
		{"gre-over-ipv6", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6("2001:db8:ff::1", "2001:db8:ff::2", layers.IPProtocolGRE), &layers.GRE{Protocol: layers.EthernetTypeIPv6}}, innerTCP6()...),
			with(want6, func(w *want) { w.tunneled = true })},
		{"erspan-I", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: layers.EthernetTypeERSPAN}), cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(7, layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) { w.tunneled = true; w.vlans = []uint16{7} })},
		{"erspan-II", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true, Seq: 9}), cat([]gopacket.SerializableLayer{&layers.ERSPANII{Version: 1, SessionID: 3, Index: 1}, eth(layers.EthernetTypeDot1Q), vlan(8, layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) { w.tunneled = true; w.vlans = []uint16{8} })},
		{"erspan-III", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: ethernetTypeERSPAN3, SeqPresent: true, Seq: 9}), cat([]gopacket.SerializableLayer{erspan3Header(9, 0, false), eth(layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) { w.tunneled = true })},
		{"erspan-III-subheader", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: ethernetTypeERSPAN3, SeqPresent: true, Seq: 9}), cat([]gopacket.SerializableLayer{erspan3Header(9, 0, true), eth(layers.EthernetTypeDot1Q), vlan(9, layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) { w.tunneled = true; w.vlans = []uint16{9} })},
		{"erspan-III-ip-frame", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: ethernetTypeERSPAN3, SeqPresent: true, Seq: 9}), cat([]gopacket.SerializableLayer{erspan3Header(9, 2, false)}, innerTCP6()...)...),
			with(want6, func(w *want) { w.tunneled = true })},
		{"vxlan", layers.LinkTypeEthernet, cat(outerUDP(4789), cat([]gopacket.SerializableLayer{&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, eth(layers.EthernetTypeDot1Q), vlan(33, layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) {
				w.tunneled = true
				w.vlans = []uint16{33}
				w.hashFromIPOffset = 14 + 20 + 8 + 8 + 14 + 4
			})},
		{"geneve-eth-options", layers.LinkTypeEthernet, cat(outerUDP(6081), cat([]gopacket.SerializableLayer{geneveHeader(0x6558, 2), eth(layers.EthernetTypeIPv4)}, innerTCP()...)...),
			with(want4, func(w *want) { w.tunneled = true })},
		{"geneve-ip", layers.LinkTypeEthernet, cat(outerUDP(6081), cat([]gopacket.SerializableLayer{geneveHeader(0x86dd, 0)}, innerTCP6()...)...),
			with(want6, func(w *want) { w.tunneled = true })},
		{"mpls-two-labels", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeMPLSUnicast), gopacket.Payload{0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40}}, innerTCP()...),
			with(want4, func(w *want) { w.hashFromIPOffset = 14 + 8 })},
		{"vlan-mpls-v6", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(12, layers.EthernetTypeMPLSUnicast), gopacket.Payload{0x00, 0x01, 0x01, 0x40}}, innerTCP6()...),
			with(want6, func(w *want) { w.vlans = []uint16{12} })},
		{"ip-in-ip", layers.LinkTypeEthernet, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ipip}, innerTCP()...),
			with(want4, func(w *want) { w.tunneled = true })},
		{"vxlan-in-gre", layers.LinkTypeEthernet, cat(outerGRE(&layers.GRE{Protocol: layers.EthernetTypeIPv4}), cat(outerUDP(4789)[1:], cat([]gopacket.SerializableLayer{&layers.VXLAN{ValidIDFlag: true, VNI: 1}, eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)...),
			with(want4, func(w *want) { w.tunneled = true })},
		{"udp-plain", layers.LinkTypeEthernet, func() []gopacket.SerializableLayer {
			ip := ip4("10.1.1.1", "10.2.2.2", layers.IPProtocolUDP)
			udp := &layers.UDP{SrcPort: 5353, DstPort: 443}
			udp.SetNetworkLayerForChecksum(ip)
			return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("quic")}
		}(), want{src: "10.1.1.1", dst: "10.2.2.2", sport: 5353, dport: 443, proto: 17, payload: "quic", hashFromIPOffset: 14}},
		{"vxlan-port-not-vxlan", layers.LinkTypeEthernet, cat(outerUDP(4789), gopacket.Payload("\x00not vxlan at all")),
			want{src: "192.0.2.1", dst: "192.0.2.2", sport: 50000, dport: 4789, proto: 17, payload: "\x00not vxlan at all", hashFromIPOffset: 14}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frame := serialize(t, c.layers...)
			d := NewDecoder()
			var p Packet
			ci := gopacket.CaptureInfo{Timestamp: testTime, CaptureLength: len(frame), Length: len(frame) + 4}
			if !d.Decode(frame, ci, c.lt, &p) {
				t.Fatalf("Decode = false, stats %+v", d.stats)
			}
			w := c.want
			if p.Src != netip.MustParseAddr(w.src) || p.Dst != netip.MustParseAddr(w.dst) {
				t.Errorf("addresses %v -> %v, want %s -> %s", p.Src, p.Dst, w.src, w.dst)
			}
			if p.SrcPort != w.sport || p.DstPort != w.dport || p.Proto != w.proto {
				t.Errorf("ports/proto %d -> %d /%d, want %d -> %d /%d", p.SrcPort, p.DstPort, p.Proto, w.sport, w.dport, w.proto)
			}
			if got := p.VLANs[:p.NVLANs]; !slices.Equal(got, w.vlans) && !(len(got) == 0 && len(w.vlans) == 0) {
				t.Errorf("VLANs %v, want %v", got, w.vlans)
			}
			if string(p.Payload) != w.payload {
				t.Errorf("payload %q, want %q", p.Payload, w.payload)
			}
			if w.proto == 6 && (p.Seq != 1000 || p.Ack != 2000 || p.Flags != FlagSYN|FlagACK) {
				t.Errorf("seq %d ack %d flags %#x", p.Seq, p.Ack, p.Flags)
			}
			if !p.Timestamp.Equal(testTime) || p.WireLen != len(frame)+4 {
				t.Errorf("timestamp %v wirelen %d", p.Timestamp, p.WireLen)
			}
			if p.Truncated {
				t.Errorf("Truncated set on a whole packet")
			}
			if got := d.stats.Tunneled == 1; got != w.tunneled {
				t.Errorf("Tunneled = %d, want tunneled %v", d.stats.Tunneled, w.tunneled)
			}
			if d.stats.Packets != 1 || d.stats.Decoded != 1 {
				t.Errorf("stats %+v", d.stats)
			}
			if h := p.firstHash(); w.hashFromIPOffset >= 0 && h != hash64(ipDatagram(frame[w.hashFromIPOffset:])) {
				t.Errorf("hash %#x, want hash of the bytes from offset %d", h, w.hashFromIPOffset)
			}
			if w.vlans != nil && len(w.vlans) == maxVLANs && d.stats.VLANOverflow != 1 {
				t.Errorf("VLANOverflow = %d", d.stats.VLANOverflow)
			}
			// Every strict prefix of the frame must be rejected, or decode
			// to the same packet with a shorter, truncated payload.
			for n := range len(frame) {
				var q Packet
				if !d.Decode(frame[:n], ci, c.lt, &q) {
					continue
				}
				if q.Src != p.Src || q.DstPort != p.DstPort || len(q.Payload) > len(p.Payload) ||
					(len(q.Payload) < len(p.Payload) && !q.Truncated) {
					t.Fatalf("prefix %d decoded to %v:%d payload %q truncated %v", n, q.Src, q.DstPort, q.Payload, q.Truncated)
				}
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	icmp := serialize(t, eth(layers.EthernetTypeIPv4), ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		SourceHwAddress: testMAC1, SourceProtAddress: []byte{1, 2, 3, 4}, DstHwAddress: testMAC2, DstProtAddress: []byte{1, 2, 3, 5}})
	plain := serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)
	badVersion := slices.Clone(plain)
	badVersion[14] = 0x55
	badIHL := slices.Clone(plain)
	badIHL[14] = 0x44
	badTCPOff := slices.Clone(plain)
	badTCPOff[14+20+12] = 0x40
	v6frag := serialize(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", 44), gopacket.Payload{6, 0, 0, 1, 0, 0, 0, 1}, gopacket.Payload("tcp bytes......."))
	// A Fragment header after a Destination Options header is not reassembled.
	v6fragLate := serialize(t, eth(layers.EthernetTypeIPv6), ip6("2001:db8::1", "2001:db8::2", 60), gopacket.Payload{44, 0, 1, 4, 0, 0, 0, 0}, gopacket.Payload{6, 0, 0, 1, 0, 0, 0, 1}, gopacket.Payload("tcp bytes......."))
	deep := cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)})
	for range maxTunnelDepth + 1 {
		deep = append(deep, ip4("192.0.2.1", "192.0.2.2", layers.IPProtocolIPv4))
	}
	tooDeep := serialize(t, cat(deep, innerTCP()...)...)
	cases := []struct {
		name  string
		lt    layers.LinkType
		frame []byte
		stat  func(*decodeStats) uint64
	}{
		{"icmp", layers.LinkTypeEthernet, icmp, func(s *decodeStats) uint64 { return s.NonTCPUDP }},
		{"arp", layers.LinkTypeEthernet, arp, func(s *decodeStats) uint64 { return s.NonIP }},
		{"short-ethernet", layers.LinkTypeEthernet, plain[:10], func(s *decodeStats) uint64 { return s.Truncated }},
		{"short-ip", layers.LinkTypeEthernet, plain[:14+12], func(s *decodeStats) uint64 { return s.Truncated }},
		{"short-tcp", layers.LinkTypeEthernet, plain[:14+20+10], func(s *decodeStats) uint64 { return s.Truncated }},
		{"bad-ip-version", layers.LinkTypeEthernet, badVersion, func(s *decodeStats) uint64 { return s.Malformed }},
		{"bad-ihl", layers.LinkTypeEthernet, badIHL, func(s *decodeStats) uint64 { return s.Malformed }},
		{"bad-tcp-offset", layers.LinkTypeEthernet, badTCPOff, func(s *decodeStats) uint64 { return s.Malformed }},
		{"unsupported-link", layers.LinkTypeIEEE802_11, plain, func(s *decodeStats) uint64 { return s.UnsupportedLinkType }},
		{"ipv6-fragment", layers.LinkTypeEthernet, v6frag, func(s *decodeStats) uint64 { return s.FragmentsPending }},
		{"ipv6-fragment-after-ext", layers.LinkTypeEthernet, v6fragLate, func(s *decodeStats) uint64 { return s.FragmentsDropped }},
		{"too-deep", layers.LinkTypeEthernet, tooDeep, func(s *decodeStats) uint64 { return s.TooDeep }},
		{"raw-not-ip", layers.LinkTypeRaw, []byte{0x12, 0, 0}, func(s *decodeStats) uint64 { return s.Malformed }},
		{"empty", layers.LinkTypeEthernet, nil, func(s *decodeStats) uint64 { return s.Truncated }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder()
			var p Packet
			if d.Decode(c.frame, gopacket.CaptureInfo{Timestamp: testTime}, c.lt, &p) {
				t.Fatalf("Decode = true for %s: %+v", c.name, p)
			}
			if c.stat(&d.stats) != 1 || d.stats.Packets != 1 || d.stats.Decoded != 0 {
				t.Errorf("stats %+v", d.stats)
			}
		})
	}
}

// ipDatagram trims b to the IP datagram at its start (dropping link padding).
func ipDatagram(b []byte) []byte {
	if b[0]>>4 == 4 {
		return b[:binary.BigEndian.Uint16(b[2:4])]
	}
	return b[:40+int(binary.BigEndian.Uint16(b[4:6]))]
}

func TestDecodeSnaplenTruncated(t *testing.T) {
	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 1, DstPort: 443}
	tcp.SetNetworkLayerForChecksum(ip)
	frame := serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload("hello, a payload long enough"))
	cut := frame[:len(frame)-len(", a payload long enough")]
	d := NewDecoder()
	var p Packet
	if !d.Decode(cut, gopacket.CaptureInfo{CaptureLength: len(cut), Length: len(frame)}, layers.LinkTypeEthernet, &p) {
		t.Fatalf("Decode = false: %+v", d.stats)
	}
	if !p.Truncated || string(p.Payload) != "hello" || d.stats.PayloadTruncated != 1 {
		t.Errorf("Truncated %v payload %q stats %+v", p.Truncated, p.Payload, d.stats)
	}
	// Ethernet padding after a short IP packet is not payload.
	padded := append(slices.Clone(frame), 0, 0, 0, 0, 0, 0)
	if !d.Decode(padded, gopacket.CaptureInfo{}, layers.LinkTypeEthernet, &p) || string(p.Payload) != "hello, a payload long enough" || p.Truncated {
		t.Errorf("padded: payload %q truncated %v", p.Payload, p.Truncated)
	}
}

func TestDecodeAllocs(t *testing.T) {
	frames := map[string][]byte{
		"eth-ipv4-tcp":  serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...),
		"vlan-ipv6-tcp": serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(5, layers.EthernetTypeIPv6)}, innerTCP6()...)...),
		"vxlan":         serialize(t, cat(outerUDP(4789), cat([]gopacket.SerializableLayer{&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)...),
	}
	for name, frame := range frames {
		for _, checksums := range []bool{false, true} {
			d := NewDecoder()
			d.checksums = checksums
			var p Packet
			ci := gopacket.CaptureInfo{Timestamp: testTime, CaptureLength: len(frame), Length: len(frame)}
			n := testing.AllocsPerRun(1000, func() {
				if !d.Decode(frame, ci, layers.LinkTypeEthernet, &p) {
					t.Fatal("decode failed")
				}
			})
			if n != 0 {
				t.Errorf("%s (checksums %v): %v allocations per Decode, want 0", name, checksums, n)
			}
			if checksums && p.Checksum != csGood {
				t.Errorf("%s: checksum %d, want good", name, p.Checksum)
			}
		}
	}
}

func TestHash64(t *testing.T) {
	// xxHash64 reference values (seed 0), from the xxHash specification's
	// test vectors as computed by github.com/cespare/xxhash.
	vectors := []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"as", 0x1c330fb2d66be179},
		{"asd", 0x631c37ce72a97393},
		{"asdf", 0x415872f599cea71e},
		{"Call me Ishmael. Some years ago--never mind how long precisely-", 0x02a2e85470d6fd96},
	}
	for _, v := range vectors {
		if got := hash64([]byte(v.in)); got != v.want {
			t.Errorf("hash64(%q) = %#x, want %#x", v.in, got, v.want)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	frames := []struct {
		name  string
		frame []byte
	}{
		{"eth-ipv4-tcp", serialize(b, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)},
		{"eth-ipv4-tcp-1400", serialize(b, append(cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()[:2]...), gopacket.Payload(make([]byte, 1400)))...)},
		{"vxlan-vlan-tcp", serialize(b, cat(outerUDP(4789), cat([]gopacket.SerializableLayer{&layers.VXLAN{ValidIDFlag: true, VNI: 5001}, eth(layers.EthernetTypeDot1Q), vlan(33, layers.EthernetTypeIPv4)}, innerTCP()...)...)...)},
	}
	for _, f := range frames {
		b.Run(f.name, func(b *testing.B) {
			d := NewDecoder()
			var p Packet
			ci := gopacket.CaptureInfo{Timestamp: testTime, CaptureLength: len(f.frame), Length: len(f.frame)}
			b.ReportAllocs()
			b.SetBytes(int64(len(f.frame)))
			for b.Loop() {
				d.Decode(f.frame, ci, layers.LinkTypeEthernet, &p)
			}
		})
	}
}
