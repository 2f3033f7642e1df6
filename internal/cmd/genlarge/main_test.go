package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestGenlarge(t *testing.T) {
	dir := t.TempDir()
	cfg := config{mb: 3, seed: 5, active: 32, certs: filepath.Join(dir, "nocerts"), v6pct: 10}
	cfg.out = filepath.Join(dir, "a.pcap")
	st, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(cfg.out)
	if len(a) < 2_500_000 || len(a) > 4_000_000 {
		t.Errorf("size %d, want about 3 MB", len(a))
	}
	cfg.out = filepath.Join(dir, "b.pcap")
	if _, err := run(cfg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cfg.out)
	if !bytes.Equal(a, b) {
		t.Error("two runs with one seed differ")
	}
	r, err := pcapgo.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	syns, hellos, udp, n := 0, 0, 0, 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.NoCopy)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			if tcp.SYN && !tcp.ACK {
				syns++
			}
			if len(tcp.Payload) > 5 && tcp.Payload[0] == 22 && tcp.Payload[5] == 1 {
				hellos++
			}
		} else if p.Layer(layers.LayerTypeUDP) != nil {
			udp++
		}
	}
	if uint64(n) != st.packets || syns != st.flows || hellos != st.tls || udp != st.udp {
		t.Errorf("read %d packets, %d SYNs, %d ClientHellos, %d UDP; generator said %+v", n, syns, hellos, udp, st)
	}
	if st.flows < 20 || st.tls == st.flows {
		t.Errorf("too few flows or no non-TLS flows: %+v", st)
	}
}
