package tlsparse

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func TestServerKeyExchange(t *testing.T) {
	ecdhe := []byte{3, 0, 29, 4, 1, 2, 3, 4, 0x04, 0x03, 0, 2, 0xaa, 0xbb}
	dhe := func(p []byte) []byte {
		var b cryptobyte.Builder
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(2) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, len(p))) })
		return b.BytesOrPanic()
	}
	p1024 := append([]byte{0xff}, make([]byte, 127)...)
	p2048z := append([]byte{0, 0x80}, make([]byte, 255)...) // leading zero byte stripped
	p1023 := append([]byte{0x7f}, make([]byte, 127)...)
	psk := func(inner []byte) []byte { return append([]byte{0, 3, 'h', 'i', 'n'}, inner...) }
	tests := []struct {
		name  string
		suite uint16
		body  []byte
		want  ServerKeyExchange
		err   bool
	}{
		{"ecdhe-rsa-gcm", 0xc02f, ecdhe, ServerKeyExchange{NamedCurve: 29}, false},
		{"ecdhe-ecdsa-chacha", 0xcca9, ecdhe, ServerKeyExchange{NamedCurve: 29}, false},
		{"ecdhe-rsa-cbc", 0xc013, ecdhe, ServerKeyExchange{NamedCurve: 29}, false},
		{"ecdh-anon", 0xc018, ecdhe, ServerKeyExchange{NamedCurve: 29}, false},
		{"ecdhe-psk", 0xc035, psk(ecdhe), ServerKeyExchange{NamedCurve: 29}, false},
		{"dhe-rsa-1024", 0x0033, dhe(p1024), ServerKeyExchange{DHPrimeBits: 1024}, false},
		{"dhe-rsa-2048-leading-zero", 0x009e, dhe(p2048z), ServerKeyExchange{DHPrimeBits: 2048}, false},
		{"dhe-rsa-1023", 0xccaa, dhe(p1023), ServerKeyExchange{DHPrimeBits: 1023}, false},
		{"dhe-export", 0x0014, dhe(p1024[:64]), ServerKeyExchange{DHPrimeBits: 512}, false},
		{"dhe-psk", 0x00aa, psk(dhe(p1024)), ServerKeyExchange{DHPrimeBits: 1024}, false},
		{"rsa-export: no fields", 0x0003, []byte{0, 1, 2, 0, 1, 3}, ServerKeyExchange{}, false},
		{"ecdhe-explicit-curve", 0xc02f, []byte{1, 0, 29, 0}, ServerKeyExchange{}, true},
		{"ecdhe-truncated", 0xc02f, ecdhe[:3], ServerKeyExchange{}, true},
		{"dhe-truncated", 0x0033, dhe(p1024)[:100], ServerKeyExchange{}, true},
	}
	for _, tt := range tests {
		var ske ServerKeyExchange
		err := parseServerKeyExchange(&ske, tt.suite, tt.body)
		if (err != nil) != tt.err || ske != tt.want {
			t.Errorf("%s: %+v, %v; want %+v, error %v", tt.name, ske, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v does not wrap ErrMalformed", tt.name, err)
		}
	}
}

func TestKeyExchangeClassification(t *testing.T) {
	// A few suites of each kind, by IANA name.
	for suite, want := range map[uint16]keyExchangeKind{
		0x002f: kexOther, 0x0035: kexOther, 0x1301: kexOther, 0x009c: kexOther, 0xc005: kexOther, // RSA, TLS 1.3, ECDH_ECDSA
		0xc02b: kexECDHE, 0xc030: kexECDHE, 0xcca8: kexECDHE, 0xc009: kexECDHE, 0xc0ad: kexECDHE,
		0x0016: kexDHE, 0x0039: kexDHE, 0x009f: kexDHE, 0xccaa: kexDHE, 0x0067: kexDHE, 0x006b: kexDHE,
		0xc037: kexECDHEPSK, 0xccac: kexECDHEPSK, 0x008e: kexDHEPSK, 0xccad: kexDHEPSK,
	} {
		if got := keyExchangeOf(suite); got != want {
			t.Errorf("%#04x: %d, want %d", suite, got, want)
		}
	}
}

func TestCertificates(t *testing.T) {
	var b cryptobyte.Builder
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range [][]byte{bytes.Repeat([]byte{1}, 300), {2, 2}, bytes.Repeat([]byte{3}, 70000)} {
			b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c) })
		}
	})
	body := b.BytesOrPanic()
	certs, buf, err := appendCertificates(nil, nil, body)
	if err != nil || len(certs) != 3 || len(certs[0]) != 300 || !bytes.Equal(certs[1], []byte{2, 2}) || len(certs[2]) != 70000 {
		t.Fatalf("%d certs, %v", len(certs), err)
	}
	if len(buf) != 70302 {
		t.Errorf("buffer %d", len(buf))
	}
	// Copies: changing the input does not change the result.
	body[10] ^= 0xff
	if certs[0][4] != 1 {
		t.Errorf("certificate aliases the message")
	}
	// Appending to a certificate does not clobber the next one.
	_ = append(certs[1], 9)
	if certs[2][0] != 3 {
		t.Errorf("certificates share capacity")
	}
	// Every strict prefix is malformed (the outer length no longer fits).
	for n := range len(body) {
		if _, _, err := appendCertificates(nil, nil, body[:n]); err == nil {
			t.Fatalf("prefix %d accepted", n)
		}
	}
	// An inner length beyond the list keeps the certificates before it.
	bad := []byte{0, 0, 9, 0, 0, 1, 7, 0, 0, 9, 1, 1}
	certs, _, err = appendCertificates(nil, nil, bad)
	if err == nil || len(certs) != 1 || certs[0][0] != 7 {
		t.Errorf("%v %v", certs, err)
	}
}

func TestCertificateStatus(t *testing.T) {
	for _, tt := range []struct {
		body []byte
		ok   bool
	}{
		{[]byte{1, 0, 0, 2, 0xaa, 0xbb}, true},
		{[]byte{2, 0, 0, 0}, true},
		{[]byte{3, 0, 0, 0}, false},
		{[]byte{1, 0, 0, 3, 0xaa}, false},
		{[]byte{1, 0, 0, 1, 0xaa, 0xbb}, false},
		{nil, false},
	} {
		if err := parseCertificateStatus(tt.body); (err == nil) != tt.ok {
			t.Errorf("%x: %v", tt.body, err)
		}
	}
}

// record wraps content in TLS records of at most max bytes each.
func record(typ uint8, content []byte, max int) []byte {
	var out []byte
	for {
		n := min(len(content), max)
		out = append(out, typ, 3, 3, byte(n>>8), byte(n))
		out = append(out, content[:n]...)
		content = content[n:]
		if len(content) == 0 {
			return out
		}
	}
}

func hsMsg(typ uint8, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

// TestConnSynthesizedTLS12 walks a TLS 1.2 handshake built by hand, with the
// handshake messages split across many small records.
func TestConnSynthesizedTLS12(t *testing.T) {
	ch := buildClientHello(t, nil, browserCiphers, []helloExt{sniExt("s.example"), {extHeartbeat, raw(1)}})
	sh := buildServerHello(t, 0x0303, bytes.Repeat([]byte{5}, 32), []byte{1}, 0xc02f, []helloExt{{extHeartbeat, raw(1)}})
	var cb cryptobyte.Builder
	cb.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("leaf-der")) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte("ca-der")) })
	})
	cert := cb.BytesOrPanic()
	ske := []byte{3, 0, 23, 1, 4, 0x04, 0x01, 0, 0}
	server := slices.Concat(hsMsg(2, sh), hsMsg(11, cert), hsMsg(22, []byte{1, 0, 0, 1, 0x30}), hsMsg(12, ske), hsMsg(14, nil))
	c := &Conn{}
	c.Feed(ClientToServer, record(22, hsMsg(1, ch), 7))
	if hs := c.Handshake(); hs.ClientHelloRecords < 10 || !slices.Contains(hs.Anomalies.Names(), "fragmented_hello") {
		t.Errorf("records %d, anomalies %v", hs.ClientHelloRecords, hs.Anomalies)
	}
	c.Feed(ServerToClient, record(22, server, 5))
	// Heartbleed-style request from the client: declares 16384, carries 3.
	c.Feed(ClientToServer, record(24, []byte{1, 0x40, 0x00}, 100))
	c.Feed(ClientToServer, record(20, []byte{1}, 1))
	c.Feed(ClientToServer, record(22, bytes.Repeat([]byte{0xee}, 40), 100)) // encrypted Finished
	c.Feed(ClientToServer, record(21, []byte{0x99, 0x98, 0x97}, 100))       // encrypted alert
	if !c.Feed(ServerToClient, record(20, []byte{1}, 1)[:3]) {
		t.Fatal("stopped early")
	}
	if c.Feed(ServerToClient, record(20, []byte{1}, 1)[3:]) {
		t.Fatal("wants more after both CCS")
	}
	hs := c.Handshake()
	if hs.Err != nil || !hs.Established || hs.Resumed {
		t.Fatalf("%+v", hs)
	}
	if len(hs.ServerCertificates) != 2 || string(hs.ServerCertificates[0]) != "leaf-der" || !hs.CertificateStatus {
		t.Errorf("certificates %q status %v", hs.ServerCertificates, hs.CertificateStatus)
	}
	if hs.KeyExchange == nil || hs.KeyExchange.NamedCurve != 23 {
		t.Errorf("key exchange %+v", hs.KeyExchange)
	}
	if len(hs.Heartbeats) != 1 || !hs.Heartbeats[0].IsHeartbleed() || hs.Heartbeats[0].DeclaredLength != 0x4000 || hs.Heartbeats[0].RecordLength != 3 {
		t.Errorf("heartbeats %+v", hs.Heartbeats)
	}
	if len(hs.Alerts) != 1 || !hs.Alerts[0].Encrypted || hs.Alerts[0].Direction != ClientToServer {
		t.Errorf("alerts %+v", hs.Alerts)
	}
}

// TestConnSessionResumption: TLS 1.2 abbreviated handshakes, by session id
// and by ticket, and a full handshake that echoes nothing.
func TestConnSessionResumption(t *testing.T) {
	sid := bytes.Repeat([]byte{4}, 32)
	tests := []struct {
		name     string
		chSID    []byte
		ticket   []byte
		shSID    []byte
		full     bool
		resumed  bool
		withCert bool
	}{
		{"session-id", sid, nil, sid, false, true, false},
		{"ticket", nil, []byte{1, 2, 3}, nil, false, true, false},
		{"ticket-with-sid-echo", sid, []byte{1, 2, 3}, sid, false, true, false},
		{"new-session", sid, nil, bytes.Repeat([]byte{5}, 32), true, false, true},
		{"empty-ticket-full", nil, []byte{}, nil, true, false, true},
	}
	for _, tt := range tests {
		exts := []helloExt{sniExt("r.example"), {extSessionTicket, raw(tt.ticket...)}}
		ch := buildClientHello(t, tt.chSID, browserCiphers, exts)
		sh := buildServerHello(t, 0x0303, bytes.Repeat([]byte{5}, 32), tt.shSID, 0x009c, nil)
		server := hsMsg(2, sh)
		if tt.full {
			server = slices.Concat(server, hsMsg(11, []byte{0, 0, 4, 0, 0, 1, 0x30}), hsMsg(14, nil))
		} else {
			server = slices.Concat(server, hsMsg(4, []byte{0, 0, 0, 1, 0, 0}))
		}
		c := &Conn{}
		c.Feed(ClientToServer, record(22, hsMsg(1, ch), 1000))
		c.Feed(ServerToClient, record(22, server, 1000))
		c.Feed(ServerToClient, record(20, []byte{1}, 1))
		c.Feed(ClientToServer, record(20, []byte{1}, 1))
		hs := c.Handshake()
		if hs.Resumed != tt.resumed || !hs.Established || (len(hs.ServerCertificates) > 0) != tt.withCert {
			t.Errorf("%s: resumed %v established %v certs %d", tt.name, hs.Resumed, hs.Established, len(hs.ServerCertificates))
		}
	}
}

// TestConnTLS13ServerAlert: a TLS 1.3 server refusing the ClientHello with a
// cleartext fatal alert: not established, no encryption.
func TestConnTLS13ServerAlert(t *testing.T) {
	ch := buildClientHello(t, nil, browserCiphers, browserHelloExts())
	c := &Conn{}
	c.Feed(ClientToServer, record(22, hsMsg(1, ch), 1<<14))
	if c.Feed(ServerToClient, record(21, []byte{2, 40}, 2)) {
		t.Error("wants more after a fatal alert")
	}
	hs := c.Handshake()
	if hs.Established || hs.ServerEncrypted || len(hs.Alerts) != 1 || hs.Alerts[0].Description != 40 ||
		slices.Contains(hs.Anomalies.Names(), "midstream") {
		t.Errorf("%+v", hs)
	}
}
