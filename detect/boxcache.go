package detect

import (
	"crypto/x509"
	"sync/atomic"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// protocolVals, protocolDisplays and transportVals are the boxed names of
// every session.Protocol and session.Transport value.
var protocolVals, protocolDisplays, transportVals [256]ref.Val

func init() {
	for i := range 256 {
		protocolVals[i] = types.String(session.Protocol(i).String())
		protocolDisplays[i] = types.String(session.Protocol(i).Display())
		transportVals[i] = types.String(session.Transport(i).String())
	}
}

// Handing a Go string or an int over 255 to CEL boxes it in an interface,
// which allocates. Values that depend only on a 16-bit wire value (cipher
// suite, version, port) are boxed once per process and shared: lazily
// filled tables indexed by the value, no hashing, no lock. Untouched
// entries cost address space only.

// cipherVals are the CEL values of one cipher suite.
type cipherVals struct {
	id, name, kx, auth, enc, mac ref.Val
	export, anon                 bool
}

var cipherTable [1 << 16]atomic.Pointer[cipherVals]

func cipherValsOf(id uint16) *cipherVals {
	if cv := cipherTable[id].Load(); cv != nil {
		return cv
	}
	name := tlsparse.CipherSuiteName(id)
	ci := cipherOf(id, name)
	cv := &cipherVals{id: types.Int(id), name: types.String(name), kx: types.String(ci.Kx), auth: types.String(ci.Auth),
		enc: types.String(ci.Enc), mac: types.String(ci.MAC), export: ci.Export, anon: ci.Anon}
	cipherTable[id].Store(cv)
	return cv
}

// noCipher is for sessions without a negotiated suite.
var noCipher = &cipherVals{id: types.Int(0), name: types.String(""), kx: types.String(""), auth: types.String(""),
	enc: types.String(""), mac: types.String("")}

// versionVals are the CEL values of one wire version.
type versionVals struct {
	id, version, protocol ref.Val
}

var versionTable [1 << 16]atomic.Pointer[versionVals]

func versionValsOf(v uint16) *versionVals {
	if vv := versionTable[v].Load(); vv != nil {
		return vv
	}
	ver, proto := tlsparse.VersionName(v)
	vv := &versionVals{id: types.Int(v), version: types.String(ver), protocol: types.String(proto)}
	versionTable[v].Store(vv)
	return vv
}

var noVersion = &versionVals{id: types.Int(0), version: types.String(""), protocol: types.String("")}

var portTable [1 << 16]atomic.Pointer[ref.Val]

// portVal is p boxed; smallIntVal the same for any int a 16-bit value can
// hold (a key size), else boxes n.
func portVal(p uint16) ref.Val {
	if v := portTable[p].Load(); v != nil {
		return *v
	}
	v := ref.Val(types.Int(p))
	portTable[p].Store(&v)
	return v
}

// boxedNames are the boxed values of the names rules read from a small
// set: tlsentry.server.validation's, and the key and signature algorithm
// names of certificates (crypto/x509's). The map is read-only after init.
var boxedNames = map[string]ref.Val{}

func init() {
	names := []string{ValidationTrusted, ValidationUntrusted, ValidationNotChecked}
	for a := x509.UnknownPublicKeyAlgorithm; a <= x509.Ed25519; a++ {
		names = append(names, a.String())
	}
	for a := x509.UnknownSignatureAlgorithm; a <= x509.PureEd25519; a++ {
		names = append(names, a.String())
	}
	for _, n := range names {
		boxedNames[n] = types.String(n)
	}
}

// boxedName is s boxed, without allocating when it is one of boxedNames.
func boxedName(s string) ref.Val {
	if v, ok := boxedNames[s]; ok {
		return v
	}
	return str(s)
}

func smallIntVal(n int) ref.Val {
	if n >= 0 && n <= 1<<16-1 {
		return portVal(uint16(n))
	}
	return types.Int(n)
}
