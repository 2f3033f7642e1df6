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
	// nameBits and addrBits hold a bit for each entry's dohKey: match
	// looks up the maps only where the bit of a candidate is set, which
	// spares most sessions the map lookups (one a label of the SNI, one
	// for the address).
	nameBits, addrBits [dohBits / 64]uint64
}

// dohBits is the size of the entry filters, in bits.
const dohBits = 1024

// dohNameKey is a name's filter bit: from its length and its first and
// last bytes (d is not empty).
func dohNameKey(d string) uint {
	return (uint(len(d))*0x9e3779b1 ^ uint(d[0])*0x85ebca6b ^ uint(d[len(d)-1])*0xc2b2ae35) >> 7 % dohBits
}

// dohAddrKey is an address's filter bit: from its last two bytes (and
// whether it is IPv4).
func dohAddrKey(a netip.Addr) uint {
	b := a.As16()
	k := uint(b[14])<<8 | uint(b[15])
	if a.Is4() {
		k ^= 0x5bd1
	}
	return (k * 0x9e3779b1) >> 11 % dohBits
}

func setBit(bits *[dohBits / 64]uint64, k uint)      { bits[k/64] |= 1 << (k % 64) }
func hasBit(bits *[dohBits / 64]uint64, k uint) bool { return bits[k/64]&(1<<(k%64)) != 0 }

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
			setBit(&s.addrBits, dohAddrKey(a.Unmap()))
			continue
		}
		d := strings.ToLower(strings.TrimSuffix(f, "."))
		if !isDomain(d) {
			return nil, fmt.Errorf("detect: %s:%d: %q is neither a host name nor an address", file, line, f)
		}
		s.names[d] = true
		setBit(&s.nameBits, dohNameKey(d))
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
		for d != "" {
			if hasBit(&s.nameBits, dohNameKey(d)) && s.names[d] {
				return d
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				break
			}
			d = d[i+1:]
		}
	}
	if a := server.Unmap(); hasBit(&s.addrBits, dohAddrKey(a)) && s.addrs[a] {
		return a.String()
	}
	return ""
}

// doh is tlsentry.doh.resolver: the list entry a TLS or QUIC session
// matched, looked up on first use.
func (a *activation) doh() string {
	if a.done&doneDoH == 0 {
		a.done |= doneDoH
		if a.s.Protocol == session.TLS || a.s.Protocol == session.QUIC {
			a.dohv = a.e.doh.match(a.sni(), a.s.Server.Addr())
		}
	}
	return a.dohv
}
