package pcapgen

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type pkt struct {
	ci   gopacket.CaptureInfo
	data []byte
	lt   layers.LinkType
}

// readAll reads a pcap or pcapng file (optionally gzip) back.
func readAll(t *testing.T, b []byte) []pkt {
	t.Helper()
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, err = io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
	}
	var out []pkt
	if bytes.HasPrefix(b, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatal(err)
		}
		for {
			d, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			intf, _ := r.Interface(ci.InterfaceIndex)
			out = append(out, pkt{ci, d, intf.LinkType})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pkt{ci, d, r.LinkType()})
	}
}

// streams decodes every packet, checks every checksum, and returns the TCP
// payload per direction in capture order, plus decoded TCP layers.
func streams(t *testing.T, pkts []pkt, client netip.AddrPort) (c2s, s2c []byte, tcps []*layers.TCP) {
	t.Helper()
	for i, p := range pkts {
		pk := gopacket.NewPacket(p.data, p.lt, gopacket.Default)
		if el := pk.ErrorLayer(); el != nil {
			t.Fatalf("packet %d: decode error %v", i, el.Error())
		}
		verifyChecksums(t, i, pk)
		var tcp *layers.TCP
		for _, l := range pk.Layers() {
			if x, ok := l.(*layers.TCP); ok {
				tcp = x // innermost wins
			}
		}
		if tcp == nil {
			continue
		}
		tcps = append(tcps, tcp)
		if uint16(tcp.SrcPort) == client.Port() {
			c2s = append(c2s, tcp.Payload...)
		} else {
			s2c = append(s2c, tcp.Payload...)
		}
	}
	return
}

var (
	cli4 = netip.MustParseAddrPort("192.0.2.10:50000")
	srv4 = netip.MustParseAddrPort("198.51.100.20:443")
	cli6 = netip.MustParseAddrPort("[2001:db8::10]:50001")
	srv6 = netip.MustParseAddrPort("[2001:db8::20]:443")
)

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestConvVariants(t *testing.T) {
	up, down := payload(3000), payload(5000)
	tun4 := func(k TunnelKind) *Tunnel {
		return &Tunnel{Kind: k, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), ID: 42}
	}
	cases := []struct {
		name     string
		opt      Options
		link     Link
		cli, srv netip.AddrPort
	}{
		{"pcap-us-v4", Options{}, Link{}, cli4, srv4},
		{"pcap-ns-v6", Options{Nanosecond: true}, Link{}, cli6, srv6},
		{"vlan", Options{}, Link{VLANs: []uint16{100}}, cli4, srv4},
		{"qinq", Options{}, Link{VLANs: []uint16{10, 20}}, cli4, srv4},
		{"pcapng-gzip", Options{Format: PCAPNG, Gzip: true}, Link{}, cli4, srv4},
		{"raw", Options{Interfaces: []Interface{{LinkType: layers.LinkTypeRaw}}}, Link{}, cli4, srv4},
		{"sll", Options{Interfaces: []Interface{{LinkType: layers.LinkTypeLinuxSLL}}}, Link{}, cli6, srv6},
		{"null", Options{Interfaces: []Interface{{LinkType: layers.LinkTypeNull}}}, Link{}, cli4, srv4},
		{"vxlan", Options{}, Link{Tunnel: tun4(VXLAN)}, cli4, srv4},
		{"gre", Options{}, Link{Tunnel: tun4(GRE)}, cli6, srv6},
		{"gre-eth", Options{}, Link{Tunnel: tun4(GREEthernet)}, cli4, srv4},
		{"geneve", Options{}, Link{Tunnel: tun4(GENEVE)}, cli4, srv4},
		{"erspan", Options{}, Link{Tunnel: tun4(ERSPAN2)}, cli4, srv4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			c, err := w.NewConv(ConvConfig{Client: tc.cli, Server: tc.srv, Link: tc.link})
			if err != nil {
				t.Fatal(err)
			}
			isn := c.Next(ClientToServer)
			must(t, c.Handshake())
			must(t, c.Send(ClientToServer, up))
			must(t, c.Send(ServerToClient, down))
			must(t, c.Close(ClientToServer))
			must(t, w.Close())
			pk := readAll(t, buf.Bytes())
			mss := c.MSS
			want := 3 + (3000+mss-1)/mss + 1 + (5000+mss-1)/mss + 1 + 3
			if len(pk) != want {
				t.Fatalf("%d packets, want %d", len(pk), want)
			}
			for i := 1; i < len(pk); i++ {
				if !pk[i].ci.Timestamp.After(pk[i-1].ci.Timestamp) {
					t.Fatalf("packet %d time %v not after %v", i, pk[i].ci.Timestamp, pk[i-1].ci.Timestamp)
				}
			}
			c2s, s2c, tcps := streams(t, pk, tc.cli)
			if !bytes.Equal(c2s, up) || !bytes.Equal(s2c, down) {
				t.Fatalf("streams differ: %d/%d bytes", len(c2s), len(s2c))
			}
			if !tcps[0].SYN || tcps[0].Seq != isn || !tcps[1].SYN || !tcps[1].ACK || tcps[1].Ack != isn+1 {
				t.Fatalf("bad handshake %+v %+v", tcps[0], tcps[1])
			}
			// Sequence numbers: every client data segment starts where the previous ended.
			next := isn + 1
			for _, s := range tcps[3:] {
				if uint16(s.SrcPort) != tc.cli.Port() || len(s.Payload) == 0 {
					continue
				}
				if s.Seq != next {
					t.Fatalf("client seq %d, want %d", s.Seq, next)
				}
				next += uint32(len(s.Payload))
			}
			last := tcps[len(tcps)-1]
			if !last.ACK || last.Ack != tcps[len(tcps)-2].Seq+1 {
				t.Fatalf("final ACK %d does not ack the server FIN", last.Ack)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestKnobs(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Options{})
	c, _ := w.NewConv(ConvConfig{Client: cli4, Server: srv4})
	must(t, c.HandshakeTFO([]byte("early")))
	segs := c.Segments(ClientToServer, payload(10), 1) // tiny segments
	if len(segs) != 10 {
		t.Fatalf("%d tiny segments", len(segs))
	}
	segs = Reorder(segs)
	segs = Duplicate(segs, 3)
	segs = Drop(segs, 0) // first of the reordered pair: byte 1 is lost
	if len(segs) != 10 {
		t.Fatalf("%d segments after knobs", len(segs))
	}
	must(t, c.Emit(segs...))
	ov := c.SegmentAt(ClientToServer, -4, []byte("XXXX"))
	must(t, c.Emit(ov))
	big := c.Segments(ServerToClient, payload(1000), 0)
	big[0].FragmentSize = 300
	must(t, c.Emit(big...))
	must(t, c.Reset(ClientToServer))
	must(t, w.Close())
	pk := readAll(t, buf.Bytes())
	// 3 handshake + 10 tiny + 1 overlap + 4 fragments + 1 RST
	if len(pk) != 19 {
		t.Fatalf("%d packets", len(pk))
	}
	p := gopacket.NewPacket(pk[0].data, layers.LinkTypeEthernet, gopacket.Default)
	syn := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if string(syn.Payload) != "early" || syn.Options[len(syn.Options)-1].OptionType != 34 {
		t.Fatalf("TFO SYN wrong: %q %v", syn.Payload, syn.Options)
	}
	frags := 0
	for _, x := range pk[14:18] {
		p := gopacket.NewPacket(x.data, layers.LinkTypeEthernet, gopacket.Default)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			frags++
		}
	}
	if frags != 4 {
		t.Fatalf("%d fragments", frags)
	}
	if !tsharkOK(t, buf.Bytes()) {
		t.Log("tshark not available; skipped its check")
	}
}

// tsharkOK runs tshark over the file when it is installed and fails on
// malformed packets or bad checksums.
func tsharkOK(t *testing.T, b []byte) bool {
	path, err := exec.LookPath("tshark")
	if err != nil {
		return false
	}
	f := filepath.Join(t.TempDir(), "x.pcap")
	must(t, writeFile(f, b))
	out, err := exec.Command(path, "-r", f, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", "_ws.malformed || _ws.expert.severity >= error").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	out, err = exec.Command(path, "-r", f, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", "_ws.malformed || _ws.expert.severity >= error").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("tshark found errors:\n%s", out)
	}
	return true
}

func TestDeterministic(t *testing.T) {
	gen := func() []byte {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, Options{Format: PCAPNG, Gzip: true, Interfaces: []Interface{{Name: "a", LinkType: layers.LinkTypeEthernet}, {Name: "b", LinkType: layers.LinkTypeRaw}}})
		clk := NewClock(time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Millisecond)
		a, _ := w.NewConv(ConvConfig{Client: cli4, Server: srv4, Clock: clk})
		b, _ := w.NewConv(ConvConfig{Client: cli6, Server: srv6, Clock: clk, Link: Link{Iface: 1}})
		must(t, a.Handshake())
		must(t, b.Handshake())
		must(t, a.Send(ClientToServer, payload(100)))
		must(t, b.Send(ServerToClient, payload(100)))
		must(t, w.WriteUDP(clk.Next(), &Link{}, false, netip.MustParseAddrPort("192.0.2.1:5353"), netip.MustParseAddrPort("192.0.2.2:443"), payload(50)))
		must(t, w.Close())
		return buf.Bytes()
	}
	x, y := gen(), gen()
	if !bytes.Equal(x, y) {
		t.Fatal("two runs differ")
	}
	pk := readAll(t, x)
	if len(pk) != 11 || pk[3].lt != layers.LinkTypeRaw || pk[0].lt != layers.LinkTypeEthernet {
		t.Fatalf("%d packets; link types %v %v", len(pk), pk[0].lt, pk[3].lt)
	}
	streams(t, pk, cli4)
}

func TestErrors(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Options{})
	if _, err := w.NewConv(ConvConfig{Client: cli4, Server: srv6}); err == nil {
		t.Error("mixed families accepted")
	}
	if err := w.WritePacket(time.Time{}, 1, []byte{1}); err == nil {
		t.Error("interface 1 accepted in a pcap file")
	}
	c, _ := w.NewConv(ConvConfig{Client: cli4, Server: srv4, Link: Link{Tunnel: &Tunnel{Kind: VXLAN}}})
	if err := c.Handshake(); err == nil {
		t.Error("tunnel without addresses accepted")
	}
	w.Close()
	if err := w.WritePacket(time.Time{}, 0, []byte{1}); err != ErrClosed {
		t.Errorf("write after close: %v", err)
	}
}

func BenchmarkSend(b *testing.B) {
	w, _ := NewWriter(io.Discard, Options{})
	c, _ := w.NewConv(ConvConfig{Client: cli4, Server: srv4})
	data := payload(16 * 1460)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := c.Emit(c.Segments(ServerToClient, data, 0)...); err != nil {
			b.Fatal(err)
		}
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

// verifyChecksums checks the IPv4 header checksum and the TCP/UDP checksum of
// every layer, pairing each transport layer with the network layer before it.
func verifyChecksums(t *testing.T, i int, pk gopacket.Packet) {
	t.Helper()
	var nl gopacket.NetworkLayer
	for _, l := range pk.Layers() {
		switch x := l.(type) {
		case *layers.IPv4:
			nl = x
			if err, r := x.VerifyChecksum(); err != nil || !r.Valid {
				t.Fatalf("packet %d: IPv4 checksum %v %+v", i, err, r)
			}
		case *layers.IPv6:
			nl = x
		case *layers.TCP:
			if ip, ok := nl.(*layers.IPv4); ok && ip.Flags&layers.IPv4MoreFragments != 0 {
				continue
			}
			x.SetNetworkLayerForChecksum(nl)
			if err, r := x.VerifyChecksum(); err != nil || !r.Valid {
				t.Fatalf("packet %d: TCP checksum %v %+v", i, err, r)
			}
		case *layers.UDP:
			x.SetNetworkLayerForChecksum(nl)
			if err, r := x.VerifyChecksum(); err != nil || !r.Valid {
				t.Fatalf("packet %d: UDP checksum %v %+v", i, err, r)
			}
		}
	}
}
