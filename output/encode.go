package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Observer names the sensor in observer.* fields.
type Observer struct {
	Name     string // observer.name, from the configuration
	Hostname string // observer.hostname
}

// Encoder turns finished sessions and their verdicts into ECS documents
// (fields.go lists every field; FIELDS.md is generated from it). It is
// safe for concurrent use: capture calls handlers from several workers.
type Encoder struct {
	obs  Observer
	pool sync.Pool // *encodeState
}

// NewEncoder returns an Encoder that stamps documents with obs.
func NewEncoder(obs Observer) *Encoder {
	e := &Encoder{obs: obs}
	e.pool.New = func() any { return newEncodeState() }
	return e
}

// timeLayout is RFC 3339 in UTC with a fixed microsecond fraction, the
// precision of classic pcap timestamps; event.duration keeps nanoseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

var (
	categoryNetwork = []string{"network"}
	typeSession     = []string{"connection", "protocol"}
)

// Encode returns one session document (event.kind "event", dataset
// tlsentry.tls) followed by one alert document per alert in v (event.kind
// "alert", dataset tlsentry.alert), which repeats every session field and
// adds rule.*, event.severity, event.risk_score, message and, for intel
// matches, tlsentry.intel. Alerts without a rule are skipped. Bodies are
// freshly allocated and belong to the caller. A nil session gives nil.
//
// Ids are deterministic: the session's event.id hashes the flow (client and
// server address and port, transport), Start in nanoseconds and FirstPacket;
// an alert's id hashes the session id, the rule id and the intel match.
func (e *Encoder) Encode(s *session.Session, v detect.Verdict) []Document {
	if s == nil {
		return nil
	}
	st := e.pool.Get().(*encodeState)
	defer e.pool.Put(st)

	st.fill(s, &v, &e.obs)
	sid := sessionID(s)
	st.doc.Event.ID = encodeID(sid)
	ts := s.Start
	if ts.IsZero() {
		ts = s.End
	}

	n := 1
	for i := range v.Alerts {
		if v.Alerts[i].Rule != nil {
			n++
		}
	}
	docs := make([]Document, 0, n)
	docs = append(docs, Document{ID: st.doc.Event.ID, Dataset: DatasetTLS, Timestamp: ts, Body: st.marshal()})

	for i := range v.Alerts {
		a := &v.Alerts[i]
		if a.Rule == nil {
			continue
		}
		st.setAlert(sid, a)
		docs = append(docs, Document{ID: st.doc.Event.ID, Dataset: DatasetAlert, Timestamp: ts, Body: st.marshal()})
	}
	return docs
}

// encodeState is the per-call scratch space: the document tree and the
// slices it points into, reused between calls to save allocations.
type encodeState struct {
	doc       ecsDoc
	tls       ecsTLS
	x509      ecsX509
	rule      ecsRule
	intel     tlsentryIntel
	duration  int64
	riskScore int

	ciphers, versions, alpn, exts, groups, keyShares, sigalgs []string
	anomalies                                                 []string
	chain                                                     []tlsentryChain
	alerts                                                    []tlsentryAlert
	heartbeats                                                []tlsentryHeartbeat

	tbuf []byte
	buf  bytes.Buffer
	enc  *json.Encoder
}

func newEncodeState() *encodeState {
	st := &encodeState{tbuf: make([]byte, 0, 64)}
	st.enc = json.NewEncoder(&st.buf)
	st.enc.SetEscapeHTML(false)
	return st
}

// marshal encodes the current document into a new slice without the
// trailing newline.
func (st *encodeState) marshal() []byte {
	st.buf.Reset()
	if err := st.enc.Encode(&st.doc); err != nil {
		// The tree holds only strings, numbers, bools and slices of them:
		// encoding cannot fail. Keep the document rather than panic.
		return []byte(`{"error":{"message":"tlsentry: encoding failed"}}`)
	}
	return bytes.Clone(bytes.TrimSuffix(st.buf.Bytes(), []byte{'\n'}))
}

func (st *encodeState) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	st.tbuf = t.UTC().AppendFormat(st.tbuf[:0], timeLayout)
	return string(st.tbuf)
}

func (st *encodeState) fill(s *session.Session, v *detect.Verdict, obs *Observer) {
	d := &st.doc
	*d = ecsDoc{}
	d.ECS.Version = ECSVersion
	d.DataStream = ecsDataStrm{Type: "logs", Dataset: DatasetTLS}

	d.Event = ecsEvent{
		Kind:     "event",
		Category: categoryNetwork,
		Type:     typeSession,
		Module:   "tlsentry",
		Dataset:  DatasetTLS,
		Start:    st.formatTime(s.Start),
		End:      st.formatTime(s.End),
	}
	d.Timestamp = d.Event.Start
	if d.Timestamp == "" {
		d.Timestamp = d.Event.End
	}
	if !s.Start.IsZero() && !s.End.IsZero() && !s.End.Before(s.Start) {
		st.duration = s.End.Sub(s.Start).Nanoseconds()
		d.Event.Duration = &st.duration
	}

	// Endpoints and network.
	d.Source = ecsEndpoint{Bytes: s.ClientBytes, Packets: s.ClientPackets}
	d.Destination = ecsEndpoint{Bytes: s.ServerBytes, Packets: s.ServerPackets}
	ca, sa := s.Client.Addr().Unmap(), s.Server.Addr().Unmap()
	if ca.IsValid() {
		d.Source.IP = ca.String()
		d.Source.Port = int(s.Client.Port())
	}
	if sa.IsValid() {
		d.Destination.IP = sa.String()
		d.Destination.Port = int(s.Server.Port())
	}
	switch {
	case ca.Is4():
		d.Network.Type = "ipv4"
	case ca.Is6():
		d.Network.Type = "ipv6"
	}
	d.Network.Transport = s.Transport.String()
	d.Network.Protocol = s.Protocol.String()
	if p := uint8(s.Transport); p != 0 {
		var b [communityIDLen]byte
		if id := AppendCommunityID(b[:0], s.Client, s.Server, p, 0); len(id) > 0 {
			d.Network.CommunityID = string(id)
		}
	}
	if len(s.VLANs) > 0 {
		d.Network.VLAN.ID = strconv.Itoa(int(s.VLANs[0]))
	}
	if len(s.VLANs) > 1 {
		d.Network.Inner.VLAN.ID = strconv.Itoa(int(s.VLANs[1]))
	}

	d.Observer = ecsObserver{Name: obs.Name, Hostname: obs.Hostname, Type: "ids"}

	// tlsentry.* that does not depend on TLS.
	st.anomalies = s.AllAnomalies().AppendNames(st.anomalies[:0])
	d.TLSentry.Anomalies = nilIfEmpty(st.anomalies)
	d.TLSentry.Incomplete = s.Incomplete
	if s.QUICVersion != 0 {
		d.TLSentry.QUIC = &tlsentryQUIC{Version: hex32(s.QUICVersion)}
	}

	if hs := s.TLS; isTLS(s) {
		st.fillTLS(s, hs, v)
	}
}

// isTLS reports whether the session carried TLS (or QUIC's TLS handshake),
// which decides whether tls.* is written at all.
func isTLS(s *session.Session) bool {
	hs := s.TLS
	if hs == nil {
		return false
	}
	return hs.ClientHello != nil || hs.ServerHello != nil ||
		hs.Protocol == tlsparse.ProtocolTLS || hs.Protocol == tlsparse.ProtocolSSLv2
}

func (st *encodeState) fillTLS(s *session.Session, hs *tlsparse.Handshake, v *detect.Verdict) {
	d := &st.doc
	t := &st.tls
	*t = ecsTLS{
		Established: boolPtr(hs.Established),
		Resumed:     boolPtr(hs.Resumed),
	}
	d.TLS = t
	te := &d.TLSentry

	if ch := hs.ClientHello; ch != nil {
		t.Client.ServerName = ch.ServerName
		fp := &s.Fingerprints
		te.Client.JA3String, t.Client.JA3 = fp.JA3String, fp.JA3
		te.Client.JA4 = fp.JA4
		st.ciphers = appendNames(st.ciphers[:0], ch.CipherSuites, tlsparse.CipherSuiteName)
		t.Client.SupportedCiphers = nilIfEmpty(st.ciphers)

		st.versions = st.versions[:0]
		if len(ch.SupportedVersions) > 0 {
			for _, ver := range ch.SupportedVersions {
				if !tlsparse.IsGREASE(ver) {
					st.versions = append(st.versions, versionLabel(ver))
				}
			}
		} else if ch.LegacyVersion != 0 {
			st.versions = append(st.versions, versionLabel(ch.LegacyVersion))
		}
		te.Client.Versions = nilIfEmpty(st.versions)
		st.alpn = append(st.alpn[:0], ch.ALPN...)
		te.Client.ALPN = nilIfEmpty(st.alpn)
		st.exts = appendNames(st.exts[:0], ch.Extensions, tlsparse.ExtensionName)
		te.Client.Extensions = nilIfEmpty(st.exts)
		st.groups = appendNames(st.groups[:0], ch.SupportedGroups, tlsparse.GroupName)
		te.Client.Groups = nilIfEmpty(st.groups)
		st.keyShares = appendNames(st.keyShares[:0], ch.KeyShareGroups, tlsparse.GroupName)
		te.Client.KeyShareGroups = nilIfEmpty(st.keyShares)
		st.sigalgs = appendNames(st.sigalgs[:0], ch.SignatureAlgorithms, tlsparse.SignatureSchemeName)
		te.Client.SignatureAlgorithms = nilIfEmpty(st.sigalgs)
		te.Client.ECH = boolPtr(ch.ECH)
		te.Client.HelloCount = hs.ClientHelloCount
		te.Client.HelloRecords = hs.ClientHelloRecords
		te.Client.HelloSegments = hs.ClientHelloChunks
	}
	te.Client.Certificates = len(hs.ClientCertificates)

	if sh := hs.ServerHello; sh != nil {
		ver := sh.Version()
		t.Version, t.VersionProtocol = tlsparse.VersionName(ver)
		if t.Version == "" {
			t.Version, t.VersionProtocol = hex16(ver), ""
		}
		if !sh.SSLv2 || sh.CipherSuite != 0 {
			t.Cipher = nameOrHex(sh.CipherSuite, tlsparse.CipherSuiteName)
		}
		t.NextProtocol = sh.ALPN
		fp := &s.Fingerprints
		te.Server.JA3SString, t.Server.JA3S = fp.JA3SString, fp.JA3S
		te.Server.OCSPStapled = boolPtr(hs.CertificateStatus)
	}
	if hs.ServerHello != nil || hs.HelloRetryRequest != nil {
		te.Server.HelloRetryRequest = boolPtr(hs.HelloRetryRequest != nil)
	}
	switch {
	case hs.ServerHello != nil && hs.ServerHello.KeyShareGroup != 0:
		t.Curve = nameOrHex(hs.ServerHello.KeyShareGroup, tlsparse.GroupName)
	case hs.KeyExchange != nil && hs.KeyExchange.NamedCurve != 0:
		t.Curve = nameOrHex(hs.KeyExchange.NamedCurve, tlsparse.GroupName)
	}
	if hs.KeyExchange != nil {
		te.Server.DHPrimeBits = hs.KeyExchange.DHPrimeBits
	}

	// Certificates: the leaf in tls.server.*, every one in the chain.
	var leaf *tlsparse.CertSummary
	if len(s.Certificates) > 0 && s.Certificates[0] != nil {
		leaf = s.Certificates[0]
		st.fillLeaf(leaf)
	}
	st.chain = st.chain[:0]
	for _, c := range s.Certificates {
		if c == nil {
			continue
		}
		e := tlsentryChain{Subject: c.Subject, Issuer: c.Issuer, SHA1: c.SHA1, SHA256: c.SHA256}
		if c == leaf {
			e.NotAfter = t.Server.NotAfter
		} else {
			e.NotAfter = st.formatTime(c.NotAfter)
		}
		if c.Err != nil {
			e.Error = c.Err.Error()
		}
		st.chain = append(st.chain, e)
	}
	te.Server.Chain = nilIfEmpty(st.chain)
	if len(s.Certificates) > 0 {
		te.Server.Validation = v.Validation
	}

	st.alerts = st.alerts[:0]
	for _, a := range hs.Alerts {
		ta := tlsentryAlert{Direction: directionName(a.Direction), Encrypted: a.Encrypted}
		if !a.Encrypted {
			ta.Level = alertLevelName(a.Level)
			ta.Description = alertDescriptionName(a.Description)
		}
		st.alerts = append(st.alerts, ta)
	}
	te.Alerts = nilIfEmpty(st.alerts)
	st.heartbeats = st.heartbeats[:0]
	for _, h := range hs.Heartbeats {
		st.heartbeats = append(st.heartbeats, tlsentryHeartbeat{
			Direction:      directionName(h.Direction),
			Type:           heartbeatTypeName(h.Type),
			DeclaredLength: h.DeclaredLength,
			RecordLength:   h.RecordLength,
		})
	}
	te.Heartbeats = nilIfEmpty(st.heartbeats)
	if hs.Err != nil {
		te.ParseError = hs.Err.Error()
	}
}

func (st *encodeState) fillLeaf(c *tlsparse.CertSummary) {
	srv := &st.tls.Server
	srv.Hash = ecsHash{SHA1: c.SHA1, SHA256: c.SHA256}
	srv.NotBefore = st.formatTime(c.NotBefore)
	srv.NotAfter = st.formatTime(c.NotAfter)
	srv.Subject = c.Subject
	srv.Issuer = c.Issuer
	if c.Err != nil {
		return // only the hashes are known
	}
	x := &st.x509
	*x = ecsX509{
		AlternativeNames:   nilIfEmpty(c.AlternativeNames),
		Issuer:             ecsX509Name{CommonName: c.IssuerCommonName, DistinguishedName: c.Issuer},
		Subject:            ecsX509Name{CommonName: c.SubjectCommonName, DistinguishedName: c.Subject},
		SerialNumber:       c.SerialNumber,
		NotBefore:          srv.NotBefore,
		NotAfter:           srv.NotAfter,
		PublicKeyAlgorithm: c.PublicKeyAlgorithm,
		PublicKeySize:      c.PublicKeySize,
		PublicKeyCurve:     c.PublicKeyCurve,
		SignatureAlgorithm: c.SignatureAlgorithm,
	}
	if c.VersionNumber > 0 {
		x.VersionNumber = strconv.Itoa(c.VersionNumber)
	}
	srv.X509 = x
}

// setAlert turns the filled session document into the alert document for a.
func (st *encodeState) setAlert(sid [sha256.Size]byte, a *detect.Alert) {
	d := &st.doc
	r := a.Rule
	d.Event.Kind = "alert"
	d.Event.Dataset = DatasetAlert
	d.DataStream.Dataset = DatasetAlert
	d.Event.ID = encodeID(alertID(sid, a))
	d.Event.Severity = r.SeverityScore()
	st.riskScore = r.RiskScore
	d.Event.RiskScore = &st.riskScore
	st.rule = ecsRule{
		ID:          r.ID,
		Name:        r.Name,
		Category:    r.Category,
		Description: r.Description,
		Reference:   nilIfEmpty(r.References),
		Ruleset:     r.Ruleset,
		Version:     r.Version,
	}
	d.Rule = &st.rule
	d.Message = a.Message
	if d.Message == "" {
		d.Message = r.Name
	}
	d.TLSentry.Intel = nil
	if a.Intel != nil {
		st.intel = tlsentryIntel{List: a.Intel.List, Entry: a.Intel.Entry, Field: a.Intel.Field}
		d.TLSentry.Intel = &st.intel
	}
}

// sessionID hashes what makes a session unique and stable across replays.
func sessionID(s *session.Session) [sha256.Size]byte {
	var b [16 + 2 + 16 + 2 + 8 + 8 + 8]byte
	c16, s16 := s.Client.Addr().As16(), s.Server.Addr().As16()
	n := copy(b[:], c16[:])
	binary.BigEndian.PutUint16(b[n:], s.Client.Port())
	n += 2
	n += copy(b[n:], s16[:])
	binary.BigEndian.PutUint16(b[n:], s.Server.Port())
	n += 2
	binary.BigEndian.PutUint64(b[n:], uint64(s.Start.UnixNano()))
	n += 8
	binary.BigEndian.PutUint64(b[n:], s.FirstPacket)
	n += 8
	binary.BigEndian.PutUint64(b[n:], uint64(s.Transport))
	n += 8
	return sha256.Sum256(b[:n])
}

// alertID hashes the session id with the rule and the intel match, so two
// intel entries matching the same session give two documents.
func alertID(sid [sha256.Size]byte, a *detect.Alert) [sha256.Size]byte {
	h := sha256.New()
	h.Write(sid[:])
	h.Write([]byte(a.Rule.ID))
	if a.Intel != nil {
		h.Write([]byte{0})
		h.Write([]byte(a.Intel.List))
		h.Write([]byte{0})
		h.Write([]byte(a.Intel.Field))
		h.Write([]byte{0})
		h.Write([]byte(a.Intel.Entry))
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// encodeID renders the first 128 bits of a hash as 22 base64url characters.
func encodeID(h [sha256.Size]byte) string {
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// appendNames appends the names of ids, leaving GREASE values out.
func appendNames(dst []string, ids []uint16, name func(uint16) string) []string {
	for _, id := range ids {
		if !tlsparse.IsGREASE(id) {
			dst = append(dst, nameOrHex(id, name))
		}
	}
	return dst
}

func nameOrHex(id uint16, name func(uint16) string) string {
	if n := name(id); n != "" {
		return n
	}
	return hex16(id)
}

func hex16(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{'0', 'x', digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf]})
}

// versionLabel renders an offered version for tlsentry.client.versions:
// "TLS 1.3", "SSL 3.0", or hex for what has no name (e.g. drafts).
func versionLabel(v uint16) string {
	ver, proto := tlsparse.VersionName(v)
	switch {
	case ver == "":
		return hex16(v)
	case proto == "tls":
		return "TLS " + ver
	case proto == "ssl":
		return "SSL " + ver
	}
	return proto + " " + ver
}

func directionName(d tlsparse.Direction) string {
	if d == tlsparse.ServerToClient {
		return "server"
	}
	return "client"
}

func heartbeatTypeName(t uint8) string {
	switch t {
	case 1:
		return "request"
	case 2:
		return "response"
	}
	return strconv.Itoa(int(t))
}

func alertLevelName(l uint8) string {
	switch l {
	case 1:
		return "warning"
	case 2:
		return "fatal"
	}
	return strconv.Itoa(int(l))
}

// alertDescriptions are the TLS alert descriptions of the IANA registry
// (RFC 5246 §7.2, RFC 8446 §6, and the RFCs that added to it).
var alertDescriptions = map[uint8]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
	22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
	42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
	45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
	49: "access_denied", 50: "decode_error", 51: "decrypt_error", 60: "export_restriction",
	70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
	86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
	109: "missing_extension", 110: "unsupported_extension", 111: "certificate_unobtainable",
	112: "unrecognized_name", 113: "bad_certificate_status_response",
	114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
	120: "no_application_protocol", 121: "ech_required",
}

func alertDescriptionName(d uint8) string {
	if n, ok := alertDescriptions[d]; ok {
		return n
	}
	return strconv.Itoa(int(d))
}

// hex32 formats v as "0x" and eight lower-case hex digits.
func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	b := [10]byte{'0', 'x'}
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}
