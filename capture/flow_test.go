package capture

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
)

// TestMakeKey: both directions of a connection give one key, whose end a
// is the lower by netip.Addr.Compare, then by port; the key keeps the
// family, the protocol and, only when asked, the innermost VLAN.
func TestMakeKey(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string // address:port
		vlans    []uint16
	}{
		{"v4", "10.0.0.1:40000", "192.0.2.10:443", nil},
		{"v4 lower last byte", "10.0.0.2:1", "10.0.0.1:2", nil},
		{"v4 same address, ports", "10.0.0.1:443", "10.0.0.1:80", nil},
		{"v4 same ends", "10.0.0.1:443", "10.0.0.1:443", nil},
		{"v4 high first byte", "255.0.0.1:1", "1.255.255.255:1", nil},
		{"v6 differ in the low word", "[2001:db8::2]:1", "[2001:db8::1]:2", nil},
		{"v6 differ in the high word", "[2001:db9::1]:1", "[2001:db8::ffff]:2", nil},
		{"v6 top bit", "[8000::1]:1", "[7fff::1]:1", nil},
		{"vlans", "10.0.0.1:40000", "192.0.2.10:443", []uint16{100, 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			fwd := Packet{Proto: 6, Src: src.Addr(), Dst: dst.Addr(), SrcPort: src.Port(), DstPort: dst.Port()}
			fwd.NVLANs = copy(fwd.VLANs[:], tc.vlans)
			rev := fwd
			rev.Src, rev.Dst, rev.SrcPort, rev.DstPort = fwd.Dst, fwd.Src, fwd.DstPort, fwd.SrcPort
			lo, hi := src, dst
			if c := src.Addr().Compare(dst.Addr()); c > 0 || c == 0 && src.Port() > dst.Port() {
				lo, hi = dst, src
			}
			for _, vlan := range []bool{false, true} {
				k := makeKey(&fwd, vlan)
				if r := makeKey(&rev, vlan); r != k {
					t.Errorf("vlan %v: directions differ: %+v, %+v", vlan, k, r)
				}
				if got := netip.AddrPortFrom(k.addr(k.a), k.pa); got != lo {
					t.Errorf("vlan %v: end a %v, want %v", vlan, got, lo)
				}
				if got := netip.AddrPortFrom(k.addr(k.b), k.pb); got != hi {
					t.Errorf("vlan %v: end b %v, want %v", vlan, got, hi)
				}
				if k.v4 != src.Addr().Is4() || k.proto != 6 {
					t.Errorf("vlan %v: v4 %v, proto %d", vlan, k.v4, k.proto)
				}
				want := uint16(0)
				if vlan && len(tc.vlans) > 0 {
					want = tc.vlans[len(tc.vlans)-1]
				}
				if k.vlan != want {
					t.Errorf("vlan %v: key VLAN %d, want %d", vlan, k.vlan, want)
				}
			}
		})
	}
}

// TestFlowTableRecent: flowTable.get finds the flow of a key whatever
// flowTable.recent holds: two keys in one place of it, flows removed, and
// flow structs reused for another key.
func TestFlowTableRecent(t *testing.T) {
	key := func(port uint16) flowKey {
		p := Packet{Proto: 6, Src: cli.Addr(), Dst: srv.Addr(), SrcPort: port, DstPort: 443}
		return makeKey(&p, false)
	}
	// keys[0] and keys[1] share a place in recent; keys[2] has another
	keys := [3]flowKey{key(1)}
	for port := uint16(2); keys[1] == (flowKey{}) || keys[2] == (flowKey{}); port++ {
		k := key(port)
		if same := recentIndex(&k) == recentIndex(&keys[0]); same && keys[1] == (flowKey{}) {
			keys[1] = k
		} else if !same && keys[2] == (flowKey{}) {
			keys[2] = k
		}
	}
	type step struct {
		add  bool // add a flow of key, else remove it
		key  int
		want [3]bool // keys with a flow after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"one", []step{{true, 0, [3]bool{true}}, {false, 0, [3]bool{}}}},
		{"collision", []step{{true, 0, [3]bool{true}}, {true, 1, [3]bool{true, true}}, {false, 1, [3]bool{true}}, {false, 0, [3]bool{}}}},
		{"collision, first removed", []step{{true, 0, [3]bool{true}}, {true, 1, [3]bool{true, true}}, {false, 0, [3]bool{false, true}}}},
		{"struct reused", []step{{true, 0, [3]bool{true}}, {false, 0, [3]bool{}}, {true, 2, [3]bool{false, false, true}}, {false, 2, [3]bool{}}, {true, 1, [3]bool{false, true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newFlowTable(16)
			var flows [3]*flow
			for i, s := range tc.steps {
				if s.add {
					f := tab.alloc()
					f.key = keys[s.key]
					tab.insert(f, noSlot)
					flows[s.key] = f
				} else {
					tab.remove(flows[s.key])
					flows[s.key] = nil
				}
				for j := range keys {
					got := tab.get(&keys[j])
					if (got != nil) != s.want[j] || got != nil && got != flows[j] {
						t.Fatalf("step %d: key %d: flow %p, want %p", i, j, got, flows[j])
					}
				}
			}
		})
	}
}

// TestKeyEqual: flowKey.equal tells apart keys that differ in any one
// field, as == does. It fails when the key's size changes: a new field
// must be compared in equal, and a case added here.
func TestKeyEqual(t *testing.T) {
	if n := unsafe.Sizeof(flowKey{}); n != 40 {
		t.Fatalf("flowKey is %d bytes, not 40: compare the new field in flowKey.equal and add a case here", n)
	}
	p := Packet{Proto: 6, Src: cli.Addr(), Dst: srv.Addr(), SrcPort: cli.Port(), DstPort: srv.Port()}
	base := makeKey(&p, false)
	tests := []struct {
		name   string
		change func(k *flowKey)
	}{
		{"same", func(*flowKey) {}},
		{"a high word", func(k *flowKey) { k.a[0] ^= 1 }},
		{"a low word", func(k *flowKey) { k.a[15] ^= 1 }},
		{"b high word", func(k *flowKey) { k.b[7] ^= 0x80 }},
		{"b low word", func(k *flowKey) { k.b[8] ^= 1 }},
		{"pa", func(k *flowKey) { k.pa++ }},
		{"pb", func(k *flowKey) { k.pb ^= 0x100 }},
		{"vlan", func(k *flowKey) { k.vlan = 7 }},
		{"proto", func(k *flowKey) { k.proto = 17 }},
		{"v4", func(k *flowKey) { k.v4 = !k.v4 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := base
			tc.change(&k)
			if got, want := k.equal(&base), k == base; got != want || base.equal(&k) != want {
				t.Errorf("equal %v, == %v", got, want)
			}
		})
	}
}

// TestFirstPacketHash: Decode leaves a packet's hash uncomputed; the flow
// table computes it for a flow's first packet only, and it is the
// session's FirstPacket: the hash of that packet's first bytes from its
// IP header on. Sharded runs, where the reader decodes some packets itself
// (VLAN-tagged ones), give the same.
func TestFirstPacketHash(t *testing.T) {
	hello := append(append([]byte{}, fakeHello...), make([]byte, 1000)...)
	vcli := netip.MustParseAddrPort("10.0.0.2:40001")
	path := capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		for _, cfg := range []pcapgen.ConvConfig{
			{Client: cli, Server: srv, Clock: clk},
			{Client: vcli, Server: srv, Clock: clk, Link: pcapgen.Link{VLANs: []uint16{7}}},
		} {
			c, err := w.NewConv(cfg)
			must(t, err)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, hello))
			must(t, c.Send(pcapgen.ServerToClient, []byte("x")))
			must(t, c.Close(pcapgen.ClientToServer))
		}
	})

	var c collector
	p := NewPipeline(Config{Workers: 1}, &c)
	w := p.newWorker(0)
	src, err := OpenFile(path)
	must(t, err)
	defer src.Close()
	dec := NewDecoder()
	want := map[netip.AddrPort]uint64{} // by client: the first packet's hash
	flows := map[flowKey]bool{}
	for {
		data, ci, err := src.ReadPacket()
		if err != nil {
			break
		}
		var pk Packet
		if !dec.Decode(data, ci, src.LinkType(), &pk) {
			t.Fatal("decode failed")
		}
		if pk.head == nil || pk.hash != 0 {
			t.Fatalf("Decode hashed the packet (head %d bytes, hash %#x)", len(pk.head), pk.hash)
		}
		k := makeKey(&pk, false)
		seen := flows[k]
		if !seen { // the client's SYN
			flows[k] = true
			want[netip.AddrPortFrom(pk.Src, pk.SrcPort)] = hash64(pk.head)
		}
		w.advance(pk.Timestamp.UnixNano())
		w.handle(&pk)
		if hashed := pk.head == nil; hashed == seen {
			t.Fatalf("packet %v>%v, flow seen %v: hashed %v", pk.Src, pk.Dst, seen, hashed)
		}
	}
	w.flushAll()
	check := func(name string, ss []*session.Session) {
		if len(ss) != len(want) {
			t.Fatalf("%s: %d sessions, want %d", name, len(ss), len(want))
		}
		for _, s := range ss {
			if s.FirstPacket != want[s.Client] {
				t.Errorf("%s: %v: first packet %#x, want %#x", name, s.Client, s.FirstPacket, want[s.Client])
			}
		}
	}
	check("worker", c.ss)
	for _, n := range []int{1, 2} {
		src, err := OpenFile(path)
		must(t, err)
		var c collector
		_, err = Run(context.Background(), Config{Workers: n}, []Source{&reusingSource{Source: src}}, &c)
		src.Close()
		must(t, err)
		check(fmt.Sprintf("%d workers", n), c.ss)
	}
}

// reusingSource returns every packet of Source in one buffer, as a live
// source's ring does: bytes kept past the next ReadPacket are overwritten.
type reusingSource struct {
	Source
	buf []byte
}

func (s *reusingSource) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.Source.ReadPacket()
	clear(s.buf)
	s.buf = append(s.buf[:0], data...)
	return s.buf, ci, err
}
