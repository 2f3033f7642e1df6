package capture

import (
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestPeekTCPKey: the reader's peek accepts plain Ethernet/IPv4/IPv6 TCP
// frames and nothing it cannot read as Decode does; for every frame it
// accepts, Decode drops the frame or gives the same flow key. Mutated and
// truncated frames check the agreement beyond the hand-made cases.
func TestPeekTCPKey(t *testing.T) {
	v4 := func(opts ...layers.IPv4Option) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Options: opts,
			SrcIP: net.IP{10, 0, 0, 2}, DstIP: net.IP{192, 0, 2, 1}}
	}
	v6 := func(next layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
			SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::1")}
	}
	tcp := func(ip gopacket.NetworkLayer) *layers.TCP {
		l := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 7, ACK: true, PSH: true, Window: 100}
		l.SetNetworkLayerForChecksum(ip)
		return l
	}
	payload := gopacket.Payload("\x16\x03\x01\x00\x05hello")
	ip4, ip6 := v4(), v6(layers.IPProtocolTCP)
	frag := v4()
	frag.Flags = layers.IPv4MoreFragments
	ip4opt := v4(layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 1}, layers.IPv4Option{OptionType: 0})
	udp4 := v4()
	udp4.Protocol = layers.IPProtocolUDP
	udp := &layers.UDP{SrcPort: 40000, DstPort: 443}
	udp.SetNetworkLayerForChecksum(udp4)
	hop := v6(layers.IPProtocolIPv6HopByHop)
	cases := []struct {
		name string
		lt   layers.LinkType
		data []byte
		want bool
	}{
		{"ipv4 tcp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), ip4, tcp(ip4), payload), true},
		{"ipv6 tcp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv6), ip6, tcp(ip6), payload), true},
		{"vlan", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeDot1Q), vlan(7, layers.EthernetTypeIPv4), ip4, tcp(ip4), payload), false},
		{"ipv4 options", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), ip4opt, tcp(ip4opt), payload), false},
		{"ipv4 fragment", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), frag, tcp(frag), payload), false},
		{"udp", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), udp4, udp, payload), false},
		{"ipv6 hop-by-hop", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv6), hop,
			&layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionData: []byte{0, 0, 0, 0}}}}, tcp(hop), payload), false},
		{"raw ip", layers.LinkTypeRaw, serialize(t, ip4, tcp(ip4), payload), false},
	}
	d := NewDecoder()
	agree := func(name string, lt layers.LinkType, data []byte) bool {
		t.Helper()
		k, ok := peekTCPKey(data, lt)
		var p Packet
		if ok && d.Decode(data, gopacket.CaptureInfo{Timestamp: testTime, Length: len(data), CaptureLength: len(data)}, lt, &p) {
			if want := makeKey(&p, true); k != want {
				t.Errorf("%s: peek key %+v, Decode's %+v", name, k, want)
			}
		}
		return ok
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		if got := agree(c.name, c.lt, c.data); got != c.want {
			t.Errorf("%s: peek %v, want %v", c.name, got, c.want)
		}
		for i := range 3000 {
			m := slices.Clone(c.data)
			switch i % 3 {
			case 0:
				m = m[:r.IntN(len(m)+1)]
			default:
				for range 1 + r.IntN(3) {
					m[r.IntN(min(len(m), 70))] = byte(r.Uint32())
				}
			}
			agree(c.name+" mutated", c.lt, m)
		}
	}
}

// TestPeekAllocs: the peek allocates nothing.
func TestPeekAllocs(t *testing.T) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 2}, DstIP: net.IP{192, 0, 2, 1}}
	l := &layers.TCP{SrcPort: 40000, DstPort: 443}
	l.SetNetworkLayerForChecksum(ip)
	data := serialize(t, eth(layers.EthernetTypeIPv4), ip, l)
	if n := testing.AllocsPerRun(100, func() { peekTCPKey(data, layers.LinkTypeEthernet) }); n != 0 {
		t.Errorf("%v allocations per peek", n)
	}
}
