package detect

import (
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

func TestMatchHostname(t *testing.T) {
	cases := []struct {
		host, pattern string
		want          bool
	}{
		{"www.example.com", "www.example.com", true},
		{"WWW.Example.COM", "www.example.com", true},
		{"www.example.com.", "www.example.com", true},
		{"www.example.com", "www.example.com.", true},
		{"example.com", "www.example.com", false},
		{"a.example.com", "*.example.com", true},
		{"example.com", "*.example.com", false},
		{"a.b.example.com", "*.example.com", false},
		{".example.com", "*.example.com", false},
		{"a.com", "*.com", false},
		{"www.example.com", "w*.example.com", true},
		{"web.example.com", "w*b.example.com", true},
		{"wb.example.com", "w*b.example.com", true},
		{"w.example.com", "w*b.example.com", false},
		{"xn--bcher-kva.example.com", "x*.example.com", false},
		{"xn--bcher-kva.example.com", "*.example.com", true},
		{"a.example.com", "a.*.com", false},
		{"a.example.com", "*.*.com", false},
		{"", "*.example.com", false},
		{"a.example.com", "", false},
		{"*.example.com", "*.example.com", true}, // literal, as Go's crypto/x509 also accepts
	}
	for _, c := range cases {
		if got := MatchHostname(c.host, c.pattern); got != c.want {
			t.Errorf("MatchHostname(%q, %q) = %v, want %v", c.host, c.pattern, got, c.want)
		}
	}
}

func TestIntelListFormats(t *testing.T) {
	dir := t.TempDir()
	lists := []IntelList{
		{Type: "cert_sha1", File: writeFile(t, dir, "sslblacklist.csv", `################################################################
# abuse.ch SSLBL SSL Certificate Blacklist (SHA1 Fingerprints)  #
# Last updated: 2024-05-01 07:00:00 UTC                         #
################################################################
#
# Listingdate,SHA1,Listingreason
2024-04-30 11:01:44,a1b2c3d4e5f60718293a4b5c6d7e8f9012345678,AsyncRAT C&C
2024-04-29 10:00:00,ffffffffffffffffffffffffffffffffffffffff,Dridex C&C
`)},
		{Type: "ja3", File: writeFile(t, dir, "ja3_fingerprints.csv", `# abuse.ch
# ja3_md5,Firstseen,Lastseen,Listingreason
b386946a5a44d1ddcc843bc75336dfce,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex
8991a387e4cc841740f25d6f5139f92d,2017-07-14 19:00:00,2019-07-27 20:00:00,Adware
`)},
		{Type: "ip", File: writeFile(t, dir, "ips.txt", "10.0.0.0/8\n10.1.0.0/16\n10.1.2.3\n192.168.1.0/24\n::ffff:172.16.0.0/108\n2001:db8::/32\n")},
		{Type: "domain", File: writeFile(t, dir, "domains.txt", "Evil.Example.\n*.wild.test\n")},
		{Type: "ja4", File: writeFile(t, dir, "ja4.txt", "t13d1516h2_8daaf6152771_e5627efa2ab1\n")},
	}
	s, _, err := loadIntel(lists, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.stats(); got != (IntelStats{JA3: 2, JA4: 1, CertSHA1: 2, Domain: 2, IP: 6}) {
		t.Errorf("stats %+v", got)
	}
	e := s.hashes[intelCertSHA1]["A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"]
	if e.reason != "AsyncRAT C&C" || s.lists[e.list] != "sslblacklist.csv" || e.orig != "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678" {
		t.Errorf("sslbl entry %+v", e)
	}
	if e := s.hashes[intelJA3]["b386946a5a44d1ddcc843bc75336dfce"]; e.reason != "Dridex" {
		t.Errorf("ja3 entry %+v", e)
	}
	for _, c := range []struct {
		name, entry string
	}{{"evil.example", "evil.example"}, {"a.EVIL.example.", "evil.example"}, {"x.wild.test", "wild.test"}, {"wild.test", "wild.test"}, {"example", ""}, {"notevil.example", ""}} {
		_, key, ok := s.domainLookup(c.name)
		if ok != (c.entry != "") || key != c.entry {
			t.Errorf("domain %s: %q %v, want %q", c.name, key, ok, c.entry)
		}
	}
	for _, c := range []struct{ ip, entry string }{
		{"10.1.2.3", "10.1.2.3"}, {"10.1.2.4", "10.1.0.0/16"}, {"10.2.0.1", "10.0.0.0/8"}, {"11.0.0.1", ""},
		{"172.16.5.5", "::ffff:172.16.0.0/108"}, {"::ffff:10.1.2.3", "10.1.2.3"}, {"2001:db8:1::1", "2001:db8::/32"},
		{"2001:db9::1", ""}, {"192.168.1.255", "192.168.1.0/24"}, {"192.168.2.0", ""},
	} {
		i, ok := s.ips.lookup(netip.MustParseAddr(c.ip).Unmap())
		got := ""
		if ok {
			got = s.ips.origs[i]
		}
		if got != c.entry {
			t.Errorf("ip %s: %q, want %q", c.ip, got, c.entry)
		}
	}

	bad := writeFile(t, dir, "bad.txt", "b386946a5a44d1ddcc843bc75336dfce\nnot-a-hash\n")
	if _, _, err := loadIntel([]IntelList{{Type: "ja3", File: bad}}, 0); err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Errorf("bad line: %v", err)
	}
	if _, _, err := loadIntel([]IntelList{{Type: "md5", File: bad}}, 0); err == nil {
		t.Error("unknown type accepted")
	}
}

// The range search agrees with a linear scan over random nested prefixes.
func TestIPSetAgainstLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b ipBuilder
	var prefixes []netip.Prefix
	for i := 0; i < 3000; i++ {
		var a netip.Addr
		var bits int
		if r.IntN(4) == 0 {
			var x [16]byte
			x[0], x[1], x[2] = 0x20, 0x01, byte(r.IntN(4))
			x[3] = byte(r.IntN(256))
			a, bits = netip.AddrFrom16(x), 16+r.IntN(49)
		} else {
			a, bits = netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))}), 8+r.IntN(25)
		}
		p := netip.PrefixFrom(a, bits).Masked()
		prefixes = append(prefixes, p)
		b.add(p, intelEntry{}, p.String())
	}
	set := b.build()
	for i := 0; i < 20000; i++ {
		var a netip.Addr
		if r.IntN(4) == 0 {
			var x [16]byte
			x[0], x[1], x[2], x[3] = 0x20, 0x01, byte(r.IntN(4)), byte(r.IntN(256))
			x[4], x[15] = byte(r.IntN(256)), byte(r.IntN(256))
			a = netip.AddrFrom16(x)
		} else {
			a = netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		want := false
		best := -1
		for _, p := range prefixes {
			if p.Contains(a) {
				want = true
				if p.Bits() > best {
					best = p.Bits()
				}
			}
		}
		j, got := set.lookup(a)
		if got != want {
			t.Fatalf("%s: got %v, want %v", a, got, want)
		}
		if got {
			p := netip.MustParsePrefix(set.origs[j])
			if !p.Contains(a) || p.Bits() != best {
				t.Fatalf("%s: matched %s, want the most specific (/%d)", a, p, best)
			}
		}
	}
}

// JA3, JA4 and certificate SHA-1 lists match what tlsparse computes, and
// the alert names the list and the entry.
func TestIntelFingerprints(t *testing.T) {
	s := testSession(t)
	_, ja3 := tlsparse.JA3(s.TLS.ClientHello)
	ja4 := tlsparse.JA4(s.TLS.ClientHello, false)
	if ja3 == "" || ja4 == "" {
		t.Skip("tlsparse fingerprints not implemented")
	}
	leafSHA1 := s.Certificates[0].SHA1
	dir := t.TempDir()
	e, err := New(Config{Roots: getPKI(t).pool, Intel: []IntelList{
		{Name: "ja3-list", Type: "ja3", File: writeFile(t, dir, "a", fmt.Sprintf("%s,2020-01-01,2020-02-01,TestBot\n", strings.ToUpper(ja3)))},
		{Name: "ja4-list", Type: "ja4", File: writeFile(t, dir, "b", ja4+"\n")},
		{Name: "sslbl", Type: "cert_sha1", File: writeFile(t, dir, "c", "2024-01-01 00:00:00,"+strings.ToLower(leafSHA1)+",TestC2\n")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	v := e.Evaluate(s)
	got := fired(v)
	for _, c := range []struct {
		rule  string
		match IntelMatch
	}{
		{"intel.ja3", IntelMatch{List: "ja3-list", Entry: strings.ToUpper(ja3), Field: "ja3", Reason: "TestBot",
			Value: ja3, DocField: "tls.client.ja3"}},
		{"intel.ja4", IntelMatch{List: "ja4-list", Entry: ja4, Field: "ja4", Value: ja4, DocField: "tlsentry.client.ja4"}},
		{"intel.cert_sha1", IntelMatch{List: "sslbl", Entry: strings.ToLower(leafSHA1), Field: "cert_sha1", Reason: "TestC2",
			Value: leafSHA1, DocField: "tls.server.hash.sha1"}},
	} {
		a := got[c.rule]
		if a == nil {
			t.Errorf("%s did not fire: %s", c.rule, alertList(v))
			continue
		}
		if a.Intel == nil || *a.Intel != c.match {
			t.Errorf("%s: intel %+v, want %+v", c.rule, a.Intel, c.match)
		}
	}
	// The other session fields do not match.
	s2 := testSession(t, func(s *session.Session) { s.TLS.ClientHello.CipherSuites = []uint16{0x1301} })
	for id := range fired(e.Evaluate(s2)) {
		if id == "intel.ja3" || id == "intel.ja4" {
			t.Errorf("%s fired on another client", id)
		}
	}
}

// TestIntelLimits: byte order mark, empty lists, size and line limits.
func TestIntelLimits(t *testing.T) {
	const hash = "b386946a5a44d1ddcc843bc75336dfce"
	long := strings.Repeat("x", 1000)
	cases := []struct {
		name, typ, text string
		max             int64
		entries         int    // JA3 + domain entries loaded
		warn            string // in the warning, "" for none
		err             string // in the error, "" for none
	}{
		{name: "plain", typ: "ja3", text: hash + "\n", entries: 1},
		{name: "BOM", typ: "ja3", text: "\uFEFF" + hash + "\n", entries: 1},
		{name: "BOM before a header", typ: "ja3", text: "\uFEFFja3_md5,Firstseen,Lastseen,Listingreason\n" + hash + ",a,b,Dridex\n", entries: 1},
		{name: "BOM before a comment", typ: "domain", text: "\uFEFF# list\nevil.test\n", entries: 1},
		{name: "BOM only", typ: "ja3", text: "\uFEFF", warn: "no entries loaded"},
		{name: "empty", typ: "ja3", text: "", warn: "no entries loaded"},
		{name: "comments only", typ: "domain", text: "# nothing today\n\n", warn: "no entries loaded"},
		{name: "header only", typ: "ja3", text: "ja3_md5,Firstseen,Lastseen,Listingreason\n", warn: "no entries loaded"},
		{name: "at the limit", typ: "ja3", text: hash + "\n", max: 33, entries: 1},
		{name: "over the limit", typ: "ja3", text: hash + "\n" + hash + "\n", max: 33, err: "longer than the limit of 33 bytes"},
		{name: "line too long", typ: "domain", text: "evil.test\n" + strings.Repeat("a", maxIntelLine+1) + "\n", err: ":2: line longer than 65536 bytes"},
		{name: "long reason cut", typ: "ja3", text: hash + ",a,b," + long + "\n", entries: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := writeFile(t, t.TempDir(), "list.txt", c.text)
			s, warns, err := loadIntel([]IntelList{{Name: "l", Type: c.typ, File: f}}, c.max)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), f) {
					t.Fatalf("error %v, want one naming %s and saying %q", err, f, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st := s.stats(); st.JA3+st.Domain != c.entries {
				t.Errorf("entries %+v, want %d", st, c.entries)
			}
			if c.warn == "" && len(warns) > 0 || c.warn != "" && (len(warns) != 1 || !strings.Contains(warns[0], c.warn) || !strings.Contains(warns[0], f)) {
				t.Errorf("warnings %q, want one naming %s and saying %q", warns, f, c.warn)
			}
			for _, e := range s.hashes[intelJA3] {
				if len(e.reason) > maxIntelReason {
					t.Errorf("reason of %d bytes kept", len(e.reason))
				}
			}
		})
	}
	// A list that is not a regular file (a pipe) is bounded while read.
	if _, err := os.Stat("/dev/fd/0"); err == nil {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range 1000 {
				if _, err := w.WriteString(hash + "\n"); err != nil {
					break
				}
			}
			w.Close()
		}()
		name := fmt.Sprintf("/dev/fd/%d", r.Fd())
		_, _, err = loadIntel([]IntelList{{Type: "ja3", File: name}}, 1000)
		r.Close()
		if err == nil || !strings.Contains(err.Error(), "longer than the limit of 1000 bytes") {
			t.Errorf("pipe: %v", err)
		}
	}
	// The engine returns the warnings.
	f := writeFile(t, t.TempDir(), "empty.csv", "# Listingdate,SHA1,Listingreason\n")
	e, err := New(Config{NoBuiltin: true, Roots: []*x509.Certificate{}, Intel: []IntelList{{Type: "cert_sha1", File: f}}})
	if err != nil {
		t.Fatal(err)
	}
	if w := e.Warnings(); len(w) != 1 || !strings.Contains(w[0], f) {
		t.Errorf("Warnings() = %q", w)
	}
}

// An intel match names the session's value and the document field that
// matched, for threat.enrichments.matched.atomic and matched.field.
func TestIntelMatchedField(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, typ, list string
		mut             func(*session.Session)
		rule            string
		want            IntelMatch
	}{
		{"sni", "domain", "example.test\n", nil, "intel.domain",
			IntelMatch{Entry: "example.test", Field: "sni", Value: "www.example.test", DocField: "tls.client.server_name"}},
		{"cert name", "domain", "example.test\n", func(s *session.Session) { s.TLS.ClientHello.ServerName = "" }, "intel.domain",
			IntelMatch{Entry: "example.test", Field: "cert_name", Value: "www.example.test", DocField: "tls.server.x509.alternative_names"}},
		{"server cidr", "ip", "198.51.100.0/24\n", nil, "intel.ip",
			IntelMatch{Entry: "198.51.100.0/24", Field: "ip", Value: "198.51.100.7", DocField: "destination.ip"}},
		{"client address", "ip", "192.0.2.10\n", nil, "intel.ip",
			IntelMatch{Entry: "192.0.2.10", Field: "ip", Value: "192.0.2.10", DocField: "source.ip"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := New(Config{Roots: getPKI(t).pool, Intel: []IntelList{
				{Name: "l", Type: c.typ, File: writeFile(t, dir, c.name, c.list)},
			}})
			if err != nil {
				t.Fatal(err)
			}
			var mut []func(*session.Session)
			if c.mut != nil {
				mut = append(mut, c.mut)
			}
			v := e.Evaluate(testSession(t, mut...))
			a := fired(v)[c.rule]
			if a == nil {
				t.Fatalf("%s did not fire: %s", c.rule, alertList(v))
			}
			c.want.List = "l"
			if *a.Intel != c.want {
				t.Errorf("intel %+v, want %+v", *a.Intel, c.want)
			}
		})
	}
}
