package detect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
)

func profileOf(sizes ...int16) session.Profile {
	var p session.Profile
	for _, v := range sizes {
		d := 0
		n := int(v)
		if v < 0 {
			d, n = 1, -n
		}
		p.Payloads[d]++
		p.Bytes[d] += uint64(n)
		if n <= session.SmallPayload {
			p.Small[d]++
		}
		if int(p.N) < len(p.First) {
			p.First[p.N] = v
			p.N++
		}
	}
	return p
}

func TestTunnelHeuristics(t *testing.T) {
	steady := session.Profile{Payloads: [2]uint32{300, 280}, Small: [2]uint32{290, 270}, Bytes: [2]uint64{30000, 33000}}
	for _, c := range []struct {
		name string
		p    session.Profile
		d    time.Duration
		tr   session.Transport
		pr   session.Protocol
		want string
	}{
		{"vpn-like", steady, 5 * time.Minute, session.TCP, session.TLS, "long_flow"},
		{"too short", steady, 50 * time.Second, session.TCP, session.TLS, ""},
		{"idle most of the time", steady, 30 * time.Minute, session.TCP, session.TLS, ""},
		{"one-sided", session.Profile{Payloads: [2]uint32{300, 100}, Small: [2]uint32{300, 100}}, 5 * time.Minute, session.TCP, session.TLS, ""},
		{"large packets (a download)", session.Profile{Payloads: [2]uint32{300, 300}, Small: [2]uint32{290, 100}}, 5 * time.Minute, session.TCP, session.TLS, ""},
		{"not TLS", steady, 5 * time.Minute, session.TCP, session.SSH, ""},
		{"inner TLS 1.3", profileOf(300, -1200, 80, -40, 300, -2000), time.Second, session.TCP, session.TLS, "tls_in_tls"},
		{"inner Finished then data in one flight", profileOf(88, -24, 295, -1194, 86, 89, -87), time.Second, session.TCP, session.TLS, "tls_in_tls"},
		{"after the outer TLS 1.3 ticket", profileOf(-250, 517, -3000, 120, -60), time.Second, session.TCP, session.TLS, "tls_in_tls"},
		{"web: request, response, next request", profileOf(420, -5000, 380, -4000), time.Second, session.TCP, session.TLS, ""},
		{"web: one exchange", profileOf(300, -1200, 80), time.Second, session.TCP, session.TLS, ""},
		{"h2: headers apart from data, window update", profileOf(300, -150, -4000, 60, -3000), time.Second, session.TCP, session.TLS, ""},
		{"h2 of the inner-handshake shape (a known false positive)", profileOf(420, -5000, 380, -4000, 100, -90), time.Second, session.TCP, session.TLS, "tls_in_tls"},
		{"hello split in two packets", profileOf(300, 200, -1200, 80, -40), time.Second, session.TCP, session.TLS, ""},
		{"too late", profileOf(50, -50, 50, -50, 50, -50, 50, -50, 300, -1200, 80, -40), time.Second, session.TCP, session.TLS, ""},
		{"empty", session.Profile{}, time.Hour, session.TCP, session.TLS, ""},
	} {
		s := &session.Session{Start: time.Unix(1e9, 0), Transport: c.tr, Protocol: c.pr, Profile: c.p}
		s.End = s.Start.Add(c.d)
		got := tunnel(s)
		if got.kind != c.want {
			t.Errorf("%s: kind %q (%s), want %q", c.name, got.kind, got.reason, c.want)
		}
		if (got.kind == "") != (got.reason == "") {
			t.Errorf("%s: kind %q, reason %q", c.name, got.kind, got.reason)
		}
	}
}

func TestDoHList(t *testing.T) {
	s, err := loadDoH("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sni, addr, want string
	}{
		{"dns.google", "198.51.100.1", "dns.google"},
		{"DNS.Google.", "198.51.100.1", "dns.google"},
		{"abc.dns.nextdns.io", "198.51.100.1", "dns.nextdns.io"},
		{"", "1.1.1.1", "1.1.1.1"},
		{"", "::ffff:8.8.8.8", "8.8.8.8"},
		{"", "2606:4700:4700::1111", "2606:4700:4700::1111"},
		{"www.example.com", "198.51.100.1", ""},
		{"google", "198.51.100.1", ""},
		{"notdns.google.example", "198.51.100.1", ""},
	} {
		if got := s.match(c.sni, netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("%q %s: %q, want %q", c.sni, c.addr, got, c.want)
		}
	}
	if len(s.names) < 20 || len(s.addrs) < 20 {
		t.Errorf("shipped list: %d names, %d addresses", len(s.names), len(s.addrs))
	}
	// The filters keep every entry: each, and a subdomain of each, matches
	// as the maps alone say.
	for n := range s.names {
		for _, sni := range []string{n, "x." + n, strings.ToUpper(n) + "."} {
			if got := s.match(sni, netip.MustParseAddr("198.51.100.1")); got != n {
				t.Errorf("%q: %q, want %q", sni, got, n)
			}
		}
	}
	for a := range s.addrs {
		if got := s.match("www.example.com", a); got != a.String() {
			t.Errorf("%s: %q, want %q", a, got, a.String())
		}
	}
	for _, c := range []struct{ text, want string }{
		{"dns.google\nexa mple\n", "x.txt:2:"},
		{"# c\n\n1.1.1.1 # Cloudflare\nbad..name\n", "x.txt:4:"},
	} {
		if _, err := parseDoH("x.txt", []byte(c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %s", c.text, err, c.want)
		}
	}
}

func TestExpiringWindow(t *testing.T) {
	if _, err := New(Config{ExpiringWindow: -time.Hour}); err == nil {
		t.Error("negative window accepted")
	}
}

func TestTunnelNoAlloc(t *testing.T) {
	s := &session.Session{Transport: session.TCP, Protocol: session.TLS, Profile: profileOf(420, -5000, 380, -4000)}
	if n := testing.AllocsPerRun(100, func() { tunnel(s) }); n != 0 {
		t.Errorf("%v allocations a session without a tunnel", n)
	}
}
