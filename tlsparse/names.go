package tlsparse

//go:generate go run gen_names.go

// The tables behind these functions are generated into names_gen.go from the
// IANA registry extracts in internal/iana/ (see gen_names.go). They are sorted
// arrays searched by binary search: no map, no init-time work.

// idName is one entry of a generated IANA table.
type idName struct {
	id   uint16
	name string
}

type sslv2Spec struct {
	id   uint32
	name string
}

// CipherSuite describes an IANA cipher suite, with the properties rules need.
// The fields are derived from the systematic IANA name by gen_names.go.
type CipherSuite struct {
	ID   uint16
	Name string // IANA name, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
	// KeyExchange: "RSA", "DH", "DHE", "ECDH", "ECDHE", "PSK", "SRP", "KRB5",
	// "ECCPWD", "GOST", "NULL"; "any" for TLS 1.3 suites; "" for SCSVs.
	KeyExchange string
	// Authentication: "RSA", "DSS", "ECDSA", "PSK", "SRP", "KRB5", "ECCPWD",
	// "GOST", "anon", "NULL"; "any" for TLS 1.3 suites; "" for SCSVs.
	Authentication string
	// Cipher: "NULL", "RC4", "RC2", "DES", "3DES", "IDEA", "SEED", "AES-CBC",
	// "AES-GCM", "AES-CCM", "AES-CCM-8", "CAMELLIA-CBC", "CAMELLIA-GCM",
	// "ARIA-CBC", "ARIA-GCM", "CHACHA20-POLY1305", "AEGIS-256", "AEGIS-128L",
	// "SM4-GCM", "SM4-CCM", GOST ciphers ("KUZNYECHIK-CTR", "MAGMA-MGM-L", ...).
	Cipher  string
	KeyBits int // nominal symmetric key size (3DES: 168, export: 40); 0 for NULL
	// MAC: "MD5", "SHA1", "SHA256", "SHA384", "AEAD", "OMAC", "IMIT";
	// "" for SCSVs and TLS_NULL_WITH_NULL_NULL.
	MAC            string
	AEAD           bool
	Export         bool // an EXPORT suite (40/56-bit keys, weak key exchange)
	Anonymous      bool // no server authentication (DH_anon, ECDH_anon, NULL)
	ForwardSecrecy bool // ephemeral (EC)DH, and every TLS 1.3 suite
	TLS13          bool // a TLS 1.3 suite (no key exchange/authentication in the suite)
	SCSV           bool // a signalling value, not a suite (renegotiation info, fallback)
}

func lookup(table []idName, id uint16) (string, bool) {
	lo, hi := 0, len(table)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case table[m].id < id:
			lo = m + 1
		case table[m].id > id:
			hi = m
		default:
			return table[m].name, true
		}
	}
	return "", false
}

// CipherSuiteInfo returns the description of an assigned IANA cipher suite;
// ok is false for unassigned values and GREASE.
func CipherSuiteInfo(id uint16) (cs CipherSuite, ok bool) {
	lo, hi := 0, len(cipherSuiteTable)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case cipherSuiteTable[m].ID < id:
			lo = m + 1
		case cipherSuiteTable[m].ID > id:
			hi = m
		default:
			return cipherSuiteTable[m], true
		}
	}
	return CipherSuite{}, false
}

// hexName formats v as "0xXXXX" (upper-case hex digits).
func hexName(v uint16) string {
	const digits = "0123456789ABCDEF"
	b := [6]byte{'0', 'x', digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf]}
	return string(b[:])
}

func name(table []idName, id uint16) string {
	if n, ok := lookup(table, id); ok {
		return n
	}
	if IsGREASE(id) {
		return "GREASE"
	}
	return hexName(id)
}

// CipherSuiteName returns the IANA name, "GREASE" for RFC 8701 values, or
// "0xXXXX" when unassigned.
func CipherSuiteName(id uint16) string {
	if cs, ok := CipherSuiteInfo(id); ok {
		return cs.Name
	}
	if IsGREASE(id) {
		return "GREASE"
	}
	return hexName(id)
}

// GroupName returns the IANA supported-group name (e.g. "x25519"), "GREASE",
// or "0xXXXX" when unassigned.
func GroupName(id uint16) string { return name(groupTable[:], id) }

// SignatureSchemeName returns the IANA signature scheme name, "GREASE", or
// "0xXXXX" when unassigned. TLS 1.2 (hash, signature) pairs that TLS 1.3 left
// out of the registry (e.g. 0x0202) are named "<signature>_<hash>" in the
// style of the registry ("dsa_sha1").
func SignatureSchemeName(id uint16) string {
	if n, ok := lookup(signatureSchemeTable[:], id); ok {
		return n
	}
	if IsGREASE(id) {
		return "GREASE"
	}
	if n, ok := legacySigAlgName(id); ok {
		return n
	}
	return hexName(id)
}

// legacySigAlgName names RFC 5246 SignatureAndHashAlgorithm pairs
// (hash 1..6, signature 1..3) not in the SignatureScheme registry.
func legacySigAlgName(id uint16) (string, bool) {
	hash, sig := id>>8, id&0xff
	var names = [...]string{
		// [sig-1][hash-1]
		0: "rsa_pkcs1_md5", 1: "rsa_pkcs1_sha1", 2: "rsa_pkcs1_sha224", 3: "rsa_pkcs1_sha256", 4: "rsa_pkcs1_sha384", 5: "rsa_pkcs1_sha512",
		6: "dsa_md5", 7: "dsa_sha1", 8: "dsa_sha224", 9: "dsa_sha256", 10: "dsa_sha384", 11: "dsa_sha512",
		12: "ecdsa_md5", 13: "ecdsa_sha1", 14: "ecdsa_sha224", 15: "ecdsa_sha256", 16: "ecdsa_sha384", 17: "ecdsa_sha512",
	}
	if hash < 1 || hash > 6 || sig < 1 || sig > 3 {
		return "", false
	}
	return names[(sig-1)*6+(hash-1)], true
}

// ExtensionName returns the IANA extension name, "GREASE", or "0xXXXX" when
// unassigned.
func ExtensionName(id uint16) string { return name(extensionTable[:], id) }

// SSLv2CipherSpecName returns the name of a 3-byte SSL 2.0 CIPHER-SPEC, or
// "0xXXXXXX" when unknown.
func SSLv2CipherSpecName(spec uint32) string {
	for _, s := range sslv2CipherSpecTable {
		if s.id == spec {
			return s.name
		}
	}
	const digits = "0123456789ABCDEF"
	b := [8]byte{'0', 'x'}
	for i := 0; i < 6; i++ {
		b[2+i] = digits[spec>>(20-4*uint(i))&0xf]
	}
	return string(b[:])
}

// IsGREASE reports whether v is an RFC 8701 GREASE value (0x?A?A, both bytes equal).
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// Wire versions.
const (
	VersionSSL20 uint16 = 0x0002
	VersionSSL30 uint16 = 0x0300
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// tls13Draft reports the draft number of a pre-standard TLS 1.3 wire version:
// IETF drafts 0x7fNN (draft NN), Google experiments 0x7e01..0x7e02 (reported as
// experiment numbers), Facebook's 0xfb17 (draft 23) and 0xfb1a (draft 26).
func tls13Draft(v uint16) (kind string, n int, ok bool) {
	switch {
	case v>>8 == 0x7f && v&0xff != 0:
		return "draft", int(v & 0xff), true
	case v == 0x7e01 || v == 0x7e02:
		return "Google experiment", int(v & 0xff), true
	case v == 0xfb17:
		return "Facebook draft", 23, true
	case v == 0xfb1a:
		return "Facebook draft", 26, true
	}
	return "", 0, false
}

// VersionName returns the ECS tls.version and tls.version_protocol of a wire
// version: 0x0303 -> ("1.2", "tls"), 0x0300 -> ("3.0", "ssl"), 0x0002 ->
// ("2.0", "ssl"), DTLS 0xfefd -> ("1.2", "dtls").
//
// Pre-standard TLS 1.3 versions (IETF drafts 0x7fNN, Google experiments
// 0x7e01/0x7e02, Facebook 0xfb17/0xfb1a) are reported as ("1.3", "tls"): ECS
// tls.version holds the protocol generation, and these handshakes are TLS 1.3
// in every way a rule cares about. VersionString keeps the draft number.
// Unknown versions (and GREASE) return ("", ""), so documents leave the fields
// out.
func VersionName(v uint16) (version, protocol string) {
	switch v {
	case VersionSSL20:
		return "2.0", "ssl"
	case VersionSSL30:
		return "3.0", "ssl"
	case VersionTLS10:
		return "1.0", "tls"
	case VersionTLS11:
		return "1.1", "tls"
	case VersionTLS12:
		return "1.2", "tls"
	case VersionTLS13:
		return "1.3", "tls"
	case 0xfeff:
		return "1.0", "dtls"
	case 0xfefd:
		return "1.2", "dtls"
	case 0xfefc:
		return "1.3", "dtls"
	}
	if _, _, ok := tls13Draft(v); ok {
		return "1.3", "tls"
	}
	return "", ""
}

// VersionString returns the long human-readable form of a wire version:
// "SSL 2.0", "TLS 1.2", "TLS 1.3 (draft 28)", "TLS 1.3 (Google experiment 1)",
// "DTLS 1.2", "GREASE", or "unknown (0xXXXX)".
func VersionString(v uint16) string {
	if kind, n, ok := tls13Draft(v); ok {
		return "TLS 1.3 (" + kind + " " + itoa(n) + ")"
	}
	version, protocol := VersionName(v)
	switch protocol {
	case "ssl":
		return "SSL " + version
	case "tls":
		return "TLS " + version
	case "dtls":
		return "DTLS " + version
	}
	if IsGREASE(v) {
		return "GREASE"
	}
	return "unknown (" + hexName(v) + ")"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
