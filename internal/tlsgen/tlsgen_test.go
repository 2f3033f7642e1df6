//go:debug cryptocustomrand=1

package tlsgen

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"reflect"
	"strings"
	"testing"
	"time"
)

var hrrRandom = []byte{0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C}

func testCerts(t *testing.T) map[string]*Cert {
	t.Helper()
	st := &Store{Dir: t.TempDir(), Rand: NewRand(7)}
	nb, na := DefaultTime.Add(-24*time.Hour), DefaultTime.Add(365*24*time.Hour)
	specs := []CertSpec{
		{Name: "root", Key: P256, CommonName: "Test Root", CA: true, NotBefore: nb, NotAfter: na},
		{Name: "inter", Key: P256, CommonName: "Test Intermediate", CA: true, Issuer: "root", NotBefore: nb, NotAfter: na},
		{Name: "rsa", Key: RSA2048, CommonName: "rsa.example", DNSNames: []string{"rsa.example"}, Issuer: "inter", NotBefore: nb, NotAfter: na},
		{Name: "rsa1024", Key: RSA1024, CommonName: "weak.example", DNSNames: []string{"weak.example"}, NotBefore: nb, NotAfter: na, SigAlg: x509.SHA1WithRSA},
		{Name: "ecdsa", Key: P256, CommonName: "ec.example", DNSNames: []string{"ec.example"}, Issuer: "inter", NotBefore: nb, NotAfter: na},
		{Name: "ed", Key: Ed25519, CommonName: "ed.example", DNSNames: []string{"ed.example"}, Issuer: "root", NotBefore: nb, NotAfter: na},
		{Name: "client", Key: P256, CommonName: "client", Issuer: "root", ClientAuth: true, NotBefore: nb, NotAfter: na},
	}
	m := map[string]*Cert{}
	for _, s := range specs {
		c, err := st.Get(s)
		if err != nil {
			t.Fatal(err)
		}
		m[s.Name] = c
	}
	// A second store on the same directory loads, not regenerates.
	st2 := &Store{Dir: st.Dir}
	for _, s := range specs {
		c, err := st2.Get(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Cert.Raw, m[s.Name].Cert.Raw) {
			t.Fatalf("%s reloaded differently", s.Name)
		}
	}
	if m["rsa1024"].Cert.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Fatalf("SHA-1 signature not made: %v", m["rsa1024"].Cert.SignatureAlgorithm)
	}
	return m
}

func TestRun(t *testing.T) {
	if !Deterministic() {
		t.Fatal("cryptocustomrand not in effect: the //go:debug directive is ignored")
	}
	certs := testCerts(t)
	srv := func(c *Cert, chain ...*Cert) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{c.TLS(chain...)}, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}}
	}
	cli := func(sni string) *tls.Config { return &tls.Config{ServerName: sni, InsecureSkipVerify: true} }
	req, resp := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), bytes.Repeat([]byte("r"), 3000)

	type check func(t *testing.T, tr *Transcript)
	version := func(v uint16) check {
		return func(t *testing.T, tr *Transcript) {
			if tr.State.Version != v {
				t.Errorf("version %x, want %x", tr.State.Version, v)
			}
		}
	}
	suite := func(s uint16) check {
		return func(t *testing.T, tr *Transcript) {
			if tr.State.CipherSuite != s {
				t.Errorf("suite %s, want %s", tls.CipherSuiteName(tr.State.CipherSuite), tls.CipherSuiteName(s))
			}
		}
	}
	cases := []struct {
		name   string
		c, s   *tls.Config
		checks []check
	}{
		{"tls13-rsa-chain", cli("rsa.example"), srv(certs["rsa"], certs["inter"]), []check{version(tls.VersionTLS13),
			func(t *testing.T, tr *Transcript) {
				if len(tr.State.PeerCertificates) != 2 {
					t.Errorf("%d peer certificates", len(tr.State.PeerCertificates))
				}
			}}},
		{"tls12-ecdsa", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, srv(certs["ecdsa"]),
			[]check{version(tls.VersionTLS12), suite(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)}},
		{"tls12-ed25519", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, srv(certs["ed"]), []check{version(tls.VersionTLS12)}},
		{"tls10-rc4", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}},
			&tls.Config{Certificates: []tls.Certificate{certs["rsa1024"].TLS()}, MinVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}},
			[]check{version(tls.VersionTLS10), suite(tls.TLS_RSA_WITH_RC4_128_SHA)}},
		{"tls11-3des", &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11, CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
			&tls.Config{Certificates: []tls.Certificate{certs["rsa"].TLS()}, MinVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
			[]check{version(tls.VersionTLS11), suite(tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA)}},
		{"tls12-static-rsa", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			&tls.Config{Certificates: []tls.Certificate{certs["rsa"].TLS()}, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			[]check{suite(tls.TLS_RSA_WITH_AES_128_GCM_SHA256)}},
		{"alpn-h2", &tls.Config{InsecureSkipVerify: true, ServerName: "ec.example", NextProtos: []string{"h2", "http/1.1"}},
			&tls.Config{Certificates: []tls.Certificate{certs["ecdsa"].TLS()}, NextProtos: []string{"h2"}, CurvePreferences: []tls.CurveID{tls.X25519}},
			[]check{func(t *testing.T, tr *Transcript) {
				if tr.State.NegotiatedProtocol != "h2" {
					t.Errorf("ALPN %q", tr.State.NegotiatedProtocol)
				}
			}}},
		{"hrr", &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP384}},
			&tls.Config{Certificates: []tls.Certificate{certs["ecdsa"].TLS()}, CurvePreferences: []tls.CurveID{tls.CurveP384}},
			[]check{version(tls.VersionTLS13), func(t *testing.T, tr *Transcript) {
				if !bytes.Contains(tr.Bytes(Server), hrrRandom) {
					t.Error("no HelloRetryRequest")
				}
			}}},
		{"client-cert", cli("ec.example"), &tls.Config{Certificates: []tls.Certificate{certs["ecdsa"].TLS()}, ClientAuth: tls.RequireAnyClientCert,
			CurvePreferences: []tls.CurveID{tls.X25519}}, []check{version(tls.VersionTLS13)}},
		{"fail-no-common-suite", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}},
			&tls.Config{Certificates: []tls.Certificate{certs["ecdsa"].TLS()}, MaxVersion: tls.VersionTLS12},
			[]check{func(t *testing.T, tr *Transcript) {
				if tr.ClientErr == nil || tr.ServerErr == nil {
					t.Fatalf("handshake did not fail: %v / %v", tr.ClientErr, tr.ServerErr)
				}
				sb := tr.Bytes(Server)
				if len(sb) != 7 || sb[0] != 21 || sb[5] != 2 {
					t.Errorf("server did not send a fatal alert: % x", sb)
				}
			}}},
	}
	cc := certs["client"].TLS()
	cases[8].c.Certificates = []tls.Certificate{cc}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Client: tc.c, Server: tc.s, Seed: 42, Request: req, Response: resp}
			tr, err := Run(opt)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tc.name, "fail") && (tr.ClientErr != nil || tr.ServerErr != nil) {
				t.Fatalf("client: %v; server: %v", tr.ClientErr, tr.ServerErr)
			}
			if len(tr.Events) < 2 || tr.Events[0].From != Client || tr.Events[0].Data[0] != 22 {
				t.Fatalf("first event is not the client's handshake record")
			}
			for _, ck := range tc.checks {
				ck(t, tr)
			}
			tr2, _ := Run(opt)
			if !reflect.DeepEqual(tr.Events, tr2.Events) {
				t.Fatal("two runs with one seed differ")
			}
			opt.Seed = 43
			tr3, _ := Run(opt)
			if reflect.DeepEqual(tr.Events, tr3.Events) {
				t.Fatal("seed has no effect")
			}
		})
	}
}

func TestResumption(t *testing.T) {
	certs := testCerts(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := tls.NewLRUClientSessionCache(4)
		c := &tls.Config{InsecureSkipVerify: true, ServerName: "ec.example", ClientSessionCache: cache, MaxVersion: v}
		s := &tls.Config{Certificates: []tls.Certificate{certs["ecdsa"].TLS()}, CurvePreferences: []tls.CurveID{tls.X25519}}
		s.SetSessionTicketKeys([][32]byte{{1, 2, 3}})
		opt := Options{Client: c, Server: s, Seed: 1, Request: []byte("ping"), Response: []byte("pong")}
		first, _ := Run(opt)
		opt.Seed = 2
		second, _ := Run(opt)
		if first.State.DidResume || !second.State.DidResume {
			t.Errorf("version %x: resumed first=%v second=%v (%v %v)", v, first.State.DidResume, second.State.DidResume, second.ClientErr, second.ServerErr)
		}
	}
}

func TestStall(t *testing.T) {
	// A "server" that never answers: the client's handshake read stalls and
	// must fail instead of hanging.
	s := newSched()
	cc := &pipeConn{s: s, side: Client}
	sc := &pipeConn{s: s, side: Server}
	done := make(chan error, 2)
	go func() {
		defer s.finish(Client)
		s.start(Client)
		cc.Write([]byte("hello"))
		_, err := cc.Read(make([]byte, 10))
		done <- err
	}()
	go func() {
		defer s.finish(Server)
		s.start(Server)
		b := make([]byte, 5)
		sc.Read(b)
		_, err := sc.Read(b)
		done <- err
	}()
	e1, e2 := <-done, <-done
	if e1 != ErrStalled && e2 != ErrStalled {
		t.Fatalf("no stall detected: %v %v", e1, e2)
	}
}
