package main

import (
	"crypto/x509"
	"time"

	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

// Captures happen on 2024-06-01 (packet time); certificate validity is set
// around it.
var (
	captureTime = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	day         = 24 * time.Hour
	leafFrom    = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	leafTo      = leafFrom.Add(365 * day)
	caFrom      = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// certSpecs lists every certificate, issuers before the certificates they
// sign. Names are the PEM file names in testdata/certs.
var certSpecs = []tlsgen.CertSpec{
	{Name: "ca-root", Key: tlsgen.P256, CommonName: "tlsentry Test Root CA", Org: "tlsentry test", CA: true,
		NotBefore: caFrom, NotAfter: caFrom.Add(10 * 365 * day)},
	{Name: "ca-intermediate", Key: tlsgen.P256, CommonName: "tlsentry Test Intermediate CA", Org: "tlsentry test", CA: true,
		Issuer: "ca-root", NotBefore: caFrom, NotAfter: caFrom.Add(5 * 365 * day)},
	{Name: "ca-rsa", Key: tlsgen.RSA2048, CommonName: "tlsentry Test RSA CA", Org: "tlsentry test", CA: true,
		NotBefore: caFrom, NotAfter: caFrom.Add(10 * 365 * day)},

	leaf("rsa2048", tlsgen.RSA2048, "rsa.tlsentry.test", "ca-intermediate"),
	leaf("rsa4096", tlsgen.RSA4096, "rsa4096.tlsentry.test", "ca-intermediate"),
	leaf("ecdsa-p256", tlsgen.P256, "ecdsa.tlsentry.test", "ca-intermediate"),
	leaf("ecdsa-p384", tlsgen.P384, "p384.tlsentry.test", "ca-intermediate"),
	leaf("ed25519", tlsgen.Ed25519, "ed25519.tlsentry.test", "ca-root"),
	leaf("rsa1024", tlsgen.RSA1024, "weak-key.tlsentry.test", "ca-rsa"),
	with(leaf("sha1", tlsgen.RSA2048, "sha1.tlsentry.test", "ca-rsa"), func(s *tlsgen.CertSpec) { s.SigAlg = x509.SHA1WithRSA }),
	with(leaf("expired", tlsgen.RSA2048, "expired.tlsentry.test", "ca-intermediate"), func(s *tlsgen.CertSpec) {
		s.NotBefore, s.NotAfter = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	}),
	with(leaf("not-yet-valid", tlsgen.P256, "future.tlsentry.test", "ca-intermediate"), func(s *tlsgen.CertSpec) {
		s.NotBefore, s.NotAfter = time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	}),
	with(leaf("long-validity", tlsgen.P256, "long.tlsentry.test", "ca-intermediate"), func(s *tlsgen.CertSpec) {
		s.NotAfter = leafFrom.Add(10 * 365 * day)
	}),
	leaf("self-signed", tlsgen.P256, "self.tlsentry.test", ""),
	{Name: "client", Key: tlsgen.P256, CommonName: "client-01.tlsentry.test", Org: "tlsentry test", ClientAuth: true,
		Issuer: "ca-root", NotBefore: leafFrom, NotAfter: leafTo},
}

func leaf(name string, k tlsgen.KeyType, host, issuer string) tlsgen.CertSpec {
	return tlsgen.CertSpec{Name: name, Key: k, CommonName: host, Org: "tlsentry test", DNSNames: []string{host},
		Issuer: issuer, NotBefore: leafFrom, NotAfter: leafTo}
}

func with(s tlsgen.CertSpec, f func(*tlsgen.CertSpec)) tlsgen.CertSpec { f(&s); return s }
