package detect

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// chainResult is what the trust store says about the chain a server sent.
// Shared between sessions through the cache: read-only.
type chainResult struct {
	validation string // ValidationTrusted / ValidationUntrusted / ValidationNotChecked
	reason     string // for untrusted, see tlsentry.server.untrusted_reason
	selfSigned bool
}

var notChecked = &chainResult{validation: ValidationNotChecked}

// chainKey identifies a chain: the leaf's SHA-256 plus a hash of the rest.
type chainKey struct {
	leaf string
	rest uint64
	n    int
}

// chainEntry is a cached verification and the packet-time window over which
// it holds. A trusted result holds while every certificate of the verified
// path is within its validity. An untrusted result holds until the next
// not_before/not_after of a certificate the server sent, and at most a day
// either side (a root in the store expiring is the one change it cannot see).
type chainEntry struct {
	res    *chainResult
	lo, hi time.Time
}

// trustStore validates chains against the configured roots, at packet time,
// without a hostname check, caching results per chain in a bounded
// two-generation map (a hit in the old generation moves to the new one; when
// the new one is full the old one is dropped). Safe for concurrent use.
type trustStore struct {
	roots *x509.CertPool
	// bySubject indexes the roots by raw subject for legacyVerify.
	bySubject map[string][]*x509.Certificate
	max       int
	seed      maphash.Seed

	mu        sync.Mutex
	cur, prev map[chainKey]chainEntry

	hits, misses, evictions, verifications atomic.Uint64
}

// TrustStats are the trust store's counters.
type TrustStats struct {
	CacheHits, CacheMisses, CacheEvictions, Verifications uint64
	CacheEntries                                          int
}

const defaultChainCache = 16384

func newTrustStore(caBundle string, roots []*x509.Certificate, size int) (*trustStore, error) {
	if size <= 0 {
		size = defaultChainCache
	}
	t := &trustStore{max: size/2 + 1, seed: maphash.MakeSeed()}
	var err error
	switch {
	case roots != nil:
	case caBundle != "":
		if roots, err = loadBundle(caBundle); err != nil {
			return nil, err
		}
		if len(roots) == 0 {
			return nil, fmt.Errorf("detect: CA bundle %s: no PEM certificates", caBundle)
		}
	default:
		if roots, err = systemRoots(); err != nil {
			return nil, err
		}
	}
	t.roots = x509.NewCertPool()
	t.bySubject = make(map[string][]*x509.Certificate, len(roots))
	for _, c := range roots {
		t.roots.AddCert(c)
		t.bySubject[string(c.RawSubject)] = append(t.bySubject[string(c.RawSubject)], c)
	}
	t.cur = make(map[chainKey]chainEntry)
	return t, nil
}

// systemRoots reads the system trust store where crypto/x509 looks for it on
// Linux (SSL_CERT_FILE, then the distributions' bundle files), as
// certificates rather than an opaque pool, so that legacyVerify can use them.
func systemRoots() ([]*x509.Certificate, error) {
	files := []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian/Ubuntu/Gentoo etc.
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora/RHEL 6
		"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
		"/etc/pki/tls/cacert.pem",                           // OpenELEC
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine Linux
	}
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		certs, err := loadBundle(f)
		if err == nil && len(certs) > 0 {
			return certs, nil
		}
	}
	return nil, fmt.Errorf("detect: no system trust store found (install ca-certificates, or give a CA bundle)")
}

// loadBundle reads the PEM certificates of a file.
func loadBundle(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("detect: CA bundle: %w", err)
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("detect: CA bundle %s: certificate %d: %w", path, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func (t *trustStore) stats() TrustStats {
	t.mu.Lock()
	n := len(t.cur) + len(t.prev)
	t.mu.Unlock()
	return TrustStats{t.hits.Load(), t.misses.Load(), t.evictions.Load(), t.verifications.Load(), n}
}

// check judges the chain of a session; notChecked when no leaf is visible.
func (t *trustStore) check(s *session.Session) *chainResult {
	if len(s.Certificates) == 0 || s.Start.IsZero() || (s.TLS != nil && s.TLS.Resumed) {
		return notChecked
	}
	leaf := s.Certificates[0]
	if leaf == nil || leaf.Cert == nil || leaf.SHA256 == "" {
		return notChecked
	}
	var h maphash.Hash
	h.SetSeed(t.seed)
	for _, c := range s.Certificates[1:] {
		if c != nil {
			h.WriteString(c.SHA256)
		}
		h.WriteByte(0)
	}
	key := chainKey{leaf: leaf.SHA256, rest: h.Sum64(), n: len(s.Certificates)}
	at := s.Start

	t.mu.Lock()
	e, ok := t.cur[key]
	if !ok {
		if e, ok = t.prev[key]; ok {
			t.insertLocked(key, e)
		}
	}
	t.mu.Unlock()
	if ok && !at.Before(e.lo) && at.Before(e.hi) {
		t.hits.Add(1)
		return e.res
	}
	t.misses.Add(1)
	e = t.verify(s.Certificates, at)
	t.mu.Lock()
	t.insertLocked(key, e)
	t.mu.Unlock()
	return e.res
}

func (t *trustStore) insertLocked(key chainKey, e chainEntry) {
	if _, ok := t.cur[key]; !ok && len(t.cur) >= t.max {
		t.evictions.Add(uint64(len(t.prev)))
		t.prev, t.cur = t.cur, make(map[chainKey]chainEntry, t.max)
	}
	t.cur[key] = e
}

func (t *trustStore) verify(certs []*tlsparse.CertSummary, at time.Time) chainEntry {
	t.verifications.Add(1)
	leaf := certs[0].Cert
	res := &chainResult{selfSigned: selfSigned(leaf)}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c != nil && c.Cert != nil {
			inter.AddCert(c.Cert)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         t.roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil && len(chains) > 0 {
		res.validation = ValidationTrusted
		lo, hi := time.Time{}, time.Unix(1<<62, 0)
		for _, c := range chains[0] {
			if c.NotBefore.After(lo) {
				lo = c.NotBefore
			}
			if end := c.NotAfter.Add(time.Second); end.Before(hi) {
				hi = end
			}
		}
		return chainEntry{res: res, lo: lo, hi: hi}
	}
	if hi, ok := t.legacyVerify(certs, at); ok {
		res.validation = ValidationTrusted
		return chainEntry{res: res, lo: at, hi: hi}
	}
	res.validation = ValidationUntrusted
	res.reason = untrustedReason(err, leaf, at)
	lo, hi := at.Add(-24*time.Hour), at.Add(24*time.Hour)
	for _, c := range certs {
		if c == nil || c.Cert == nil {
			continue
		}
		for _, b := range [2]time.Time{c.Cert.NotBefore, c.Cert.NotAfter.Add(time.Second)} {
			if !b.After(at) && b.After(lo) {
				lo = b
			}
			if b.After(at) && b.Before(hi) {
				hi = b
			}
		}
	}
	return chainEntry{res: res, lo: lo, hi: hi}
}

func untrustedReason(err error, leaf *x509.Certificate, at time.Time) string {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var ia x509.InsecureAlgorithmError
	switch {
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			if at.Before(leaf.NotBefore) {
				return "not_yet_valid"
			}
			return "expired"
		case x509.NotAuthorizedToSign, x509.CANotAuthorizedForThisName, x509.TooManyIntermediates,
			x509.IncompatibleUsage, x509.NameConstraintsWithoutSANs, x509.UnconstrainedName,
			x509.CANotAuthorizedForExtKeyUsage, x509.NoValidChains:
			return "constraint"
		}
		return "other"
	case errors.As(err, &ua):
		return "unknown_authority"
	case errors.As(err, &ia):
		return "insecure_algorithm"
	}
	return "other"
}

// selfSigned reports whether c is signed by its own key. Only certificates
// whose issuer names themselves (or whose authority key id is their own
// subject key id) are checked.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawSubject, c.RawIssuer) &&
		(len(c.AuthorityKeyId) == 0 || !bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	if err == nil {
		return true
	}
	// crypto/x509 refuses MD5 (and MD2) signatures; a self-signed MD5 leaf is
	// still self-signed. Check the ones that can be checked by hand.
	var digest []byte
	var h crypto.Hash
	switch c.SignatureAlgorithm {
	case x509.MD5WithRSA:
		d := md5.Sum(c.RawTBSCertificate)
		digest, h = d[:], crypto.MD5
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1:
		d := sha1.Sum(c.RawTBSCertificate)
		digest, h = d[:], crypto.SHA1
	case x509.MD2WithRSA:
		// Unverifiable here: decide on the names and key ids.
		return bytes.Equal(c.RawSubject, c.RawIssuer) &&
			(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
	default:
		return false
	}
	switch pub := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, h, digest, c.Signature) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, digest, c.Signature)
	}
	return false
}

// legacyVerify builds a path from the leaf through the certificates the
// server sent to a root, accepting SHA-1 signatures, which crypto/x509 no
// longer does. Judged at packet time, a SHA-1 chain from 2013 was trusted
// (browsers distrusted SHA-1 certificates from 2017): calling it untrusted
// would flood old captures with false alerts. cert.weak_signature reports
// a SHA-1 leaf on its own. MD5 and MD2 stay refused. Validity periods and
// CA basic constraints are checked; the result holds from at until the
// earliest not_after on the path (the cache entry's window).
func (t *trustStore) legacyVerify(certs []*tlsparse.CertSummary, at time.Time) (time.Time, bool) {
	leaf := certs[0].Cert
	if !usesSHA1(certs) {
		return time.Time{}, false
	}
	var inter []*x509.Certificate
	for _, c := range certs[1:] {
		if c != nil && c.Cert != nil {
			inter = append(inter, c.Cert)
		}
	}
	valid := func(c *x509.Certificate) bool { return !at.Before(c.NotBefore) && !at.After(c.NotAfter) }
	canSign := func(c *x509.Certificate) bool {
		return (!c.BasicConstraintsValid && c.Version < 3) || (c.BasicConstraintsValid && c.IsCA)
	}
	signed := func(parent, child *x509.Certificate) bool {
		return bytes.Equal(parent.RawSubject, child.RawIssuer) &&
			parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
	}
	var walk func(c *x509.Certificate, depth int, hi time.Time) (time.Time, bool)
	walk = func(c *x509.Certificate, depth int, hi time.Time) (time.Time, bool) {
		if !valid(c) || depth > 8 {
			return time.Time{}, false
		}
		if c.NotAfter.Before(hi) {
			hi = c.NotAfter
		}
		for _, r := range t.bySubject[string(c.RawIssuer)] {
			if valid(r) && canSign(r) && signed(r, c) {
				if r.NotAfter.Before(hi) {
					hi = r.NotAfter
				}
				return hi.Add(time.Second), true
			}
		}
		for _, p := range inter {
			if p != c && canSign(p) && signed(p, c) {
				if h, ok := walk(p, depth+1, hi); ok {
					return h, true
				}
			}
		}
		return time.Time{}, false
	}
	return walk(leaf, 0, time.Unix(1<<62, 0))
}

func usesSHA1(certs []*tlsparse.CertSummary) bool {
	for _, c := range certs {
		if c == nil || c.Cert == nil {
			continue
		}
		switch c.Cert.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
			return true
		}
	}
	return false
}
