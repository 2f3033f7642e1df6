package inventory

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var serial atomic.Int64

type authority struct {
	name string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyID(k *ecdsa.PrivateKey) []byte {
	b, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	h := sha1.Sum(b)
	return h[:]
}

func newCA(t testing.TB, name string) *authority {
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Test CA"}},
		NotBefore:             t0.AddDate(-5, 0, 0),
		NotAfter:              t0.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		SubjectKeyId:          keyID(k),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &authority{name: name, key: k, cert: c}
}

// leaf makes a certificate for cn and sans valid from nb for days, signed
// by ca, or self-signed when ca is nil.
func leaf(t testing.TB, ca *authority, cn string, sans []string, nb time.Time, days int) *tlsparse.CertSummary {
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     sans,
		NotBefore:    nb,
		NotAfter:     nb.AddDate(0, 0, days),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SubjectKeyId: keyID(k),
	}
	parent, signer := tmpl, k
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	s := tlsparse.SummarizeCertificate(der)
	if s.Err != nil {
		t.Fatal(s.Err)
	}
	return s
}

// sess is a TLS session at packet time at, lasting a second.
func sess(at time.Time, server, sni, ja4, ja3 string, certs ...*tlsparse.CertSummary) *session.Session {
	s := &session.Session{
		Start:        at,
		End:          at.Add(time.Second),
		Client:       netip.MustParseAddrPort("192.0.2.10:50000"),
		Server:       netip.MustParseAddrPort(server),
		Transport:    session.TCP,
		Protocol:     session.TLS,
		TLS:          &tlsparse.Handshake{ClientHello: &tlsparse.ClientHello{ServerName: sni}},
		Certificates: certs,
	}
	s.Fingerprints.JA4, s.Fingerprints.JA3 = ja4, ja3
	return s
}

func open(t testing.TB, dir string, opt Options) *Inventory {
	t.Helper()
	inv, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func closeInv(t testing.TB, inv *Inventory) {
	t.Helper()
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
}

var noLearning = Options{LearningPeriod: -1}
