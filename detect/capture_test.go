//go:debug tlsrsakex=1
//go:debug tls3des=1

package detect

import (
	"context"
	"crypto/tls"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/session"
)

// These tests write captures with the project's generators (crypto/tls
// conversations from internal/tlsgen, hand-built byte streams framed by
// internal/pcapgen), read them back through capture (decode, reassembly,
// tlsparse) and judge the sessions: the whole path a capture file takes.

type conv struct {
	name   string
	server netip.AddrPort
	// Either a crypto/tls conversation ...
	client, srv *tls.Config
	// ... or raw bytes per direction, in order (client first).
	raw      [][2][]byte
	segSize  int // client segments of at most this many bytes (0: MSS)
	wantFire []string
	wantNot  []string
}

func runConvs(t *testing.T, convs []conv) map[string]Verdict {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	w, err := pcapgen.Create(path, pcapgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := pcapgen.NewClock(t0, time.Millisecond)
	byClient := map[netip.AddrPort]string{}
	for i, c := range convs {
		client := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(40000+i))
		byClient[client] = c.name
		cv, err := w.NewConv(pcapgen.ConvConfig{Client: client, Server: c.server, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := cv.Handshake(); err != nil {
			t.Fatal(err)
		}
		send := func(d pcapgen.Dir, b []byte) {
			if len(b) == 0 {
				return
			}
			size := 0
			if d == pcapgen.ClientToServer {
				size = c.segSize
			}
			if err := cv.Emit(cv.Segments(d, b, size)...); err != nil {
				t.Fatal(err)
			}
			if err := cv.Ack(1 - d); err != nil {
				t.Fatal(err)
			}
		}
		if c.client != nil {
			tr, err := tlsgen.Run(tlsgen.Options{Client: c.client, Server: c.srv, Seed: uint64(i + 1), Time: t0,
				Request: []byte("GET / HTTP/1.1\r\n\r\n"), Response: []byte("HTTP/1.1 200 OK\r\n\r\n")})
			if err != nil {
				t.Fatal(err)
			}
			if tr.ClientErr != nil || tr.ServerErr != nil {
				t.Fatalf("%s: handshake: client %v, server %v", c.name, tr.ClientErr, tr.ServerErr)
			}
			for _, ev := range tr.Events {
				d := ev.Dir()
				send(d, ev.Data)
			}
		}
		for _, pair := range c.raw {
			send(pcapgen.ClientToServer, pair[0])
			send(pcapgen.ServerToClient, pair[1])
		}
		if err := cv.Close(pcapgen.ClientToServer); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var mu sync.Mutex
	var sessions []*session.Session
	_, err = capture.Run(context.Background(), capture.Config{Workers: 1}, []capture.Source{src},
		session.HandlerFunc(func(s *session.Session) { mu.Lock(); sessions = append(sessions, s); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	e := testEngine(t)
	out := map[string]Verdict{}
	for _, s := range sessions {
		name := byClient[s.Client]
		if name == "" {
			name = byClient[s.Server] // the flow's orientation guessed the other way
		}
		out[name] = e.Evaluate(s)
	}
	for _, c := range convs {
		v, ok := out[c.name]
		if !ok {
			if len(c.wantFire) == 0 {
				continue // capture reports non-TLS flows only on 443: nothing to judge
			}
			t.Errorf("%s: no session from capture", c.name)
			continue
		}
		got := fired(v)
		for _, id := range c.wantFire {
			if got[id] == nil {
				t.Errorf("%s: %s did not fire; alerts:\n  %s", c.name, id, alertList(v))
			}
		}
		for _, id := range c.wantNot {
			if got[id] != nil {
				t.Errorf("%s: %s fired: %s", c.name, id, got[id].Message)
			}
		}
	}
	return out
}

func serverConfig(t *testing.T, chain ...*testCert) *tls.Config {
	var c tls.Certificate
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.cert.Raw)
	}
	c.PrivateKey = chain[0].key
	c.Leaf = chain[0].cert
	return &tls.Config{Certificates: []tls.Certificate{c}, CurvePreferences: []tls.CurveID{tls.X25519}}
}

func clientConfig(sni string, min, max uint16, suites ...uint16) *tls.Config {
	return &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: min, MaxVersion: max, CipherSuites: suites}
}

var (
	addr443  = netip.MustParseAddrPort("198.51.100.7:443")
	addr8443 = netip.MustParseAddrPort("198.51.100.7:8443")
)

func TestCaptureTLSConversations(t *testing.T) {
	p := getPKI(t)
	good := leafCert(t, certOpt{})
	expired := leafCert(t, certOpt{notBefore: t0.AddDate(0, -6, 0), notAfter: t0.AddDate(0, 0, -2)})
	future := leafCert(t, certOpt{notBefore: t0.AddDate(0, 0, 2), notAfter: t0.AddDate(0, 3, 0)})
	long := leafCert(t, certOpt{notBefore: t0.AddDate(0, -1, 0), notAfter: t0.AddDate(2, 0, 0)})
	weak := leafCert(t, certOpt{key: "rsa1024"})
	self := leafCert(t, certOpt{selfSigned: true, key: "p256"})
	sha1 := leafCert(t, certOpt{selfSigned: true, sigAlg: 3 /* x509.SHA1WithRSA */})
	otherCA := makeCert(t, certOpt{cn: "unknown CA", isCA: true, key: "p256", notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(1, 0, 0)})
	untrusted := leafCert(t, certOpt{issuer: otherCA})
	all := []string{"tls.deprecated_version", "tls.sslv2_hello", "tls.weak_cipher", "tls.no_forward_secrecy", "tls.weak_dh",
		"tls.missing_sni", "tls.heartbleed", "tls.fragmented_hello", "proto.non_tls_on_443", "cert.expired",
		"cert.not_yet_valid", "cert.self_signed", "cert.weak_key", "cert.weak_signature", "cert.name_mismatch",
		"cert.untrusted", "cert.long_validity"}
	convs := []conv{
		{name: "clean tls1.2", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, good, p.inter), wantNot: all},
		{name: "clean tls1.3", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS13, tls.VersionTLS13),
			srv: serverConfig(t, good, p.inter), wantNot: all},
		{name: "tls1.0 rsa rc4", server: addr443,
			client:   clientConfig("www.example.test", tls.VersionTLS10, tls.VersionTLS10, tls.TLS_RSA_WITH_RC4_128_SHA),
			srv:      withSuites(serverConfig(t, good, p.inter), tls.VersionTLS10, tls.TLS_RSA_WITH_RC4_128_SHA),
			wantFire: []string{"tls.deprecated_version", "tls.weak_cipher", "tls.no_forward_secrecy"},
			wantNot:  []string{"cert.untrusted", "cert.expired"}},
		{name: "tls1.1 3des", server: addr443,
			client:   clientConfig("www.example.test", tls.VersionTLS11, tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA),
			srv:      withSuites(serverConfig(t, good, p.inter), tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA),
			wantFire: []string{"tls.deprecated_version", "tls.weak_cipher"}, wantNot: []string{"tls.no_forward_secrecy"}},
		{name: "expired", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, expired, p.inter), wantFire: []string{"cert.expired"}, wantNot: []string{"cert.untrusted", "cert.not_yet_valid"}},
		{name: "expired, tls1.3 (invisible)", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS13, tls.VersionTLS13),
			srv: serverConfig(t, expired, p.inter), wantNot: all},
		{name: "not yet valid", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, future, p.inter), wantFire: []string{"cert.not_yet_valid"}, wantNot: []string{"cert.expired", "cert.untrusted"}},
		{name: "long validity", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, long, p.inter), wantFire: []string{"cert.long_validity"}, wantNot: []string{"cert.untrusted"}},
		{name: "rsa1024", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, weak, p.inter), wantFire: []string{"cert.weak_key"}, wantNot: []string{"cert.untrusted"}},
		{name: "self-signed", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, self), wantFire: []string{"cert.self_signed"}, wantNot: []string{"cert.untrusted", "cert.weak_signature"}},
		{name: "sha1 self-signed", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, sha1), wantFire: []string{"cert.weak_signature", "cert.self_signed"}},
		{name: "name mismatch", server: addr443, client: clientConfig("mail.other.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, good, p.inter), wantFire: []string{"cert.name_mismatch"}, wantNot: []string{"cert.untrusted"}},
		{name: "untrusted CA", server: addr443, client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, untrusted, otherCA), wantFire: []string{"cert.untrusted"}, wantNot: []string{"cert.self_signed"}},
		{name: "no sni on 443", server: addr443, client: clientConfig("", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, good, p.inter), wantFire: []string{"tls.missing_sni"}, wantNot: []string{"cert.name_mismatch"}},
		{name: "no sni on 8443", server: addr8443, client: clientConfig("", tls.VersionTLS12, tls.VersionTLS12),
			srv: serverConfig(t, good, p.inter), wantNot: []string{"tls.missing_sni"}},
		{name: "hello in 40-byte segments", server: addr443, segSize: 40,
			client: clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12),
			srv:    serverConfig(t, good, p.inter), wantFire: []string{"tls.fragmented_hello"}},
	}
	runConvs(t, convs)
}

func withSuites(c *tls.Config, v uint16, suites ...uint16) *tls.Config {
	c.MinVersion, c.MaxVersion, c.CipherSuites = v, v, suites
	return c
}

// clientHelloRecord returns the first record crypto/tls's client sends.
func clientHelloRecord(t *testing.T, cfg *tls.Config) []byte {
	p := getPKI(t)
	tr, err := tlsgen.Run(tlsgen.Options{Client: cfg, Server: serverConfig(t, leafCert(t, certOpt{}), p.inter), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	b := tr.Events[0].Data
	n := 5 + (int(b[3])<<8 | int(b[4]))
	return b[:n]
}

func record(typ uint8, version uint16, body []byte) []byte {
	var b cryptobyte.Builder
	b.AddUint8(typ)
	b.AddUint16(version)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(body) })
	return b.BytesOrPanic()
}

// sslv2ClientHello is an SSLv2-format CLIENT-HELLO offering TLS 1.0 with
// three cipher specs (RFC 6101 appendix E.1).
func sslv2ClientHello() []byte {
	var body cryptobyte.Builder
	body.AddUint8(1)       // CLIENT-HELLO
	body.AddUint16(0x0301) // version
	specs := []byte{0x00, 0x00, 0x2f, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x80}
	challenge := make([]byte, 16)
	for i := range challenge {
		challenge[i] = byte(i + 1)
	}
	body.AddUint16(uint16(len(specs)))
	body.AddUint16(0) // session id
	body.AddUint16(uint16(len(challenge)))
	body.AddBytes(specs)
	body.AddBytes(challenge)
	msg := body.BytesOrPanic()
	return append([]byte{0x80 | byte(len(msg)>>8), byte(len(msg))}, msg...)
}

func TestCaptureCraftedStreams(t *testing.T) {
	hello := clientHelloRecord(t, clientConfig("www.example.test", tls.VersionTLS12, tls.VersionTLS12))
	// The same ClientHello, its handshake message cut over four records.
	msg := hello[5:]
	var split []byte
	for i, q := 0, (len(msg)+3)/4; i < len(msg); i += q {
		split = append(split, record(22, 0x0301, msg[i:min(i+q, len(msg))])...)
	}
	// Heartbleed: a heartbeat request declaring 16384 bytes in a 3-byte record.
	bleed := record(24, 0x0303, []byte{1, 0x40, 0x00})
	honest := record(24, 0x0303, append([]byte{1, 0, 16}, make([]byte, 32)...))
	dhe := func(pBits int) []byte {
		var b cryptobyte.Builder
		b.AddUint8(2) // ServerHello
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint16(0x0303)
			b.AddBytes(make([]byte, 32))
			b.AddUint8(0)
			b.AddUint16(0x0033) // TLS_DHE_RSA_WITH_AES_128_CBC_SHA
			b.AddUint8(0)
		})
		b.AddUint8(12) // ServerKeyExchange
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			prime := make([]byte, pBits/8)
			prime[0], prime[len(prime)-1] = 0xff, 0x01
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(prime) })
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(2) })
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(prime[1:]) })
			b.AddUint16(0x0401)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 256)) })
		})
		b.AddUint8(14) // ServerHelloDone
		b.AddUint24(0)
		return record(22, 0x0303, b.BytesOrPanic())
	}
	convs := []conv{
		{name: "dhe 1024", server: addr443, raw: [][2][]byte{{hello, dhe(1024)}},
			wantFire: []string{"tls.weak_dh"}, wantNot: []string{"tls.no_forward_secrecy", "tls.weak_cipher"}},
		{name: "dhe 2048", server: addr443, raw: [][2][]byte{{hello, dhe(2048)}},
			wantNot: []string{"tls.weak_dh", "tls.no_forward_secrecy", "tls.weak_cipher"}},
		{name: "sslv2 hello", server: addr443, raw: [][2][]byte{{sslv2ClientHello(), nil}},
			wantFire: []string{"tls.sslv2_hello"}, wantNot: []string{"tls.missing_sni", "proto.non_tls_on_443"}},
		{name: "tls hello", server: addr443, raw: [][2][]byte{{hello, nil}},
			wantNot: []string{"tls.sslv2_hello", "tls.fragmented_hello", "tls.missing_sni", "proto.non_tls_on_443", "tls.heartbleed"}},
		{name: "hello over four records", server: addr443, raw: [][2][]byte{{split, nil}},
			wantFire: []string{"tls.fragmented_hello"}},
		{name: "heartbleed", server: addr443, raw: [][2][]byte{{append(append([]byte{}, hello...), bleed...), nil}},
			wantFire: []string{"tls.heartbleed"}},
		{name: "honest heartbeat", server: addr443, raw: [][2][]byte{{append(append([]byte{}, hello...), honest...), nil}},
			wantNot: []string{"tls.heartbleed"}},
		{name: "ssh on 443", server: addr443, raw: [][2][]byte{{[]byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")}},
			wantFire: []string{"proto.non_tls_on_443"}},
		{name: "http on 443", server: addr443, raw: [][2][]byte{{[]byte("GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"), []byte("HTTP/1.1 400 Bad Request\r\n\r\n")}},
			wantFire: []string{"proto.non_tls_on_443"}},
		{name: "ssh on 22", server: netip.MustParseAddrPort("198.51.100.7:22"), raw: [][2][]byte{{[]byte("SSH-2.0-OpenSSH_9.6\r\n"), []byte("SSH-2.0-OpenSSH_9.2\r\n")}},
			wantNot: []string{"proto.non_tls_on_443"}},
		{name: "garbage on 443", server: addr443, raw: [][2][]byte{{[]byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}, nil}},
			wantFire: []string{"proto.non_tls_on_443"}},
	}
	out := runConvs(t, convs)
	msgs := map[string]string{}
	for name, v := range out {
		for _, a := range v.Alerts {
			if a.Rule.ID == "proto.non_tls_on_443" {
				msgs[name] = a.Message
			}
		}
	}
	for name, want := range map[string]string{"ssh on 443": "SSH (not TLS)", "http on 443": "HTTP (not TLS)", "garbage on 443": "unknown (not TLS)"} {
		if m := msgs[name]; len(m) < len(want) || m[:len(want)] != want {
			t.Errorf("%s: message %q, want it to start with %q", name, m, want)
		}
	}
	_ = sort.Strings
}
