package tlsparse

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

func TestPreambleStart(t *testing.T) {
	tests := []struct {
		dir  Direction
		in   string
		want preKind
	}{
		{ServerToClient, "220 mx ESMTP\r\n", preReply3},
		{ServerToClient, "220-mx ESMTP\r\n", preReply3},
		{ServerToClient, "* OK ready\r\n", preIMAP},
		{ServerToClient, "+OK POP3\r\n", prePOP3},
		{ServerToClient, "221 bye\r\n", preNone},
		{ServerToClient, "SSH-2.0-x\r\n", preNone},
		{ServerToClient, "\x16\x03\x03\x00\x10", preNone},
		{ClientToServer, "CONNECT a:443 HTTP/1.1\r\n", preConnect},
		{ClientToServer, "CONNECTX", preNone},
		{ClientToServer, "GET / HTTP/1.1\r\n", preNone},
		{ClientToServer, "<?xml version='1.0'?>", preXMPP},
		{ClientToServer, "<stream:stream to='x'>", preXMPP},
		{ClientToServer, "<stream:streamX", preNone},
		{ClientToServer, "\x05\x02\x00\x01", preSOCKS5},
		{ClientToServer, "\x05\x01\x02", preSOCKS5},
		{ClientToServer, "\x05\x01\x80", preSOCKS5},
		{ClientToServer, "\x05\x00", preNone},
		{ClientToServer, "\x05\x01\xff", preNone},
		{ClientToServer, "\x05\x01\x20", preNone},
		{ClientToServer, "\x05\x0f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", preNone},
		{ClientToServer, "\x04\x01\x01\xbb\x0a\x00\x00\x01\x00", preSOCKS4},
		{ClientToServer, "\x04\x01\x01\xbbabcdbob\x00", preSOCKS4},
		{ClientToServer, "\x04\x03\x01\xbb\x0a\x00\x00\x01\x00", preNone},
		{ClientToServer, "\x04\x01\x00\x00\x0a\x00\x00\x01\x00", preNone},
		{ClientToServer, "\x04\x01\x01\xbb\x0a\x00\x00\x01\x01", preNone},
		{ClientToServer, "\x16\x03\x01\x02\x00\x01", preNone},
		{ClientToServer, "220 mx\r\n", preNone}, // a banner is the server's
	}
	for _, tt := range tests {
		b := []byte(tt.in)
		k, ok := preambleStart(tt.dir, b)
		if !ok || k != tt.want {
			t.Errorf("%q: %v %v, want %v", tt.in, k, ok, tt.want)
		}
		// Every strict prefix either waits or decides the same way.
		for n := range len(b) {
			if k2, ok := preambleStart(tt.dir, b[:n]); ok && k2 != tt.want {
				t.Errorf("%q[:%d]: %v, want %v or undecided", tt.in, n, k2, tt.want)
			}
		}
	}
	// It always decides with sniffLen bytes.
	for i := range 256 {
		for _, dir := range []Direction{ClientToServer, ServerToClient} {
			b := make([]byte, sniffLen)
			b[0], b[1] = byte(i), 1
			if _, ok := preambleStart(dir, b); !ok {
				t.Errorf("%x...: undecided with %d bytes", b[:2], sniffLen)
			}
		}
	}
}

// preambleEvents are cleartext exchanges played before a TLS handshake.
var preambleEvents = map[string][]connEvent{
	"smtp": {{ServerToClient, []byte("220 mx ESMTP\r\n")}, {ClientToServer, []byte("EHLO c\r\n")},
		{ServerToClient, []byte("250-mx\r\n250 STARTTLS\r\n")}, {ClientToServer, []byte("STARTTLS\r\n")},
		{ServerToClient, []byte("220 go ahead\r\n")}},
	"xmpp": {{ClientToServer, []byte("<?xml version='1.0'?><stream:stream to='x' version='1.0'>")},
		{ServerToClient, []byte("<?xml version='1.0'?><stream:stream from='x'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>")},
		{ClientToServer, []byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")},
		{ServerToClient, []byte("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")}},
	"connect": {{ClientToServer, []byte("CONNECT server.test:443 HTTP/1.0\r\n\r\n")},
		{ServerToClient, []byte("HTTP/1.0 200 OK\r\nServer: p\r\n\r\n")}},
	"socks5": {{ClientToServer, []byte{5, 1, 0}}, {ServerToClient, []byte{5, 0}},
		{ClientToServer, []byte{5, 1, 0, 1, 10, 0, 0, 1, 1, 0xbb}}, {ServerToClient, []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}}},
}

func TestConnPreamble(t *testing.T) {
	tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	plain := connFeedAll(tr, nil).Handshake().Clone()
	if plain.ClientHello == nil || !plain.Established {
		t.Fatalf("plain handshake: %+v", plain)
	}
	for name, pre := range preambleEvents {
		ptr := &connTranscript{events: slices.Concat(pre, tr.events)}
		connCheckChunking(t, name, ptr)
		hs := connFeedAll(ptr, nil).Handshake()
		want := connComparable(plain)
		want.Anomalies.Add(map[string]Anomaly{"smtp": AnomalyStartTLS, "xmpp": AnomalyStartTLS, "connect": AnomalyHTTPConnect, "socks5": AnomalySOCKS}[name])
		if got := connComparable(hs); got.Protocol != ProtocolTLS || !got.Established || got.ClientHello.ServerName != "server.test" ||
			got.Anomalies != want.Anomalies || len(got.ServerCertificates) != 1 {
			t.Errorf("%s: %+v", name, got)
		}

		// Allocation-free in steady state, like a plain handshake.
		var c Conn
		run := func() {
			c.Reset()
			for _, e := range ptr.events {
				if !c.Feed(e.dir, e.data) {
					break
				}
			}
		}
		run()
		if n := testing.AllocsPerRun(20, run); n != 0 {
			t.Errorf("%s: %v allocations per connection, want 0", name, n)
		}

		// Every truncation of the preamble: no TLS, no panic.
		var all []connEvent
		for _, e := range pre {
			for i := range e.data {
				all = append(all, connEvent{e.dir, e.data[i : i+1]})
			}
		}
		for n := range len(all) {
			var c Conn
			for _, e := range all[:n] {
				c.Feed(e.dir, e.data)
			}
			if hs := c.Handshake(); hs.Protocol == ProtocolTLS || hs.ClientHello != nil {
				t.Errorf("%s cut at %d: %+v", name, n, hs)
			}
		}
	}
}

func TestConnPreambleBounds(t *testing.T) {
	feed := func(evs ...connEvent) (*Handshake, bool) {
		var c Conn
		want := true
		for _, e := range evs {
			want = c.Feed(e.dir, e.data)
		}
		return c.Handshake(), want
	}
	banner := connEvent{ServerToClient, []byte("220 mx\r\n")}
	// A line that never ends, and too many lines.
	if hs, want := feed(banner, connEvent{ClientToServer, []byte(strings.Repeat("x", maxPreambleBytes+1))}); want || hs.Protocol != ProtocolUnknown {
		t.Errorf("endless line: wantMore %v protocol %v", want, hs.Protocol)
	}
	if hs, want := feed(banner, connEvent{ClientToServer, []byte(strings.Repeat("NOOP\r\n", maxPreambleLines))}); want || hs.Protocol != ProtocolUnknown {
		t.Errorf("too many lines: wantMore %v protocol %v", want, hs.Protocol)
	}
	if _, want := feed(banner, connEvent{ClientToServer, []byte(strings.Repeat("NOOP\r\n", maxPreambleLines-2))}); !want {
		t.Errorf("a few lines: parsing stopped")
	}
	// A long SOCKS5 user name stays within the byte bound.
	user := append([]byte{1, 255}, make([]byte, 255)...)
	if _, want := feed(connEvent{ClientToServer, []byte{5, 1, 2}}, connEvent{ServerToClient, []byte{5, 2}},
		connEvent{ClientToServer, append(user, 0)}); !want {
		t.Errorf("socks5 user/password: parsing stopped")
	}
	// After the preamble, non-TLS bytes end parsing as before.
	if hs, want := feed(banner, connEvent{ClientToServer, []byte("STARTTLS\r\n")}, connEvent{ServerToClient, []byte("220 ok\r\n")},
		connEvent{ClientToServer, []byte("QUIT\r\n")}); want || hs.Protocol != ProtocolUnknown || hs.Anomalies.Len() != 0 {
		t.Errorf("text after STARTTLS: wantMore %v %+v", want, hs)
	}
}

// BenchmarkConnPreamble parses an SMTP STARTTLS exchange and the TLS 1.2
// handshake after it, with a pooled Conn.
func BenchmarkConnPreamble(b *testing.B) {
	t := &testing.T{}
	tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, &tls.Config{})
	if err != nil {
		b.Fatal(err)
	}
	evs := slices.Concat(preambleEvents["smtp"], tr.events)
	var c Conn
	b.ReportAllocs()
	for b.Loop() {
		c.Reset()
		for _, e := range evs {
			if !c.Feed(e.dir, e.data) {
				break
			}
		}
	}
	if c.Handshake().ClientHello == nil {
		b.Fatal("no ClientHello")
	}
}
