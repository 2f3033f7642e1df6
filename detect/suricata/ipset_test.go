package suricata

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// The interval set answers as walking the expression does, for random
// expressions with negations, nesting, both families and any.
func TestIPSetMatchesTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	atoms := []string{"10.0.0.0/8", "10.1.2.3", "10.1.2.0/24", "192.168.0.0/16", "0.0.0.0/0", "255.255.255.255",
		"1.2.3.4", "2001:db8::/32", "2001:db8::1", "::/0", "::ffff:0:0/96", "any", "fe80::/10", "172.16.0.0/255.240.0.0"}
	var gen func(depth int) string
	gen = func(depth int) string {
		neg := ""
		if rng.IntN(3) == 0 {
			neg = "!"
		}
		if depth > 2 || rng.IntN(2) == 0 {
			return neg + atoms[rng.IntN(len(atoms))]
		}
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = gen(depth + 1)
		}
		return neg + "[" + strings.Join(parts, ",") + "]"
	}
	probes := []string{"10.0.0.0", "10.1.2.3", "10.1.2.4", "10.255.255.255", "11.0.0.0", "9.255.255.255", "192.168.3.4",
		"0.0.0.0", "255.255.255.255", "1.2.3.4", "172.31.255.255", "172.32.0.0", "2001:db8::1", "2001:db8::2", "2001:db9::",
		"::", "fe80::1", "::ffff:10.1.2.3", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
	for i := 0; i < 3000; i++ {
		expr := gen(0)
		a, err := parseAddr(expr, nil)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		for _, p := range probes {
			ip := netip.MustParseAddr(p)
			if got, want := a.match(ip), a.matchTree(ip); got != want {
				t.Fatalf("%s on %s: set %v, tree %v", expr, p, got, want)
			}
		}
		for j := 0; j < 20; j++ {
			ip := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			if rng.IntN(2) == 0 {
				ip = netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", rng.IntN(65536)))
			}
			if got, want := a.match(ip), a.matchTree(ip); got != want {
				t.Fatalf("%s on %s: set %v, tree %v", expr, ip, got, want)
			}
		}
	}
}

func TestPrefixSpan(t *testing.T) {
	for in, want := range map[string][2]string{
		"10.0.0.0/8":      {"10.0.0.0", "10.255.255.255"},
		"0.0.0.0/0":       {"0.0.0.0", "255.255.255.255"},
		"1.2.3.4/32":      {"1.2.3.4", "1.2.3.4"},
		"2001:db8::/32":   {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		"::/0":            {"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		"2001:db8::/65":   {"2001:db8::", "2001:db8::7fff:ffff:ffff:ffff"},
		"2001:db8::1/128": {"2001:db8::1", "2001:db8::1"},
	} {
		sp, _ := prefixSpan(netip.MustParsePrefix(in))
		lo, _ := addrNum(netip.MustParseAddr(want[0]))
		hi, _ := addrNum(netip.MustParseAddr(want[1]))
		if sp.lo != lo || sp.hi != hi {
			t.Errorf("%s: %v, want %v-%v", in, sp, lo, hi)
		}
	}
}
