package suricata

import (
	"crypto/sha1"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// certView is a certificate as Suricata's buffers see it. Suricata decodes
// certificates with the Rust x509-parser crate; the strings below follow its
// formatting, which differs from RFC 4514 (see formatName).
type certView struct {
	ok                  bool // the DER parsed
	subject, issuer     []byte
	serial              []byte // "00:97:E6:..." upper-case, colon separated
	fingerprint         []byte // SHA-1, lower-case, colon separated
	sans                [][]byte
	notBefore, notAfter time.Time
}

// parseCert reads what the TLS keywords need from a DER certificate. It
// never panics; a certificate that does not parse yields ok == false (and
// Suricata, whose parser also fails, sets no cert0 fields then), except for
// the fingerprint, which Suricata computes over the raw bytes regardless.
func parseCert(der []byte) *certView { return parseCertSum(der, sha1.Sum(der)) }

func parseCertSum(der []byte, sum [20]byte) *certView {
	cv := &certView{}
	cv.fingerprint = colonHex(sum[:], false)

	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return cv
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return cv
	}
	var serial cryptobyte.String
	if !tbs.ReadASN1(&serial, cbasn1.INTEGER) {
		return cv
	}
	var sigAlg, issuer, validity, subject cryptobyte.String
	if !tbs.ReadASN1(&sigAlg, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1(&validity, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) {
		return cv
	}
	nb, ok1 := readCertTime(&validity)
	na, ok2 := readCertTime(&validity)
	if !ok1 || !ok2 {
		return cv
	}
	iss, ok1 := formatName(issuer)
	sub, ok2 := formatName(subject)
	if !ok1 || !ok2 {
		return cv
	}
	var spki cryptobyte.String
	if !tbs.ReadASN1(&spki, cbasn1.SEQUENCE) {
		return cv
	}
	// Optional issuerUniqueID [1], subjectUniqueID [2], extensions [3].
	tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific())
	tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific())
	var extsOuter cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&extsOuter, &hasExts, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return cv
	}
	if hasExts {
		var exts cryptobyte.String
		if !extsOuter.ReadASN1(&exts, cbasn1.SEQUENCE) {
			return cv
		}
		for !exts.Empty() {
			var ext, oidBytes, val cryptobyte.String
			if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&oidBytes, cbasn1.OBJECT_IDENTIFIER) {
				return cv
			}
			ext.SkipOptionalASN1(cbasn1.BOOLEAN)
			if !ext.ReadASN1(&val, cbasn1.OCTET_STRING) {
				return cv
			}
			if string(oidBytes) == "\x55\x1d\x11" { // 2.5.29.17 subjectAltName
				cv.sans = parseSANs(val)
			}
		}
	}
	cv.ok = true
	cv.serial = colonHex(serial, true)
	cv.subject, cv.issuer = sub, iss
	cv.notBefore, cv.notAfter = nb, na
	return cv
}

// colonHex formats b as "AA:BB:..." (Suricata's serial: upper case, and the
// raw DER integer bytes, so a leading 00 is kept) or "aa:bb" (fingerprint).
func colonHex(b []byte, upper bool) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	digits := "0123456789abcdef"
	if upper {
		digits = "0123456789ABCDEF"
	}
	out := make([]byte, 0, len(b)*3-1)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

func readCertTime(s *cryptobyte.String) (time.Time, bool) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if !s.ReadASN1UTCTime(&t) {
			return t, false
		}
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if !s.ReadASN1GeneralizedTime(&t) {
			return t, false
		}
	default:
		return t, false
	}
	return t, true
}

// Attribute abbreviations as x509-parser prints them (its own short list,
// then the oid-registry short names); unknown types print as dotted OIDs.
var attrNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "Email",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.4":                    "surname",
	"2.5.4.42":                   "givenName",
	"2.5.4.12":                   "title",
	"2.5.4.9":                    "street",
	"2.5.4.17":                   "postalCode",
	"2.5.4.15":                   "businessCategory",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// attrNamesRaw is attrNames keyed by the OID's DER content bytes.
var attrNamesRaw = func() map[string]string {
	m := map[string]string{}
	for dotted, name := range attrNames {
		var oid asn1.ObjectIdentifier
		for _, part := range strings.Split(dotted, ".") {
			n := 0
			fmt.Sscan(part, &n)
			oid = append(oid, n)
		}
		if der, err := asn1.Marshal(oid); err == nil {
			m[string(der[2:])] = name
		}
	}
	return m
}()

// dottedOID decodes OID content bytes to "1.2.840...".
func dottedOID(b []byte) (string, bool) {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return "", false
	}
	var parts []string
	var v uint64
	first := true
	for _, c := range b {
		if v > 1<<56 {
			return "", false
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			continue
		}
		if first {
			a := min(v/40, 2)
			parts = append(parts, fmt.Sprint(a), fmt.Sprint(v-40*a))
			first = false
		} else {
			parts = append(parts, fmt.Sprint(v))
		}
		v = 0
	}
	return strings.Join(parts, "."), true
}

// formatName renders a Name the way x509-parser's Display does, which is
// what Suricata puts in tls.cert_subject / tls.cert_issuer: RDNs in
// certificate order (not reversed as in RFC 4514), joined by ", ";
// multi-valued RDNs joined by " + "; values unescaped and raw (a NUL byte
// in the value stays a NUL byte); non-string values as upper-case hex.
// A value that is not valid UTF-8 makes x509-parser fail the whole name;
// Suricata then has no subject: ok is false.
func formatName(der cryptobyte.String) ([]byte, bool) {
	var seq cryptobyte.String
	if !der.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, false
	}
	out := []byte{}
	first := true
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			return nil, false
		}
		firstAttr := true
		for !set.Empty() {
			var atv, oidRaw cryptobyte.String
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1(&oidRaw, cbasn1.OBJECT_IDENTIFIER) {
				return nil, false
			}
			var val cryptobyte.String
			var tag cbasn1.Tag
			if !atv.ReadAnyASN1(&val, &tag) {
				return nil, false
			}
			v, ok := attrValue(tag, val)
			if !ok {
				return nil, false
			}
			if firstAttr {
				if !first {
					out = append(out, ", "...)
				}
			} else {
				out = append(out, " + "...)
			}
			first, firstAttr = false, false
			name, ok := attrNamesRaw[string(oidRaw)]
			if !ok {
				if name, ok = dottedOID(oidRaw); !ok {
					return nil, false
				}
			}
			out = append(out, name...)
			out = append(out, '=')
			out = append(out, v...)
		}
	}
	return out, true
}

func attrValue(tag cbasn1.Tag, v []byte) ([]byte, bool) {
	switch tag {
	case 18, 26, cbasn1.PrintableString, 27, 7, 25, cbasn1.T61String, 21, cbasn1.UTF8String, cbasn1.IA5String:
		// NumericString, VisibleString, PrintableString, GeneralString,
		// ObjectDescriptor, GraphicString, T61String, VideotexString,
		// UTF8String, IA5String: taken as UTF-8.
		if !utf8.Valid(v) {
			return nil, false
		}
		return v, true
	case 30: // BMPString
		if len(v)%2 != 0 {
			return nil, false
		}
		u := make([]uint16, len(v)/2)
		for i := range u {
			u[i] = uint16(v[2*i])<<8 | uint16(v[2*i+1])
		}
		return []byte(string(utf16.Decode(u))), true
	}
	return []byte(strings.ToUpper(hex.EncodeToString(v))), true
}

// parseSANs returns the subjectAltName entries as Suricata prints them:
// DNS names and URIs as they are; IP addresses in Rust's Debug format of a
// byte slice ("[192, 168, 0, 1]"), which is odd but what Suricata's
// SCGeneralName does. Other name types are left out (x509-parser's
// Display for them is not reproduced).
func parseSANs(val cryptobyte.String) [][]byte {
	var seq cryptobyte.String
	if !val.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil
	}
	var out [][]byte
	for !seq.Empty() {
		var v cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1(&v, &tag) {
			return out
		}
		switch tag {
		case cbasn1.Tag(2).ContextSpecific(), cbasn1.Tag(6).ContextSpecific(): // dNSName, URI
			out = append(out, []byte(string(v)))
		case cbasn1.Tag(7).ContextSpecific(): // iPAddress
			parts := make([]string, len(v))
			for i, b := range v {
				parts[i] = fmt.Sprint(b)
			}
			out = append(out, []byte("["+strings.Join(parts, ", ")+"]"))
		}
	}
	return out
}

// certCache remembers parsed certificates by SHA-1 (the same server
// certificates come back on many connections). It is bounded: when full it
// is emptied.
type certCache struct {
	mu sync.RWMutex
	m  map[[20]byte]*certView
}

const certCacheSize = 4096

func (c *certCache) get(der []byte) *certView {
	sum := sha1.Sum(der)
	c.mu.RLock()
	cv, ok := c.m[sum]
	c.mu.RUnlock()
	if ok {
		return cv
	}
	cv = parseCertSum(der, sum)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= certCacheSize {
		c.m = make(map[[20]byte]*certView)
	}
	c.m[sum] = cv
	c.mu.Unlock()
	return cv
}
