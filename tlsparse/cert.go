package tlsparse

import (
	"bytes"
	"crypto/dsa" //nolint:staticcheck // DSA keys still appear in old certificates.
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"hash/maphash"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SummarizeCertificate parses one DER certificate with crypto/x509 and
// summarises it in the ECS x509 field set. It never panics and never returns
// nil. When crypto/x509 rejects the certificate (negative serial numbers,
// malformed names or extensions ...), Err is set (wrapping ErrMalformed) and
// Cert is nil, but the hashes are always there and the fields a lenient
// parse of the TBSCertificate can recover (subject, issuer, serial, validity,
// algorithms) are filled in as well.
func SummarizeCertificate(der []byte) *CertSummary {
	s := &CertSummary{}
	s1 := sha1.Sum(der)
	s256 := sha256.Sum256(der)
	s.SHA1 = upperHex(s1[:])
	s.SHA256 = upperHex(s256[:])

	cert, err := x509.ParseCertificate(der)
	if err != nil {
		s.Err = fmt.Errorf("%w: certificate: %w", ErrMalformed, err)
		summarizeLenient(s, der)
		return s
	}
	s.Cert = cert
	s.Subject = cert.Subject.String()
	s.Issuer = cert.Issuer.String()
	s.SubjectCommonName = cert.Subject.CommonName
	s.IssuerCommonName = cert.Issuer.CommonName
	s.SerialNumber = serialHex(cert.SerialNumber)
	s.NotBefore = cert.NotBefore.UTC()
	s.NotAfter = cert.NotAfter.UTC()
	s.VersionNumber = cert.Version

	n := len(cert.DNSNames) + len(cert.IPAddresses) + len(cert.EmailAddresses) + len(cert.URIs)
	if n > 0 {
		s.AlternativeNames = make([]string, 0, n)
		s.AlternativeNames = append(s.AlternativeNames, cert.DNSNames...)
		for _, ip := range cert.IPAddresses {
			s.AlternativeNames = append(s.AlternativeNames, ip.String())
		}
		s.AlternativeNames = append(s.AlternativeNames, cert.EmailAddresses...)
		for _, u := range cert.URIs {
			s.AlternativeNames = append(s.AlternativeNames, u.String())
		}
	}

	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		s.PublicKeyAlgorithm, s.PublicKeySize = "RSA", pub.N.BitLen()
	case *ecdsa.PublicKey:
		s.PublicKeyAlgorithm = "ECDSA"
		if pub.Curve != nil {
			p := pub.Curve.Params()
			s.PublicKeyCurve, s.PublicKeySize = p.Name, p.BitSize
		}
	case ed25519.PublicKey:
		s.PublicKeyAlgorithm, s.PublicKeySize = "Ed25519", 256
	case *ecdh.PublicKey: // X25519 keys
		s.PublicKeyAlgorithm, s.PublicKeyCurve, s.PublicKeySize = "X25519", "X25519", 256
	case *dsa.PublicKey:
		s.PublicKeyAlgorithm = "DSA"
		if pub.P != nil {
			s.PublicKeySize = pub.P.BitLen()
		}
	}
	if s.PublicKeyAlgorithm == "" {
		s.PublicKeyAlgorithm = spkiAlgorithm(cert.RawSubjectPublicKeyInfo)
	}
	if cert.SignatureAlgorithm != x509.UnknownSignatureAlgorithm {
		s.SignatureAlgorithm = cert.SignatureAlgorithm.String()
	} else {
		s.SignatureAlgorithm = certSignatureOID(der)
	}
	return s
}

func upperHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0xf]
	}
	return string(out)
}

// serialHex formats a serial number as Zeek and OpenSSL do: upper-case hex
// of the magnitude bytes ("01", "0203BC..."), with a leading '-' when
// negative.
func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	b := n.Bytes()
	if len(b) == 0 {
		return "00"
	}
	if n.Sign() < 0 {
		return "-" + upperHex(b)
	}
	return upperHex(b)
}

var (
	oidRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidDSA     = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidX25519  = asn1.ObjectIdentifier{1, 3, 101, 110}

	oidP224 = asn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

// readAlgorithm reads an AlgorithmIdentifier and returns its OID and the
// parameters' OID when they are one (named curve).
func readAlgorithm(s *cryptobyte.String) (alg, param asn1.ObjectIdentifier, ok bool) {
	var ai cryptobyte.String
	if !s.ReadASN1(&ai, cbasn1.SEQUENCE) || !ai.ReadASN1ObjectIdentifier(&alg) {
		return nil, nil, false
	}
	if ai.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		ai.ReadASN1ObjectIdentifier(&param)
	}
	return alg, param, true
}

// spkiAlgorithm names the algorithm of a SubjectPublicKeyInfo crypto/x509 did
// not decode: its OID in dotted form.
func spkiAlgorithm(spki []byte) string {
	s := cryptobyte.String(spki)
	var inner cryptobyte.String
	if !s.ReadASN1(&inner, cbasn1.SEQUENCE) {
		return ""
	}
	alg, _, ok := readAlgorithm(&inner)
	if !ok {
		return ""
	}
	return alg.String()
}

// certSignatureOID returns the dotted OID of the certificate's outer
// signatureAlgorithm.
func certSignatureOID(der []byte) string {
	s := cryptobyte.String(der)
	var cert cryptobyte.String
	if !s.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.SkipASN1(cbasn1.SEQUENCE) {
		return ""
	}
	alg, _, ok := readAlgorithm(&cert)
	if !ok {
		return ""
	}
	return alg.String()
}

var sigAlgNames = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 2}, "MD2-RSA"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}, "MD5-RSA"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, "SHA1-RSA"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, "SHA256-RSA"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, "SHA384-RSA"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, "SHA512-RSA"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}, "RSASSA-PSS"},
	{asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 3}, "DSA-SHA1"},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 2}, "DSA-SHA256"},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}, "ECDSA-SHA1"},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, "ECDSA-SHA256"},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, "ECDSA-SHA384"},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, "ECDSA-SHA512"},
	{asn1.ObjectIdentifier{1, 3, 101, 112}, "Ed25519"},
}

// summarizeLenient fills what it can from a certificate crypto/x509 rejected:
// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
// TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
// issuer, validity, subject, subjectPublicKeyInfo, ... } (RFC 5280 4.1).
// Every step is optional: it stops at the first thing it cannot read.
func summarizeLenient(s *CertSummary, der []byte) {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return
	}
	if alg, _, ok := readAlgorithm(&cert); ok {
		s.SignatureAlgorithm = alg.String()
		for _, n := range sigAlgNames {
			if n.oid.Equal(alg) {
				s.SignatureAlgorithm = n.name
				break
			}
		}
	}
	s.VersionNumber = 1
	var present bool
	var version cryptobyte.String
	if !tbs.ReadOptionalASN1(&version, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return
	}
	if present {
		var v int
		if !version.ReadASN1Integer(&v) || v < 0 || v > 10 {
			return
		}
		s.VersionNumber = v + 1
	}
	var serial cryptobyte.String
	if !tbs.ReadASN1(&serial, cbasn1.INTEGER) {
		return
	}
	// Two's complement content bytes, read without the DER minimality and
	// sign checks crypto/x509 applies.
	if len(serial) > 0 {
		n := new(big.Int).SetBytes(serial)
		if serial[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(serial))))
		}
		s.SerialNumber = serialHex(n)
	}
	if !tbs.SkipASN1(cbasn1.SEQUENCE) { // signature AlgorithmIdentifier
		return
	}
	var issuer, validity, subject cryptobyte.String
	if !tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) {
		return
	}
	s.Issuer, s.IssuerCommonName = lenientName(issuer)
	if !tbs.ReadASN1(&validity, cbasn1.SEQUENCE) {
		return
	}
	s.NotBefore, _ = readTime(&validity)
	s.NotAfter, _ = readTime(&validity)
	if !tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) {
		return
	}
	s.Subject, s.SubjectCommonName = lenientName(subject)
	var spki cryptobyte.String
	if !tbs.ReadASN1(&spki, cbasn1.SEQUENCE) {
		return
	}
	alg, param, ok := readAlgorithm(&spki)
	if !ok {
		return
	}
	var bits asn1.BitString
	var key cryptobyte.String
	if spki.ReadASN1(&key, cbasn1.BIT_STRING) && len(key) > 0 {
		bits = asn1.BitString{Bytes: key[1:], BitLength: 8*len(key[1:]) - int(key[0]&7)}
	}
	switch {
	case alg.Equal(oidRSA):
		s.PublicKeyAlgorithm = "RSA"
		k := cryptobyte.String(bits.Bytes)
		var seq cryptobyte.String
		mod := new(big.Int)
		if k.ReadASN1(&seq, cbasn1.SEQUENCE) && seq.ReadASN1Integer(mod) {
			s.PublicKeySize = mod.BitLen()
		}
	case alg.Equal(oidEC):
		s.PublicKeyAlgorithm = "ECDSA"
		switch {
		case param.Equal(oidP224):
			s.PublicKeyCurve, s.PublicKeySize = "P-224", 224
		case param.Equal(oidP256):
			s.PublicKeyCurve, s.PublicKeySize = "P-256", 256
		case param.Equal(oidP384):
			s.PublicKeyCurve, s.PublicKeySize = "P-384", 384
		case param.Equal(oidP521):
			s.PublicKeyCurve, s.PublicKeySize = "P-521", 521
		case param != nil:
			s.PublicKeyCurve = param.String()
		}
	case alg.Equal(oidEd25519):
		s.PublicKeyAlgorithm, s.PublicKeySize = "Ed25519", 256
	case alg.Equal(oidX25519):
		s.PublicKeyAlgorithm, s.PublicKeyCurve, s.PublicKeySize = "X25519", "X25519", 256
	case alg.Equal(oidDSA):
		s.PublicKeyAlgorithm = "DSA"
	default:
		s.PublicKeyAlgorithm = alg.String()
	}
}

// lenientName decodes a Name (the full SEQUENCE element) into its RFC 4514
// string and common name; strings with bytes crypto/x509 refuses (NUL ...)
// are kept as they are.
func lenientName(der []byte) (string, string) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdns); err == nil && len(rest) == 0 {
		var n pkix.Name
		n.FillFromRDNSequence(&rdns)
		return n.String(), n.CommonName
	}
	// encoding/asn1 rejects some string contents; fall back to a raw walk
	// that takes every attribute value's bytes as they are.
	var parts []string
	var cn string
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return "", ""
	}
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			break
		}
		for !set.Empty() {
			var atv cryptobyte.String
			var oid asn1.ObjectIdentifier
			var val cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&oid) ||
				!atv.ReadAnyASN1(&val, &tag) {
				break
			}
			key := oid.String()
			switch {
			case oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 3}):
				key, cn = "CN", string(val)
			case oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 6}):
				key = "C"
			case oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 10}):
				key = "O"
			case oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 11}):
				key = "OU"
			case oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 7}):
				key = "L"
			case oid.Equal(asn1.ObjectIdentifier{2, 5, 4, 8}):
				key = "ST"
			}
			parts = append(parts, key+"="+escapeRDNValue(string(val)))
		}
	}
	// RFC 4514 order: last RDN first.
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ","), cn
}

// escapeRDNValue escapes an attribute value as RFC 4514 section 2.4 asks
// (control bytes are left as they are, as pkix.Name.String does).
func escapeRDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';',
			i == 0 && (c == ' ' || c == '#'), i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// readTime reads a UTCTime or GeneralizedTime leniently (seconds optional,
// any zone offset), so that certificates crypto/x509 rejects still show their
// validity. The element is consumed whatever it holds.
func readTime(s *cryptobyte.String) (time.Time, bool) {
	var raw cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&raw, &tag) {
		return time.Time{}, false
	}
	var layouts []string
	switch tag {
	case cbasn1.UTCTime:
		layouts = []string{"060102150405Z0700", "0601021504Z0700"}
	case cbasn1.GeneralizedTime:
		layouts = []string{"20060102150405Z0700", "20060102150405.999999999Z0700", "200601021504Z0700"}
	default:
		return time.Time{}, false
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, string(raw)); err == nil {
			if tag == cbasn1.UTCTime && t.Year() >= 2050 {
				t = t.AddDate(-100, 0, 0) // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY
			}
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// CertCache summarises DER certificates, caching summaries in a bounded LRU.
// It is safe for concurrent use.
//
// Lookups are keyed by a 64-bit maphash (per-cache random seed) of the DER's
// length, head and tail (where the signature is) rather than its SHA-256:
// SHA-256 of a 1-2 KB certificate costs 0.5-1 µs, several times the rest of a
// lookup; the SHA-256 is computed once per miss and kept in the summary. A hit
// is confirmed by comparing the whole DER, so a key collision can never
// return another certificate's summary (it only costs a miss).
type CertCache struct {
	seed   maphash.Seed
	shards [certCacheShards]certShard

	hits, misses, evictions atomic.Uint64
}

const certCacheShards = 16

type certShard struct {
	mu    sync.Mutex
	m     map[uint64]*certEntry
	head  certEntry // sentinel of the LRU ring: head.next is most recent
	limit int
	bytes int      // DER bytes of the entries in m
	_     [32]byte // keep shards on separate cache lines
}

type certEntry struct {
	key        uint64
	der        []byte
	sum        *CertSummary
	prev, next *certEntry
}

// CertCacheStats are the counters of a CertCache.
type CertCacheStats struct {
	Hits, Misses, Evictions uint64
	Entries, Capacity       int
	// DERBytes is the size of the certificates the entries keep (their
	// DER copies); the summaries and parsed certificates beside them are
	// not counted. The cache is bounded by Capacity, not by bytes.
	DERBytes int
}

// NewCertCache returns a cache holding about size summaries: the bound is
// per shard (16 shards), so the capacity is size rounded up to a multiple of
// 16 (Stats reports it). size <= 0 disables caching.
func NewCertCache(size int) *CertCache {
	c := &CertCache{seed: maphash.MakeSeed()}
	per := 0
	if size > 0 {
		per = (size + certCacheShards - 1) / certCacheShards
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.limit = per
		sh.m = make(map[uint64]*certEntry, min(per, 64))
		sh.head.prev, sh.head.next = &sh.head, &sh.head
	}
	return c
}

// Summary returns the summary of der, from the cache when present. The result
// is shared and must not be modified. der is not retained (the cache keeps
// its own copy).
func (c *CertCache) Summary(der []byte) *CertSummary {
	sum, _ := c.summary(der, false)
	return sum
}

// SummaryDER is Summary that also returns a copy of der that stays valid:
// the cache's own when it keeps the certificate (shared: it must not be
// modified), else a new one.
func (c *CertCache) SummaryDER(der []byte) (*CertSummary, []byte) {
	return c.summary(der, true)
}

// summary returns der's summary and, when keep is true, a copy of der. A
// summary is made from a copy of der: its x509.Certificate points into the
// bytes it was parsed from, and der may be a buffer the caller reuses.
func (c *CertCache) summary(der []byte, keep bool) (*CertSummary, []byte) {
	if c == nil {
		own := bytes.Clone(der)
		return SummarizeCertificate(own), own
	}
	key := c.key(der)
	sh := &c.shards[key%certCacheShards]
	sh.mu.Lock()
	if e := sh.m[key]; e != nil && bytes.Equal(e.der, der) {
		sh.moveFront(e)
		sum, kept := e.sum, e.der
		sh.mu.Unlock()
		c.hits.Add(1)
		return sum, kept
	}
	sh.mu.Unlock()
	c.misses.Add(1)

	// Parse outside the lock; two goroutines missing on the same certificate
	// at once both parse it, which is harmless.
	own := bytes.Clone(der)
	sum := SummarizeCertificate(own)
	if sh.limit == 0 {
		return sum, own
	}
	e := &certEntry{key: key, der: own, sum: sum}
	sh.mu.Lock()
	if old := sh.m[key]; old != nil {
		if bytes.Equal(old.der, der) { // raced with another miss
			sh.moveFront(old)
			sh.mu.Unlock()
			return old.sum, old.der
		}
		sh.unlink(old) // maphash collision: the newer certificate wins
		delete(sh.m, key)
		sh.bytes -= len(old.der)
	}
	sh.m[key] = e
	sh.pushFront(e)
	sh.bytes += len(own)
	var evicted uint64
	for len(sh.m) > sh.limit {
		last := sh.head.prev
		sh.unlink(last)
		delete(sh.m, last.key)
		sh.bytes -= len(last.der)
		evicted++
	}
	sh.mu.Unlock()
	if evicted > 0 {
		c.evictions.Add(evicted)
	}
	return sum, e.der
}

// key hashes the length, the first 64 and the last 192 bytes of der. A
// certificate ends with its signature, which differs between any two
// certificates, so this part identifies it as well as the whole DER would,
// at a fraction of the cost of hashing 1-2 KB; hits are confirmed with a
// full comparison anyway.
func (c *CertCache) key(der []byte) uint64 {
	const headLen, tailLen = 64, 192
	if len(der) <= headLen+tailLen {
		return maphash.Bytes(c.seed, der)
	}
	h := maphash.Bytes(c.seed, der[:headLen])
	t := maphash.Bytes(c.seed, der[len(der)-tailLen:])
	return h ^ t*0x9e3779b97f4a7c15 ^ uint64(len(der))
}

func (sh *certShard) unlink(e *certEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (sh *certShard) pushFront(e *certEntry) {
	e.prev, e.next = &sh.head, sh.head.next
	sh.head.next.prev = e
	sh.head.next = e
}

func (sh *certShard) moveFront(e *certEntry) {
	if sh.head.next == e {
		return
	}
	sh.unlink(e)
	sh.pushFront(e)
}

// Stats returns the cache's counters: hits, misses, evictions (summaries
// dropped to stay within the bound), current entries, their DER bytes and
// the capacity. A nil cache (no caching) reports zeros.
func (c *CertCache) Stats() CertCacheStats {
	if c == nil {
		return CertCacheStats{}
	}
	st := CertCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		st.Entries += len(sh.m)
		st.Capacity += sh.limit
		st.DERBytes += sh.bytes
		sh.mu.Unlock()
	}
	return st
}
