package detect

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/tlsentry/tlsentry/rules"
	"github.com/tlsentry/tlsentry/session"
)

// dohSet is the list of DNS-over-HTTPS resolvers policy.dns_over_https
// reads: names (matched against the SNI and its parent domains) and
// addresses (matched against the server).
type dohSet struct {
	names map[string]bool
	addrs map[netip.Addr]bool
}

// loadDoH reads the resolver list file, or the shipped one
// (rules/doh-resolvers.txt) when file is "".
func loadDoH(file string) (*dohSet, error) {
	data, name := rules.DoHResolvers, "rules/doh-resolvers.txt"
	if file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("detect: doh resolvers: %w", err)
		}
		name = file
	}
	return parseDoH(name, data)
}

// parseDoH reads one entry a line, host name or address; '#' comments.
func parseDoH(file string, data []byte) (*dohSet, error) {
	s := &dohSet{names: map[string]bool{}, addrs: map[netip.Addr]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		f := sc.Text()
		if i := strings.IndexByte(f, '#'); i >= 0 {
			f = f[:i]
		}
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			s.addrs[a.Unmap()] = true
			continue
		}
		d := strings.ToLower(strings.TrimSuffix(f, "."))
		if !isDomain(d) {
			return nil, fmt.Errorf("detect: %s:%d: %q is neither a host name nor an address", file, line, f)
		}
		s.names[d] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("detect: %s: %w", file, err)
	}
	return s, nil
}

// match returns the entry the session's SNI (or a parent domain of it) or
// its server address matches, "" when none does.
func (s *dohSet) match(sni string, server netip.Addr) string {
	if s == nil {
		return ""
	}
	if sni != "" {
		d := strings.ToLower(strings.TrimSuffix(sni, "."))
		for {
			if s.names[d] {
				return d
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				break
			}
			d = d[i+1:]
		}
	}
	if a := server.Unmap(); s.addrs[a] {
		return a.String()
	}
	return ""
}

// doh is tlsentry.doh.resolver: the list entry a TLS or QUIC session
// matched.
func (a *activation) doh() string {
	if a.s.Protocol != session.TLS && a.s.Protocol != session.QUIC {
		return ""
	}
	return a.e.doh.match(a.sni(), a.s.Server.Addr())
}
