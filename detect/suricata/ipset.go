package suricata

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sort"
)

// ipSet is the set of addresses an address expression matches, as sorted
// disjoint ranges per family: matching is a binary search whatever the
// expression ("[1.2.3.4, 5.6.7.0/24, ... 250 entries]", negations, nested
// lists), where walking the expression costs a comparison per entry. ET
// Open's IP-list rules (CINS, compromised hosts, DShield) have hundreds of
// entries each and no content, so every session evaluates their headers.
// IPv4 and IPv6 are apart, as in Suricata: ::/0 does not match 10.0.0.1.
type ipSet struct {
	v4, v6 spans
}

// u128 is an address as a number (IPv4 in lo).
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

// span is an inclusive range of addresses.
type span struct{ lo, hi u128 }

// spans are sorted, disjoint and not adjacent.
type spans []span

var (
	max4 = u128{0, 1<<32 - 1}
	max6 = u128{^uint64(0), ^uint64(0)}
)

func addrNum(a netip.Addr) (u128, bool) {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}, true
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, false
}

// prefixSpan is the range of a (masked) prefix.
func prefixSpan(p netip.Prefix) (span, bool) {
	lo, v4 := addrNum(p.Masked().Addr())
	host := p.Addr().BitLen() - p.Bits()
	hi := lo
	switch {
	case host >= 64:
		hi.lo = ^uint64(0)
		if host > 64 {
			hi.hi |= ^uint64(0) >> (128 - host)
		}
	case host > 0:
		hi.lo |= 1<<host - 1
	}
	return span{lo, hi}, v4
}

// normalize sorts and merges overlapping and adjacent ranges.
func normalize(s spans) spans {
	if len(s) < 2 {
		return s
	}
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	out := s[:1]
	for _, sp := range s[1:] {
		last := &out[len(out)-1]
		if last.hi == max6 || !last.hi.inc().less(sp.lo) {
			if last.hi.less(sp.hi) {
				last.hi = sp.hi
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}

// complement is the ranges of [0, max] not in s.
func (s spans) complement(max u128) spans {
	var out spans
	start := u128{}
	for _, sp := range s {
		if start.less(sp.lo) {
			out = append(out, span{start, sp.lo.dec()})
		}
		if sp.hi == max {
			return out
		}
		start = sp.hi.inc()
	}
	return append(out, span{start, max})
}

func union(a, b spans) spans {
	return normalize(append(slices.Clone(a), b...))
}

// minus is a without b.
func minus(a, b spans, max u128) spans {
	return union(a.complement(max), b).complement(max)
}

func (s spans) contains(x u128) bool {
	i := sort.Search(len(s), func(i int) bool { return !s[i].hi.less(x) })
	return i < len(s) && !x.less(s[i].lo)
}

var allAddrs = ipSet{v4: spans{{u128{}, max4}}, v6: spans{{u128{}, max6}}}

func (s ipSet) union(o ipSet) ipSet { return ipSet{union(s.v4, o.v4), union(s.v6, o.v6)} }

func (s ipSet) minus(o ipSet) ipSet {
	return ipSet{minus(s.v4, o.v4, max4), minus(s.v6, o.v6, max6)}
}

func (s ipSet) complement() ipSet { return ipSet{s.v4.complement(max4), s.v6.complement(max6)} }

func (s *ipSet) contains(ip netip.Addr) bool {
	n, v4 := addrNum(ip.Unmap())
	if v4 {
		return s.v4.contains(n)
	}
	return s.v6.contains(n)
}

// toSet computes the set a matches, with the semantics of matchTree: the
// positive entries are OR'd (none: any), the negated ones excluded, and a
// negated expression complemented.
func (a *addrExpr) toSet() ipSet {
	r := a.innerSet()
	if a.negated {
		r = r.complement()
	}
	return r
}

func (a *addrExpr) innerSet() ipSet {
	if a.any {
		return allAddrs
	}
	var pos, neg ipSet
	hasPos := false
	for _, p := range a.prefixes {
		hasPos = true
		sp, v4 := prefixSpan(p)
		if v4 {
			pos.v4 = append(pos.v4, sp)
		} else {
			pos.v6 = append(pos.v6, sp)
		}
	}
	for _, c := range a.children {
		if c.negated {
			// matchTree: a negated child that does not match fails the
			// expression, i.e. its inner set is excluded.
			n := c.innerSet()
			neg.v4, neg.v6 = append(neg.v4, n.v4...), append(neg.v6, n.v6...)
			continue
		}
		hasPos = true
		cs := c.toSet()
		pos.v4, pos.v6 = append(pos.v4, cs.v4...), append(pos.v6, cs.v6...)
	}
	pos.v4, pos.v6 = normalize(pos.v4), normalize(pos.v6)
	neg.v4, neg.v6 = normalize(neg.v4), normalize(neg.v6)
	if !hasPos {
		pos = allAddrs
	}
	return pos.minus(neg)
}
