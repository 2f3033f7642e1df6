package detect

import (
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// variable is one name rules can use. Names are qualified ("tls.version"):
// CEL resolves "tls.version" to the variable of that name, so the activation
// answers each name from a table, without building a map per session.
type variable struct {
	name string
	typ  *cel.Type
	doc  string
	get  func(a *activation) ref.Val
}

var (
	listOfStrings = cel.ListType(cel.StringType)
	emptyStrings  = &goStrings{types.NewStringList(types.DefaultTypeAdapter, nil), nil}
)

// goStrings is a CEL list of strings that keeps its Go slice, so that Go
// functions (name_matches) read it without boxing each element.
type goStrings struct {
	traits.Lister
	s []string
}

func str(s string) ref.Val {
	if s == "" {
		return types.String("") // a constant: no allocation
	}
	return types.String(s)
}

var (
	listOfInts = cel.ListType(cel.IntType)
	emptyInts  = types.NewDynamicList(types.DefaultTypeAdapter, []int64{})
)

func intList(ch *tlsparse.ClientHello, f func(*tlsparse.ClientHello) []uint16) ref.Val {
	if ch == nil {
		return emptyInts
	}
	l := f(ch)
	if len(l) == 0 {
		return emptyInts
	}
	v := make([]int64, len(l))
	for i, x := range l {
		v[i] = int64(x)
	}
	return types.NewDynamicList(types.DefaultTypeAdapter, v)
}

func strList(l []string) ref.Val {
	if len(l) == 0 {
		return emptyStrings
	}
	return &goStrings{types.NewStringList(types.DefaultTypeAdapter, l), l}
}

// variables is the schema rules are written against. It is documented in
// rules/README.md; names are an interface, add but do not rename.
var variables = []variable{
	// Network.
	{"network.protocol", cel.StringType, `what the flow carries: "tls", "quic", "ssh", "http", "openvpn", "unknown"`,
		func(a *activation) ref.Val { return str(a.s.Protocol.String()) }},
	{"network.protocol_name", cel.StringType, `display name of network.protocol: "TLS", "QUIC", "SSH", "HTTP", "OpenVPN", "unknown"`,
		func(a *activation) ref.Val { return str(a.s.Protocol.Display()) }},
	{"network.transport", cel.StringType, `"tcp" or "udp"`,
		func(a *activation) ref.Val { return str(a.s.Transport.String()) }},
	{"server.ip", cel.StringType, "server address", func(a *activation) ref.Val { return str(a.s.Server.Addr().String()) }},
	{"server.port", cel.IntType, "server port", func(a *activation) ref.Val { return portVal(a.s.Server.Port()) }},
	{"client.ip", cel.StringType, "client address", func(a *activation) ref.Val { return str(a.s.Client.Addr().String()) }},
	{"client.port", cel.IntType, "client port", func(a *activation) ref.Val { return portVal(a.s.Client.Port()) }},
	{"server.display", cel.StringType, `"sni (ip:port)", or "ip:port" without SNI: for messages`,
		func(a *activation) ref.Val { return str(a.serverDisplay()) }},
	{"client.bytes", cel.IntType, "payload bytes client to server", func(a *activation) ref.Val { return types.Int(a.s.ClientBytes) }},
	{"server.bytes", cel.IntType, "payload bytes server to client", func(a *activation) ref.Val { return types.Int(a.s.ServerBytes) }},
	{"session.incomplete", cel.BoolType, "a gap, a missing direction, or the capture ended mid-handshake",
		func(a *activation) ref.Val { return types.Bool(a.s.Incomplete) }},
	{"session.start", cel.TimestampType, "packet time of the first packet",
		func(a *activation) ref.Val { return types.Timestamp{Time: a.s.Start} }},
	{"anomalies", listOfStrings, "what capture and tlsparse noticed",
		func(a *activation) ref.Val { return strList(a.anomalies()) }},

	// TLS.
	{"tls.client_hello", cel.BoolType, "a ClientHello was parsed", func(a *activation) ref.Val { return types.Bool(a.ch != nil) }},
	{"tls.server_hello", cel.BoolType, "a ServerHello was parsed (version and cipher are negotiated)",
		func(a *activation) ref.Val { return types.Bool(a.sh != nil) }},
	{"tls.version", cel.StringType, `negotiated version as ECS writes it: "1.2", "3.0"`,
		func(a *activation) ref.Val { return a.vv.version }},
	{"tls.version_protocol", cel.StringType, `"tls" or "ssl"`, func(a *activation) ref.Val { return a.vv.protocol }},
	{"tls.version_id", cel.IntType, "negotiated wire version (0x0303 for TLS 1.2); 0 without ServerHello",
		func(a *activation) ref.Val { return a.vv.id }},
	{"tls.cipher", cel.StringType, "IANA name of the negotiated suite", func(a *activation) ref.Val { return a.cv.name }},
	{"tls.cipher_id", cel.IntType, "negotiated suite value", func(a *activation) ref.Val { return a.cv.id }},
	{"tls.cipher_kx", cel.StringType, `key exchange of the suite: "RSA", "DHE", "ECDHE", "DH", "ECDH", "PSK", ...; "" for TLS 1.3 suites`,
		func(a *activation) ref.Val { return a.cv.kx }},
	{"tls.cipher_auth", cel.StringType, `authentication: "RSA", "ECDSA", "DSS", "anon", ...`,
		func(a *activation) ref.Val { return a.cv.auth }},
	{"tls.cipher_enc", cel.StringType, `bulk cipher as tlsparse.CipherSuiteInfo names it: "AES-GCM", "AES-CBC", "CHACHA20-POLY1305", "RC4", "DES", "3DES", "RC2", "NULL", ...`,
		func(a *activation) ref.Val { return a.cv.enc }},
	{"tls.cipher_mac", cel.StringType, `MAC: "SHA" (SHA-1), "SHA256", "SHA384", "MD5"; "" for AEAD suites`,
		func(a *activation) ref.Val { return a.cv.mac }},
	{"tls.cipher_export", cel.BoolType, "an EXPORT suite", func(a *activation) ref.Val { return types.Bool(a.cv.export) }},
	{"tls.cipher_anon", cel.BoolType, "an anonymous (unauthenticated) suite", func(a *activation) ref.Val { return types.Bool(a.cv.anon) }},
	{"tls.curve", cel.StringType, "key exchange group, where visible", func(a *activation) ref.Val { return str(a.curve()) }},
	{"tls.dh_bits", cel.IntType, "finite-field DHE prime size; 0 when not DHE", func(a *activation) ref.Val { return types.Int(a.dhBits()) }},
	{"tls.sni", cel.StringType, "server_name from the ClientHello", func(a *activation) ref.Val { return str(a.sni()) }},
	{"tls.alpn", listOfStrings, "ALPN protocols offered", func(a *activation) ref.Val {
		if a.ch == nil {
			return emptyStrings
		}
		return strList(a.ch.ALPN)
	}},
	{"tls.next_protocol", cel.StringType, "ALPN protocol chosen by the server", func(a *activation) ref.Val {
		if a.sh == nil {
			return str("")
		}
		return str(a.sh.ALPN)
	}},
	{"tls.ja3", cel.StringType, "JA3 MD5", func(a *activation) ref.Val { return str(a.ja3()) }},
	{"tls.ja3s", cel.StringType, "JA3S MD5", func(a *activation) ref.Val { return str(a.ja3s()) }},
	{"tls.ja4", cel.StringType, "JA4", func(a *activation) ref.Val { return str(a.ja4()) }},
	{"tls.client_ciphers", listOfInts, "cipher suites the client offered, wire order, GREASE included",
		func(a *activation) ref.Val {
			return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.CipherSuites })
		}},
	{"tls.client_extensions", listOfInts, "extension types the client sent, wire order",
		func(a *activation) ref.Val {
			return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.Extensions })
		}},
	{"tls.client_versions", listOfInts, "supported_versions the client offered",
		func(a *activation) ref.Val {
			return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.SupportedVersions })
		}},
	{"tls.client_groups", listOfInts, "supported_groups the client offered",
		func(a *activation) ref.Val {
			return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.SupportedGroups })
		}},
	{"tls.ech", cel.BoolType, "encrypted_client_hello offered", func(a *activation) ref.Val { return types.Bool(a.ch != nil && a.ch.ECH) }},
	{"tls.esni", cel.BoolType, "draft encrypted_server_name (0xffce) offered: the SNI is encrypted, not missing",
		func(a *activation) ref.Val {
			return types.Bool(a.ch != nil && slices.Contains(a.ch.Extensions, 0xffce))
		}},
	{"tls.resumed", cel.BoolType, "session resumed", func(a *activation) ref.Val { return types.Bool(a.hs != nil && a.hs.Resumed) }},
	{"tls.established", cel.BoolType, "both sides reached the encrypted phase", func(a *activation) ref.Val {
		return types.Bool(a.hs != nil && a.hs.Established)
	}},
	{"tls.sslv2_hello", cel.BoolType, "the ClientHello used the SSLv2 record format", func(a *activation) ref.Val {
		return types.Bool(a.ch != nil && a.ch.SSLv2)
	}},
	{"tls.hello_records", cel.IntType, "records the first ClientHello spanned", func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloRecords)
	}},
	{"tls.hello_chunks", cel.IntType, "TCP segments (reassembled chunks) the first ClientHello spanned", func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloChunks)
	}},
	{"tls.hello_bytes", cel.IntType, "bytes of the first ClientHello (its handshake body)", func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloLength)
	}},
	{"tls.client_hello_count", cel.IntType, "ClientHellos seen (2 after a HelloRetryRequest)", func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloCount)
	}},
	{"tls.heartbeat_requests", cel.IntType, "cleartext heartbeat requests", func(a *activation) ref.Val { return types.Int(a.hb().requests) }},
	{"tls.heartbeat_overflow", cel.BoolType, "a heartbeat request declared more payload than its record holds",
		func(a *activation) ref.Val { return types.Bool(a.hb().overflow) }},
	{"tls.heartbeat_declared", cel.IntType, "largest payload_length of an overflowing request", func(a *activation) ref.Val { return types.Int(a.hb().declared) }},
	{"tls.heartbeat_record", cel.IntType, "record length of that request", func(a *activation) ref.Val { return types.Int(a.hb().record) }},
	{"tls.anomalies", listOfStrings, "what tlsparse noticed", func(a *activation) ref.Val {
		if a.hs == nil {
			return emptyStrings
		}
		return strList(a.hs.Anomalies.Names())
	}},

	// Leaf certificate. cert.present is false when no certificate is visible
	// (TLS 1.3, resumption, capture gaps): every cert.* rule checks it.
	{"cert.present", cel.BoolType, "the server's leaf certificate is visible and parsed",
		func(a *activation) ref.Val { return types.Bool(a.leaf != nil) }},
	{"cert.expired", cel.BoolType, "not_after before the session's start (packet time)", func(a *activation) ref.Val {
		return types.Bool(a.leaf != nil && !a.s.Start.IsZero() && a.s.Start.After(a.leaf.NotAfter))
	}},
	{"cert.not_yet_valid", cel.BoolType, "not_before after the session's start (packet time)", func(a *activation) ref.Val {
		return types.Bool(a.leaf != nil && !a.s.Start.IsZero() && a.s.Start.Before(a.leaf.NotBefore))
	}},
	{"cert.self_signed", cel.BoolType, "the leaf is signed by its own key", func(a *activation) ref.Val {
		return types.Bool(a.leaf != nil && a.chain().selfSigned)
	}},
	{"cert.validation", cel.StringType, `"trusted", "untrusted" or "not_checked"`, func(a *activation) ref.Val { return str(a.validation()) }},
	{"cert.untrusted_reason", cel.StringType, `why validation failed: "unknown_authority", "expired", "not_yet_valid", "invalid_signature", "insecure_algorithm", "constraint", "other"`,
		func(a *activation) ref.Val {
			if a.leaf == nil {
				return str("")
			}
			return str(a.chain().reason)
		}},
	{"cert.key_alg", cel.StringType, `"RSA", "ECDSA", "Ed25519", "DSA"`, func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.PublicKeyAlgorithm }))
	}},
	{"cert.key_bits", cel.IntType, "public key size", func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Int(0)
		}
		return types.Int(a.leaf.PublicKeySize)
	}},
	{"cert.curve", cel.StringType, `"P-256", ...`, func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.PublicKeyCurve }))
	}},
	{"cert.sig_alg", cel.StringType, `signature algorithm as crypto/x509 names it: "SHA256-RSA", "SHA1-RSA", "MD5-RSA", "ECDSA-SHA1"`,
		func(a *activation) ref.Val {
			return str(a.leafStr(func(c *leafView) string { return c.SignatureAlgorithm }))
		}},
	{"cert.validity_days", cel.DoubleType, "not_after minus not_before, in days", func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Double(0)
		}
		return types.Double(a.leaf.NotAfter.Sub(a.leaf.NotBefore).Seconds() / 86400)
	}},
	{"cert.not_before", cel.TimestampType, "leaf validity start", func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Timestamp{Time: time.Time{}}
		}
		return types.Timestamp{Time: a.leaf.NotBefore}
	}},
	{"cert.not_after", cel.TimestampType, "leaf validity end", func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Timestamp{Time: time.Time{}}
		}
		return types.Timestamp{Time: a.leaf.NotAfter}
	}},
	{"cert.names", listOfStrings, "SAN DNS names, or the subject CN when the leaf has no SAN DNS names (RFC 6125 reference identifiers)",
		func(a *activation) ref.Val { return strList(a.certNames()) }},
	{"cert.subject", cel.StringType, "RFC 4514", func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.Subject })) }},
	{"cert.issuer", cel.StringType, "RFC 4514", func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.Issuer })) }},
	{"cert.subject_cn", cel.StringType, "subject common name", func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.SubjectCommonName }))
	}},
	{"cert.issuer_cn", cel.StringType, "issuer common name", func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.IssuerCommonName }))
	}},
	{"cert.sha1", cel.StringType, "uppercase hex SHA-1 of the DER", func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.SHA1 })) }},
	{"cert.sha256", cel.StringType, "uppercase hex SHA-256 of the DER", func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.SHA256 })) }},
	{"chain.length", cel.IntType, "certificates the server sent", func(a *activation) ref.Val { return types.Int(len(a.s.Certificates)) }},

	// Threat intel: the name of the list that matched, "" when none did.
	{"intel.ja3", cel.StringType, "list that holds the client's JA3", func(a *activation) ref.Val { return str(a.intelList(intelJA3)) }},
	{"intel.ja3_entry", cel.StringType, "the entry, as written in the list", func(a *activation) ref.Val { return str(a.intelEntry(intelJA3)) }},
	{"intel.ja4", cel.StringType, "list that holds the client's JA4", func(a *activation) ref.Val { return str(a.intelList(intelJA4)) }},
	{"intel.ja4_entry", cel.StringType, "the entry", func(a *activation) ref.Val { return str(a.intelEntry(intelJA4)) }},
	{"intel.cert_sha1", cel.StringType, "list that holds a certificate the server sent (SHA-1)", func(a *activation) ref.Val { return str(a.intelList(intelCertSHA1)) }},
	{"intel.cert_sha1_entry", cel.StringType, "the entry", func(a *activation) ref.Val { return str(a.intelEntry(intelCertSHA1)) }},
	{"intel.domain", cel.StringType, "list that holds the SNI or a certificate name (or a parent domain)", func(a *activation) ref.Val { return str(a.intelList(intelDomain)) }},
	{"intel.domain_entry", cel.StringType, "the entry", func(a *activation) ref.Val { return str(a.intelEntry(intelDomain)) }},
	{"intel.domain_value", cel.StringType, "the name that matched it", func(a *activation) ref.Val { return str(a.intelValue(intelDomain)) }},
	{"intel.domain_field", cel.StringType, `"sni" or "cert_name"`, func(a *activation) ref.Val { return str(a.intelField(intelDomain)) }},
	{"intel.ip", cel.StringType, "list that holds the server or client address", func(a *activation) ref.Val { return str(a.intelList(intelIP)) }},
	{"intel.ip_entry", cel.StringType, "the entry (address or CIDR)", func(a *activation) ref.Val { return str(a.intelEntry(intelIP)) }},
	{"intel.ip_value", cel.StringType, "the address that matched it", func(a *activation) ref.Val { return str(a.intelValue(intelIP)) }},
}

// variableIndex maps a variable's name to its index in variables.
var variableIndex = func() map[string]int {
	m := make(map[string]int, len(variables))
	for i, v := range variables {
		m[v.name] = i
	}
	return m
}()

// lookupVariable is variableIndex without a map: CEL resolves a name per
// attribute access, and the map lookup was a quarter of the evaluation
// time. An FNV-1a hash of the length and the last bytes, with a seed chosen at init to be collision-free over
// the variable names picks a slot of a small table; one string comparison
// confirms it.
func lookupVariable(name string) (int, bool) {
	if varTableOK {
		i := int(varTable[varHash(name, varSeed)]) - 1
		if i >= 0 && variables[i].name == name {
			return i, true
		}
		return 0, false
	}
	i, ok := variableIndex[name]
	return i, ok
}

const (
	varSlots    = 1024
	varHashTail = 8 // hash the length and the last bytes only: enough to tell the names apart
)

var (
	varTable   [varSlots]uint16 // index+1, 0 for empty
	varSeed    uint32
	varTableOK bool // false: no seed found, use the map
)

func varHash(s string, seed uint32) uint32 {
	h := seed ^ uint32(len(s))*0x9e3779b1
	for i := max(0, len(s)-varHashTail); i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return (h ^ h>>15) & (varSlots - 1)
}

func init() {
	for seed := uint32(2166136261); seed < 2166136261+4096; seed++ {
		varTable = [varSlots]uint16{}
		ok := true
		for i, v := range variables {
			h := varHash(v.name, seed)
			if varTable[h] != 0 {
				ok = false
				break
			}
			varTable[h] = uint16(i + 1)
		}
		if ok {
			varSeed, varTableOK = seed, true
			return
		}
	}
}

// intelVarKind maps "intel.*" variable names to the list type they read, so
// an alert can carry the IntelMatch of the list its rule looked at.
func intelVarKind(name string) (intelKind, bool) {
	if !strings.HasPrefix(name, "intel.") {
		return 0, false
	}
	rest := name[len("intel."):]
	for k := intelKind(0); k < numIntelKinds; k++ {
		if rest == k.String() || strings.HasPrefix(rest, k.String()+"_") {
			return k, true
		}
	}
	return 0, false
}
