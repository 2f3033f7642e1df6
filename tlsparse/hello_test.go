package tlsparse

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// helloExt is one extension for the synthesized hellos.
type helloExt struct {
	typ  uint16
	body func(b *cryptobyte.Builder)
}

func u16List(vals ...uint16) func(b *cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, v := range vals {
				b.AddUint16(v)
			}
		})
	}
}

func raw(p ...byte) func(b *cryptobyte.Builder) {
	return func(b *cryptobyte.Builder) { b.AddBytes(p) }
}

func sniExt(name string) helloExt {
	return helloExt{extServerName, func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			b.AddUint8(0)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
		})
	}}
}

func alpnExt(protos ...string) helloExt {
	return helloExt{extALPN, func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, p := range protos {
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(p)) })
			}
		})
	}}
}

// browserHelloExts is the extension list of a Chrome-like TLS 1.3 hello.
func browserHelloExts() []helloExt {
	return []helloExt{
		{0x0a0a, nil},
		sniExt("www.example.com"),
		{extExtendedMasterSecret, nil},
		{extRenegotiationInfo, raw(0)},
		{extSupportedGroups, u16List(0x3a3a, 0x11ec, 29, 23, 24)},
		{extECPointFormats, raw(1, 0)},
		{extSessionTicket, nil},
		alpnExt("h2", "http/1.1"),
		{extStatusRequest, raw(1, 0, 0, 0, 0)},
		{extSignatureAlgorithms, u16List(0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)},
		{18, nil},
		{extKeyShare, func(b *cryptobyte.Builder) {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
				b.AddUint16(0x3a3a)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
				b.AddUint16(29)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
			})
		}},
		{extPSKModes, raw(1, 1)},
		{extSupportedVersions, raw(6, 0x5a, 0x5a, 3, 4, 3, 3)},
		{27, raw(2, 0, 2)},
		{extECH, raw(0, 0, 1, 0, 1, 0x42, 0, 0, 0, 0)},
		{0x4a4a, raw(0)},
		{extPadding, raw(make([]byte, 20)...)},
	}
}

// buildClientHello returns a ClientHello body (after the 4-byte header).
func buildClientHello(t testing.TB, sid []byte, ciphers []uint16, exts []helloExt) []byte {
	var b cryptobyte.Builder
	b.AddUint16(0x0303)
	b.AddBytes(bytes.Repeat([]byte{0x11}, 32))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sid) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, c := range ciphers {
			b.AddUint16(c)
		}
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
	if exts != nil {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddUint16(e.typ)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					if e.body != nil {
						e.body(b)
					}
				})
			}
		})
	}
	body, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

var browserCiphers = []uint16{0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035}

func TestClientHelloBrowser(t *testing.T) {
	body := buildClientHello(t, bytes.Repeat([]byte{7}, 32), browserCiphers, browserHelloExts())
	var ch ClientHello
	if err := ch.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	want := ClientHello{
		LegacyVersion:        0x0303,
		Random:               bytes.Repeat([]byte{0x11}, 32),
		SessionID:            bytes.Repeat([]byte{7}, 32),
		CipherSuites:         browserCiphers,
		CompressionMethods:   []uint8{0},
		Extensions:           []uint16{0x0a0a, 0, 23, 0xff01, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 0xfe0d, 0x4a4a, 21},
		ServerName:           "www.example.com",
		SupportedGroups:      []uint16{0x3a3a, 0x11ec, 29, 23, 24},
		ECPointFormats:       []uint8{0},
		SignatureAlgorithms:  []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		ALPN:                 []string{"h2", "http/1.1"},
		SupportedVersions:    []uint16{0x5a5a, 0x0304, 0x0303},
		KeyShareGroups:       []uint16{0x3a3a, 29},
		PSKModes:             []uint8{1},
		SessionTicket:        true,
		ExtendedMasterSecret: true,
		RenegotiationInfo:    true,
		StatusRequest:        true,
		ECH:                  true,
		Padding:              true,
	}
	if got := ch.Clone(); !reflect.DeepEqual(got, want.Clone()) {
		t.Errorf("got  %+v\nwant %+v", got, want.Clone())
	}
}

// TestClientHelloPrefixes: every strict prefix of a valid message is
// incomplete, never mis-parsed. At the message level (with the 4-byte
// header, as the record layer sees it) every prefix is short of the declared
// length; at the body level, every prefix is ErrIncomplete except the one
// ending right before the extensions block, which is a valid hello without
// extensions (SSL 3.0 style).
func TestClientHelloPrefixes(t *testing.T) {
	bodies := [][]byte{
		buildClientHello(t, bytes.Repeat([]byte{7}, 32), browserCiphers, browserHelloExts()),
		buildClientHello(t, nil, []uint16{0x002f}, nil),
		buildClientHello(t, []byte{1, 2, 3}, []uint16{0x002f, 0x0035}, []helloExt{sniExt("a.b")}),
	}
	for bi, body := range bodies {
		noExt := 2 + 32 + 1 + int(body[34]) // version, random, sid
		noExt += 2 + (int(body[noExt])<<8 | int(body[noExt+1]))
		noExt += 1 + int(body[noExt])
		for n := range len(body) {
			var ch ClientHello
			err := ch.Unmarshal(body[:n])
			if n == noExt {
				if err != nil || ch.Extensions != nil {
					t.Errorf("body %d prefix %d (no extensions): %v %v", bi, n, err, ch.Extensions)
				}
				continue
			}
			if !errors.Is(err, ErrIncomplete) {
				t.Errorf("body %d prefix %d/%d: %v, want ErrIncomplete", bi, n, len(body), err)
			}
		}
		// Through the record layer: no ClientHello until the last byte.
		msg := append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
		rec := append([]byte{22, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
		var c Conn
		for i := range rec {
			c.Feed(ClientToServer, rec[i:i+1])
			if got := c.Handshake().ClientHello != nil; got != (i == len(rec)-1) {
				t.Fatalf("body %d: ClientHello present=%v after %d/%d bytes", bi, got, i+1, len(rec))
			}
		}
	}
}

func TestClientHelloMalformed(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		extErr  bool // only an extension is bad: fields still filled
		wantSNI string
	}{
		{"duplicate-extension", buildClientHello(t, nil, browserCiphers,
			[]helloExt{sniExt("dup.example"), {extExtendedMasterSecret, nil}, {extExtendedMasterSecret, nil}}), true, "dup.example"},
		{"duplicate-sni", buildClientHello(t, nil, browserCiphers,
			[]helloExt{sniExt("first.example"), sniExt("second.example")}), true, "first.example"},
		{"odd-groups", buildClientHello(t, nil, browserCiphers,
			[]helloExt{sniExt("x.example"), {extSupportedGroups, raw(0, 3, 0, 29, 0)}}), true, "x.example"},
		{"ems-with-data", buildClientHello(t, nil, browserCiphers,
			[]helloExt{{extExtendedMasterSecret, raw(1)}, sniExt("y.example")}), true, "y.example"},
		{"empty-alpn-name", buildClientHello(t, nil, browserCiphers,
			[]helloExt{alpnExt("h2", "")}), true, ""},
		{"odd-ciphers", func() []byte {
			b := buildClientHello(t, nil, []uint16{0x002f}, nil)
			b[35], b[36] = 0, 3 // cipher list length 3
			return append(b, 0)
		}(), false, ""},
		{"long-session-id", buildClientHello(t, make([]byte, 33), browserCiphers, nil), false, ""},
		{"trailing-data", append(buildClientHello(t, nil, browserCiphers, []helloExt{sniExt("z")}), 0), false, ""},
		{"framing-error-after-sni", func() []byte {
			b := buildClientHello(t, nil, browserCiphers, []helloExt{sniExt("kept.example"), {extExtendedMasterSecret, nil}})
			b[len(b)-1] = 5 // last extension claims 5 bytes the block does not have
			return b
		}(), false, "kept.example"},
		{"bad-extension-framing", func() []byte {
			b := buildClientHello(t, nil, browserCiphers, []helloExt{sniExt("z.example")})
			b[len(b)-len("z.example")-4]++ // server_name list length off by one
			return b
		}(), true, ""},
	}
	for _, tt := range tests {
		var ch ClientHello
		err := ch.Unmarshal(tt.body)
		if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrIncomplete) {
			t.Errorf("%s: err %v, want ErrMalformed", tt.name, err)
			continue
		}
		if IsExtensionError(err) != tt.extErr || !ch.Malformed {
			t.Errorf("%s: IsExtensionError %v Malformed %v", tt.name, IsExtensionError(err), ch.Malformed)
		}
		if ch.ServerName != tt.wantSNI {
			t.Errorf("%s: SNI %q, want %q", tt.name, ch.ServerName, tt.wantSNI)
		}
	}
}

// TestClientHelloManyExtensions: duplicate detection stays cheap on hostile
// input (thousands of extensions).
func TestClientHelloManyExtensions(t *testing.T) {
	var exts []helloExt
	for i := range 10000 {
		exts = append(exts, helloExt{uint16(1000 + i), nil})
	}
	exts = append(exts, helloExt{1000, nil})
	var ch ClientHello
	if err := ch.Unmarshal(buildClientHello(t, nil, browserCiphers, exts)); err != errClientHelloDup {
		t.Fatalf("err %v", err)
	}
	if len(ch.Extensions) != 10001 {
		t.Errorf("%d extensions", len(ch.Extensions))
	}
}

func TestClientHelloReuse(t *testing.T) {
	a := buildClientHello(t, bytes.Repeat([]byte{7}, 32), browserCiphers, browserHelloExts())
	b := buildClientHello(t, nil, []uint16{0x002f}, []helloExt{sniExt("other.example")})
	var reused, fa, fb ClientHello
	fa.Unmarshal(a)
	fb.Unmarshal(b)
	for i, body := range [][]byte{a, b, a, b} {
		reused.Unmarshal(body)
		want := &fa
		if i%2 == 1 {
			want = &fb
		}
		if !reflect.DeepEqual(reused.Clone(), want.Clone()) {
			t.Fatalf("round %d: reused differs", i)
		}
	}
}

func TestSSLv2ClientHello(t *testing.T) {
	// Zeek's ssl-v2.pcap CLIENT-HELLO (record body): version 2, 7 specs.
	msg := []byte{1, 0, 2, 0, 0x15, 0, 0, 0, 0x10,
		0x07, 0x00, 0xc0, 0x05, 0x00, 0x80, 0x03, 0x00, 0x80, 0x01, 0x00, 0x80, 0x06, 0x00, 0x40, 0x04, 0x00, 0x80, 0x02, 0x00, 0x80,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	var ch ClientHello
	if err := ch.unmarshalSSLv2(msg); err != nil {
		t.Fatal(err)
	}
	if !ch.SSLv2 || ch.LegacyVersion != 2 || len(ch.CipherSuites) != 0 || len(ch.Random) != 16 {
		t.Errorf("%+v", ch)
	}
	// SSLv2-compatible TLS hello: specs with a zero first byte are TLS suites.
	msg = []byte{1, 3, 1, 0, 6, 0, 0, 0, 16, 0, 0, 0x39, 0x07, 0x00, 0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if err := ch.unmarshalSSLv2(msg); err != nil {
		t.Fatal(err)
	}
	if ch.LegacyVersion != 0x0301 || !slices.Equal(ch.CipherSuites, []uint16{0x39}) {
		t.Errorf("%+v", ch)
	}
	for n := range len(msg) {
		if err := ch.unmarshalSSLv2(msg[:n]); !errors.Is(err, ErrIncomplete) {
			t.Errorf("prefix %d: %v", n, err)
		}
	}
}

func buildServerHello(t testing.TB, version uint16, random []byte, sid []byte, cipher uint16, exts []helloExt) []byte {
	var b cryptobyte.Builder
	b.AddUint16(version)
	b.AddBytes(random)
	if !isDraftServerHelloVersion(version) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sid) })
	}
	b.AddUint16(cipher)
	if !isDraftServerHelloVersion(version) {
		b.AddUint8(0)
	}
	if exts != nil {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddUint16(e.typ)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					if e.body != nil {
						e.body(b)
					}
				})
			}
		})
	}
	body, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestServerHello(t *testing.T) {
	rnd := bytes.Repeat([]byte{0x22}, 32)
	tests := []struct {
		name string
		body []byte
		want ServerHello
	}{
		{"tls13", buildServerHello(t, 0x0303, rnd, bytes.Repeat([]byte{9}, 32), 0x1301, []helloExt{
			{extSupportedVersions, raw(3, 4)},
			{extKeyShare, func(b *cryptobyte.Builder) {
				b.AddUint16(29)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
			}},
			{extPreSharedKey, raw(0, 0)},
		}), ServerHello{LegacyVersion: 0x0303, SupportedVersion: 0x0304, Random: rnd, SessionID: bytes.Repeat([]byte{9}, 32),
			CipherSuite: 0x1301, Extensions: []uint16{43, 51, 41}, KeyShareGroup: 29, PreSharedKey: true}},
		{"hrr", buildServerHello(t, 0x0303, helloRetryRequestRandom[:], nil, 0x1302, []helloExt{
			{extSupportedVersions, raw(3, 4)},
			{extKeyShare, raw(0, 23)},
		}), ServerHello{LegacyVersion: 0x0303, SupportedVersion: 0x0304, Random: helloRetryRequestRandom[:],
			CipherSuite: 0x1302, Extensions: []uint16{43, 51}, KeyShareGroup: 23, HelloRetryRequest: true}},
		{"tls12", buildServerHello(t, 0x0303, rnd, []byte{1, 2}, 0xc02f, []helloExt{
			{extRenegotiationInfo, raw(0)}, alpnExt("h2"), {extExtendedMasterSecret, nil}, {extSessionTicket, nil}, {extHeartbeat, raw(1)},
		}), ServerHello{LegacyVersion: 0x0303, Random: rnd, SessionID: []byte{1, 2}, CipherSuite: 0xc02f,
			Extensions: []uint16{0xff01, 16, 23, 35, 15}, ALPN: "h2", ExtendedMasterSecret: true, SessionTicket: true,
			RenegotiationInfo: true, Heartbeat: true}},
		{"ssl3-no-extensions", buildServerHello(t, 0x0300, rnd, nil, 0x000a, nil),
			ServerHello{LegacyVersion: 0x0300, Random: rnd, CipherSuite: 0x000a}},
		{"draft19", buildServerHello(t, 0x7f13, rnd, nil, 0x1302, []helloExt{{extKeyShareDraft, func(b *cryptobyte.Builder) {
			b.AddUint16(29)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		}}}), ServerHello{LegacyVersion: 0x7f13, Random: rnd, CipherSuite: 0x1302, Extensions: []uint16{40}, KeyShareGroup: 29}},
	}
	for _, tt := range tests {
		var sh ServerHello
		if err := sh.Unmarshal(tt.body); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := sh.Clone(); !reflect.DeepEqual(got, tt.want.Clone()) {
			t.Errorf("%s:\n got  %+v\n want %+v", tt.name, got, tt.want.Clone())
		}
		// Strict prefixes: incomplete, except the one ending where the
		// extensions block starts (a valid extension-less ServerHello).
		for n := range len(tt.body) {
			err := sh.Unmarshal(tt.body[:n])
			if err == nil && sh.Extensions == nil && len(tt.want.Extensions) > 0 {
				continue
			}
			if !errors.Is(err, ErrIncomplete) {
				t.Errorf("%s prefix %d: %v", tt.name, n, err)
			}
		}
	}
	var sh ServerHello
	if err := sh.Unmarshal(buildServerHello(t, 0x0303, rnd, nil, 0x1301, []helloExt{{43, raw(3, 4)}, {43, raw(3, 4)}})); !IsExtensionError(err) {
		t.Errorf("duplicate extension: %v", err)
	}
	if err := sh.Unmarshal(buildServerHello(t, 0x0303, rnd, nil, 0x1301, []helloExt{alpnExt("h2", "http/1.1")})); !IsExtensionError(err) {
		t.Errorf("two ALPN protocols: %v", err)
	}
}

func BenchmarkClientHelloUnmarshal(b *testing.B) {
	body := buildClientHello(b, bytes.Repeat([]byte{7}, 32), browserCiphers, browserHelloExts())
	var ch ClientHello
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := ch.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServerHelloUnmarshal(b *testing.B) {
	body := buildServerHello(b, 0x0303, bytes.Repeat([]byte{0x22}, 32), bytes.Repeat([]byte{9}, 32), 0x1301, []helloExt{
		{extSupportedVersions, raw(3, 4)},
		{extKeyShare, func(b *cryptobyte.Builder) {
			b.AddUint16(29)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 32)) })
		}},
	})
	var sh ServerHello
	b.ReportAllocs()
	for b.Loop() {
		if err := sh.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHasDuplicate(t *testing.T) {
	for _, tt := range []struct {
		list []uint16
		want bool
	}{
		{nil, false},
		{[]uint16{13, 0xfe0d}, false}, // same low byte
		{[]uint16{13, 0xfe0d, 13}, true},
		{[]uint16{0x0a0a, 0, 0x4a4a, 0x0a0a}, true},
		{[]uint16{1, 2, 3, 257, 513}, false},
	} {
		if got := hasDuplicate(tt.list); got != tt.want {
			t.Errorf("%v: %v", tt.list, got)
		}
	}
	// Against the obvious definition, on lists short and long.
	for n := range 200 {
		list := make([]uint16, n)
		for i := range list {
			list[i] = uint16(i*7919) ^ uint16(n)
		}
		if n%3 == 0 && n > 1 {
			list[n-1] = list[n/2]
		}
		want := false
		for i := range list {
			for j := range i {
				want = want || list[i] == list[j]
			}
		}
		if got := hasDuplicate(list); got != want {
			t.Errorf("n=%d: %v, want %v", n, got, want)
		}
	}
}

// TestReadPrefixed: readU16Prefixed, readU8Prefixed and readU16List read
// what cryptobyte reads, on inputs cut at every length.
func TestReadPrefixed(t *testing.T) {
	base := make([]byte, 300)
	for i := range base {
		base[i] = byte(i * 7)
	}
	base[0], base[1] = 0x00, 0x05
	for _, head := range [][]byte{{}, {0}, {0, 0}, {0, 1}, {0, 5}, {1, 0}, {0xff, 0xff}, {3}, {0x80}} {
		for n := 0; n <= 12; n++ {
			in := append(append([]byte{}, head...), base[:n]...)
			a, b := cryptobyte.String(in), cryptobyte.String(in)
			var x, y cryptobyte.String
			okA, okB := a.ReadUint16LengthPrefixed(&x), readU16Prefixed(&b, &y)
			if okA != okB || okA && (string(x) != string(y) || string(a) != string(b)) {
				t.Errorf("u16 %x: cryptobyte %v %x %x, readU16Prefixed %v %x %x", in, okA, x, a, okB, y, b)
			}
			a, b = cryptobyte.String(in), cryptobyte.String(in)
			okA, okB = a.ReadUint8LengthPrefixed(&x), readU8Prefixed(&b, &y)
			if okA != okB || okA && (string(x) != string(y) || string(a) != string(b)) {
				t.Errorf("u8 %x: cryptobyte %v %x %x, readU8Prefixed %v %x %x", in, okA, x, a, okB, y, b)
			}
			a, b = cryptobyte.String(in), cryptobyte.String(in)
			okA = a.ReadUint16LengthPrefixed(&x) && a.Empty()
			y, okB = wholeU16(b)
			if okA != okB || okA && string(x) != string(y) {
				t.Errorf("whole u16 %x: cryptobyte %v %x, wholeU16 %v %x", in, okA, x, okB, y)
			}
			a = cryptobyte.String(in)
			okA = a.ReadUint8LengthPrefixed(&x) && a.Empty()
			y, okB = wholeU8(b)
			if okA != okB || okA && string(x) != string(y) {
				t.Errorf("whole u8 %x: cryptobyte %v %x, wholeU8 %v %x", in, okA, x, okB, y)
			}
			a, b = cryptobyte.String(in), cryptobyte.String(in)
			var typA uint16
			okA = a.ReadUint16(&typA) && a.ReadUint16LengthPrefixed(&x)
			typB, y, okB := nextExtension(&b)
			if okA != okB || okA && (typA != typB || string(x) != string(y) || string(a) != string(b)) {
				t.Errorf("extension %x: cryptobyte %v %x %x %x, nextExtension %v %x %x %x", in, okA, typA, x, a, okB, typB, y, b)
			}
			var want []uint16
			okA = len(in)%2 == 0
			for s := cryptobyte.String(in); okA && !s.Empty(); {
				var v uint16
				s.ReadUint16(&v)
				want = append(want, v)
			}
			got, okB := readU16List(cryptobyte.String(in), []uint16{7})
			if okA != okB || okA && !slices.Equal(got, append([]uint16{7}, want...)) || !okA && !slices.Equal(got, []uint16{7}) {
				t.Errorf("list %x: %v %x, readU16List %v %x", in, okA, want, okB, got)
			}
		}
	}
}
