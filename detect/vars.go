package detect

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// variable is one name rules can use. Names are qualified
// ("tls.client.server_name"): CEL resolves the name to the variable of that
// name, so the activation answers each name from a table, without building
// a map per session. Every name is a field of schema's table that rules can
// read (what it means is written there); a test keeps the two in step.
type variable struct {
	name string
	typ  *cel.Type
	get  func(a *activation) ref.Val
}

// unboxed is, for some variables, get's string, list of strings or double
// unboxed (an accessor per variable, the others nil): gates read them
// without boxing, which allocates (a string, a list, a double) or looks
// the value up (boxedName). The variables gates read on most sessions
// have one.
type unboxed struct {
	str  func(a *activation) string
	strs func(a *activation) []string
	dbl  func(a *activation) float64
	// app appends what appendValue appends of the value, for limiter keys
	// and messages (an address's text without building a string).
	app func(a *activation, b []byte) []byte
}

var unboxedByName = map[string]unboxed{
	"tls.client.server_name":               {str: (*activation).sni},
	"tlsentry.server.validation":           {str: (*activation).validation},
	"tls.server.x509.public_key_algorithm": {str: func(a *activation) string { return a.leafStr(func(c *leafView) string { return c.PublicKeyAlgorithm }) }},
	"tls.server.x509.signature_algorithm":  {str: func(a *activation) string { return a.leafStr(func(c *leafView) string { return c.SignatureAlgorithm }) }},
	"tlsentry.doh.resolver":                {str: (*activation).doh},
	"tlsentry.tunnel.kind":                 {str: func(a *activation) string { return a.tunnelFacts().kind }},
	"tlsentry.server.x509.names":           {strs: (*activation).certNames},
	"tlsentry.server.x509.validity_days":   {dbl: (*activation).validityDays},
	"tls.server.hash.sha256":               {str: func(a *activation) string { return a.leafStr(func(c *leafView) string { return c.SHA256 }) }},
	"destination.ip":                       {app: func(a *activation, b []byte) []byte { return appendAddr(b, a.s.Server.Addr()) }},
	"source.ip":                            {app: func(a *activation, b []byte) []byte { return appendAddr(b, a.s.Client.Addr()) }},
	"tlsentry.server.display":              {app: (*activation).appendServerDisplay},
}

// appendAddr appends addr.String(): AppendTo's text, which is String's
// but for the zero Addr.
func appendAddr(b []byte, addr netip.Addr) []byte {
	if !addr.IsValid() {
		return append(b, addr.String()...)
	}
	return addr.AppendTo(b)
}

// appendUnboxed appends variables[i]'s value as appendValue would, when
// the variable has an app or str accessor; ok is false otherwise.
func (a *activation) appendUnboxed(b []byte, i int) (_ []byte, ok bool) {
	switch u := &unboxedVars[i]; {
	case u.app != nil:
		return u.app(a, b), true
	case u.str != nil:
		return append(b, u.str(a)...), true
	}
	return b, false
}

// unboxedVars is unboxedByName by variable index.
var unboxedVars = func() (u [len0]unboxed) {
	for name, x := range unboxedByName {
		i, ok := variableIndex[name]
		if !ok {
			panic("detect: unboxed accessor of unknown variable " + name)
		}
		u[i] = x
	}
	return u
}()

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

// variables is the schema rules are written against: the rule-readable
// fields of schema's table, by the names documents carry where documents
// carry them, rule-only values under tlsentry.*. It is documented in
// rules/README.md; names are an interface: add but do not rename (renamed.go
// lists the names of before the move to document names).
var variables = []variable{
	// Network.
	{"network.protocol", cel.StringType, func(a *activation) ref.Val { return protocolVals[a.s.Protocol] }},
	{"tlsentry.network.protocol_name", cel.StringType, func(a *activation) ref.Val { return protocolDisplays[a.s.Protocol] }},
	{"network.transport", cel.StringType, func(a *activation) ref.Val { return transportVals[a.s.Transport] }},
	{"destination.ip", cel.StringType, func(a *activation) ref.Val { return str(a.s.Server.Addr().String()) }},
	{"destination.port", cel.IntType, func(a *activation) ref.Val { return portVal(a.s.Server.Port()) }},
	{"source.ip", cel.StringType, func(a *activation) ref.Val { return str(a.s.Client.Addr().String()) }},
	{"source.port", cel.IntType, func(a *activation) ref.Val { return portVal(a.s.Client.Port()) }},
	{"tlsentry.server.display", cel.StringType, func(a *activation) ref.Val { return str(a.serverDisplay()) }},
	{"source.bytes", cel.IntType, func(a *activation) ref.Val { return types.Int(a.s.ClientBytes) }},
	{"destination.bytes", cel.IntType, func(a *activation) ref.Val { return types.Int(a.s.ServerBytes) }},
	{"tlsentry.incomplete", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.s.Incomplete) }},
	{"event.start", cel.TimestampType, func(a *activation) ref.Val { return types.Timestamp{Time: a.s.Start} }},
	{"tlsentry.anomalies", listOfStrings, func(a *activation) ref.Val { return strList(a.anomalies()) }},

	// TLS.
	{"tlsentry.client.hello", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.ch != nil) }},
	{"tlsentry.server.hello", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.sh != nil) }},
	{"tls.version", cel.StringType, func(a *activation) ref.Val { return a.vv.version }},
	{"tls.version_protocol", cel.StringType, func(a *activation) ref.Val { return a.vv.protocol }},
	{"tlsentry.version.id", cel.IntType, func(a *activation) ref.Val { return a.vv.id }},
	{"tls.cipher", cel.StringType, func(a *activation) ref.Val { return a.cv.name }},
	{"tlsentry.cipher.id", cel.IntType, func(a *activation) ref.Val { return a.cv.id }},
	{"tlsentry.cipher.kx", cel.StringType, func(a *activation) ref.Val { return a.cv.kx }},
	{"tlsentry.cipher.auth", cel.StringType, func(a *activation) ref.Val { return a.cv.auth }},
	{"tlsentry.cipher.enc", cel.StringType, func(a *activation) ref.Val { return a.cv.enc }},
	{"tlsentry.cipher.mac", cel.StringType, func(a *activation) ref.Val { return a.cv.mac }},
	{"tlsentry.cipher.export", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.cv.export) }},
	{"tlsentry.cipher.anon", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.cv.anon) }},
	{"tls.curve", cel.StringType, func(a *activation) ref.Val { return str(a.curve()) }},
	{"tlsentry.server.dh_prime_bits", cel.IntType, func(a *activation) ref.Val { return types.Int(a.dhBits()) }},
	{"tls.client.server_name", cel.StringType, func(a *activation) ref.Val { return str(a.sni()) }},
	{"tlsentry.client.alpn", listOfStrings, func(a *activation) ref.Val {
		if a.ch == nil {
			return emptyStrings
		}
		return strList(a.ch.ALPN)
	}},
	{"tls.next_protocol", cel.StringType, func(a *activation) ref.Val {
		if a.sh == nil {
			return str("")
		}
		return str(a.sh.ALPN)
	}},
	{"tls.client.ja3", cel.StringType, func(a *activation) ref.Val { return str(a.ja3()) }},
	{"tls.server.ja3s", cel.StringType, func(a *activation) ref.Val { return str(a.ja3s()) }},
	{"tlsentry.client.ja4", cel.StringType, func(a *activation) ref.Val { return str(a.ja4()) }},
	{"tlsentry.client.cipher_ids", listOfInts, func(a *activation) ref.Val {
		return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.CipherSuites })
	}},
	{"tlsentry.client.extension_ids", listOfInts, func(a *activation) ref.Val {
		return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.Extensions })
	}},
	{"tlsentry.client.version_ids", listOfInts, func(a *activation) ref.Val {
		return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.SupportedVersions })
	}},
	{"tlsentry.client.group_ids", listOfInts, func(a *activation) ref.Val {
		return intList(a.ch, func(ch *tlsparse.ClientHello) []uint16 { return ch.SupportedGroups })
	}},
	{"tlsentry.client.ech", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.ch != nil && a.ch.ECH) }},
	{"tlsentry.client.esni", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.ch != nil && slices.Contains(a.ch.Extensions, 0xffce))
	}},
	{"tls.resumed", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.hs != nil && a.hs.Resumed) }},
	{"tls.established", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.hs != nil && a.hs.Established)
	}},
	{"tlsentry.client.sslv2_hello", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.ch != nil && a.ch.SSLv2)
	}},
	{"tlsentry.client.hello_records", cel.IntType, func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloRecords)
	}},
	{"tlsentry.client.hello_segments", cel.IntType, func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloChunks)
	}},
	{"tlsentry.client.hello_bytes", cel.IntType, func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloLength)
	}},
	{"tlsentry.client.unexpected_hello_bytes", cel.IntType, func(a *activation) ref.Val { return types.Int(a.unexpectedHello().UnexpectedClientHelloLength) }},
	{"tlsentry.client.unexpected_hello_server_name", cel.StringType, func(a *activation) ref.Val { return str(a.unexpectedHello().UnexpectedClientHelloSNI) }},
	{"tlsentry.evasion.tcp_overlap.direction", cel.StringType, func(a *activation) ref.Val {
		switch {
		case !a.s.Anomalies.Has(tlsparse.AnomalyTCPOverlap):
			return str("")
		case a.s.Evasion.OverlapClient:
			return str("client")
		}
		return str("server")
	}},
	{"tlsentry.evasion.tcp_overlap.offset", cel.IntType, func(a *activation) ref.Val { return types.Int(a.s.Evasion.OverlapOffset) }},
	{"tlsentry.evasion.tcp_overlap.length", cel.IntType, func(a *activation) ref.Val { return types.Int(a.s.Evasion.OverlapLength) }},
	{"tlsentry.evasion.fragment_overlap.offset", cel.IntType, func(a *activation) ref.Val { return types.Int(a.s.Evasion.FragmentOverlapOffset) }},
	{"tlsentry.evasion.fragment_overlap.length", cel.IntType, func(a *activation) ref.Val { return types.Int(a.s.Evasion.FragmentOverlapLength) }},
	{"tlsentry.client.hello_count", cel.IntType, func(a *activation) ref.Val {
		if a.hs == nil {
			return types.Int(0)
		}
		return types.Int(a.hs.ClientHelloCount)
	}},
	{"tlsentry.heartbeats.requests", cel.IntType, func(a *activation) ref.Val { return types.Int(a.hb().requests) }},
	{"tlsentry.heartbeats.overflow", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.hb().overflow) }},
	{"tlsentry.heartbeats.overflow_declared_length", cel.IntType, func(a *activation) ref.Val { return types.Int(a.hb().declared) }},
	{"tlsentry.heartbeats.overflow_record_length", cel.IntType, func(a *activation) ref.Val { return types.Int(a.hb().record) }},
	{"tlsentry.parse_anomalies", listOfStrings, func(a *activation) ref.Val {
		if a.hs == nil {
			return emptyStrings
		}
		return strList(a.hs.Anomalies.Names())
	}},

	// Leaf certificate. tlsentry.server.x509.present is false when no
	// certificate is visible (TLS 1.3, resumption, capture gaps): every
	// certificate rule checks it.
	{"tlsentry.server.x509.present", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.leaf != nil) }},
	{"tlsentry.server.x509.expired", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.leaf != nil && !a.s.Start.IsZero() && a.s.Start.After(a.leaf.NotAfter))
	}},
	{"tlsentry.server.x509.not_yet_valid", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.leaf != nil && !a.s.Start.IsZero() && a.s.Start.Before(a.leaf.NotBefore))
	}},
	{"tlsentry.server.x509.self_signed", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.leaf != nil && a.chain().selfSigned)
	}},
	{"tlsentry.server.validation", cel.StringType, func(a *activation) ref.Val { return boxedName(a.validation()) }},
	{"tlsentry.server.untrusted_reason", cel.StringType, func(a *activation) ref.Val {
		if a.leaf == nil {
			return str("")
		}
		return str(a.chain().reason)
	}},
	{"tls.server.x509.public_key_algorithm", cel.StringType, func(a *activation) ref.Val {
		return boxedName(a.leafStr(func(c *leafView) string { return c.PublicKeyAlgorithm }))
	}},
	{"tls.server.x509.public_key_size", cel.IntType, func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Int(0)
		}
		return smallIntVal(a.leaf.PublicKeySize)
	}},
	{"tls.server.x509.public_key_curve", cel.StringType, func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.PublicKeyCurve }))
	}},
	{"tls.server.x509.signature_algorithm", cel.StringType, func(a *activation) ref.Val {
		return boxedName(a.leafStr(func(c *leafView) string { return c.SignatureAlgorithm }))
	}},
	{"tlsentry.server.x509.validity_days", cel.DoubleType, func(a *activation) ref.Val { return types.Double(a.validityDays()) }},
	{"tls.server.x509.not_before", cel.TimestampType, func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Timestamp{Time: time.Time{}}
		}
		return types.Timestamp{Time: a.leaf.NotBefore}
	}},
	{"tls.server.x509.not_after", cel.TimestampType, func(a *activation) ref.Val {
		if a.leaf == nil {
			return types.Timestamp{Time: time.Time{}}
		}
		return types.Timestamp{Time: a.leaf.NotAfter}
	}},
	{"tlsentry.server.x509.names", listOfStrings, func(a *activation) ref.Val { return strList(a.certNames()) }},
	{"tls.server.x509.subject.distinguished_name", cel.StringType, func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.Subject })) }},
	{"tls.server.x509.issuer.distinguished_name", cel.StringType, func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.Issuer })) }},
	{"tls.server.x509.subject.common_name", cel.StringType, func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.SubjectCommonName }))
	}},
	{"tls.server.x509.issuer.common_name", cel.StringType, func(a *activation) ref.Val {
		return str(a.leafStr(func(c *leafView) string { return c.IssuerCommonName }))
	}},
	{"tls.server.hash.sha1", cel.StringType, func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.SHA1 })) }},
	{"tls.server.hash.sha256", cel.StringType, func(a *activation) ref.Val { return str(a.leafStr(func(c *leafView) string { return c.SHA256 })) }},
	{"tlsentry.server.chain.length", cel.IntType, func(a *activation) ref.Val { return types.Int(len(a.s.Certificates)) }},
	{"tlsentry.server.x509.expiring_soon", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.expiring()) }},
	{"tlsentry.server.x509.days_left", cel.DoubleType, func(a *activation) ref.Val { return types.Double(a.daysLeft()) }},

	// Inventory (session.Inventory, set before the judge; all false or
	// empty without an inventory).
	{"tlsentry.inventory.learning", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.inv().Learning) }},
	{"tlsentry.inventory.new_client_ja4", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.inv().NewClientJA4) }},
	{"tlsentry.inventory.new_client_ja3", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.inv().NewClientJA3) }},
	{"tlsentry.inventory.new_certificate", cel.BoolType, func(a *activation) ref.Val { return types.Bool(a.inv().NewCertificate) }},
	{"tlsentry.inventory.new_server_certificate", cel.BoolType, func(a *activation) ref.Val {
		return types.Bool(a.inv().NewServerCertificate)
	}},
	{"tlsentry.inventory.change", cel.StringType, func(a *activation) ref.Val { return str(a.inv().Change) }},
	{"tlsentry.inventory.change_reasons", listOfStrings, func(a *activation) ref.Val { return strList(a.inv().ChangeReasons) }},
	{"tlsentry.inventory.previous_issuer", cel.StringType, func(a *activation) ref.Val { return str(a.inv().PreviousIssuer) }},

	// Policy and tunnels.
	{"tlsentry.doh.resolver", cel.StringType, func(a *activation) ref.Val { return str(a.doh()) }},
	{"tlsentry.tunnel.kind", cel.StringType, func(a *activation) ref.Val { return str(a.tunnelFacts().kind) }},
	{"tlsentry.tunnel.reason", cel.StringType, func(a *activation) ref.Val { return str(a.tunnelFacts().reason) }},

	// Threat intel: the name of the list that matched, "" when none did.
	{"tlsentry.intel.ja3.list", cel.StringType, func(a *activation) ref.Val { return str(a.intelList(intelJA3)) }},
	{"tlsentry.intel.ja3.entry", cel.StringType, func(a *activation) ref.Val { return str(a.intelEntry(intelJA3)) }},
	{"tlsentry.intel.ja4.list", cel.StringType, func(a *activation) ref.Val { return str(a.intelList(intelJA4)) }},
	{"tlsentry.intel.ja4.entry", cel.StringType, func(a *activation) ref.Val { return str(a.intelEntry(intelJA4)) }},
	{"tlsentry.intel.cert_sha1.list", cel.StringType, func(a *activation) ref.Val { return str(a.intelList(intelCertSHA1)) }},
	{"tlsentry.intel.cert_sha1.entry", cel.StringType, func(a *activation) ref.Val { return str(a.intelEntry(intelCertSHA1)) }},
	{"tlsentry.intel.domain.list", cel.StringType, func(a *activation) ref.Val { return str(a.intelList(intelDomain)) }},
	{"tlsentry.intel.domain.entry", cel.StringType, func(a *activation) ref.Val { return str(a.intelEntry(intelDomain)) }},
	{"tlsentry.intel.domain.value", cel.StringType, func(a *activation) ref.Val { return str(a.intelValue(intelDomain)) }},
	{"tlsentry.intel.domain.field", cel.StringType, func(a *activation) ref.Val { return str(a.intelField(intelDomain)) }},
	{"tlsentry.intel.ip.list", cel.StringType, func(a *activation) ref.Val { return str(a.intelList(intelIP)) }},
	{"tlsentry.intel.ip.entry", cel.StringType, func(a *activation) ref.Val { return str(a.intelEntry(intelIP)) }},
	{"tlsentry.intel.ip.value", cel.StringType, func(a *activation) ref.Val { return str(a.intelValue(intelIP)) }},
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

// intelPrefix starts the names of the intel variables:
// tlsentry.intel.<list type>.list, .entry, ...
const intelPrefix = "tlsentry.intel."

// intelVarKind maps "tlsentry.intel.<list type>.*" variable names to the
// list type they read, so an alert can carry the IntelMatch of the list its
// rule looked at.
func intelVarKind(name string) (intelKind, bool) {
	rest, ok := strings.CutPrefix(name, intelPrefix)
	if !ok {
		return 0, false
	}
	for k := intelKind(0); k < numIntelKinds; k++ {
		if strings.HasPrefix(rest, k.String()+".") {
			return k, true
		}
	}
	return 0, false
}

// intelListVar is the name of the variable that holds the name of the list
// of type k that matched ("" when none did).
func intelListVar(k intelKind) string { return intelPrefix + k.String() + ".list" }

// validityDays is tlsentry.server.x509.validity_days: the leaf's validity
// period in days (0 without a leaf).
func (a *activation) validityDays() float64 {
	if a.leaf == nil {
		return 0
	}
	return a.leaf.NotAfter.Sub(a.leaf.NotBefore).Seconds() / 86400
}

// strOf is variables[i]'s value as a Go string, unboxed when the variable
// has a str accessor (unboxedVars); ok is false when the value is not a string.
func (a *activation) strOf(i int) (string, bool) {
	if f := unboxedVars[i].str; f != nil {
		return f(a), true
	}
	s, ok := a.value(i).(types.String)
	return string(s), ok
}

// strsOf is variables[i]'s value as a Go list of strings, unboxed when the
// variable has a strs accessor; ok is false when it is not a goStrings.
func (a *activation) strsOf(i int) ([]string, bool) {
	if f := unboxedVars[i].strs; f != nil {
		return f(a), true
	}
	l, ok := a.value(i).(*goStrings)
	if !ok {
		return nil, false
	}
	return l.s, true
}

var noHandshake tlsparse.Handshake

// unexpectedHello is the handshake whose Unexpected* fields rules read
// (an empty one without TLS).
func (a *activation) unexpectedHello() *tlsparse.Handshake {
	if a.hs == nil {
		return &noHandshake
	}
	return a.hs
}
