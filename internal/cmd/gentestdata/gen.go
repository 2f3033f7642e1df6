package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

// capture is one file under testdata.
type capture struct {
	path string // relative to testdata
	desc string // one line for README.md
	opt  pcapgen.Options
	make func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error
}

// gen holds what the captures share.
type gen struct {
	certs map[string]*tlsgen.Cert
	seed  uint64
	port  uint16
}

// endpoints returns a client and server address pair; each call a new
// client port.
func (g *gen) endpoints(v6 bool) (netip.AddrPort, netip.AddrPort) {
	g.port++
	if v6 {
		return netip.AddrPortFrom(netip.MustParseAddr("2001:db8:10::5"), 50000+g.port),
			netip.AddrPortFrom(netip.MustParseAddr("2001:db8:20::443"), 443)
	}
	return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), 50000+g.port),
		netip.AddrPortFrom(netip.MustParseAddr("198.51.100.20"), 443)
}

func (g *gen) chain(leaf string) tls.Certificate {
	c := g.certs[leaf]
	var chain []*tlsgen.Cert
	switch c.Cert.Issuer.CommonName {
	case "tlsentry Test Intermediate CA":
		chain = append(chain, g.certs["ca-intermediate"])
	}
	return c.TLS(chain...)
}

// conn describes one TLS connection of a capture.
type conn struct {
	v6         bool
	link       pcapgen.Link
	client     *tls.Config
	server     *tls.Config
	wantFail   bool
	play       tlsgen.PlayOptions
	rewrite    func([]tlsgen.Event) []tlsgen.Event
	serverName string // for the HTTP request; defaults to client.ServerName
	badClient  bool   // every client segment with a wrong TCP checksum (offload)
}

func request(host string) []byte {
	if host == "" {
		host = "198.51.100.20"
	}
	return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: tlsentry-gentestdata\r\nAccept: */*\r\n\r\n")
}

var response = append([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2048\r\n\r\n"),
	bytes.Repeat([]byte("tlsentry test body\n"), 108)[:2048]...)

// tls runs one connection and writes it; it returns the transcript.
func (g *gen) tls(w *pcapgen.Writer, clk *pcapgen.Clock, c conn) (*tlsgen.Transcript, error) {
	g.seed++
	host := c.serverName
	if host == "" {
		host = c.client.ServerName
	}
	tr, err := tlsgen.Run(tlsgen.Options{Client: c.client, Server: c.server, Seed: g.seed, Time: clk.T,
		Request: request(host), Response: response})
	if err != nil {
		return nil, err
	}
	failed := tr.ClientErr != nil || tr.ServerErr != nil
	if failed != c.wantFail {
		return nil, fmt.Errorf("handshake outcome: client %v, server %v", tr.ClientErr, tr.ServerErr)
	}
	events := tr.Events
	if c.rewrite != nil {
		events = c.rewrite(events)
	}
	cl, sv := g.endpoints(c.v6)
	cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: sv, Link: c.link, Clock: clk})
	if err != nil {
		return nil, err
	}
	cv.BadChecksum[pcapgen.ClientToServer] = c.badClient
	if err := tlsgen.Play(cv, events, c.play); err != nil {
		return nil, err
	}
	clk.Advance(time.Second)
	return tr, nil
}

// raw writes a connection from hand-made events (non-TLS, crafted records).
func (g *gen) raw(w *pcapgen.Writer, clk *pcapgen.Clock, events []tlsgen.Event, play tlsgen.PlayOptions) error {
	cl, sv := g.endpoints(false)
	cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: sv, Clock: clk})
	if err != nil {
		return err
	}
	if err := tlsgen.Play(cv, events, play); err != nil {
		return err
	}
	clk.Advance(time.Second)
	return nil
}

// Configurations used by most captures.
func cli(sni string, alpn ...string) *tls.Config {
	return &tls.Config{ServerName: sni, NextProtos: alpn, InsecureSkipVerify: true}
}

// srv keeps hybrid post-quantum groups out of the server's choice: ML-KEM
// encapsulation ignores the seeded random source (see internal/tlsgen).
func srv(cert tls.Certificate, alpn ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: alpn,
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}}
}

func tls12(c *tls.Config) *tls.Config { c.MaxVersion = tls.VersionTLS12; return c }

func one(c conn) func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
	return func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
		_, err := g.tls(w, clk, c)
		return err
	}
}

// lazy builds a conn once the certificates are loaded.
func lazy(f func(g *gen) conn) func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
	return func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
		return one(f(g))(g, w, clk)
	}
}

// generate writes every capture and README.md under dir. With makeCerts,
// missing certificates are generated; otherwise they must exist.
func generate(dir string, makeCerts bool) (int, error) {
	g := &gen{certs: map[string]*tlsgen.Cert{}}
	store := &tlsgen.Store{Dir: filepath.Join(dir, "certs"), Rand: tlsgen.NewRand(20240601)}
	for _, s := range certSpecs {
		if !makeCerts {
			if _, err := os.Stat(filepath.Join(store.Dir, s.Name+".crt")); err != nil {
				return 0, fmt.Errorf("certificate %s missing: %w", s.Name, err)
			}
		}
		c, err := store.Get(s)
		if err != nil {
			return 0, err
		}
		g.certs[s.Name] = c
	}
	caps := captures()
	for _, c := range caps {
		path := filepath.Join(dir, c.path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return 0, err
		}
		w, err := pcapgen.Create(path, c.opt)
		if err != nil {
			return 0, err
		}
		g.port = 0
		g.seed = seedFor(c.path)
		clk := pcapgen.NewClock(captureTime, 250*time.Microsecond)
		err = c.make(g, w, clk)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", c.path, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), readme(caps), 0o644); err != nil {
		return 0, err
	}
	return len(caps), nil
}

// seedFor gives each capture its own random stream, independent of the
// order of the list.
func seedFor(name string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * 1099511628211
	}
	return h
}

func readme(caps []capture) []byte {
	var b strings.Builder
	b.WriteString(`# testdata

Captures the project makes itself. Do not edit: regenerate with

    go run ./internal/cmd/gentestdata

(from the repository root; internal/cmd/gentestdata's test checks that doing so reproduces these
files byte for byte). Each capture is a real crypto/tls client and server talking in memory
(internal/tlsgen), framed as TCP by internal/pcapgen: correct sequence numbers and checksums,
packet times from 2024-06-01T12:00:00Z in 250µs steps, client 192.0.2.10 (2001:db8:10::5),
server 198.51.100.20:443 (2001:db8:20::443). After the handshake the client sends one HTTP
request and the server a 2 KB response, then both close with close_notify and FIN.

Certificates and keys (PEM) are in certs/: a P-256 root "tlsentry Test Root CA", an intermediate
and an RSA CA, and leaves named after what is special about them. Leaves are valid 2024-05-01 to
2025-05-01 unless the name says otherwise; captures happen on 2024-06-01, so "expired" and
"not-yet-valid" are judged at packet time. None of it is trusted by anything.

rules/ holds one capture per built-in rule that should fire (<rule id>-fire*.pcap) and one where
it must stay quiet (<rule id>-quiet.pcap). Certificate rules need the certificate in clear, so
those captures use TLS 1.2.

golden/ is not written by gentestdata: it holds what the whole pipeline outputs for each capture
(cmd/tlsentry/golden_test.go; rewrite with go test ./cmd/tlsentry -run TestGolden -update).

| file | contents |
|---|---|
`)
	for _, c := range caps {
		fmt.Fprintf(&b, "| %s | %s |\n", c.path, c.desc)
	}
	b.WriteString(`
Not covered (crypto/tls cannot produce them): DHE key exchange (tls.weak_dh), SSL 3.0,
TLS 1.2 resumption by session id (Go servers resume with tickets only), QUIC.
`)
	return []byte(b.String())
}

// Helpers for the captures below.

// tinyFirst sends the client's first write (the ClientHello) in segments of n bytes.
func tinyFirst(n int) tlsgen.PlayOptions {
	return tlsgen.PlayOptions{SegmentSize: func(i int, e tlsgen.Event) int {
		if i == 0 {
			return n
		}
		return 0
	}}
}

var (
	ethRaw = []pcapgen.Interface{{Name: "eth0", LinkType: layers.LinkTypeEthernet}, {Name: "tun0", LinkType: layers.LinkTypeRaw}}
	outer  = func(k pcapgen.TunnelKind) *pcapgen.Tunnel {
		return &pcapgen.Tunnel{Kind: k, Src: netip.MustParseAddr("10.99.0.1"), Dst: netip.MustParseAddr("10.99.0.2"), ID: 7}
	}
)
