package detect

import (
	"strconv"

	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

type leafView = tlsparse.CertSummary

// activation answers CEL's name lookups for one session. It is built once
// per session (cheap fields eagerly, the rest on first use) and reused
// through a pool; values are cached per variable so each is computed and
// boxed at most once per session however many rules read it.
type activation struct {
	sessionState

	vals [len0]ref.Val // per-variable cache, see variables
	// set lists the indices of the vals entries set (nset of them), which
	// clear empties: a session sets a few dozen of the 1.8 KB.
	set  [len0]uint8
	nset int

	keyBuf []byte // limiter keys; kept across sessions
	msgBuf []byte // render's buffer; kept across sessions up to maxKeptMsgBuf
}

// sessionState is what an activation knows of its session, besides vals.
type sessionState struct {
	e  *Engine
	s  *session.Session
	hs *tlsparse.Handshake
	ch *tlsparse.ClientHello
	sh *tlsparse.ServerHello
	// leaf is the server's leaf certificate when visible and parsed.
	leaf *tlsparse.CertSummary

	cv *cipherVals  // negotiated suite; noCipher when none
	vv *versionVals // negotiated version; noVersion when none

	done      lazyFlags
	hbv       heartbeatFacts
	chainv    *chainResult
	anomv     []string
	anomBuf   [8]string
	namesv    []string
	intelDone [numIntelKinds]bool
	intelv    [numIntelKinds]*IntelMatch
	intelVal  [numIntelKinds]string
	tunnelv   tunnelFacts
	dohv      string
	// undecided is set when a gate left its decision to CEL (see gatesOf).
	undecided bool
}

// maxKeptMsgBuf is the largest message buffer a pooled activation keeps (a
// message joining a certificate's names can take 512 KiB).
const maxKeptMsgBuf = 4 << 10

// keptBuf is b emptied, or nil when it is too large to keep.
func keptBuf(b []byte) []byte {
	if cap(b) > maxKeptMsgBuf {
		return nil
	}
	return b[:0]
}

// len0 is len(variables), checked in init.
const len0 = 112

func init() {
	if len(variables) > len0 {
		panic("detect: raise len0 to " + strconv.Itoa(len(variables)))
	}
}

type lazyFlags uint16

const (
	doneHB lazyFlags = 1 << iota
	doneChain
	doneAnom
	doneNames
	doneTunnel
	doneDoH
)

type heartbeatFacts struct {
	requests         int
	overflow         bool
	declared, record int
}

var _ interpreter.Activation = (*activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i, ok := lookupVariable(name)
	if !ok {
		return nil, false
	}
	if v := a.vals[i]; v != nil { // a.value, by hand: it does not inline
		return v, true
	}
	return a.compute(i), true
}

// value is the value of variables[i], cached as ResolveName caches it.
func (a *activation) value(i int) ref.Val {
	if v := a.vals[i]; v != nil {
		return v
	}
	return a.compute(i)
}

// compute computes and caches the value of variables[i].
func (a *activation) compute(i int) ref.Val {
	v := variables[i].get(a)
	if v != nil {
		a.vals[i] = v
		a.set[a.nset] = uint8(i)
		a.nset++
	}
	return v
}

// set's entries hold any index of vals.
const _ = uint8(len0 - 1)

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// reset readies a for s, clearing it unless it is clear already (new, or
// cleared since its last reset, as Evaluate leaves its pooled ones).
func (a *activation) reset(e *Engine, s *session.Session) {
	if a.s != nil || a.nset != 0 {
		a.clear()
	}
	a.e, a.s, a.cv, a.vv = e, s, noCipher, noVersion
	hs := s.TLS
	if hs == nil {
		return
	}
	a.hs = hs
	a.ch = hs.ClientHello
	a.sh = hs.ServerHello
	if a.sh != nil {
		a.vv = versionValsOf(a.sh.Version())
		// An SSLv2 SERVER-HELLO lists cipher kinds, it does not choose one
		// (the client does, in CLIENT-MASTER-KEY): no negotiated suite here.
		if !a.sh.SSLv2 {
			a.cv = cipherValsOf(a.sh.CipherSuite)
		}
	}
	if !hs.Resumed && len(s.Certificates) > 0 {
		if c := s.Certificates[0]; c != nil && c.Err == nil && c.Cert != nil {
			a.leaf = c
		}
	}
}

// clear empties a, keeping its buffers: a zero assignment of the session
// state (a composite literal with fields set would be built aside and
// copied, which costs more than the clearing) and of the vals entries set.
func (a *activation) clear() {
	a.sessionState = sessionState{}
	for _, i := range a.set[:a.nset] {
		a.vals[i] = nil
	}
	a.nset = 0
	a.keyBuf, a.msgBuf = a.keyBuf[:0], keptBuf(a.msgBuf)
}

func (a *activation) serverDisplay() string {
	sp := a.s.Server.String()
	if sni := a.sni(); sni != "" {
		return sni + " (" + sp + ")"
	}
	return sp
}

// appendServerDisplay appends serverDisplay's text (AddrPort's AppendTo
// is its String but for the zero address).
func (a *activation) appendServerDisplay(b []byte) []byte {
	sni := a.sni()
	if sni != "" {
		b = append(append(b, sni...), " ("...)
	}
	if a.s.Server.Addr().IsValid() {
		b = a.s.Server.AppendTo(b)
	} else {
		b = append(b, a.s.Server.String()...)
	}
	if sni != "" {
		b = append(b, ')')
	}
	return b
}

func (a *activation) sni() string {
	if a.ch == nil {
		return ""
	}
	return a.ch.ServerName
}

func (a *activation) curve() string {
	hs := a.hs
	if hs == nil {
		return ""
	}
	if hs.KeyExchange != nil && hs.KeyExchange.NamedCurve != 0 {
		return tlsparse.GroupName(hs.KeyExchange.NamedCurve)
	}
	if a.sh != nil && a.sh.KeyShareGroup != 0 {
		return tlsparse.GroupName(a.sh.KeyShareGroup)
	}
	return ""
}

func (a *activation) dhBits() int {
	if a.hs == nil || a.hs.KeyExchange == nil {
		return 0
	}
	return a.hs.KeyExchange.DHPrimeBits
}

// ja3, ja3s and ja4 come from the session, which computes its fingerprints
// once for the rules and the document encoder.
func (a *activation) ja3() string  { return a.s.Fingerprints.JA3 }
func (a *activation) ja3s() string { return a.s.Fingerprints.JA3S }
func (a *activation) ja4() string  { return a.s.Fingerprints.JA4 }

// hb summarises heartbeat requests. A cleartext request whose payload_length
// exceeds what its record holds (1 type + 2 length + payload + at least 16
// bytes of padding, RFC 6520 section 4) is the Heartbleed over-read
// (CVE-2014-0160); tlsparse.Heartbeat.IsHeartbleed decides.
func (a *activation) hb() heartbeatFacts {
	if a.done&doneHB == 0 {
		a.done |= doneHB
		if a.hs != nil {
			for _, h := range a.hs.Heartbeats {
				if h.Type != 1 {
					continue
				}
				a.hbv.requests++
				if h.IsHeartbleed() && h.DeclaredLength > a.hbv.declared {
					a.hbv.overflow = true
					a.hbv.declared, a.hbv.record = h.DeclaredLength, h.RecordLength
				}
			}
		}
	}
	return a.hbv
}

func (a *activation) anomalies() []string {
	if a.done&doneAnom == 0 {
		a.done |= doneAnom
		a.anomv = a.s.AllAnomalies().AppendNames(a.anomBuf[:0])
	}
	return a.anomv
}

// certNames returns the leaf's reference identifiers per RFC 6125: the SAN
// DNS names, or the subject CN when there are none.
func (a *activation) certNames() []string {
	if a.done&doneNames == 0 {
		a.done |= doneNames
		if a.leaf != nil {
			a.namesv = leafNames(a.leaf)
		}
	}
	return a.namesv
}

func leafNames(c *tlsparse.CertSummary) []string {
	if c.Cert != nil && len(c.Cert.DNSNames) > 0 {
		return c.Cert.DNSNames
	}
	if c.SubjectCommonName != "" {
		return []string{c.SubjectCommonName}
	}
	return nil
}

func (a *activation) leafStr(f func(*leafView) string) string {
	if a.leaf == nil {
		return ""
	}
	return f(a.leaf)
}

func (a *activation) chain() *chainResult {
	if a.done&doneChain == 0 {
		a.done |= doneChain
		a.chainv = a.e.trust.check(a.s)
	}
	return a.chainv
}

func (a *activation) validation() string {
	if a.leaf == nil {
		return ValidationNotChecked
	}
	return a.chain().validation
}

// intel returns the match of one list type, looking it up on first use.
func (a *activation) intel(k intelKind) *IntelMatch {
	if !a.intelDone[k] {
		a.intelDone[k] = true
		a.intelv[k], a.intelVal[k] = a.e.intel.match(k, a)
	}
	return a.intelv[k]
}

func (a *activation) intelList(k intelKind) string {
	if m := a.intel(k); m != nil {
		return m.List
	}
	return ""
}

func (a *activation) intelEntry(k intelKind) string {
	if m := a.intel(k); m != nil {
		return m.Entry
	}
	return ""
}

func (a *activation) intelField(k intelKind) string {
	if m := a.intel(k); m != nil {
		return m.Field
	}
	return ""
}

func (a *activation) intelValue(k intelKind) string {
	a.intel(k)
	return a.intelVal[k]
}

// cipherOf classifies a suite with tlsparse's IANA table, falling back to
// the name (SSLv2 cipher kinds are not in the table).
func cipherOf(id uint16, name string) cipherInfo {
	cs, ok := tlsparse.CipherSuiteInfo(id)
	if !ok || cs.SCSV {
		return classifyCipher(name)
	}
	ci := cipherInfo{Kx: cs.KeyExchange, Auth: cs.Authentication, Enc: cs.Cipher, MAC: cs.MAC,
		Export: cs.Export, Anon: cs.Authentication == "anon"}
	if cs.TLS13 {
		ci.Kx, ci.Auth = "", ""
	}
	if cs.AEAD || ci.MAC == "AEAD" {
		ci.MAC = ""
	}
	if ci.MAC == "SHA1" {
		ci.MAC = "SHA"
	}
	return ci
}
