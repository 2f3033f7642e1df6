//go:debug cryptocustomrand=1

// Command genflood writes a flood capture for the memory budget benchmarks
// (scripts/flood-bench.sh, issue 9):
//
//	go run ./internal/cmd/genflood -mode synflood -flows 300000 -o /tmp/syn.pcap
//	go run ./internal/cmd/genflood -mode halfopen -flows 400000 -o /tmp/half.pcap
//
// Mode synflood: each flood flow is one bare SYN to port 443. Mode
// halfopen: a SYN and the first 100 bytes of a ClientHello, never
// answered. Spread through the flood are -real real TLS sessions (crypto/tls
// handshakes, a request, a response and a close) with SNI
// real-N.example.test, N from 0, each stepped over a stretch of the flood
// so that it is in progress while flood flows arrive. Deterministic.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

func main() {
	out := flag.String("o", "", "output file (required)")
	mode := flag.String("mode", "halfopen", "synflood (bare SYNs) or halfopen (SYN + first 100 bytes of a ClientHello)")
	flows := flag.Int("flows", 400000, "flood flows")
	real := flag.Int("real", 50, "real TLS sessions spread through the flood")
	flag.Parse()
	if *out == "" || (*mode != "synflood" && *mode != "halfopen") || *flows <= 0 || *real < 0 {
		fmt.Fprintln(os.Stderr, "usage: genflood -o FILE [-mode synflood|halfopen] [-flows N] [-real N]")
		os.Exit(2)
	}
	if err := run(*out, *mode, *flows, *real); err != nil {
		fmt.Fprintln(os.Stderr, "genflood:", err)
		os.Exit(1)
	}
}

// sessions records n real handshakes, SNI real-i.example.test.
func sessions(n int) ([][]tlsgen.Event, error) {
	dir, err := os.MkdirTemp("", "genflood-certs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	store := &tlsgen.Store{Dir: dir, Rand: tlsgen.NewRand(7)}
	from, to := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, err := store.Get(tlsgen.CertSpec{Name: "ca", Key: tlsgen.P256, CommonName: "genflood CA", CA: true, NotBefore: from, NotAfter: to})
	if err != nil {
		return nil, err
	}
	leaf, err := store.Get(tlsgen.CertSpec{Name: "leaf", Key: tlsgen.P256, CommonName: "example.test",
		DNSNames: []string{"*.example.test"}, Issuer: "ca", NotBefore: from, NotAfter: to})
	if err != nil {
		return nil, err
	}
	srv := &tls.Config{Certificates: []tls.Certificate{leaf.TLS(ca)}}
	out := make([][]tlsgen.Event, n)
	for i := range out {
		max := uint16(tls.VersionTLS13)
		if i%2 == 1 {
			max = tls.VersionTLS12
		}
		cli := &tls.Config{ServerName: fmt.Sprintf("real-%d.example.test", i), MaxVersion: max, InsecureSkipVerify: true}
		tr, err := tlsgen.Run(tlsgen.Options{Client: cli, Server: srv, Seed: uint64(i + 1),
			Request: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Response: []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")})
		if err != nil {
			return nil, err
		}
		if tr.ClientErr != nil || tr.ServerErr != nil {
			return nil, fmt.Errorf("handshake %d: %v / %v", i, tr.ClientErr, tr.ServerErr)
		}
		out[i] = tr.Events
	}
	return out, nil
}

func run(path, mode string, nflood, nreal int) error {
	real, err := sessions(max(nreal, 1))
	if err != nil {
		return err
	}
	// the flood's 100 bytes: the start of a real ClientHello
	hello := real[0][0].Data[:100]
	w, err := pcapgen.Create(path, pcapgen.Options{})
	if err != nil {
		return err
	}
	clk := pcapgen.NewClock(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), 20*time.Microsecond)
	srv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 10}), 443)
	flood := func(i int) error {
		// distinct 5-tuples: 10.x.y.z, ports 1024-60999
		a := uint32(i / 60000)
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(a >> 16), byte(a >> 8), byte(a)}), uint16(1024+i%60000))
		cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: srv, Clock: clk, ISN: [2]uint32{uint32(i)*2654435761 | 1, 1}})
		if err != nil {
			return err
		}
		syn := pcapgen.Segment{Dir: pcapgen.ClientToServer, Seq: cv.Next(pcapgen.ClientToServer), Flags: pcapgen.SYN}
		if mode == "synflood" {
			return cv.Emit(syn)
		}
		cv.Skip(pcapgen.ClientToServer, 1)
		data := pcapgen.Segment{Dir: pcapgen.ClientToServer, Seq: cv.Next(pcapgen.ClientToServer), Ack: 2,
			Flags: pcapgen.ACK | pcapgen.PSH, Payload: hello}
		return cv.Emit(syn, data)
	}
	var players []*tlsgen.Player
	every := max(nflood/max(nreal, 1), 1) // flood flows between real session starts
	step := max(every/16, 1)              // flood flows between steps of a real session
	started := 0
	for i := 0; i < nflood || len(players) > 0; i++ {
		if i < nflood {
			if err := flood(i); err != nil {
				return err
			}
		}
		if started < nreal && i == started*every+every/2 {
			cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + started)}), uint16(50000+started))
			cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: srv, Clock: clk})
			if err != nil {
				return err
			}
			ev := append(real[started], tlsgen.Event{From: tlsgen.Client, Close: true}, tlsgen.Event{From: tlsgen.Server, Close: true})
			players = append(players, tlsgen.NewPlayer(cv, ev, tlsgen.PlayOptions{}))
			started++
		}
		if i%step == 0 || i >= nflood {
			for j := 0; j < len(players); {
				more, err := players[j].Step()
				if err != nil {
					return err
				}
				if !more {
					players = append(players[:j], players[j+1:]...)
					continue
				}
				j++
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Printf("genflood: %s: %s, %d flood flows, %d real sessions, %d packets, %.1f MB\n",
		path, mode, nflood, nreal, w.Packets, float64(w.Bytes)/1e6)
	return nil
}
