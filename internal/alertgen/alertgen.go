// Package alertgen writes the synthetic handshake workload of the
// suppression figure (issue #11): many TLS connections from many clients to
// a few servers, most of whose certificates a built-in rule reports (from a
// private CA, self-signed, expired), so that the same (rule, server address,
// certificate) combination alerts again and again, as one internal service
// with a private CA does all day on a real network.
//
// Each server's handshake is recorded once with crypto/tls (internal/tlsgen)
// and replayed over every connection to it with other client addresses and
// ports (internal/pcapgen); connections interleave a few at a time and close
// with FIN. The capture is the same for a given Config.
package alertgen

import (
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

// Config describes a workload. Zero fields take the defaults in brackets.
type Config struct {
	Sessions int           // TLS connections [3000]
	Servers  int           // server addresses, each with its own certificate [30]
	Clients  int           // client addresses [500]
	Span     time.Duration // packet time the connections spread over [30 minutes]
	Active   int           // connections in progress at once [8]
	Seed     uint64        // addresses, ports and interleaving [1]
}

func (c *Config) setDefaults() {
	if c.Sessions <= 0 {
		c.Sessions = 3000
	}
	if c.Servers <= 0 {
		c.Servers = 30
	}
	if c.Clients <= 0 {
		c.Clients = 500
	}
	if c.Span <= 0 {
		c.Span = 30 * time.Minute
	}
	if c.Active <= 0 {
		c.Active = 8
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// Base is the packet time of the first connection.
var Base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Stats say what was written.
type Stats struct {
	Sessions, Packets int
	// PerServer counts the connections to each server address.
	PerServer map[netip.Addr]int
}

// server is one server address with its recorded handshake.
type server struct {
	addr   netip.AddrPort
	events []tlsgen.Event
}

// kinds of server certificate, in turn: what a built-in rule reports.
var kinds = []string{"private-ca", "self-signed", "expired", "private-ca"}

// servers records one handshake per server.
func servers(c Config, r *rand.Rand) ([]server, error) {
	from, to := Base.AddDate(-1, 0, 0), Base.AddDate(2, 0, 0)
	ca, err := issue(tlsgen.CertSpec{Name: "alertgen-ca", Key: tlsgen.P256, CommonName: "alertgen private CA",
		CA: true, NotBefore: from, NotAfter: to}, nil, r)
	if err != nil {
		return nil, err
	}
	out := make([]server, c.Servers)
	for i := range out {
		name := fmt.Sprintf("svc%d.corp.test", i)
		spec := tlsgen.CertSpec{Name: fmt.Sprintf("alertgen-%d", i), Key: tlsgen.P256, CommonName: name,
			DNSNames: []string{name}, NotBefore: from, NotAfter: to, Serial: int64(1000 + i)}
		issuer := ca
		switch kinds[i%len(kinds)] {
		case "self-signed":
			issuer = nil
		case "expired":
			spec.NotBefore, spec.NotAfter = Base.AddDate(-2, 0, 0), Base.AddDate(0, -1, 0)
		}
		leaf, err := issue(spec, issuer, r)
		if err != nil {
			return nil, err
		}
		chain := leaf.TLS()
		if issuer != nil {
			chain = leaf.TLS(issuer)
		}
		tr, err := tlsgen.Run(tlsgen.Options{
			Client: &tls.Config{ServerName: name, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
			Server: &tls.Config{Certificates: []tls.Certificate{chain}, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}},
			Seed:   c.Seed*1000 + uint64(i),
			Time:   Base,
		})
		if err != nil {
			return nil, err
		}
		if tr.ClientErr != nil || tr.ServerErr != nil {
			return nil, fmt.Errorf("alertgen: handshake %d: %v / %v", i, tr.ClientErr, tr.ServerErr)
		}
		ip := netip.AddrFrom4([4]byte{10, 200, byte(i / 250), byte(1 + i%250)})
		out[i] = server{addr: netip.AddrPortFrom(ip, 443), events: tr.Events}
	}
	return out, nil
}

func issue(spec tlsgen.CertSpec, issuer *tlsgen.Cert, r *rand.Rand) (*tlsgen.Cert, error) {
	key, err := tlsgen.GenerateKey(spec.Key, tlsgen.NewRand(r.Uint64()))
	if err != nil {
		return nil, err
	}
	return tlsgen.Issue(spec, key, issuer, tlsgen.NewRand(r.Uint64()))
}

// Write writes the workload of c to path (pcap).
func Write(path string, c Config) (Stats, error) {
	c.setDefaults()
	st := Stats{PerServer: map[netip.Addr]int{}}
	r := rand.New(rand.NewPCG(c.Seed, 0x616c657274))
	srv, err := servers(c, r)
	if err != nil {
		return st, err
	}
	w, err := pcapgen.Create(path, pcapgen.Options{})
	if err != nil {
		return st, err
	}
	// A connection has some 12 packets; spread them over Span.
	step := c.Span / time.Duration(c.Sessions*12)
	clk := pcapgen.NewClock(Base, max(step, time.Microsecond))
	used := map[netip.AddrPort]bool{}
	var active []*tlsgen.Player
	started := 0
	start := func() error {
		// a few popular servers get most connections
		s := srv[min(int(r.ExpFloat64()*float64(c.Servers)/4), c.Servers-1)]
		var cl netip.AddrPort
		for {
			n := r.IntN(c.Clients)
			cl = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(n / 250), byte(1 + n%250)}), uint16(20000+r.IntN(40000)))
			if !used[cl] {
				used[cl] = true
				break
			}
		}
		cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: s.addr, Clock: clk,
			ISN: [2]uint32{r.Uint32() | 1, r.Uint32() | 1}})
		if err != nil {
			return err
		}
		active = append(active, tlsgen.NewPlayer(cv, s.events, tlsgen.PlayOptions{}))
		st.PerServer[s.addr.Addr()]++
		started++
		return nil
	}
	for started < c.Sessions || len(active) > 0 {
		for len(active) < c.Active && started < c.Sessions {
			if err := start(); err != nil {
				w.Close()
				return st, err
			}
		}
		i := r.IntN(len(active))
		more, err := active[i].Step()
		if err != nil {
			w.Close()
			return st, err
		}
		if !more {
			active[i] = active[len(active)-1]
			active = active[:len(active)-1]
		}
	}
	st.Sessions, st.Packets = started, int(w.Packets)
	return st, w.Close()
}
