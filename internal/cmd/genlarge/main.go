//go:debug cryptocustomrand=1

// Command genlarge writes a large capture for benchmarks and soak tests:
//
//	go run ./internal/cmd/genlarge -o /tmp/large.pcap -mb 600
//
// It records a handful of real crypto/tls handshakes once (internal/tlsgen)
// and replays them over many interleaved TCP flows with varied addresses,
// ports and sequence numbers, each followed by bulk application-data records
// (opaque bytes: the sensor bypasses flows after the handshake); plus some
// non-TLS flows on 443 (HTTP, SSH) and UDP noise (DNS-like and random
// datagrams to 443). The output is deterministic for a given -seed.
//
// With -mode handshake it writes a handshake-heavy capture instead:
//
//	go run ./internal/cmd/genlarge -mode handshake -conns 50000 -o /tmp/hs.pcap
//
// -conns TLS connections, each a whole crypto/tls conversation (handshake,
// 1 KB of application data each way, -data changes it, closing FINs) and
// nothing else. A pool of -pool real handshakes (varied SNI, versions, key
// types) is recorded once and each connection replays one of them over its
// own addresses, ports and sequence numbers: -conns handshakes cost the time
// of -pool.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

type config struct {
	out      string
	mb       int
	seed     uint64
	active   int
	certs    string
	ng, gz   bool
	v6pct    int
	quiet    bool
	maxFlows int
	bulkMax  int
	mode     string // "bulk" or "handshake"
	pool     int    // handshake mode: distinct handshakes recorded
	data     int    // handshake mode: application bytes each way
}

func main() {
	var c config
	flag.StringVar(&c.out, "o", "", "output file (required)")
	flag.IntVar(&c.mb, "mb", 600, "approximate size of the capture in MB (10^6 bytes)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed for addresses, sizes and interleaving")
	flag.IntVar(&c.active, "active", 256, "flows in progress at the same time")
	flag.StringVar(&c.certs, "certs", "testdata/certs", "directory of PEM certificates (made in memory when missing)")
	flag.BoolVar(&c.ng, "pcapng", false, "write pcapng instead of pcap")
	flag.BoolVar(&c.gz, "gzip", false, "gzip the output")
	flag.IntVar(&c.v6pct, "ipv6", 10, "percentage of TLS flows over IPv6")
	flag.IntVar(&c.maxFlows, "flows", 0, "stop after this many TCP flows (0: size decides)")
	flag.IntVar(&c.bulkMax, "bulk-max", 0, "cap each TLS flow's application data at this many bytes (0: 2 KB to 512 KB); many small flows")
	flag.BoolVar(&c.quiet, "q", false, "no summary line")
	flag.StringVar(&c.mode, "mode", "bulk", "bulk: handshakes then bulk data, sized by -mb; handshake: -conns short TLS connections")
	conns := flag.Int("conns", 50000, "handshake mode: TLS connections to write")
	flag.IntVar(&c.pool, "pool", 256, "handshake mode: distinct real handshakes the connections replay")
	flag.IntVar(&c.data, "data", 1024, "handshake mode: application data bytes each way")
	flag.Parse()
	if c.mode == "handshake" {
		c.maxFlows = *conns
	}
	if c.out == "" || c.mb <= 0 || c.active <= 0 || (c.mode != "bulk" && c.mode != "handshake") ||
		(c.mode == "handshake" && (c.maxFlows <= 0 || c.pool <= 0 || c.data < 0)) {
		fmt.Fprintln(os.Stderr, "usage: genlarge -o FILE [-mb 600] [-seed N] [-active 256] [-pcapng] [-gzip]\n"+
			"       genlarge -mode handshake -o FILE [-conns 50000] [-pool 256] [-data 1024] [-seed N] [-active 256]")
		os.Exit(2)
	}
	start := time.Now()
	st, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlarge:", err)
		os.Exit(1)
	}
	if !c.quiet {
		el := time.Since(start)
		fmt.Printf("genlarge: %s: %d TCP flows (%d TLS, %d other), %d UDP datagrams, %d packets, %.1f MB of frames in %.1fs (%.0f MB/s)\n",
			c.out, st.flows, st.tls, st.flows-st.tls, st.udp, st.packets, float64(st.bytes)/1e6, el.Seconds(), float64(st.bytes)/1e6/el.Seconds())
	}
}

type stats struct {
	flows, tls, udp int
	packets, bytes  uint64
}

// handshakes records n transcripts replayed by the flows: each is the list
// of writes up to and including the application data (req and resp), without
// the closing alerts and FINs. The first six are the bulk mode's; the rest
// vary the first six's SNI.
func handshakes(certDir string, n int, req, resp []byte) ([][]tlsgen.Event, error) {
	dir := certDir
	if _, err := os.Stat(filepath.Join(dir, "ecdsa-p256.crt")); err != nil {
		tmp, err := os.MkdirTemp("", "genlarge-certs")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	store := &tlsgen.Store{Dir: dir, Rand: tlsgen.NewRand(99)}
	from, to := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	specs := []tlsgen.CertSpec{
		{Name: "ca-root", Key: tlsgen.P256, CommonName: "tlsentry Test Root CA", CA: true, NotBefore: from, NotAfter: to},
		{Name: "ca-intermediate", Key: tlsgen.P256, CommonName: "tlsentry Test Intermediate CA", CA: true, Issuer: "ca-root", NotBefore: from, NotAfter: to},
		{Name: "rsa2048", Key: tlsgen.RSA2048, CommonName: "rsa.tlsentry.test", DNSNames: []string{"rsa.tlsentry.test"}, Issuer: "ca-intermediate", NotBefore: from, NotAfter: to},
		{Name: "ecdsa-p256", Key: tlsgen.P256, CommonName: "ecdsa.tlsentry.test", DNSNames: []string{"ecdsa.tlsentry.test"}, Issuer: "ca-intermediate", NotBefore: from, NotAfter: to},
	}
	certs := map[string]*tlsgen.Cert{}
	for _, s := range specs {
		c, err := store.Get(s)
		if err != nil {
			return nil, err
		}
		certs[s.Name] = c
	}
	inter := certs["ca-intermediate"]
	rsaC, ecC := certs["rsa2048"].TLS(inter), certs["ecdsa-p256"].TLS(inter)
	srv := func(c tls.Certificate) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: []string{"h2", "http/1.1"},
			CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}}
	}
	cli := func(sni string, max uint16, alpn ...string) *tls.Config {
		return &tls.Config{ServerName: sni, MaxVersion: max, NextProtos: alpn, InsecureSkipVerify: true}
	}
	pairs := []struct{ c, s *tls.Config }{
		{cli("www.example.test", tls.VersionTLS13, "h2", "http/1.1"), srv(ecC)},
		{cli("api.example.test", tls.VersionTLS13, "h2"), srv(rsaC)},
		{cli("cdn.example.test", tls.VersionTLS12, "h2", "http/1.1"), srv(ecC)},
		{cli("login.example.test", tls.VersionTLS12), srv(rsaC)},
		{cli("", tls.VersionTLS13), srv(ecC)},
		{cli("mail.example.test", tls.VersionTLS12, "http/1.1"), srv(rsaC)},
	}
	var out [][]tlsgen.Event
	for i := range n {
		p := pairs[i%len(pairs)]
		if i >= len(pairs) && p.c.ServerName != "" {
			c := p.c.Clone()
			c.ServerName = fmt.Sprintf("h%d.%s", i, c.ServerName)
			p.c = c
		}
		tr, err := tlsgen.Run(tlsgen.Options{Client: p.c, Server: p.s, Seed: uint64(i + 1), Request: req, Response: resp})
		if err != nil {
			return nil, err
		}
		if tr.ClientErr != nil || tr.ServerErr != nil {
			return nil, fmt.Errorf("handshake %d: %v / %v", i, tr.ClientErr, tr.ServerErr)
		}
		var ev []tlsgen.Event
		for _, e := range tr.Events {
			if !e.Close {
				ev = append(ev, e)
			}
		}
		// Drop the trailing close_notify alerts (the last writes of each side).
		for len(ev) > 0 && len(ev[len(ev)-1].Data) < 64 && ev[len(ev)-1].Data[0] == 23 {
			ev = ev[:len(ev)-1]
		}
		out = append(out, ev)
	}
	return out, nil
}

// flow is one TCP connection in progress.
type flow struct {
	p *tlsgen.Player
}

func run(c config) (stats, error) {
	var st stats
	var hs [][]tlsgen.Event
	var err error
	handshakeMode := c.mode == "handshake"
	if handshakeMode {
		// Application data each way: an HTTP request and response padded to c.data bytes.
		req := padded("GET / HTTP/1.1\r\nHost: x\r\n\r\n", c.data)
		resp := padded("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", c.data)
		hs, err = handshakes(c.certs, c.pool, req, resp)
	} else {
		hs, err = handshakes(c.certs, 6, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	}
	if err != nil {
		return st, err
	}
	opt := pcapgen.Options{Gzip: c.gz}
	if c.ng {
		opt.Format = pcapgen.PCAPNG
	}
	w, err := pcapgen.Create(c.out, opt)
	if err != nil {
		return st, err
	}
	rng := rand.New(rand.NewPCG(c.seed, 0x746c73656e747279))
	clk := pcapgen.NewClock(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), 20*time.Microsecond)
	// Opaque "ciphertext" sliced at random offsets.
	noise := make([]byte, 1<<20)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	target := uint64(c.mb) * 1_000_000
	if handshakeMode {
		target = ^uint64(0) // -conns decides
	}
	var active []*flow
	var planned uint64 // frame bytes of every flow started, written or not
	started := map[[2]netip.AddrPort]bool{}
	newFlow := func() error {
		var cl, sv netip.AddrPort
		v6 := rng.IntN(100) < c.v6pct
		for {
			if v6 {
				cl = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 14: byte(rng.IntN(256)), 15: byte(rng.IntN(254) + 1)}), uint16(32768+rng.IntN(28000)))
				sv = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x20, 15: byte(rng.IntN(64) + 1)}), 443)
			} else {
				cl = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(254) + 1)}), uint16(32768+rng.IntN(28000)))
				sv = netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(rng.IntN(4)), byte(rng.IntN(254) + 1)}), 443)
			}
			if k := [2]netip.AddrPort{cl, sv}; !started[k] {
				started[k] = true
				break
			}
		}
		cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: sv, Clock: clk,
			ISN: [2]uint32{rng.Uint32() | 1, rng.Uint32() | 1}})
		if err != nil {
			return err
		}
		var ev []tlsgen.Event
		switch r := rng.IntN(100); {
		case handshakeMode:
			st.tls++
			ev = append(ev, hs[rng.IntN(len(hs))]...)
		case r < 2 && !v6:
			ev = []tlsgen.Event{{From: tlsgen.Client, Data: []byte("GET /index.html HTTP/1.1\r\nHost: " + sv.Addr().String() + "\r\n\r\n")},
				{From: tlsgen.Server, Data: append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"), noise[:4096]...)}}
		case r < 3 && !v6:
			ev = []tlsgen.Event{{From: tlsgen.Server, Data: []byte("SSH-2.0-OpenSSH_9.6\r\n")}, {From: tlsgen.Client, Data: []byte("SSH-2.0-Go\r\n")},
				{From: tlsgen.Client, Data: noise[100:1100]}, {From: tlsgen.Server, Data: noise[2000:3000]}}
		default:
			st.tls++
			ev = append(ev, hs[rng.IntN(len(hs))]...)
			// Bulk: mostly small transfers, a few large ones.
			bulk := 2048 << rng.IntN(8) // 2 KB .. 256 KB, some up to 512 KB
			bulk += rng.IntN(bulk)
			if c.bulkMax > 0 {
				bulk = min(bulk, c.bulkMax)
			}
			for sent := 0; sent < bulk; {
				n := min(16384, bulk-sent)
				off := rng.IntN(len(noise) - n)
				rec := make([]byte, 0, 5+n)
				rec = append(rec, 23, 3, 3, byte((n)>>8), byte(n))
				rec = append(rec, noise[off:off+n]...)
				ev = append(ev, tlsgen.Event{From: tlsgen.Server, Data: rec})
				sent += n
				if rng.IntN(16) == 0 {
					ev = append(ev, tlsgen.Event{From: tlsgen.Client, Data: append([]byte{23, 3, 3, 0, 40}, noise[off:off+40]...)})
				}
			}
		}
		if rng.IntN(20) == 0 {
			ev = append(ev, tlsgen.Event{From: tlsgen.Server, Close: true})
		} else {
			ev = append(ev, tlsgen.Event{From: tlsgen.Client, Close: true}, tlsgen.Event{From: tlsgen.Server, Close: true})
		}
		for _, e := range ev {
			// Payload plus about 58 bytes of headers per 1460-byte segment.
			planned += uint64(len(e.Data)) + uint64(len(e.Data)/1460+2)*58
		}
		planned += 6 * 66 // handshake, FINs, ACKs
		active = append(active, &flow{p: tlsgen.NewPlayer(cv, ev, tlsgen.PlayOptions{})})
		st.flows++
		return nil
	}
	udp := func() error {
		st.udp++
		l := &pcapgen.Link{}
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(254) + 1)}), uint16(32768+rng.IntN(28000)))
		if rng.IntN(2) == 0 {
			q := []byte{byte(rng.IntN(256)), byte(rng.IntN(256)), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1}
			return w.WriteUDP(clk.Next(), l, false, cl, netip.MustParseAddrPort("192.0.2.53:53"), q)
		}
		n := 40 + rng.IntN(1200)
		off := rng.IntN(len(noise) - n)
		return w.WriteUDP(clk.Next(), l, false, cl, netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, 9, byte(rng.IntN(254) + 1)}), 443), noise[off:off+n])
	}
	stopNew := false
	for {
		if !stopNew && (planned >= target || (c.maxFlows > 0 && st.flows >= c.maxFlows)) {
			stopNew = true
		}
		for !stopNew && len(active) < c.active {
			if err := newFlow(); err != nil {
				return st, err
			}
		}
		if len(active) == 0 {
			break
		}
		i := rng.IntN(len(active))
		more, err := active[i].p.Step()
		if err != nil {
			return st, err
		}
		if !more {
			active[i] = active[len(active)-1]
			active = active[:len(active)-1]
		}
		if !handshakeMode && rng.IntN(64) == 0 {
			if err := udp(); err != nil {
				return st, err
			}
		}
	}
	st.packets, st.bytes = w.Packets, w.Bytes
	return st, errors.Join(w.Close())
}

// padded returns s followed by 'x' up to n bytes (s alone when longer).
func padded(s string, n int) []byte {
	b := []byte(s)
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}
