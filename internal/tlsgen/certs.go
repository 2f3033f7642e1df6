package tlsgen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyType names a key algorithm and size.
type KeyType string

const (
	RSA1024 KeyType = "rsa1024"
	RSA2048 KeyType = "rsa2048"
	RSA4096 KeyType = "rsa4096"
	P256    KeyType = "p256"
	P384    KeyType = "p384"
	Ed25519 KeyType = "ed25519"
)

// GenerateKey makes a key of type t from r. Whether r is used depends on
// GODEBUG cryptocustomrand (see the package comment).
func GenerateKey(t KeyType, r io.Reader) (crypto.Signer, error) {
	switch t {
	case RSA1024:
		return rsa.GenerateKey(r, 1024)
	case RSA2048:
		return rsa.GenerateKey(r, 2048)
	case RSA4096:
		return rsa.GenerateKey(r, 4096)
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), r)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), r)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(r)
		return k, err
	}
	return nil, fmt.Errorf("tlsgen: unknown key type %q", t)
}

// CertSpec describes a certificate to issue.
type CertSpec struct {
	Name       string  // file base name under the certificate directory
	Key        KeyType // key of the subject
	CommonName string
	Org        string
	DNSNames   []string
	IPs        []net.IP
	CA         bool
	Issuer     string // Name of the issuing certificate; "" means self-signed
	NotBefore  time.Time
	NotAfter   time.Time
	SigAlg     x509.SignatureAlgorithm // 0: the default for the issuer's key
	Serial     int64                   // 0: derived from Name
	ClientAuth bool                    // client certificate (ExtKeyUsageClientAuth)
}

// Cert is an issued certificate and its private key.
type Cert struct {
	Name string
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Issue creates the certificate for spec, signed by issuer (nil: self-signed).
func Issue(spec CertSpec, key crypto.Signer, issuer *Cert, r io.Reader) (*Cert, error) {
	serial := spec.Serial
	if serial == 0 {
		for _, c := range spec.Name {
			serial = serial*31 + int64(c)
		}
		if serial < 0 {
			serial = -serial
		}
		serial++
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: spec.CommonName},
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
		NotBefore:             spec.NotBefore,
		NotAfter:              spec.NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.CA,
		SignatureAlgorithm:    spec.SigAlg,
	}
	if spec.Org != "" {
		tmpl.Subject.Organization = []string{spec.Org}
	}
	if spec.CA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		if _, ok := key.(*rsa.PrivateKey); ok {
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if spec.ClientAuth {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
	}
	parent, signer := tmpl, key
	if issuer != nil {
		parent, signer = issuer.Cert, issuer.Key
	}
	der, err := x509.CreateCertificate(r, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("tlsgen: issuing %s: %w", spec.Name, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Name: spec.Name, Cert: c, Key: key}, nil
}

// TLS returns the certificate with its chain (leaf first) for a tls.Config.
func (c *Cert) TLS(chain ...*Cert) tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
	for _, x := range chain {
		tc.Certificate = append(tc.Certificate, x.Cert.Raw)
	}
	return tc
}

// Store keeps certificates as PEM files NAME.crt and NAME.key in Dir, so
// that they are made once and reused.
type Store struct {
	Dir   string
	Rand  io.Reader
	certs map[string]*Cert
}

// Get returns the certificate for spec, loading it from the store or, when
// missing, generating it (and its key) and writing it there. The issuer
// must have been obtained from the same store first.
func (s *Store) Get(spec CertSpec) (*Cert, error) {
	if s.certs == nil {
		s.certs = map[string]*Cert{}
	}
	if c, ok := s.certs[spec.Name]; ok {
		return c, nil
	}
	crtPath := filepath.Join(s.Dir, spec.Name+".crt")
	keyPath := filepath.Join(s.Dir, spec.Name+".key")
	crtPEM, err1 := os.ReadFile(crtPath)
	keyPEM, err2 := os.ReadFile(keyPath)
	if err1 == nil && err2 == nil {
		c, err := parsePair(spec.Name, crtPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tlsgen: %s: %w", crtPath, err)
		}
		s.certs[spec.Name] = c
		return c, nil
	}
	if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
		return nil, err1
	}
	var issuer *Cert
	if spec.Issuer != "" {
		var ok bool
		if issuer, ok = s.certs[spec.Issuer]; !ok {
			return nil, fmt.Errorf("tlsgen: issuer %q of %q not loaded", spec.Issuer, spec.Name)
		}
	}
	key, err := GenerateKey(spec.Key, s.Rand)
	if err != nil {
		return nil, err
	}
	c, err := Issue(spec, key, issuer, s.Rand)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o644); err != nil {
		return nil, err
	}
	s.certs[spec.Name] = c
	return c, nil
}

func parsePair(name string, crtPEM, keyPEM []byte) (*Cert, error) {
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("key is not a signer")
	}
	return &Cert{Name: name, Cert: cert, Key: signer}, nil
}
