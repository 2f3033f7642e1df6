package tlsparse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// connTranscript records the bytes of both directions of a crypto/tls
// connection, in the order they were written.
type connTranscript struct {
	mu     sync.Mutex
	events []connEvent
}

type connRecordingConn struct {
	net.Conn
	dir Direction
	t   *connTranscript
}

func (c *connRecordingConn) Write(b []byte) (int, error) {
	c.t.mu.Lock()
	c.t.events = append(c.t.events, connEvent{c.dir, slices.Clone(b)})
	c.t.mu.Unlock()
	return c.Conn.Write(b)
}

var connTestCertOnce = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "server.test"},
		DNSNames:     []string{"server.test"},
		NotBefore:    time.Unix(1700000000, 0),
		NotAfter:     time.Unix(1700000000, 0).Add(100 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
})

// connHandshake runs a crypto/tls handshake over net.Pipe, exchanges one
// message each way (so tickets arrive), and returns the transcript and the
// client's view of the connection.
func connHandshake(t *testing.T, ccfg, scfg *tls.Config) (*connTranscript, tls.ConnectionState, error) {
	t.Helper()
	cert, err := connTestCertOnce()
	if err != nil {
		t.Fatal(err)
	}
	if scfg.Certificates == nil {
		scfg.Certificates = []tls.Certificate{cert}
	}
	// Loopback TCP, not net.Pipe: TLS 1.3 servers write tickets while the
	// client writes, which deadlocks an unbuffered pipe.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	cp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sp := <-accepted
	if sp == nil {
		t.Fatal("accept failed")
	}
	deadline := time.Now().Add(10 * time.Second)
	cp.SetDeadline(deadline)
	sp.SetDeadline(deadline)
	tr := &connTranscript{}
	client := tls.Client(&connRecordingConn{cp, ClientToServer, tr}, ccfg)
	server := tls.Server(&connRecordingConn{sp, ServerToClient, tr}, scfg)
	done := make(chan error, 1)
	go func() {
		// The server closes before it reports, so that its close_notify is
		// in the transcript before the caller reads it.
		err := func() error {
			if err := server.Handshake(); err != nil {
				return err
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(server, buf); err != nil {
				return err
			}
			_, err := server.Write([]byte("world"))
			return err
		}()
		server.Close()
		done <- err
	}()
	var state tls.ConnectionState
	err = client.Handshake()
	if err == nil {
		state = client.ConnectionState()
		if _, err = client.Write([]byte("hello")); err == nil {
			buf := make([]byte, 5)
			_, err = io.ReadFull(client, buf)
		}
	}
	client.Close()
	serr := <-done
	if err == nil {
		err = serr
	}
	return tr, state, err
}

// connFeedAll feeds a transcript to a fresh Conn, each write cut into pieces
// by split (nil: whole), stopping when Feed says so.
func connFeedAll(tr *connTranscript, split func([]byte) [][]byte) *Conn {
	c := &Conn{}
	for _, e := range tr.events {
		pieces := [][]byte{e.data}
		if split != nil {
			pieces = split(e.data)
		}
		for _, p := range pieces {
			if !c.Feed(e.dir, p) {
				return c
			}
		}
	}
	return c
}

func connByteAtATime(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func connRandomSplit(r *mrand.Rand) func([]byte) [][]byte {
	return func(b []byte) [][]byte {
		var out [][]byte
		for len(b) > 0 {
			n := 1 + r.IntN(min(len(b), 40))
			if r.IntN(4) == 0 {
				n = len(b)
			}
			out = append(out, b[:n])
			b = b[n:]
		}
		return out
	}
}

// connComparable is a Handshake with what legitimately depends on chunking
// (ClientHelloChunks) cleared, deep-copied.
func connComparable(hs *Handshake) *Handshake {
	n := hs.Clone()
	n.ClientHelloChunks = 0
	return n
}

// connCheckChunking asserts that whole, byte-at-a-time and random chunking
// give the same Handshake.
func connCheckChunking(t *testing.T, name string, tr *connTranscript) {
	t.Helper()
	whole := connComparable(connFeedAll(tr, nil).Handshake())
	bytewise := connComparable(connFeedAll(tr, connByteAtATime).Handshake())
	if !reflect.DeepEqual(whole, bytewise) {
		t.Errorf("%s: byte-at-a-time differs from whole:\n whole %+v\n bytes %+v", name, whole, bytewise)
	}
	r := mrand.New(mrand.NewPCG(1, uint64(len(tr.events))))
	for i := range 5 {
		got := connComparable(connFeedAll(tr, connRandomSplit(r)).Handshake())
		if !reflect.DeepEqual(whole, got) {
			t.Errorf("%s: random chunking %d differs from whole:\n whole %+v\n got   %+v", name, i, whole, got)
		}
	}
}

func TestConnCryptoTLS(t *testing.T) {
	cert, err := connTestCertOnce()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots.AddCert(leaf)

	tests := []struct {
		name       string
		version    uint16
		alpn       []string
		serverALPN []string
		curves     []tls.CurveID // client
		srvCurves  []tls.CurveID
		clientAuth bool
		resume     bool
		wantHRR    bool
	}{
		{name: "tls12", version: tls.VersionTLS12, alpn: []string{"h2", "http/1.1"}, serverALPN: []string{"http/1.1"}},
		{name: "tls12-client-cert", version: tls.VersionTLS12, clientAuth: true},
		{name: "tls12-resumed", version: tls.VersionTLS12, resume: true},
		{name: "tls13", version: tls.VersionTLS13, alpn: []string{"h2"}, serverALPN: []string{"h2"}},
		{name: "tls13-resumed", version: tls.VersionTLS13, resume: true, alpn: []string{"x-custom-proto"}, serverALPN: []string{"x-custom-proto"}},
		{name: "tls13-hrr", version: tls.VersionTLS13, curves: []tls.CurveID{tls.X25519, tls.CurveP256},
			srvCurves: []tls.CurveID{tls.CurveP256}, wantHRR: true},
		{name: "tls11", version: tls.VersionTLS11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(4)
			ccfg := func() *tls.Config {
				c := &tls.Config{
					ServerName: "server.test", RootCAs: roots, NextProtos: tt.alpn,
					MinVersion: tls.VersionTLS10, MaxVersion: tt.version, CurvePreferences: tt.curves,
					ClientSessionCache: cache,
				}
				if tt.clientAuth {
					c.Certificates = []tls.Certificate{cert}
				}
				return c
			}
			srv := &tls.Config{NextProtos: tt.serverALPN, MinVersion: tls.VersionTLS10, CurvePreferences: tt.srvCurves}
			if tt.clientAuth {
				srv.ClientAuth = tls.RequireAnyClientCert
			}
			scfg := func() *tls.Config { return srv } // one config: the ticket keys must survive
			tr, state, err := connHandshake(t, ccfg(), scfg())
			if tt.version < tls.VersionTLS12 && err != nil {
				t.Skipf("crypto/tls refuses %x here: %v", tt.version, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.resume {
				tr, state, err = connHandshake(t, ccfg(), scfg())
				if err != nil {
					t.Fatal(err)
				}
				if !state.DidResume {
					t.Fatal("crypto/tls did not resume")
				}
			}
			c := connFeedAll(tr, nil)
			hs := c.Handshake()
			if hs.Err != nil || hs.Protocol != ProtocolTLS {
				t.Fatalf("err %v protocol %v", hs.Err, hs.Protocol)
			}
			if hs.ClientHello == nil || hs.ServerHello == nil {
				t.Fatalf("hellos missing: %+v", hs)
			}
			if hs.ClientHello.ServerName != "server.test" {
				t.Errorf("SNI %q", hs.ClientHello.ServerName)
			}
			if !slices.Equal(hs.ClientHello.ALPN, tt.alpn) && (len(tt.alpn) != 0 || hs.ClientHello.ALPN != nil) {
				t.Errorf("client ALPN %q, want %q", hs.ClientHello.ALPN, tt.alpn)
			}
			if got := hs.ServerHello.Version(); got != state.Version {
				t.Errorf("version %#04x, want %#04x", got, state.Version)
			}
			if hs.ServerHello.CipherSuite != state.CipherSuite {
				t.Errorf("cipher %#04x, want %#04x", hs.ServerHello.CipherSuite, state.CipherSuite)
			}
			if state.Version <= tls.VersionTLS12 && hs.ServerHello.ALPN != state.NegotiatedProtocol {
				// TLS 1.3 sends ALPN in EncryptedExtensions: not visible.
				t.Errorf("ALPN %q, want %q", hs.ServerHello.ALPN, state.NegotiatedProtocol)
			}
			if state.Version == tls.VersionTLS13 && hs.ServerHello.ALPN != "" {
				t.Errorf("TLS 1.3 ServerHello ALPN %q: should be encrypted", hs.ServerHello.ALPN)
			}
			if !hs.Established || !hs.ClientEncrypted || !hs.ServerEncrypted {
				t.Errorf("established %v (client %v server %v)", hs.Established, hs.ClientEncrypted, hs.ServerEncrypted)
			}
			if hs.Resumed != state.DidResume {
				t.Errorf("resumed %v, want %v", hs.Resumed, state.DidResume)
			}
			wantCerts := 0
			if state.Version <= tls.VersionTLS12 && !state.DidResume {
				wantCerts = 1
				if !slices.Equal(hs.ServerCertificates[0], cert.Certificate[0]) {
					t.Errorf("server certificate differs")
				}
				if hs.KeyExchange == nil || hs.KeyExchange.NamedCurve == 0 {
					t.Errorf("no ECDHE curve from ServerKeyExchange: %+v", hs.KeyExchange)
				}
			}
			if len(hs.ServerCertificates) != wantCerts {
				t.Errorf("%d server certificates, want %d", len(hs.ServerCertificates), wantCerts)
			}
			if tt.clientAuth && state.Version <= tls.VersionTLS12 && len(hs.ClientCertificates) != 1 {
				t.Errorf("%d client certificates, want 1", len(hs.ClientCertificates))
			}
			if (hs.HelloRetryRequest != nil) != tt.wantHRR {
				t.Errorf("HRR %v, want %v", hs.HelloRetryRequest != nil, tt.wantHRR)
			}
			if tt.wantHRR {
				if hs.ClientHelloCount != 2 || hs.HelloRetryRequest.KeyShareGroup != uint16(tls.CurveP256) {
					t.Errorf("after HRR: %d ClientHellos, HRR group %d", hs.ClientHelloCount, hs.HelloRetryRequest.KeyShareGroup)
				}
				if slices.Contains(hs.Anomalies.Names(), "duplicate_client_hello") {
					t.Errorf("HRR flow flagged duplicate_client_hello")
				}
				// JA3/JA4 stay with the first ClientHello: its key share is X25519.
				if !slices.Contains(hs.ClientHello.KeyShareGroups, uint16(tls.X25519)) {
					t.Errorf("first ClientHello key shares %v", hs.ClientHello.KeyShareGroups)
				}
			}
			if hs.Anomalies.Len() != 0 {
				t.Errorf("anomalies %v", hs.Anomalies)
			}
			// Nothing after both directions turned encrypted was needed.
			if c.Feed(ClientToServer, []byte{23, 3, 3, 0, 1, 0}) {
				t.Errorf("Feed wants more after the handshake")
			}
			connCheckChunking(t, tt.name, tr)
		})
	}
}

// TestConnCryptoTLSFailure: a handshake the client aborts with a fatal alert
// (unknown CA) is not established.
func TestConnCryptoTLSFailure(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		ccfg := &tls.Config{ServerName: "server.test", MaxVersion: v} // system roots: unknown CA
		tr, _, err := connHandshake(t, ccfg, &tls.Config{})
		if err == nil {
			t.Fatal("handshake succeeded")
		}
		hs := connFeedAll(tr, nil).Handshake()
		switch v {
		case tls.VersionTLS12:
			// The client's alert is in cleartext: fatal, not established.
			if hs.Established || len(hs.Alerts) == 0 || hs.Alerts[0].Level != AlertLevelFatal || hs.Alerts[0].Encrypted {
				t.Errorf("TLS 1.2: established %v alerts %+v", hs.Established, hs.Alerts)
			}
		case tls.VersionTLS13:
			// The alert is encrypted (an application_data record): a passive
			// parser cannot tell; both sides did reach the encrypted phase.
			if !hs.ServerEncrypted || !hs.ClientEncrypted {
				t.Errorf("TLS 1.3: encrypted %v/%v", hs.ClientEncrypted, hs.ServerEncrypted)
			}
		}
		connCheckChunking(t, "failure", tr)
	}
}

func TestConnReset(t *testing.T) {
	tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, &tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := connFeedAll(tr, nil)
	first := c.Handshake().Clone()
	c.Reset()
	if hs := c.Handshake(); hs.ClientHello != nil || hs.Protocol != ProtocolUndetermined || len(hs.ServerCertificates) != 0 {
		t.Fatalf("Reset left state: %+v", hs)
	}
	for _, e := range tr.events {
		if !c.Feed(e.dir, e.data) {
			break
		}
	}
	if got := connComparable(c.Handshake()); !reflect.DeepEqual(connComparable(first), got) {
		t.Errorf("after Reset: %+v, want %+v", got, first)
	}
	// The clone made before Reset is unaffected by the reuse.
	if first.ClientHello.ServerName != "server.test" || len(first.ServerCertificates) != 1 {
		t.Errorf("clone changed: %+v", first)
	}
}

// TestConnSteadyStateAllocs: a pooled Conn parsing the same kind of
// handshake again allocates (almost) nothing.
func TestConnSteadyStateAllocs(t *testing.T) {
	tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true,
		NextProtos: []string{"h2", "http/1.1"}, MaxVersion: tls.VersionTLS12}, &tls.Config{NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	var c Conn
	run := func() {
		c.Reset()
		for _, e := range tr.events {
			if !c.Feed(e.dir, e.data) {
				break
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("%v allocations per handshake, want 0", n)
	}
}

func TestConnNotTLS(t *testing.T) {
	tests := []struct {
		name  string
		dir   Direction
		data  string
		want  Protocol
		chunk int
	}{
		{"ssh-server-first", ServerToClient, "SSH-2.0-OpenSSH_9.6\r\n", ProtocolSSH, 1},
		{"ssh-client", ClientToServer, "SSH-2.0-Go\r\n", ProtocolSSH, 100},
		{"http-get", ClientToServer, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ProtocolHTTP, 1},
		{"http-response", ServerToClient, "HTTP/1.1 400 Bad Request\r\n\r\n", ProtocolHTTP, 2},
		{"http2-preface", ClientToServer, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ProtocolHTTP, 1},
		{"openvpn", ClientToServer, "\x00\x0e\x38\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x00\x00", ProtocolOpenVPN, 1},
		{"openvpn-v3", ClientToServer, "\x00\x36\x50\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x00\x00", ProtocolOpenVPN, 100},
		{"garbage", ClientToServer, "\x0e\x2d\x88\x4a\xa7\x8b\xc4\x9b\x81\x5d\x33\x1c\xad\x68\xaf\x9f", ProtocolUnknown, 1},
		{"get-lowercase", ClientToServer, "get / HTTP/1.1\r\n\r\n", ProtocolUnknown, 100},
		{"tls-version-2", ClientToServer, "\x16\x02\x01\x00\x10", ProtocolUnknown, 100},
	}
	for _, tt := range tests {
		var c Conn
		want := true
		data := []byte(tt.data)
		for len(data) > 0 && want {
			n := min(tt.chunk, len(data))
			want = c.Feed(tt.dir, data[:n])
			data = data[n:]
		}
		hs := c.Handshake()
		if want || hs.Protocol != tt.want {
			t.Errorf("%s: protocol %v wantMore %v, want %v false", tt.name, hs.Protocol, want, tt.want)
		}
		if hs.ClientHello != nil || hs.Err != nil {
			t.Errorf("%s: %+v", tt.name, hs)
		}
	}
}

func TestConnMidstream(t *testing.T) {
	var c Conn
	app := []byte{23, 3, 3, 0, 4, 1, 2, 3, 4}
	if !c.Feed(ClientToServer, app) {
		t.Fatal("stopped after one direction")
	}
	if c.Feed(ServerToClient, app) {
		t.Fatal("wants more with both directions encrypted")
	}
	hs := c.Handshake()
	if hs.Protocol != ProtocolTLS || hs.ClientHello != nil || hs.Established ||
		!slices.Contains(hs.Anomalies.Names(), "midstream") {
		t.Errorf("%+v", hs)
	}
}

func TestConnRecordErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    error
		anomaly string
	}{
		{"overflow", []byte{22, 3, 3, 0x48, 0x01}, ErrMalformed, "record_overflow"},
		{"bad-type-later", []byte{22, 3, 1, 0, 4, 14, 0, 0, 0, 99, 3, 3, 0, 1, 0}, ErrMalformed, "malformed_record"},
		{"bad-version-later", []byte{22, 3, 1, 0, 4, 14, 0, 0, 0, 22, 9, 3, 0, 1, 0}, ErrMalformed, "malformed_record"},
	}
	for _, tt := range tests {
		var c Conn
		if c.Feed(ClientToServer, tt.data) {
			t.Errorf("%s: wants more after a fatal error", tt.name)
		}
		hs := c.Handshake()
		if !errors.Is(hs.Err, tt.want) || !slices.Contains(hs.Anomalies.Names(), tt.anomaly) {
			t.Errorf("%s: err %v anomalies %v", tt.name, hs.Err, hs.Anomalies)
		}
	}
}

// TestConnBounded: a handshake message declaring a huge length is skipped,
// not buffered.
func TestConnBounded(t *testing.T) {
	var c Conn
	// A Certificate message declaring 16 MiB - 1, sent in full records.
	hdr := []byte{22, 3, 3, 0x40, 0x00, 11, 0xff, 0xff, 0xff}
	c.Feed(ServerToClient, hdr)
	rec := make([]byte, 5+1<<14)
	copy(rec, []byte{22, 3, 3, 0x40, 0x00})
	for range 20 {
		c.Feed(ServerToClient, rec)
	}
	d := &c.dirs[ServerToClient]
	if cap(d.msg) > MaxHandshakeMessage {
		t.Errorf("buffered %d bytes", cap(d.msg))
	}
	if !slices.Contains(c.Handshake().Anomalies.Names(), "oversized_handshake_message") {
		t.Errorf("anomalies %v", c.Handshake().Anomalies)
	}
}

func TestConnGap(t *testing.T) {
	var c Conn
	c.Feed(ClientToServer, []byte{22, 3, 1, 0, 10, 1, 0, 0, 20})
	c.Gap(ClientToServer)
	c.Gap(ServerToClient)
	hs := c.Handshake()
	if !slices.Contains(hs.Anomalies.Names(), "gap_client") || !slices.Contains(hs.Anomalies.Names(), "gap_server") {
		t.Errorf("anomalies %v", hs.Anomalies)
	}
	if c.Feed(ServerToClient, []byte{22, 3, 3}) {
		t.Errorf("wants more after gaps in both directions")
	}
}

// BenchmarkConnHandshake parses whole crypto/tls handshakes (both
// directions, as capture feeds them) with a pooled Conn.
func BenchmarkConnHandshake(b *testing.B) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t := &testing.T{}
		tr, _, err := connHandshake(t, &tls.Config{ServerName: "server.test", InsecureSkipVerify: true,
			NextProtos: []string{"h2", "http/1.1"}, MaxVersion: v}, &tls.Config{NextProtos: []string{"h2"}})
		if err != nil {
			b.Fatal(err)
		}
		name := map[uint16]string{tls.VersionTLS12: "tls12", tls.VersionTLS13: "tls13"}[v]
		b.Run(name, func(b *testing.B) {
			var c Conn
			n := 0
			for _, e := range tr.events {
				n += len(e.data)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				c.Reset()
				for _, e := range tr.events {
					if !c.Feed(e.dir, e.data) {
						break
					}
				}
			}
		})
	}
}
