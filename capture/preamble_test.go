package capture

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"slices"
	"testing"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// preambleTranscript is one TLS 1.2 connection to mail.example.com, made
// by crypto/tls, to play after a cleartext preamble.
func preambleTranscript(t *testing.T) *tlsgen.Transcript {
	t.Helper()
	r := tlsgen.NewRand(7)
	key, err := tlsgen.GenerateKey(tlsgen.P256, r)
	must(t, err)
	cert, err := tlsgen.Issue(tlsgen.CertSpec{Name: "mail", Key: tlsgen.P256, CommonName: "mail.example.com",
		DNSNames:  []string{"mail.example.com"},
		NotBefore: tlsgen.DefaultTime.AddDate(0, -1, 0), NotAfter: tlsgen.DefaultTime.AddDate(1, 0, 0),
		SigAlg: x509.ECDSAWithSHA256}, key, nil, r)
	must(t, err)
	srv := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Cert.Raw}, PrivateKey: cert.Key, Leaf: cert.Cert}}}
	cli := &tls.Config{ServerName: "mail.example.com", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	tr, err := tlsgen.Run(tlsgen.Options{Client: cli, Server: srv, Seed: 1, Request: []byte("EHLO x\r\n"), Response: []byte("250 ok\r\n")})
	must(t, err)
	if tr.ClientErr != nil || tr.ServerErr != nil {
		t.Fatalf("handshake: %v / %v", tr.ClientErr, tr.ServerErr)
	}
	return tr
}

// preambleCapture plays pre (cleartext exchanges), then tls (may be nil),
// on one connection client:40000 -> server:port, and returns its sessions.
func preambleCapture(t *testing.T, port uint16, pre []tlsgen.Event, tlsEvents []tlsgen.Event, segSize int) []*session.Session {
	t.Helper()
	events := append(slices.Clone(pre), tlsEvents...)
	path := capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		c := conv(t, w, clk, netip.MustParseAddrPort("192.0.2.10:40000"), netip.AddrPortFrom(netip.MustParseAddr("198.51.100.25"), port))
		must(t, tlsgen.Play(c, events, tlsgen.PlayOptions{SegmentSize: func(int, tlsgen.Event) int { return segSize }}))
	})
	ss, _, err := runFile(t, path, Config{Workers: 1})
	must(t, err)
	return ss
}

func cs(s string) tlsgen.Event { return tlsgen.Event{From: tlsgen.Client, Data: []byte(s)} }
func sc(s string) tlsgen.Event { return tlsgen.Event{From: tlsgen.Server, Data: []byte(s)} }

func TestPreambleThenTLS(t *testing.T) {
	tr := preambleTranscript(t)
	plain := preambleCapture(t, 443, nil, tr.Events, 0)
	if len(plain) != 1 || plain[0].TLS == nil || plain[0].TLS.ServerHello == nil {
		t.Fatalf("plain connection: %v", summaries(plain))
	}
	ref := plain[0].TLS
	_, ja3 := tlsparse.JA3(ref.ClientHello)
	_, ja3s := tlsparse.JA3S(ref.ServerHello)
	ja4 := tlsparse.JA4(ref.ClientHello, false)

	smtp := []tlsgen.Event{sc("220 mx.example.com ESMTP ready\r\n"), cs("EHLO client.example\r\n"),
		sc("250-mx.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"), cs("STARTTLS\r\n"),
		sc("220 2.0.0 Ready to start TLS\r\n")}
	tests := []struct {
		name    string
		port    uint16
		pre     []tlsgen.Event
		anomaly string
	}{
		{"smtp", 25, smtp, "starttls"},
		{"smtp-lowercase-lf", 587, []tlsgen.Event{sc("220-mx first\n220 mx ready\n"), cs("ehlo c\n"), sc("250 mx\n"),
			cs("starttls\n"), sc("220-go\n220 ahead\n")}, "starttls"},
		{"ftp", 21, []tlsgen.Event{sc("220 FTP server ready\r\n"), cs("FEAT\r\n"), sc("211-Features:\r\n AUTH TLS\r\n211 End\r\n"),
			cs("AUTH TLS\r\n"), sc("234 AUTH TLS successful\r\n")}, "starttls"},
		{"imap", 143, []tlsgen.Event{sc("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"), cs("a1 CAPABILITY\r\n"),
			sc("* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n"), cs("a2 STARTTLS\r\n"), sc("a2 OK Begin TLS negotiation now\r\n")}, "starttls"},
		{"pop3", 110, []tlsgen.Event{sc("+OK POP3 ready\r\n"), cs("CAPA\r\n"), sc("+OK\r\nSTLS\r\n.\r\n"), cs("STLS\r\n"),
			sc("+OK Begin TLS\r\n")}, "starttls"},
		{"xmpp", 5222, []tlsgen.Event{cs("<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"),
			sc("<?xml version='1.0'?><stream:stream from='example.com' id='x1' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"),
			cs("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
			sc("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")}, "starttls"},
		{"xmpp-end-tags", 5222, []tlsgen.Event{cs("<stream:stream to='x' version='1.0'>"), sc("<stream:stream from='x'><stream:features/>"),
			cs("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'></starttls>"), sc("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'></proceed>")}, "starttls"},
		{"http-connect", 3128, []tlsgen.Event{cs("CONNECT mail.example.com:443 HTTP/1.1\r\nHost: mail.example.com:443\r\nUser-Agent: x\r\n\r\n"),
			sc("HTTP/1.1 200 Connection established\r\nVia: proxy\r\n\r\n")}, "http_connect"},
		{"socks5-userpass-domain", 1080, []tlsgen.Event{cs("\x05\x02\x00\x02"), sc("\x05\x02"), cs("\x01\x04user\x04pass"), sc("\x01\x00"),
			cs("\x05\x01\x00\x03\x10mail.example.com\x01\xbb"), sc("\x05\x00\x00\x01\x0a\x00\x00\x01\x01\xbb")}, "socks"},
		{"socks5-ipv6", 1080, []tlsgen.Event{cs("\x05\x01\x00"), sc("\x05\x00"),
			cs("\x05\x01\x00\x04\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb"),
			sc("\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")}, "socks"},
		{"socks4", 1080, []tlsgen.Event{cs("\x04\x01\x01\xbb\xc6\x33\x64\x19bob\x00"), sc("\x00\x5a\x00\x00\x00\x00\x00\x00")}, "socks"},
		{"socks4a", 1080, []tlsgen.Event{cs("\x04\x01\x01\xbb\x00\x00\x00\x01\x00mail.example.com\x00"), sc("\x00\x5a\x00\x00\x00\x00\x00\x00")}, "socks"},
	}
	for _, tt := range tests {
		for _, seg := range []int{0, 1, 7} {
			ss := preambleCapture(t, tt.port, tt.pre, tr.Events, seg)
			if len(ss) != 1 {
				t.Errorf("%s/seg %d: %d sessions, want 1", tt.name, seg, len(ss))
				continue
			}
			s := ss[0]
			hs := s.TLS
			if s.Protocol != session.TLS || hs == nil || hs.ClientHello == nil || hs.ServerHello == nil {
				t.Errorf("%s/seg %d: %s", tt.name, seg, summary(s))
				continue
			}
			if s.Server.Port() != tt.port || hs.ClientHello.ServerName != "mail.example.com" || !hs.Established || len(s.Certificates) != 1 {
				t.Errorf("%s/seg %d: server %v sni %q established %v certs %d", tt.name, seg, s.Server, hs.ClientHello.ServerName, hs.Established, len(s.Certificates))
			}
			_, gotJA3 := tlsparse.JA3(hs.ClientHello)
			_, gotJA3S := tlsparse.JA3S(hs.ServerHello)
			if gotJA3 != ja3 || gotJA3S != ja3s || tlsparse.JA4(hs.ClientHello, false) != ja4 {
				t.Errorf("%s/seg %d: fingerprints differ from the plain connection", tt.name, seg)
			}
			if !slices.Contains(hs.Anomalies.Names(), tt.anomaly) {
				t.Errorf("%s/seg %d: anomalies %v, want %q", tt.name, seg, hs.Anomalies, tt.anomaly)
			}
			if slices.ContainsFunc(hs.Anomalies.Names(), func(a string) bool { return a == "not_tls_client" || a == "not_tls_server" || a == "midstream" }) {
				t.Errorf("%s/seg %d: anomalies %v", tt.name, seg, hs.Anomalies)
			}
		}
	}
}

// Refused, truncated or bogus preambles give no TLS session, even when TLS
// bytes follow.
func TestPreambleNotTLS(t *testing.T) {
	tr := preambleTranscript(t)
	long := make([]byte, 20<<10)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name string
		pre  []tlsgen.Event
		want string // Protocol
	}{
		{"smtp-refused", []tlsgen.Event{sc("220 mx\r\n"), cs("EHLO c\r\n"), sc("250 mx\r\n"), cs("STARTTLS\r\n"), sc("454 TLS not available\r\n")}, "unknown"},
		{"smtp-no-starttls", []tlsgen.Event{sc("220 mx\r\n"), cs("EHLO c\r\n"), sc("250 mx\r\n"), cs("MAIL FROM:<a@b>\r\n"), sc("250 ok\r\n")}, "unknown"},
		{"smtp-truncated", []tlsgen.Event{sc("220 mx\r\n"), cs("EHLO c\r\n"), sc("250 mx\r\n"), cs("STARTT")}, "unknown"},
		{"smtp-bogus-reply", []tlsgen.Event{sc("220 mx\r\n"), cs("STARTTLS\r\n"), sc("hello there\r\n")}, "unknown"},
		{"smtp-endless-line", []tlsgen.Event{sc("220 mx\r\n"), cs(string(long))}, "unknown"},
		{"smtp-too-many-lines", []tlsgen.Event{sc("220 mx\r\n"), cs(string(bytesRepeat("NOOP\r\n", 100)))}, "unknown"},
		{"imap-no", []tlsgen.Event{sc("* OK ready\r\n"), cs("a1 STARTTLS\r\n"), sc("a1 NO not now\r\n")}, "unknown"},
		{"pop3-err", []tlsgen.Event{sc("+OK ready\r\n"), cs("STLS\r\n"), sc("-ERR no\r\n")}, "unknown"},
		{"xmpp-failure", []tlsgen.Event{cs("<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"),
			sc("<?xml version='1.0'?><stream:stream from='example.com' id='x1' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"),
			cs("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
			sc("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")}, "unknown"},
		{"xmpp-no-starttls", []tlsgen.Event{cs("<?xml version='1.0'?><stream:stream to='x'>"), sc("<?xml version='1.0'?><stream:stream from='x'>"),
			cs("<auth mechanism='PLAIN'>AGFAYgBj</auth>")}, "unknown"},
		{"connect-407", []tlsgen.Event{cs("CONNECT mail.example.com:443 HTTP/1.1\r\n\r\n"),
			sc("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")}, "http"},
		{"connect-bogus-status", []tlsgen.Event{cs("CONNECT mail.example.com:443 HTTP/1.1\r\n\r\n"), sc("HTTP/1.1 2000 OK\r\n\r\n")}, "http"},
		{"connect-truncated", []tlsgen.Event{cs("CONNECT mail.example.com:443 HTTP/1.1\r\nHost: x")}, "http"},
		{"socks5-no-method", []tlsgen.Event{cs("\x05\x01\x00"), sc("\x05\xff")}, "unknown"},
		{"socks5-gssapi", []tlsgen.Event{cs("\x05\x01\x01"), sc("\x05\x01")}, "unknown"},
		{"socks5-auth-failed", []tlsgen.Event{cs("\x05\x01\x02"), sc("\x05\x02"), cs("\x01\x01u\x01p"), sc("\x01\x01")}, "unknown"},
		{"socks5-refused", []tlsgen.Event{cs("\x05\x01\x00"), sc("\x05\x00"), cs("\x05\x01\x00\x01\x0a\x00\x00\x01\x01\xbb"),
			sc("\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")}, "unknown"},
		{"socks5-bad-atyp", []tlsgen.Event{cs("\x05\x01\x00"), sc("\x05\x00"), cs("\x05\x01\x00\x09\x0a\x00\x00\x01\x01\xbb")}, "unknown"},
		{"socks4-rejected", []tlsgen.Event{cs("\x04\x01\x01\xbb\x0a\x00\x00\x01\x00"), sc("\x00\x5b\x00\x00\x00\x00\x00\x00")}, "unknown"},
		{"garbage-then-hello", []tlsgen.Event{cs("\x0e\x2d\x88\x4a\xa7\x8b\xc4\x9b\x81\x5d\x33\x1c\xad\x68\xaf\x9f")}, "unknown"},
	}
	for _, tt := range tests {
		for _, seg := range []int{0, 3} {
			// Port 443, so that a non-TLS session is emitted too.
			ss := preambleCapture(t, 443, tt.pre, tr.Events, seg)
			if len(ss) != 1 {
				t.Errorf("%s/seg %d: %d sessions, want 1", tt.name, seg, len(ss))
				continue
			}
			if s := ss[0]; s.Protocol.String() != tt.want || s.TLS != nil {
				t.Errorf("%s/seg %d: %s, want protocol %s without TLS", tt.name, seg, summary(s), tt.want)
			}
		}
	}
}

func bytesRepeat(s string, n int) []byte {
	var b []byte
	for range n {
		b = append(b, s...)
	}
	return b
}
