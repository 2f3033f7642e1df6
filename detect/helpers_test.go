package detect

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// t0 is the packet time of test sessions; certificates are judged against it.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

type certOpt struct {
	cn         string
	dns        []string
	notBefore  time.Time
	notAfter   time.Time
	key        string // "rsa1024", "rsa2048", "p256", "p224"
	sigAlg     x509.SignatureAlgorithm
	selfSigned bool
	isCA       bool
	issuer     *testCert
}

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
	sum  *tlsparse.CertSummary
}

var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
)

func testKey(t testing.TB, kind string) crypto.Signer {
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var k crypto.Signer
	var err error
	switch kind {
	case "rsa1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa2048", "":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p224":
		k, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "ca":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

var serial int64 = 1

func makeCert(t testing.TB, o certOpt) *testCert {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = t0.AddDate(0, -1, 0)
	}
	if o.notAfter.IsZero() {
		o.notAfter = o.notBefore.AddDate(0, 0, 90)
	}
	key := testKey(t, o.key)
	if o.isCA && o.key == "" {
		key = testKey(t, "ca")
	}
	keyMu.Lock()
	serial++
	sn := serial
	keyMu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(sn),
		Subject:               pkix.Name{CommonName: o.cn, Organization: []string{"tlsentry test"}},
		DNSNames:              o.dns,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		SignatureAlgorithm:    o.sigAlg,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	parent, signer := tmpl, key
	if o.issuer != nil {
		parent, signer = o.issuer.cert, o.issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key, sum: tlsparse.SummarizeCertificate(der)}
}

// testPKI is a root and an intermediate CA valid around t0.
type testPKI struct {
	root, inter *testCert
	pool        []*x509.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() {
		pki.root = makeCert(t, certOpt{cn: "tlsentry test root", isCA: true,
			notBefore: t0.AddDate(-5, 0, 0), notAfter: t0.AddDate(5, 0, 0)})
		pki.inter = makeCert(t, certOpt{cn: "tlsentry test intermediate", isCA: true, issuer: pki.root,
			notBefore: t0.AddDate(-2, 0, 0), notAfter: t0.AddDate(2, 0, 0)})
		pki.pool = []*x509.Certificate{pki.root.cert}
	})
	return &pki
}

// leafCert issues a leaf from the test intermediate (unless o says otherwise).
func leafCert(t testing.TB, o certOpt) *testCert {
	if o.issuer == nil && !o.selfSigned {
		o.issuer = getPKI(t).inter
	}
	if o.cn == "" {
		o.cn = "www.example.test"
	}
	if o.dns == nil {
		o.dns = []string{"www.example.test", "example.test"}
	}
	return makeCert(t, o)
}

// session is a TLS 1.2 ECDHE session on 443 with a trusted chain, unless
// changed by the mutators.
func testSession(t testing.TB, mut ...func(*session.Session)) *session.Session {
	t.Helper()
	p := getPKI(t)
	s := &session.Session{
		Start: t0, End: t0.Add(time.Second),
		Client:    netip.MustParseAddrPort("192.0.2.10:50000"),
		Server:    netip.MustParseAddrPort("198.51.100.7:443"),
		Transport: session.TCP, Protocol: session.TLS,
		ClientPackets: 5, ClientBytes: 600, ServerPackets: 5, ServerBytes: 4000,
		TLS: &tlsparse.Handshake{
			Protocol: tlsparse.ProtocolTLS,
			ClientHello: &tlsparse.ClientHello{
				RecordVersion: 0x0301, LegacyVersion: 0x0303,
				CipherSuites:    []uint16{0xc02f, 0xc030, 0x009c},
				Extensions:      []uint16{0, 10, 11, 13, 16, 23},
				ServerName:      "www.example.test",
				SupportedGroups: []uint16{29, 23},
				ECPointFormats:  []uint8{0},
				ALPN:            []string{"h2", "http/1.1"},
			},
			ClientHelloCount: 1, ClientHelloRecords: 1, ClientHelloChunks: 1,
			ServerHello: &tlsparse.ServerHello{LegacyVersion: 0x0303, CipherSuite: 0xc02f, ALPN: "h2"},
			KeyExchange: &tlsparse.ServerKeyExchange{NamedCurve: 29},
			Established: true,
		},
	}
	leaf := leafCert(t, certOpt{})
	s.Certificates = []*tlsparse.CertSummary{leaf.sum, p.inter.sum}
	s.TLS.ServerCertificates = [][]byte{leaf.cert.Raw, p.inter.cert.Raw}
	for _, m := range mut {
		m(s)
	}
	s.Finish()
	return s
}

func withLeaf(c *testCert, chain ...*testCert) func(*session.Session) {
	return func(s *session.Session) {
		s.Certificates = []*tlsparse.CertSummary{c.sum}
		s.TLS.ServerCertificates = [][]byte{c.cert.Raw}
		for _, x := range chain {
			s.Certificates = append(s.Certificates, x.sum)
			s.TLS.ServerCertificates = append(s.TLS.ServerCertificates, x.cert.Raw)
		}
	}
}

func fired(v Verdict) map[string]*Alert {
	m := map[string]*Alert{}
	for i := range v.Alerts {
		m[v.Alerts[i].Rule.ID] = &v.Alerts[i]
	}
	return m
}
