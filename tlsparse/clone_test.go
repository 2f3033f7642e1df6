package tlsparse

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"reflect"
	"testing"
	"unsafe"
)

// TestCloneShared: Clone and CloneShared give the same handshake; neither
// shares memory with the Conn (a reused Conn leaves them as they were);
// CloneShared's certificates are the cache's copies and its summaries are
// the cache's.
func TestCloneShared(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true,
			NextProtos: []string{"h2", "http/1.1"}, MaxVersion: v}, &tls.Config{NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		c := connFeedAll(tr, nil)
		orig := c.Handshake()
		if orig.ClientHello == nil || orig.ServerHello == nil || (v == tls.VersionTLS12) != (len(orig.ServerCertificates) > 0) {
			t.Fatalf("TLS %x: handshake incomplete: %+v", v, orig) // TLS 1.3 certificates are encrypted
		}
		cache := NewCertCache(16)
		plain := orig.Clone()
		shared, sums := orig.CloneShared(cache)
		if !reflect.DeepEqual(plain, shared) {
			t.Errorf("TLS %x: CloneShared differs from Clone:\n%+v\n%+v", v, shared, plain)
		}
		if len(sums) != len(orig.ServerCertificates) {
			t.Fatalf("TLS %x: %d summaries for %d certificates", v, len(sums), len(orig.ServerCertificates))
		}
		for i, der := range shared.ServerCertificates {
			sum, kept := cache.SummaryDER(orig.ServerCertificates[i])
			if sum != sums[i] || &kept[0] != &der[0] {
				t.Errorf("TLS %x: certificate %d is not the cache's copy", v, i)
			}
		}
		// A second clone from the cache copies no certificate again.
		if again, _ := orig.CloneShared(cache); len(orig.ServerCertificates) > 0 && &again.ServerCertificates[0][0] != &shared.ServerCertificates[0][0] {
			t.Errorf("TLS %x: a second CloneShared copied the certificate again", v)
		}
		// Lists are capped: appending to one does not overwrite the next.
		ch := shared.ClientHello
		_ = append(ch.CipherSuites, 0xffff)
		_ = append(ch.Random, 0xff)
		if !reflect.DeepEqual(plain.ClientHello, ch) {
			t.Errorf("TLS %x: appending to a cloned list changed another", v)
		}

		// Reuse the Conn for something else: the clones stay as they were.
		want := plain.Clone()
		var wantDER []byte
		if len(shared.ServerCertificates) > 0 {
			wantDER = bytes.Clone(shared.ServerCertificates[0])
		}
		c.Reset()
		junk := &connTranscript{events: tr.events}
		for i := range junk.events {
			d := bytes.Clone(junk.events[i].data)
			for j := 5; j < len(d); j += 7 {
				d[j] ^= 0x5a
			}
			c.Feed(junk.events[i].dir, d)
		}
		for _, e := range tr.events { // and a real second handshake
			c.Feed(e.dir, e.data)
		}
		if !reflect.DeepEqual(plain, want) || !reflect.DeepEqual(shared, want) ||
			(wantDER != nil && !bytes.Equal(shared.ServerCertificates[0], wantDER)) {
			t.Errorf("TLS %x: a clone changed when the Conn was reused", v)
		}
	}
}

// BenchmarkHandshakeClone: the copy capture makes of every session's
// handshake (certificates from a warm cache).
func BenchmarkHandshakeClone(b *testing.B) {
	t := &testing.T{}
	tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true,
		NextProtos: []string{"h2", "http/1.1"}, MaxVersion: tls.VersionTLS12}, &tls.Config{NextProtos: []string{"h2"}})
	if err != nil {
		b.Fatal(err)
	}
	hs := connFeedAll(tr, nil).Handshake()
	cache := NewCertCache(16)
	b.Run("Clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := hs.Clone()
			for _, der := range n.ServerCertificates {
				cache.Summary(der)
			}
		}
	})
	b.Run("CloneShared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hs.CloneShared(cache)
		}
	})
}

// TestCertCacheOwnsDER: a summary does not point into the caller's buffer,
// which capture reuses for the next connection (the x509.Certificate of a
// summary made from it would change under the cache).
func TestCertCacheOwnsDER(t *testing.T) {
	cert, err := connTestCertOnce()
	if err != nil {
		t.Fatal(err)
	}
	der := cert.Certificate[0]
	for name, c := range map[string]*CertCache{"cache": NewCertCache(16), "no cache": nil, "size 0": NewCertCache(0)} {
		buf := bytes.Clone(der)
		sum, kept := c.SummaryDER(buf)
		plain := c.Summary(bytes.Clone(der))
		clear(buf)
		if sum.Cert == nil || !bytes.Equal(sum.Cert.Raw, der) || !bytes.Equal(kept, der) || plain.Cert == nil || !bytes.Equal(plain.Cert.Raw, der) {
			t.Errorf("%s: the summary or the kept copy changed with the caller's buffer", name)
		}
	}
}

// TestCloneVariants: every shape of handshake (either hello, both, with a
// HelloRetryRequest, a key exchange, certificates, alerts) clones to an
// equal copy that shares nothing with the original, whose lists are capped
// (appending to one leaves the others as they were).
func TestCloneVariants(t *testing.T) {
	newCH := func() *ClientHello {
		return &ClientHello{LegacyVersion: 0x0303, Random: []byte{1, 2, 3}, SessionID: []byte{4, 5},
			CipherSuites: []uint16{0x1301, 0x1302}, CompressionMethods: []uint8{0}, Extensions: []uint16{0, 10, 43},
			ServerName: "a.test", SupportedGroups: []uint16{29}, ECPointFormats: []uint8{0},
			SignatureAlgorithms: []uint16{0x0403}, ALPN: []string{"h2"}, SupportedVersions: []uint16{0x0304},
			KeyShareGroups: []uint16{29}, PSKModes: []uint8{1}}
	}
	newSH := func() *ServerHello {
		return &ServerHello{LegacyVersion: 0x0303, Random: []byte{6, 7}, SessionID: []byte{8}, CipherSuite: 0x1301,
			Extensions: []uint16{43, 51}}
	}
	tests := []struct {
		name string
		hs   func() *Handshake
	}{
		{"client hello", func() *Handshake { return &Handshake{ClientHello: newCH()} }},
		{"server hello", func() *Handshake { return &Handshake{ServerHello: newSH()} }},
		{"both", func() *Handshake { return &Handshake{ClientHello: newCH(), ServerHello: newSH()} }},
		{"both, key exchange", func() *Handshake {
			return &Handshake{ClientHello: newCH(), ServerHello: newSH(), KeyExchange: &ServerKeyExchange{NamedCurve: 23}}
		}},
		{"client hello, key exchange", func() *Handshake {
			return &Handshake{ClientHello: newCH(), KeyExchange: &ServerKeyExchange{NamedCurve: 23}}
		}},
		{"retry", func() *Handshake {
			return &Handshake{ClientHello: newCH(), ServerHello: newSH(), HelloRetryRequest: newSH(), ClientHelloCount: 2}
		}},
		{"empty lists", func() *Handshake { return &Handshake{ClientHello: &ClientHello{}, ServerHello: &ServerHello{}} }},
		{"certificates, alerts", func() *Handshake {
			return &Handshake{ClientHello: newCH(), ServerHello: newSH(), ClientCertificates: [][]byte{{9, 9}},
				Alerts: []Alert{{Level: 2, Description: 40}}, Heartbeats: []Heartbeat{{}}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig, want := tc.hs(), tc.hs()
			n, _ := orig.CloneShared(nil)
			if !reflect.DeepEqual(n, want) {
				t.Fatalf("clone differs:\n%+v\n%+v", n, want)
			}
			if orig.KeyExchange != nil && n.KeyExchange == orig.KeyExchange {
				t.Error("the key exchange is shared")
			}
			// Scribble over the original: the clone does not change.
			for _, ch := range []*ClientHello{orig.ClientHello} {
				if ch != nil {
					for _, l := range [][]uint16{ch.CipherSuites, ch.Extensions, ch.SupportedGroups, ch.SignatureAlgorithms, ch.SupportedVersions, ch.KeyShareGroups} {
						clear(l)
					}
					for _, l := range [][]byte{ch.Random, ch.SessionID, ch.CompressionMethods, ch.ECPointFormats, ch.PSKModes} {
						clear(l)
					}
					clear(ch.ALPN)
				}
			}
			for _, sh := range []*ServerHello{orig.ServerHello, orig.HelloRetryRequest} {
				if sh != nil {
					clear(sh.Random)
					clear(sh.SessionID)
					clear(sh.Extensions)
				}
			}
			if orig.KeyExchange != nil {
				orig.KeyExchange.NamedCurve = 0
			}
			if !reflect.DeepEqual(n, want) {
				t.Fatalf("the clone changed with the original:\n%+v\n%+v", n, want)
			}
			// Append to every list of the clone: the others do not change.
			if ch := n.ClientHello; ch != nil {
				for _, l := range [][]uint16{ch.CipherSuites, ch.Extensions, ch.SupportedGroups, ch.SignatureAlgorithms, ch.SupportedVersions, ch.KeyShareGroups} {
					_ = append(l, 0xffff)
				}
				for _, l := range [][]byte{ch.Random, ch.SessionID, ch.CompressionMethods, ch.ECPointFormats, ch.PSKModes} {
					_ = append(l, 0xff)
				}
			}
			for _, sh := range []*ServerHello{n.ServerHello, n.HelloRetryRequest} {
				if sh != nil {
					_ = append(sh.Random, 0xff)
					_ = append(sh.SessionID, 0xff)
					_ = append(sh.Extensions, 0xffff)
				}
			}
			if !reflect.DeepEqual(n, want) {
				t.Fatalf("appending to a list of the clone changed another:\n%+v\n%+v", n, want)
			}
		})
	}
}

// TestCloneRoomSize: cloneRoom and its malloc header fill a 1152-byte size
// class; growing it past that costs a 1280-byte object.
func TestCloneRoomSize(t *testing.T) {
	const header = 8 // objects over 512 bytes with pointers
	if n := unsafe.Sizeof(cloneRoom{}) + header; n > 1152 || n < 1152-16 {
		t.Errorf("cloneRoom takes %d bytes with its header, want a little under 1152", n)
	}
}

// TestCloneScratch: a clone of a hello Unmarshal filled in (its lists
// copied as the scratch's two arrays) equals one copied list by list, for
// every prefix of a few hellos (complete, truncated, malformed, SSLv2); its
// lists are capped and survive the next Unmarshal.
func TestCloneScratch(t *testing.T) {
	bodies := [][]byte{
		buildClientHello(t, bytes.Repeat([]byte{7}, 32), browserCiphers, browserHelloExts()),
		buildClientHello(t, []byte{1, 2, 3}, []uint16{0x002f, 0x0035}, []helloExt{sniExt("a.b"), {extSupportedGroups, raw(0, 3, 0, 29, 0)}}),
		buildClientHello(t, nil, browserCiphers, []helloExt{{extExtendedMasterSecret, nil}, {extExtendedMasterSecret, nil}}),
	}
	v2 := []byte{1, 3, 1, 0, 6, 0, 0, 0, 16, 0, 0, 0x39, 0x07, 0x00, 0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	var ch ClientHello
	check := func(name string) {
		t.Helper()
		byList := ch
		byList.scr = nil
		want := byList.Clone()
		got := ch.Clone()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: clone of the parsed hello differs:\n%+v\n%+v", name, got, want)
		}
		for _, l := range [][]uint16{got.CipherSuites, got.Extensions, got.SupportedGroups, got.SignatureAlgorithms, got.SupportedVersions, got.KeyShareGroups} {
			_ = append(l, 0xffff)
		}
		for _, l := range [][]byte{got.Random, got.SessionID, got.CompressionMethods, got.ECPointFormats, got.PSKModes} {
			_ = append(l, 0xff)
		}
		ch.Unmarshal(bodies[0][:len(bodies[0])/2]) // reuse the scratch
		ch.Unmarshal(bodies[1])
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the clone changed with an append to it or the next Unmarshal", name)
		}
	}
	for bi, body := range bodies {
		for n := range len(body) + 1 {
			ch.Unmarshal(body[:n])
			check(fmt.Sprintf("body %d prefix %d", bi, n))
		}
	}
	ch.unmarshalSSLv2(v2)
	check("SSLv2")
}

// TestRetainedBytesRoom: the estimate of a copy with both hellos covers
// its cloneRoom, which CloneShared allocates whole; one with a single
// hello counts only what it lists.
func TestRetainedBytesRoom(t *testing.T) {
	tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true,
		MaxVersion: tls.VersionTLS12}, &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := connFeedAll(tr, nil).Handshake()
	room := int(unsafe.Sizeof(cloneRoom{}))
	if got := hs.RetainedBytes(); got < room || got < hs.listedBytes() {
		t.Errorf("both hellos: RetainedBytes %d, want at least the room's %d and the lists' %d", got, room, hs.listedBytes())
	}
	clientOnly := *hs
	clientOnly.ServerHello = nil
	if got, want := clientOnly.RetainedBytes(), clientOnly.listedBytes(); got != want || got >= room {
		t.Errorf("ClientHello only: RetainedBytes %d, want its lists' %d (under the room's %d)", got, want, room)
	}
}
