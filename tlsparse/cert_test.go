package tlsparse

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

var (
	testCertsOnce sync.Once
	testCerts     map[string][]byte
)

// syntheticCerts returns self-signed certificates of each key type.
func syntheticCerts(t testing.TB) map[string][]byte {
	testCertsOnce.Do(func() {
		testCerts = map[string][]byte{}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, edKey, _ := ed25519.GenerateKey(rand.Reader)
		u, _ := url.Parse("spiffe://example.test/svc")
		tmpl := func(serial int64) *x509.Certificate {
			return &x509.Certificate{
				SerialNumber: big.NewInt(serial),
				Subject: pkix.Name{CommonName: "www.example.test", Organization: []string{"Example, Inc."},
					Country: []string{"US"}},
				NotBefore:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
				NotAfter:       time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				DNSNames:       []string{"www.example.test", "example.test"},
				IPAddresses:    []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::7")},
				EmailAddresses: []string{"ops@example.test"},
				URIs:           []*url.URL{u},
			}
		}
		for name, c := range map[string]struct {
			serial int64
			pub    any
			priv   any
		}{
			"rsa":     {0x0203bc, &rsaKey.PublicKey, rsaKey},
			"p256":    {1, &p256.PublicKey, p256},
			"p384":    {0xff, &p384.PublicKey, p384},
			"ed25519": {0x7fffffff, edKey.Public(), edKey},
		} {
			tm := tmpl(c.serial)
			der, err := x509.CreateCertificate(rand.Reader, tm, tm, c.pub, c.priv)
			if err != nil {
				panic(name + ": " + err.Error())
			}
			testCerts[name] = der
		}
	})
	return testCerts
}

func TestSummarizeSynthetic(t *testing.T) {
	certs := syntheticCerts(t)
	tests := []struct {
		name, alg, curve, sig, serial string
		size                          int
	}{
		{"rsa", "RSA", "", "SHA256-RSA", "0203BC", 2048},
		{"p256", "ECDSA", "P-256", "ECDSA-SHA256", "01", 256},
		{"p384", "ECDSA", "P-384", "ECDSA-SHA384", "FF", 384},
		{"ed25519", "Ed25519", "", "Ed25519", "7FFFFFFF", 256},
	}
	for _, tt := range tests {
		der := certs[tt.name]
		s := SummarizeCertificate(der)
		if s.Err != nil || s.Cert == nil {
			t.Fatalf("%s: %v", tt.name, s.Err)
		}
		h := sha256.Sum256(der)
		want := &CertSummary{
			SHA256: strings.ToUpper(hex.EncodeToString(h[:])), SHA1: s.SHA1,
			Subject: "CN=www.example.test,O=Example\\, Inc.,C=US", Issuer: "CN=www.example.test,O=Example\\, Inc.,C=US",
			SubjectCommonName: "www.example.test", IssuerCommonName: "www.example.test",
			AlternativeNames:   []string{"www.example.test", "example.test", "192.0.2.7", "2001:db8::7", "ops@example.test", "spiffe://example.test/svc"},
			SerialNumber:       tt.serial,
			NotBefore:          time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			NotAfter:           time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			PublicKeyAlgorithm: tt.alg, PublicKeySize: tt.size, PublicKeyCurve: tt.curve,
			SignatureAlgorithm: tt.sig, VersionNumber: 3, Cert: s.Cert,
		}
		if len(s.SHA1) != 40 || strings.ToUpper(s.SHA1) != s.SHA1 {
			t.Errorf("%s: SHA1 %q", tt.name, s.SHA1)
		}
		if fmt.Sprintf("%+v", s) != fmt.Sprintf("%+v", want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, s, want)
		}
	}
}

// negateSerial rewrites the serial number's first content byte so that the
// INTEGER becomes negative (the signature no longer matches, which parsing
// does not check).
func negateSerial(t *testing.T, der []byte, serialContent []byte) []byte {
	t.Helper()
	// INTEGER tag, length, content, right after the [0] version element.
	pat := append([]byte{0x02, byte(len(serialContent))}, serialContent...)
	i := bytes.Index(der, pat)
	if i < 0 {
		t.Fatal("serial not found")
	}
	out := bytes.Clone(der)
	out[i+2] |= 0x80
	return out
}

func TestSummarizeRejectedByX509(t *testing.T) {
	der := negateSerial(t, syntheticCerts(t)["rsa"], []byte{0x02, 0x03, 0xbc})
	s := SummarizeCertificate(der)
	if s.Err == nil || !errors.Is(s.Err, ErrMalformed) {
		t.Fatalf("negative serial: Err = %v, want ErrMalformed (GODEBUG x509negativeserial=0)", s.Err)
	}
	if s.Cert != nil {
		t.Error("Cert set with Err")
	}
	h := sha256.Sum256(der)
	if s.SHA256 != strings.ToUpper(hex.EncodeToString(h[:])) {
		t.Errorf("SHA256 %q", s.SHA256)
	}
	// The lenient parse still recovers the rest.
	want := map[string]string{
		"Subject": "CN=www.example.test,O=Example\\, Inc.,C=US", "IssuerCommonName": "www.example.test",
		"SerialNumber": "-7DFC44", "PublicKeyAlgorithm": "RSA", "PublicKeySize": "2048",
		"SignatureAlgorithm": "SHA256-RSA", "VersionNumber": "3",
		"NotBefore": "2024-01-02 03:04:05 +0000 UTC", "NotAfter": "2025-01-02 03:04:05 +0000 UTC",
	}
	got := map[string]string{
		"Subject": s.Subject, "IssuerCommonName": s.IssuerCommonName, "SerialNumber": s.SerialNumber,
		"PublicKeyAlgorithm": s.PublicKeyAlgorithm, "PublicKeySize": strconv.Itoa(s.PublicKeySize),
		"SignatureAlgorithm": s.SignatureAlgorithm, "VersionNumber": strconv.Itoa(s.VersionNumber),
		"NotBefore": s.NotBefore.String(), "NotAfter": s.NotAfter.String(),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("lenient %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestSummarizeGarbage(t *testing.T) {
	der := syntheticCerts(t)["p256"]
	inputs := [][]byte{nil, {}, {0x30}, {0x30, 0x80}, {0x30, 0x03, 0x02, 0x01, 0x01}, bytes.Repeat([]byte{0xff}, 300)}
	for i := 0; i < len(der); i++ { // every strict prefix
		inputs = append(inputs, der[:i])
	}
	for i, in := range inputs {
		s := SummarizeCertificate(in)
		if s == nil || s.Err == nil || !errors.Is(s.Err, ErrMalformed) || s.Cert != nil {
			t.Fatalf("input %d (%d bytes): %+v", i, len(in), s)
		}
		if len(s.SHA256) != 64 || len(s.SHA1) != 40 {
			t.Fatalf("input %d: hashes %q %q", i, s.SHA1, s.SHA256)
		}
	}
}

func TestSerialHex(t *testing.T) {
	for _, tt := range []struct {
		n    *big.Int
		want string
	}{
		{big.NewInt(0), "00"}, {big.NewInt(1), "01"}, {big.NewInt(0x12bbe6), "12BBE6"},
		{big.NewInt(0x99fa), "99FA"}, {big.NewInt(-1), "-01"}, {nil, ""},
	} {
		if got := serialHex(tt.n); got != tt.want {
			t.Errorf("serialHex(%v) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestReadTimeLenient(t *testing.T) {
	for _, tt := range []struct {
		tag  byte
		s    string
		want string
	}{
		{0x17, "691231000000Z", "1969-12-31T00:00:00Z"},
		{0x17, "491231000000Z", "2049-12-31T00:00:00Z"},
		{0x17, "5001010000Z", "1950-01-01T00:00:00Z"},
		{0x18, "19691231000000Z", "1969-12-31T00:00:00Z"},
		{0x18, "20380119031408.5Z", "2038-01-19T03:14:08.5Z"},
		{0x17, "not a time", ""},
	} {
		b := append([]byte{tt.tag, byte(len(tt.s))}, tt.s...)
		s := cryptobyteString(b)
		got, ok := readTime(&s)
		if gotS := got.Format(time.RFC3339Nano); ok != (tt.want != "") || ok && gotS != tt.want {
			t.Errorf("readTime(%q) = %s, %v; want %q", tt.s, gotS, ok, tt.want)
		}
		if len(s) != 0 {
			t.Errorf("readTime(%q) left %d bytes", tt.s, len(s))
		}
	}
}

// corpusCerts returns every certificate DER found in Certificate messages
// (and SSLv2 SERVER-HELLOs) of the TCP streams of the given corpus files,
// keyed by lower-case SHA-256.
func corpusCerts(t testing.TB, files []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, file := range files {
		for _, msgs := range fpFileMessages(t, file) {
			for _, m := range msgs {
				for _, der := range fpCertificates(m) {
					h := sha256.Sum256(der)
					out[hex.EncodeToString(h[:])] = der
				}
			}
		}
	}
	return out
}

// TestCertCorpusTshark compares the first certificate of every Certificate
// message tshark saw in the corpus with its SHA-256, subject and issuer CN,
// and validity (OpenSSL's reading of the DER bytes tshark extracted).
func TestCertCorpusTshark(t *testing.T) {
	rows := fpTSV(t, "tshark-visible.tsv")
	var want []map[string]string
	files := map[string]bool{}
	for _, r := range rows {
		if r["cert0_sha256"] != "" && r["transport"] == "tcp" {
			want = append(want, r)
			files[r["file"]] = true
		}
	}
	var fileList []string
	for f := range files {
		fileList = append(fileList, f)
	}
	sort.Strings(fileList)
	certs := corpusCerts(t, fileList)
	checked, parseErrors := 0, 0
	for _, r := range want {
		where := r["file"] + " frame " + r["frame"]
		der, ok := certs[r["cert0_sha256"]]
		if !ok {
			t.Errorf("%s: certificate %s not extracted", where, r["cert0_sha256"][:16])
			continue
		}
		s := SummarizeCertificate(der)
		checked++
		if s.SHA256 != strings.ToUpper(r["cert0_sha256"]) {
			t.Errorf("%s: SHA256 %s", where, s.SHA256)
		}
		if s.Err != nil {
			parseErrors++
			t.Logf("%s: crypto/x509 rejects it (lenient fields used): %v", where, s.Err)
		}
		// tshark joins several CNs with '|' in RDN order; pkix.Name keeps the last.
		wantCN := r["cert0_subject_cn"]
		if i := strings.LastIndex(wantCN, "|"); i >= 0 {
			wantCN = wantCN[i+1:]
		}
		wantICN := r["cert0_issuer_cn"]
		if i := strings.LastIndex(wantICN, "|"); i >= 0 {
			wantICN = wantICN[i+1:]
		}
		if wantCN != "PARSE_ERROR" && escapeCtl(s.SubjectCommonName) != wantCN {
			t.Errorf("%s: subject CN %q, want %q", where, s.SubjectCommonName, wantCN)
		}
		if wantICN != "PARSE_ERROR" && escapeCtl(s.IssuerCommonName) != wantICN {
			t.Errorf("%s: issuer CN %q, want %q", where, s.IssuerCommonName, wantICN)
		}
		if nb := s.NotBefore.Format("2006-01-02 15:04:05Z"); r["cert0_not_before"] != "" && nb != r["cert0_not_before"] {
			t.Errorf("%s: not_before %s, want %s", where, nb, r["cert0_not_before"])
		}
		if na := s.NotAfter.Format("2006-01-02 15:04:05Z"); r["cert0_not_after"] != "" && na != r["cert0_not_after"] {
			t.Errorf("%s: not_after %s, want %s", where, na, r["cert0_not_after"])
		}
	}
	t.Logf("%d certificates checked against tshark/OpenSSL (%d rejected by crypto/x509)", checked, parseErrors)
	if checked < 100 {
		t.Errorf("only %d certificates checked", checked)
	}
}

// escapeCtl writes control bytes as the corpus TSV does (OpenSSL esc_ctrl,
// e.g. NUL as \\00).
func escapeCtl(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "\\\\%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// zeekNameExceptions are certificates whose distinguished name Zeek prints
// differently from RFC 4514 by design, keyed by SHA-256.
var zeekNameExceptions = map[string]string{
	// zeek/tls__tls1.2.pcap, leaf *.taleo.net: the subject has multi-valued
	// RDNs (OU=Web+OU=Comodo PremiumSSL Wildcard, STREET=...+STREET=...).
	// Zeek uses OpenSSL's one-line form, which flattens them into separate
	// RDNs and spells street/postalCode in lower case; pkix.Name.String()
	// keeps the RFC 4514 '+' form and upper-case STREET/POSTALCODE.
	"95cb443934beda97627688546191ab1d3989a835592cebdd2434f9ad41324ce1": "multi-valued RDNs (RFC 4514 '+' form vs OpenSSL one-line)",
}

// TestCertCorpusZeek compares serial, subject, issuer, validity and key facts
// with Zeek's x509.log baselines, joined by SHA-256 fingerprint.
func TestCertCorpusZeek(t *testing.T) {
	rows := fpTSV(t, "source-visible.tsv")
	type rec map[string]string
	recs := map[string]rec{} // file|flow -> fields
	var keys []string
	for _, r := range rows {
		if r["source"] != "zeek-baseline" || !strings.Contains(r["ref"], "x509") {
			continue
		}
		k := r["file"] + "|" + r["flow"] + "|" + r["ref"]
		if recs[k] == nil {
			recs[k] = rec{"file": r["file"]}
			keys = append(keys, k)
		}
		recs[k][r["field"]] = r["value"]
	}
	files := map[string]bool{}
	for _, k := range keys {
		files[recs[k]["file"]] = true
	}
	var fileList []string
	for f := range files {
		fileList = append(fileList, f)
	}
	sort.Strings(fileList)
	certs := corpusCerts(t, fileList)
	checked := 0
	for _, k := range keys {
		r := recs[k]
		fp := r["fingerprint"]
		if fp == "" || r["certificate.serial"] == "" {
			continue
		}
		der, ok := certs[fp]
		if !ok {
			t.Errorf("%s: certificate %s not extracted", r["file"], fp)
			continue
		}
		s := SummarizeCertificate(der)
		checked++
		where := r["file"] + " " + fp[:12]
		cmp := func(field, got, want string) {
			if got != want {
				t.Errorf("%s: %s = %q, Zeek %q", where, field, got, want)
			}
		}
		cmp("serial", s.SerialNumber, r["certificate.serial"])
		if why, ok := zeekNameExceptions[fp]; ok {
			t.Logf("%s: subject not compared: %s", where, why)
		} else {
			cmp("subject", s.Subject, r["certificate.subject"])
		}
		cmp("issuer", s.Issuer, r["certificate.issuer"])
		cmp("version", strconv.Itoa(s.VersionNumber), r["certificate.version"])
		cmp("not_before", strconv.FormatInt(s.NotBefore.Unix(), 10)+".000000", r["certificate.not_valid_before"])
		cmp("not_after", strconv.FormatInt(s.NotAfter.Unix(), 10)+".000000", r["certificate.not_valid_after"])
		cmp("key_length", strconv.Itoa(s.PublicKeySize), r["certificate.key_length"])
		cmp("key_type", strings.ToLower(s.PublicKeyAlgorithm), map[string]string{"rsa": "rsa", "ecdsa": "ecdsa", "dsa": "dsa"}[r["certificate.key_type"]])
		if dns := r["san.dns"]; dns != "-" && dns != "" {
			var got []string
			if s.Cert != nil {
				got = s.Cert.DNSNames
			}
			cmp("san.dns", strings.Join(got, ","), dns)
		}
	}
	t.Logf("%d certificates checked against Zeek", checked)
	if checked < 10 {
		t.Errorf("only %d certificates checked", checked)
	}
}

func TestCertCache(t *testing.T) {
	certs := syntheticCerts(t)
	c := NewCertCache(16) // one entry per shard
	a, b := certs["rsa"], certs["p256"]
	s1 := c.Summary(a)
	s2 := c.Summary(bytes.Clone(a))
	if s1 != s2 {
		t.Error("second lookup did not return the cached summary")
	}
	if st := c.Stats(); st.Hits != 1 || st.Misses != 1 || st.Entries != 1 || st.Capacity != 16 {
		t.Errorf("stats %+v", st)
	}
	if s := c.Summary(b); s.SubjectCommonName != "www.example.test" || s.PublicKeyCurve != "P-256" {
		t.Errorf("p256 summary %+v", s)
	}
	// A mutated input after the call must not affect the cache (it keeps a copy).
	buf := bytes.Clone(certs["ed25519"])
	s3 := c.Summary(buf)
	buf[len(buf)-1] ^= 0xff
	if c.Summary(certs["ed25519"]) != s3 {
		t.Error("cache entry depended on the caller's buffer")
	}
	// Eviction: many distinct DERs through a small cache.
	c2 := NewCertCache(16)
	for i := 0; i < 200; i++ {
		der := append(bytes.Clone(a), byte(i)) // trailing byte: a distinct (malformed) input
		c2.Summary(der)
	}
	st := c2.Stats()
	if st.Misses != 200 || st.Entries > 16 || st.Evictions != 200-uint64(st.Entries) {
		t.Errorf("eviction stats %+v", st)
	}
	// LRU: in a one-entry-per-shard cache, re-reading the entry keeps it.
	c3 := NewCertCache(1 * certCacheShards)
	c3.Summary(a)
	c3.Summary(a)
	if st := c3.Stats(); st.Hits != 1 {
		t.Errorf("LRU stats %+v", st)
	}
	// Disabled cache still summarises.
	c4 := NewCertCache(0)
	if s := c4.Summary(a); s.Err != nil || c4.Stats().Entries != 0 {
		t.Errorf("disabled cache: %v %+v", s.Err, c4.Stats())
	}
	var nilCache *CertCache
	if s := nilCache.Summary(a); s.Err != nil {
		t.Error(s.Err)
	}
}

// TestCertCacheStats: the counters after a sequence of lookups. The
// shard of a DER depends on the cache's random seed, so a case that can
// evict checks that every distinct DER is either held or evicted; the
// DERs of a case have one length, so DERBytes is Entries times it.
func TestCertCacheStats(t *testing.T) {
	base := syntheticCerts(t)["rsa"]
	variant := func(i int) []byte { return append(bytes.Clone(base), byte(i), byte(i>>8)) }
	seq := func(ids ...int) [][]byte {
		var ders [][]byte
		for _, i := range ids {
			ders = append(ders, variant(i))
		}
		return ders
	}
	distinct := func(n int) [][]byte {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		return seq(ids...)
	}
	for _, c := range []struct {
		name               string
		size               int
		ders               [][]byte
		hits, misses       uint64
		distinct, capacity int
		mayEvict           bool
	}{
		{name: "empty", size: 16, capacity: 16},
		{name: "miss then hit", size: 16, ders: seq(1, 1), hits: 1, misses: 1, distinct: 1, capacity: 16},
		{name: "distinct that fit", size: 8 * certCacheShards, ders: seq(1, 2, 3, 1, 4, 5, 2), hits: 2, misses: 5, distinct: 5, capacity: 128},
		{name: "rounded up", size: 17, ders: seq(1), misses: 1, distinct: 1, capacity: 32},
		{name: "over capacity", size: 16, ders: distinct(40), misses: 40, distinct: 40, capacity: 16, mayEvict: true},
		{name: "disabled", size: 0, ders: seq(1, 1), misses: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := NewCertCache(c.size)
			for _, der := range c.ders {
				cc.Summary(der)
			}
			st := cc.Stats()
			if st.Hits != c.hits || st.Misses != c.misses || st.Capacity != c.capacity {
				t.Errorf("hits %d misses %d capacity %d, want %d %d %d", st.Hits, st.Misses, st.Capacity, c.hits, c.misses, c.capacity)
			}
			held := c.distinct
			if c.capacity == 0 {
				held = 0
			}
			if c.mayEvict {
				if st.Entries > c.capacity || st.Evictions == 0 || st.Entries+int(st.Evictions) != c.distinct {
					t.Errorf("entries %d evictions %d, want at most %d held and the rest of %d evicted", st.Entries, st.Evictions, c.capacity, c.distinct)
				}
				held = st.Entries
			} else if st.Entries != held || st.Evictions != 0 {
				t.Errorf("entries %d evictions %d, want %d and 0", st.Entries, st.Evictions, held)
			}
			if want := held * (len(base) + 2); st.DERBytes != want {
				t.Errorf("DERBytes %d, want %d", st.DERBytes, want)
			}
		})
	}
	var nilCache *CertCache
	if st := nilCache.Stats(); st != (CertCacheStats{}) {
		t.Errorf("nil cache stats %+v", st)
	}
}

func TestCertCacheLRUOrder(t *testing.T) {
	c := NewCertCache(2 * certCacheShards)
	// Find three DERs that land in the same shard.
	base := syntheticCerts(t)["rsa"]
	var same [][]byte
	shard0 := -1
	for i := 0; len(same) < 3 && i < 10000; i++ {
		der := append(bytes.Clone(base), byte(i), byte(i>>8))
		sh := int(hashForTest(c, der) % certCacheShards)
		if shard0 < 0 {
			shard0 = sh
		}
		if sh == shard0 {
			same = append(same, der)
		}
	}
	x, y, z := same[0], same[1], same[2]
	c.Summary(x)
	c.Summary(y)
	c.Summary(x) // x most recent, y least
	c.Summary(z) // evicts y
	before := c.Stats()
	c.Summary(x)
	c.Summary(z)
	c.Summary(y)
	after := c.Stats()
	if after.Hits-before.Hits != 2 || after.Misses-before.Misses != 1 {
		t.Errorf("LRU order: before %+v after %+v", before, after)
	}
}

func TestCertCacheConcurrent(t *testing.T) {
	certs := syntheticCerts(t)
	var ders [][]byte
	for _, d := range certs {
		ders = append(ders, d)
	}
	c := NewCertCache(64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				der := ders[(g+i)%len(ders)]
				if s := c.Summary(der); s.Err != nil || s.Cert == nil || !bytes.Equal(s.Cert.Raw, der) {
					t.Errorf("wrong summary")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if st := c.Stats(); st.Hits+st.Misses != 8*500 || st.Entries != len(ders) {
		t.Errorf("stats %+v", st)
	}
}

// FuzzCertSummary checks that any input yields a summary with hashes and,
// when crypto/x509 rejects it, an error wrapping ErrMalformed, never a panic;
// the cache returns the same as a direct summary.
func FuzzCertSummary(f *testing.F) {
	for _, der := range syntheticCerts(f) {
		f.Add(der)
	}
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	if _, err := os.Stat(filepath.Join(fpCorpusDir, "pcaps")); err == nil {
		files := []string{
			"flowtest/tls_malformed_cert.pcap", "suricata-verify/tls__tls-pre-1970__input.pcap",
			"zeek/tls__tls1.2.pcap", "zeek/tls__ssl-v2.pcap", "ja4/browsers-x509.pcapng",
		}
		matches, _ := filepath.Glob(filepath.Join(fpCorpusDir, "pcaps", "suricata-verify", "*zero*"))
		for _, m := range matches {
			files = append(files, "suricata-verify/"+filepath.Base(m))
		}
		for _, der := range corpusCerts(f, files) {
			f.Add(der)
		}
	}
	cache := NewCertCache(32)
	f.Fuzz(func(t *testing.T, der []byte) {
		s := SummarizeCertificate(der)
		if len(s.SHA256) != 64 || len(s.SHA1) != 40 {
			t.Fatalf("hashes %q %q", s.SHA1, s.SHA256)
		}
		if (s.Err == nil) != (s.Cert != nil) {
			t.Fatalf("Err %v with Cert %v", s.Err, s.Cert != nil)
		}
		if s.Err != nil && !errors.Is(s.Err, ErrMalformed) {
			t.Fatalf("Err %v does not wrap ErrMalformed", s.Err)
		}
		c := cache.Summary(der)
		if c.SHA256 != s.SHA256 || c.Subject != s.Subject || c.SerialNumber != s.SerialNumber {
			t.Fatalf("cache %+v\ndirect %+v", c, s)
		}
	})
}

func BenchmarkCertCacheHit(b *testing.B) {
	der := syntheticCerts(b)["rsa"]
	c := NewCertCache(1024)
	c.Summary(der)
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.Summary(der) == nil {
			b.Fatal("nil")
		}
	}
}

func BenchmarkCertCacheHitParallel(b *testing.B) {
	certs := syntheticCerts(b)
	var ders [][]byte
	for _, d := range certs {
		ders = append(ders, d)
	}
	c := NewCertCache(1024)
	for _, d := range ders {
		c.Summary(d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Summary(ders[i%len(ders)])
			i++
		}
	})
}

// BenchmarkCertSHA256 is what a lookup keyed by SHA-256 would pay for hashing
// alone (compare with BenchmarkCertCacheHit).
func BenchmarkCertSHA256(b *testing.B) {
	der := syntheticCerts(b)["rsa"]
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = sha256.Sum256(der)
	}
}

func BenchmarkSummarizeCertificate(b *testing.B) {
	der := syntheticCerts(b)["rsa"]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = SummarizeCertificate(der)
	}
}

func cryptobyteString(b []byte) cryptobyte.String { return cryptobyte.String(b) }

func hashForTest(c *CertCache, der []byte) uint64 { return c.key(der) }

func TestLenientName(t *testing.T) {
	// CN with a NUL byte (encoding/asn1 refuses it as a PrintableString),
	// O with characters RFC 4514 escapes.
	name := []byte{0x30, 0x26,
		0x31, 0x0e, 0x30, 0x0c, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x05, 'a', ',', 'b', '+', 'c',
		0x31, 0x14, 0x30, 0x12, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x0b, 'e', 'x', 0, 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm'}
	name[1] = byte(len(name) - 2)
	full, cn := lenientName(name)
	if full != "CN=ex\x00mple.com,O=a\\,b\\+c" || cn != "ex\x00mple.com" {
		t.Errorf("lenientName = %q, %q", full, cn)
	}
}

// BenchmarkCertCacheHitCorpus looks up the largest certificate of a corpus
// capture (a real 1.5 KB-class server certificate).
func BenchmarkCertCacheHitCorpus(b *testing.B) {
	var der []byte
	for _, d := range corpusCerts(b, []string{"zeek/tls__tls1.2.pcap", "ja4/browsers-x509.pcapng"}) {
		if len(d) > len(der) {
			der = d
		}
	}
	c := NewCertCache(1024)
	c.Summary(der)
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Summary(der)
	}
}

// TestCertCacheKeyCollision: two inputs with the same length, head and tail
// share a cache key; the full comparison must keep their summaries apart.
func TestCertCacheKeyCollision(t *testing.T) {
	a := syntheticCerts(t)["rsa"]
	b := bytes.Clone(a)
	b[len(b)/2] ^= 0x01 // middle byte: inside the TBSCertificate
	c := NewCertCache(64)
	if c.key(a) != c.key(b) {
		t.Fatal("test premise: keys differ")
	}
	sa, sb := c.Summary(a), c.Summary(b)
	if sa.SHA256 == sb.SHA256 {
		t.Fatal("colliding inputs got the same summary")
	}
	for i := 0; i < 3; i++ {
		if c.Summary(a).SHA256 != sa.SHA256 || c.Summary(b).SHA256 != sb.SHA256 {
			t.Fatal("wrong summary after collision")
		}
	}
	if st := c.Stats(); st.Entries != 1 {
		t.Errorf("stats %+v", st)
	}
}
