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

func TestGenlargeHandshake(t *testing.T) {
	dir := t.TempDir()
	cfg := config{mb: 1, seed: 5, active: 32, certs: filepath.Join(dir, "nocerts"), v6pct: 10,
		mode: "handshake", maxFlows: 300, pool: 16, data: 1024, out: filepath.Join(dir, "hs.pcap")}
	st, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.flows != 300 || st.tls != 300 || st.udp != 0 {
		t.Fatalf("stats %+v, want 300 TLS flows and nothing else", st)
	}
	a, _ := os.ReadFile(cfg.out)
	// Each connection: a handshake with a certificate chain, 1 KB each way, TCP framing.
	if per := len(a) / st.flows; per < 4500 || per > 8000 {
		t.Errorf("%d bytes per connection, want about 5.5 KB", per)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	syns, fins, hellos, snis := 0, 0, 0, map[string]bool{}
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.NoCopy)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatal("a packet that is not TCP")
		}
		if tcp.SYN && !tcp.ACK {
			syns++
		}
		if tcp.FIN {
			fins++
		}
		if pl := tcp.Payload; len(pl) > 5 && pl[0] == 22 && pl[5] == 1 {
			hellos++
			if i := bytes.Index(pl, []byte(".example.test")); i > 0 {
				j := i
				for j > 0 && (pl[j-1] == '.' || pl[j-1] >= '0' && pl[j-1] <= 'z') {
					j--
				}
				snis[string(pl[j:i])] = true
			}
		}
	}
	if syns != 300 || hellos != 300 || fins < 300 {
		t.Errorf("%d SYNs, %d ClientHellos, %d FINs; want 300, 300, >= 300", syns, hellos, fins)
	}
	if len(snis) < 10 {
		t.Errorf("%d distinct SNI names, want the pool's variety: %v", len(snis), snis)
	}
}
