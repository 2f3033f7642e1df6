package detect

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// IntelList names one threat-intel list file and what it holds.
type IntelList struct {
	Name string // shown in alerts; defaults to the file's base name
	Type string // "ja3", "ja4", "cert_sha1", "domain", "ip"
	File string
}

type intelKind uint8

const (
	intelJA3 intelKind = iota
	intelJA4
	intelCertSHA1
	intelDomain
	intelIP
	numIntelKinds
)

func (k intelKind) String() string {
	switch k {
	case intelJA3:
		return "ja3"
	case intelJA4:
		return "ja4"
	case intelCertSHA1:
		return "cert_sha1"
	case intelDomain:
		return "domain"
	case intelIP:
		return "ip"
	}
	return "invalid"
}

func parseIntelKind(s string) (intelKind, bool) {
	for k := intelKind(0); k < numIntelKinds; k++ {
		if s == k.String() {
			return k, true
		}
	}
	return 0, false
}

// intelEntry is what a list says about one key. Lists and reasons are
// interned: a 100,000-line feed has a handful of distinct reasons.
type intelEntry struct {
	list   uint16 // index in intelSet.lists
	orig   string // the entry as written, when it differs from the key
	reason string // "Listingreason" of abuse.ch feeds
}

// intelSet holds every loaded list, merged per type. The first list that
// holds a key wins. Read-only after load, so safe for concurrent use.
type intelSet struct {
	lists   []string
	hashes  [3]map[string]intelEntry // ja3 (lower-case hex), ja4 (lower-case), cert_sha1 (upper-case hex)
	domains map[string]intelEntry    // lower-case, no trailing dot
	ips     ipSet
	counts  [numIntelKinds]int
}

// IntelStats says how many entries are loaded per list type.
type IntelStats struct {
	JA3, JA4, CertSHA1, Domain, IP int
}

func (s *intelSet) stats() IntelStats {
	return IntelStats{s.counts[intelJA3], s.counts[intelJA4], s.counts[intelCertSHA1], s.counts[intelDomain], s.counts[intelIP]}
}

func (s *intelSet) loaded(k intelKind) bool { return s != nil && s.counts[k] > 0 }

// DefaultMaxIntelBytes is the default bound on the size of one intel list
// file (Config.MaxIntelBytes). An entry takes about 125 bytes of memory
// (TestIntelMemory), a few times its text: 256 MiB of 20-byte domain names
// would take about 1.6 GiB.
const DefaultMaxIntelBytes = 256 << 20

// maxIntelReason bounds the listing reason kept per entry (longer ones are
// cut): with the entry's shape (a hash, a DNS name of at most 253 bytes, a
// prefix) it bounds the memory of an entry.
const maxIntelReason = 256

// maxIntelLine bounds one line of a list.
const maxIntelLine = 64 << 10

// Warnings are what loading found worth logging but not refusing: intel
// lists that loaded no entry.
func (e *Engine) Warnings() []string { return e.warnings }

// loadIntel loads the lists, each at most maxBytes long (0: the default).
// It returns warnings to log: lists that loaded no entry.
func loadIntel(lists []IntelList, maxBytes int64) (*intelSet, []string, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxIntelBytes
	}
	s := &intelSet{}
	var warnings []string
	reasons := map[string]string{}
	var ipb ipBuilder
	for _, l := range lists {
		k, ok := parseIntelKind(l.Type)
		if !ok {
			return nil, nil, fmt.Errorf("detect: intel list %q: unknown type %q (want ja3, ja4, cert_sha1, domain or ip)", l.File, l.Type)
		}
		name := l.Name
		if name == "" {
			name = l.File
			if i := strings.LastIndexByte(name, '/'); i >= 0 {
				name = name[i+1:]
			}
		}
		if len(s.lists) >= 1<<16 {
			return nil, nil, fmt.Errorf("detect: too many intel lists")
		}
		idx := uint16(len(s.lists))
		s.lists = append(s.lists, name)
		f, err := os.Open(l.File)
		if err != nil {
			return nil, nil, fmt.Errorf("detect: intel list: %w", err)
		}
		tooBig := fmt.Errorf("detect: intel list %s: longer than the limit of %d bytes (MaxIntelBytes, rules.intel_max_mb)", l.File, maxBytes)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > maxBytes {
			f.Close()
			return nil, nil, tooBig
		}
		// The file may grow while read, or not be a regular file: read at
		// most one byte more than the limit.
		lr := &io.LimitedReader{R: f, N: maxBytes + 1}
		n, err := s.read(lr, l.File, k, idx, reasons, &ipb)
		f.Close()
		if lr.N == 0 {
			return nil, nil, tooBig
		}
		if err != nil {
			return nil, nil, err
		}
		if n == 0 {
			warnings = append(warnings, fmt.Sprintf("intel list %s (%s, type %s): no entries loaded", l.File, name, k))
		}
	}
	s.ips = ipb.build()
	s.counts[intelIP] = len(s.ips.ranges)
	return s, warnings, nil
}

// read loads one list. Accepted: one entry per line; '#' comments; CSV
// lines (abuse.ch SSLBL "Listingdate,SHA1,Listingreason" and
// "ja3_md5,Firstseen,Lastseen,Listingreason"), where the entry is the first
// field of the right shape and the reason the last field; a header line;
// hosts-file lines ("0.0.0.0 example.com") for domains. A UTF-8 byte order
// mark at the start is skipped. It returns the number of entries read
// (duplicates included).
func (s *intelSet) read(r io.Reader, file string, k intelKind, list uint16, reasons map[string]string, ipb *ipBuilder) (entries int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxIntelLine)
	line, data := 0, 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		if line == 1 {
			raw = strings.TrimPrefix(raw, "\uFEFF")
		}
		text := strings.TrimSpace(raw)
		if text == "" || text[0] == '#' || text[0] == ';' {
			continue
		}
		data++
		fields := splitFields(text)
		key, orig, hashAt := "", "", -1
		for i, f := range fields {
			if kk, ok := normalizeIntel(k, f); ok {
				key, orig, hashAt = kk, f, i
				break
			}
		}
		if hashAt < 0 {
			if data == 1 {
				continue // a header line: "ja3_md5,Firstseen,Lastseen,Listingreason"
			}
			return entries, fmt.Errorf("detect: intel list %s:%d: not a %s entry: %q", file, line, k, truncate(text, 80))
		}
		entries++
		reason := ""
		if last := len(fields) - 1; last > hashAt && strings.Contains(text, ",") {
			reason = strings.Trim(fields[last], `" `)
			if len(reason) > maxIntelReason {
				reason = strings.ToValidUTF8(reason[:maxIntelReason], "")
			}
			if r, ok := reasons[reason]; ok {
				reason = r
			} else {
				reason = strings.Clone(reason) // not the line it was cut from
				reasons[reason] = reason
			}
		}
		if key == orig {
			orig = ""
		}
		e := intelEntry{list: list, orig: orig, reason: reason}
		switch k {
		case intelIP:
			p, _ := netip.ParsePrefix(key)
			ipb.add(p, e, strings.Clone(orig))
			continue
		case intelDomain:
			if s.domains == nil {
				s.domains = make(map[string]intelEntry)
			}
			if _, dup := s.domains[key]; !dup {
				e.orig = strings.Clone(e.orig)
				s.domains[strings.Clone(key)] = e
				s.counts[k]++
			}
		default:
			m := s.hashes[k]
			if m == nil {
				m = make(map[string]intelEntry)
				s.hashes[k] = m
			}
			if _, dup := m[key]; !dup {
				e.orig = strings.Clone(e.orig)
				m[strings.Clone(key)] = e
				s.counts[k]++
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxIntelLine)
		}
		return entries, fmt.Errorf("detect: intel list %s:%d: %w", file, line+1, err)
	}
	return entries, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// splitFields splits a CSV line on commas, or a plain line on white space.
func splitFields(text string) []string {
	if strings.Contains(text, ",") {
		f := strings.Split(text, ",")
		for i := range f {
			f[i] = strings.Trim(strings.TrimSpace(f[i]), `"`)
		}
		return f
	}
	return strings.Fields(text)
}

// normalizeIntel returns the lookup key of a list entry, or false when f is
// not an entry of that type.
func normalizeIntel(k intelKind, f string) (string, bool) {
	switch k {
	case intelJA3:
		if len(f) == 32 && isHex(f) {
			return strings.ToLower(f), true
		}
	case intelCertSHA1:
		g := strings.ReplaceAll(f, ":", "")
		if len(g) == 40 && isHex(g) {
			return strings.ToUpper(g), true
		}
	case intelJA4:
		// t13d1516h2_8daaf6152771_e5627efa2ab1: a 10-character prefix and two parts.
		parts := strings.Split(f, "_")
		if len(parts) == 3 && len(parts[0]) == 10 && len(parts[1]) == 12 && len(parts[2]) == 12 &&
			strings.IndexByte("tqd", f[0]) >= 0 {
			return strings.ToLower(f), true
		}
	case intelDomain:
		d := strings.ToLower(strings.TrimSuffix(f, "."))
		d = strings.TrimPrefix(d, "*.")
		d = strings.TrimPrefix(d, ".")
		if isDomain(d) {
			return d, true
		}
	case intelIP:
		if p, err := netip.ParsePrefix(f); err == nil {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr()))
			return p.Masked().String(), true
		}
		if a, err := netip.ParseAddr(f); err == nil {
			a = a.Unmap().WithZone("")
			return netip.PrefixFrom(a, a.BitLen()).String(), true
		}
	}
	return "", false
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isDomain(d string) bool {
	if d == "" || len(d) > 253 || d[0] == '.' || d[len(d)-1] == '.' || strings.Contains(d, "..") {
		return false
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// match looks one list type up for a session. It returns the match (nil for
// none) and the session value that matched.
func (s *intelSet) match(k intelKind, a *activation) (*IntelMatch, string) {
	if !s.loaded(k) {
		return nil, ""
	}
	switch k {
	case intelJA3, intelJA4:
		var v string
		field := "ja3"
		if k == intelJA3 {
			v = a.ja3()
		} else {
			v, field = a.ja4(), "ja4"
		}
		if v == "" {
			return nil, ""
		}
		if e, ok := s.hashes[k][v]; ok {
			m := s.result(e, v, field)
			m.Value, m.DocField = v, "tls.client.ja3"
			if k == intelJA4 {
				m.DocField = "tlsentry.client.ja4"
			}
			return m, v
		}
	case intelCertSHA1:
		for i, c := range a.s.Certificates {
			if c == nil || c.SHA1 == "" {
				continue
			}
			if e, ok := s.hashes[k][c.SHA1]; ok {
				m := s.result(e, c.SHA1, "cert_sha1")
				m.Value, m.DocField = c.SHA1, "tls.server.hash.sha1"
				if i > 0 {
					m.DocField = "tlsentry.server.chain.sha1"
				}
				return m, c.SHA1
			}
		}
	case intelDomain:
		if sni := a.sni(); sni != "" {
			if e, key, ok := s.domainLookup(sni); ok {
				m := s.result(e, key, "sni")
				m.Value, m.DocField = sni, "tls.client.server_name"
				return m, sni
			}
		}
		if a.leaf != nil {
			names := a.certNames()
			for _, n := range names {
				if e, key, ok := s.domainLookup(n); ok {
					m := s.result(e, key, "cert_name")
					m.Value, m.DocField = n, "tls.server.x509.alternative_names"
					if c := a.leaf.Cert; c == nil || len(c.DNSNames) == 0 {
						m.DocField = "tls.server.x509.subject.common_name" // names is the CN (leafNames)
					}
					return m, n
				}
			}
			if cn := a.leaf.SubjectCommonName; cn != "" && (len(names) == 0 || names[0] != cn) {
				if e, key, ok := s.domainLookup(cn); ok {
					m := s.result(e, key, "cert_name")
					m.Value, m.DocField = cn, "tls.server.x509.subject.common_name"
					return m, cn
				}
			}
		}
	case intelIP:
		for j, ap := range [2]netip.AddrPort{a.s.Server, a.s.Client} {
			if i, ok := s.ips.lookup(ap.Addr()); ok {
				r := &s.ips.ranges[i]
				entry := s.ips.origs[i]
				v := ap.Addr().Unmap().String()
				m := &IntelMatch{List: s.lists[r.list], Entry: entry, Field: "ip", Reason: r.reason,
					Value: v, DocField: "destination.ip"}
				if j == 1 {
					m.DocField = "source.ip"
				}
				return m, v
			}
		}
	}
	return nil, ""
}

func (s *intelSet) result(e intelEntry, key, field string) *IntelMatch {
	entry := e.orig
	if entry == "" {
		entry = key
	}
	return &IntelMatch{List: s.lists[e.list], Entry: entry, Field: field, Reason: e.reason}
}

// domainLookup checks name and each parent domain of it: a listed domain
// covers its subdomains. One map lookup per label, no allocation unless
// name has upper-case letters or a trailing dot.
func (s *intelSet) domainLookup(name string) (intelEntry, string, bool) {
	name = strings.TrimSuffix(name, ".")
	name = strings.TrimPrefix(name, "*.")
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	for d := name; d != ""; {
		if e, ok := s.domains[d]; ok {
			return e, d, true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return intelEntry{}, "", false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// u128 is an address as a 128-bit number (IPv4 mapped into ::ffff:0:0/96).
type u128 struct{ hi, lo uint64 }

func addrU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (x u128) cmp(y u128) int {
	if c := cmp.Compare(x.hi, y.hi); c != 0 {
		return c
	}
	return cmp.Compare(x.lo, y.lo)
}

// ipRange is one listed prefix as the range [first, last].
type ipRange struct {
	first, last u128
	parent      int32 // index of the smallest range containing this one, -1 for none
	list        uint16
	reason      string
}

// ipSet looks addresses up in a set of prefixes: ranges sorted by start,
// binary search for the last range starting at or before the address, then
// up its chain of enclosing ranges (prefixes nest or are disjoint, so any
// range holding the address encloses that one). O(log n + nesting depth).
type ipSet struct {
	ranges []ipRange
	origs  []string // entry as written, parallel to ranges
}

type ipBuilder struct {
	ranges []ipRange
	origs  []string
}

func (b *ipBuilder) add(p netip.Prefix, e intelEntry, orig string) {
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
		bits += 96
	}
	first := addrU128(a)
	last := first
	host := 128 - bits
	switch {
	case host >= 64:
		last.lo = ^uint64(0)
		if host > 64 {
			last.hi |= (uint64(1) << (host - 64)) - 1
		}
	case host > 0:
		last.lo |= (uint64(1) << host) - 1
	}
	if orig == "" {
		orig = p.String()
	}
	b.ranges = append(b.ranges, ipRange{first: first, last: last, list: e.list, reason: e.reason})
	b.origs = append(b.origs, orig)
}

func (b *ipBuilder) build() ipSet {
	idx := make([]int, len(b.ranges))
	for i := range idx {
		idx[i] = i
	}
	// By start, wider first, then load order (first list wins).
	slices.SortStableFunc(idx, func(i, j int) int {
		ri, rj := &b.ranges[i], &b.ranges[j]
		if c := ri.first.cmp(rj.first); c != 0 {
			return c
		}
		return -ri.last.cmp(rj.last)
	})
	out := ipSet{ranges: make([]ipRange, 0, len(idx)), origs: make([]string, 0, len(idx))}
	var stack []int32
	for _, i := range idx {
		r := b.ranges[i]
		if n := len(out.ranges); n > 0 && out.ranges[n-1].first == r.first && out.ranges[n-1].last == r.last {
			continue // duplicate
		}
		for len(stack) > 0 && out.ranges[stack[len(stack)-1]].last.cmp(r.first) < 0 {
			stack = stack[:len(stack)-1]
		}
		r.parent = -1
		if len(stack) > 0 {
			r.parent = stack[len(stack)-1]
		}
		stack = append(stack, int32(len(out.ranges)))
		out.ranges = append(out.ranges, r)
		out.origs = append(out.origs, b.origs[i])
	}
	return out
}

func (s *ipSet) lookup(a netip.Addr) (int, bool) {
	if len(s.ranges) == 0 || !a.IsValid() {
		return 0, false
	}
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	x := addrU128(a)
	// Last range with first <= x.
	i, _ := slices.BinarySearchFunc(s.ranges, x, func(r ipRange, x u128) int {
		if r.first.cmp(x) <= 0 {
			return -1
		}
		return 1
	})
	for i--; i >= 0; i = int(s.ranges[i].parent) {
		if x.cmp(s.ranges[i].last) <= 0 {
			return i, true
		}
	}
	return 0, false
}
