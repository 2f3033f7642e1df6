package tlsgen

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/tlsentry/tlsentry/internal/pcapgen"
)

func TestSplitRecord(t *testing.T) {
	rec := []byte{22, 3, 1, 0, 6, 1, 0, 0, 2, 0xaa, 0xbb, 0xff}
	got := SplitRecord(rec, 4)
	want := []byte{22, 3, 1, 0, 4, 1, 0, 0, 2, 22, 3, 1, 0, 2, 0xaa, 0xbb, 0xff}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x", got)
	}
	for _, at := range []int{0, 6, 7, -1} {
		if !bytes.Equal(SplitRecord(rec, at), rec) {
			t.Errorf("at %d changed the record", at)
		}
	}
	for n := range len(rec) - 7 {
		if p := rec[:5+n]; !bytes.Equal(SplitRecord(p, 1), p) {
			t.Errorf("truncated record of %d bytes changed", len(p))
		}
	}
}

// TestPlay frames a transcript and checks that the TCP payload of each
// direction, read back from the capture, is exactly what each side wrote,
// and that FINs follow the Close events.
func TestPlay(t *testing.T) {
	events := []Event{
		{From: Client, Data: bytes.Repeat([]byte("c"), 3000)},
		{From: Server, Data: bytes.Repeat([]byte("s"), 100)},
		{From: Server, Data: bytes.Repeat([]byte("t"), 5000)},
		{From: Client, Close: true},
		{From: Server, Data: []byte("late")},
		{From: Server, Close: true},
	}
	var buf bytes.Buffer
	w, _ := pcapgen.NewWriter(&buf, pcapgen.Options{})
	c, _ := w.NewConv(pcapgen.ConvConfig{Client: netip.MustParseAddrPort("192.0.2.1:40000"), Server: netip.MustParseAddrPort("192.0.2.2:443")})
	if err := Play(c, events, PlayOptions{}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, _ := pcapgo.NewReader(&buf)
	var got [2][]byte
	var fins []Side
	lastAck := false
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		tcp := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
		s := Client
		if tcp.SrcPort == 443 {
			s = Server
		}
		got[s] = append(got[s], tcp.Payload...)
		if tcp.FIN {
			fins = append(fins, s)
		}
		lastAck = tcp.ACK && !tcp.FIN && len(tcp.Payload) == 0
	}
	want := [2][]byte{}
	for _, e := range events {
		want[e.From] = append(want[e.From], e.Data...)
	}
	if !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
		t.Fatalf("payload %d/%d bytes, want %d/%d", len(got[0]), len(got[1]), len(want[0]), len(want[1]))
	}
	if len(fins) != 2 || fins[0] != Client || fins[1] != Server || !lastAck {
		t.Fatalf("FINs %v, final ACK %v", fins, lastAck)
	}
}
