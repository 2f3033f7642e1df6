//go:build cgo

package capture

import (
	"strings"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestFilter(t *testing.T) {
	plain := serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)
	tagged := serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), vlan(100, layers.EthernetTypeIPv4)}, innerTCP()...)...)
	udp := func() []byte {
		ip := ip4("10.9.9.9", "10.0.0.2", layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 53, DstPort: 5353}
		u.SetNetworkLayerForChecksum(ip)
		return serialize(t, eth(layers.EthernetTypeIPv4), ip, u, gopacket.Payload("dns"))
	}()
	raw := serialize(t, innerTCP()...)
	type pkt struct {
		name string
		lt   layers.LinkType
		data []byte
	}
	pkts := []pkt{{"plain", layers.LinkTypeEthernet, plain}, {"tagged", layers.LinkTypeEthernet, tagged},
		{"udp", layers.LinkTypeEthernet, udp}, {"raw", layers.LinkTypeRaw, raw}}
	cases := []struct {
		expr string
		want map[string]bool // packets that match
	}{
		{"tcp port 443", map[string]bool{"plain": true, "raw": true}},
		{"vlan and tcp", map[string]bool{"tagged": true}},
		{"vlan 100 and tcp port 443", map[string]bool{"tagged": true}},
		{"vlan 101", map[string]bool{}},
		{"host 10.0.0.1", map[string]bool{"plain": true, "raw": true}},
		{"host 10.0.0.2", map[string]bool{"plain": true, "udp": true, "raw": true}},
		{"udp", map[string]bool{"udp": true}},
		{"not tcp", map[string]bool{"tagged": true, "udp": true}}, // a tagged frame is not "tcp" without "vlan"
		{"net 10.9.0.0/16", map[string]bool{"udp": true}},
	}
	for _, c := range cases {
		f, err := NewFilter(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		for _, p := range pkts {
			if got := f.Match(p.lt, p.data, gopacket.CaptureInfo{}); got != c.want[p.name] {
				t.Errorf("%q on %s = %v, want %v", c.expr, p.name, got, c.want[p.name])
			}
		}
	}
	// "vlan" does not compile for raw IP: such packets never match, counted.
	f, _ := NewFilter("vlan")
	if f.Match(layers.LinkTypeRaw, raw, gopacket.CaptureInfo{}) || f.unmatchable.Load() != 1 {
		t.Errorf("vlan on raw IP: matched or not counted (%d)", f.unmatchable.Load())
	}
	// A nil filter (empty expression) matches everything.
	nf, err := NewFilter("")
	if err != nil || nf != nil || !nf.Match(layers.LinkTypeEthernet, plain, gopacket.CaptureInfo{}) {
		t.Errorf("empty filter: %v %v", nf, err)
	}
}

// TestFilterConcurrent: one Filter used from several goroutines, each
// bringing new link types (run with -race).
func TestFilterConcurrent(t *testing.T) {
	plain := serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)
	raw := serialize(t, innerTCP()...)
	null := append([]byte{2, 0, 0, 0}, raw...)
	f, err := NewFilter("tcp port 443")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				lt, data := layers.LinkTypeEthernet, plain
				switch (g + i) % 3 {
				case 1:
					lt, data = layers.LinkTypeRaw, raw
				case 2:
					lt, data = layers.LinkTypeNull, null
				}
				if !f.Match(lt, data, gopacket.CaptureInfo{}) {
					t.Errorf("no match on %v", lt)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestFilterErrors(t *testing.T) {
	for _, expr := range []string{"tcp prot 443", "host", "port 99999", "(tcp"} {
		_, err := NewFilter(expr)
		if err == nil {
			t.Errorf("%q compiled", expr)
			continue
		}
		want := `capture: filter "` + expr + `": `
		if !strings.HasPrefix(err.Error(), want) || len(err.Error()) == len(want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %q, want prefix %q and libpcap's message", expr, err, want)
		}
	}
}

func TestFilterAllocs(t *testing.T) {
	plain := serialize(t, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)
	f, err := NewFilter("tcp port 443 and host 10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { f.Match(layers.LinkTypeEthernet, plain, gopacket.CaptureInfo{}) }); n != 0 {
		t.Errorf("%v allocations per Match", n)
	}
}

func BenchmarkFilter(b *testing.B) {
	plain := serialize(b, cat([]gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)
	f, err := NewFilter("tcp port 443 and host 10.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.Match(layers.LinkTypeEthernet, plain, gopacket.CaptureInfo{})
	}
}
