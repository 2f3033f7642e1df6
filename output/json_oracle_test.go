package output

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/schema"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// The oracle: the reflection encoder Encode replaced, kept for tests only.
// It fills this ECS document tree and serialises it with encoding/json; the
// differential tests (TestEncodeMatchesOracle, FuzzEncode) require Encode
// to write the same bytes. Field order is the order in the JSON. Every field that can
// be absent carries omitempty/omitzero; booleans that are values whenever
// their parent was observed (tls.established, tls.resumed, ...) are *bool
// pointing at boolTrue/boolFalse, so false is written when known and
// nothing is written when unknown.

var (
	boolTrue  = true
	boolFalse = false
)

func boolPtr(b bool) *bool {
	if b {
		return &boolTrue
	}
	return &boolFalse
}

type ecsDoc struct {
	Timestamp   string       `json:"@timestamp,omitempty"`
	ECS         ecsECS       `json:"ecs"`
	DataStream  ecsDataStrm  `json:"data_stream"`
	Event       ecsEvent     `json:"event"`
	Rule        *ecsRule     `json:"rule,omitempty"`
	Message     string       `json:"message,omitempty"`
	Source      ecsEndpoint  `json:"source,omitzero"`
	Destination ecsEndpoint  `json:"destination,omitzero"`
	Network     ecsNetwork   `json:"network,omitzero"`
	TLS         *ecsTLS      `json:"tls,omitempty"`
	Related     ecsRelated   `json:"related,omitzero"`
	Observer    ecsObserver  `json:"observer,omitzero"`
	TLSentry    tlsentryInfo `json:"tlsentry"`
	Threat      *ecsThreat   `json:"threat,omitempty"`
}

type ecsRelated struct {
	IP    []string `json:"ip,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
	Hash  []string `json:"hash,omitempty"`
}

type ecsThreat struct {
	Framework   string          `json:"framework,omitempty"`
	Technique   *ecsTechnique   `json:"technique,omitempty"`
	Feed        *ecsFeed        `json:"feed,omitempty"`
	Enrichments []ecsEnrichment `json:"enrichments,omitempty"`
}

type ecsTechnique struct {
	ID           []string         `json:"id"`
	Name         []string         `json:"name"`
	Reference    []string         `json:"reference"`
	Subtechnique *ecsSubtechnique `json:"subtechnique,omitempty"`
}

type ecsSubtechnique struct {
	ID        []string `json:"id"`
	Name      []string `json:"name"`
	Reference []string `json:"reference"`
}

type ecsFeed struct {
	Name string `json:"name,omitempty"`
}

type ecsEnrichment struct {
	Indicator struct {
		Type        string `json:"type"`
		Name        string `json:"name,omitempty"`
		Description string `json:"description,omitempty"`
	} `json:"indicator"`
	Feed    ecsFeed `json:"feed"`
	Matched struct {
		Atomic string `json:"atomic,omitempty"`
		Field  string `json:"field,omitempty"`
		Type   string `json:"type"`
	} `json:"matched"`
}

type ecsECS struct {
	Version string `json:"version"`
}

type ecsDataStrm struct {
	Type      string `json:"type"`
	Dataset   string `json:"dataset"`
	Namespace string `json:"namespace"`
}

type ecsEvent struct {
	Kind      string   `json:"kind"`
	Category  []string `json:"category"`
	Type      []string `json:"type"`
	Module    string   `json:"module"`
	Dataset   string   `json:"dataset"`
	ID        string   `json:"id"`
	Start     string   `json:"start,omitempty"`
	End       string   `json:"end,omitempty"`
	Duration  *int64   `json:"duration,omitempty"`
	Severity  int      `json:"severity,omitempty"`
	RiskScore *int     `json:"risk_score,omitempty"`
	Reason    string   `json:"reason,omitempty"`
}

type ecsRule struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Category    string   `json:"category,omitempty"`
	Description string   `json:"description,omitempty"`
	Reference   []string `json:"reference,omitempty"`
	Ruleset     string   `json:"ruleset,omitempty"`
	Version     string   `json:"version,omitempty"`
}

// ecsEndpoint is source or destination. Bytes and packets are always
// written: they are counted for every session, and 0 (a silent server) is a
// measurement, not an absent value.
type ecsEndpoint struct {
	IP      string `json:"ip,omitempty"`
	Port    int    `json:"port,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

type ecsNetwork struct {
	Type        string     `json:"type,omitempty"`
	Transport   string     `json:"transport,omitempty"`
	Protocol    string     `json:"protocol,omitempty"`
	CommunityID string     `json:"community_id,omitempty"`
	VLAN        ecsVLAN    `json:"vlan,omitzero"`
	Inner       ecsInnerNW `json:"inner,omitzero"`
}

type ecsVLAN struct {
	ID string `json:"id,omitempty"`
}

type ecsInnerNW struct {
	VLAN ecsVLAN `json:"vlan,omitzero"`
}

type ecsTLS struct {
	Version         string       `json:"version,omitempty"`
	VersionProtocol string       `json:"version_protocol,omitempty"`
	Cipher          string       `json:"cipher,omitempty"`
	Curve           string       `json:"curve,omitempty"`
	NextProtocol    string       `json:"next_protocol,omitempty"`
	Established     *bool        `json:"established,omitempty"`
	Resumed         *bool        `json:"resumed,omitempty"`
	Client          ecsTLSClient `json:"client,omitzero"`
	Server          ecsTLSServer `json:"server,omitzero"`
}

type ecsTLSClient struct {
	ServerName       string   `json:"server_name,omitempty"`
	JA3              string   `json:"ja3,omitempty"`
	SupportedCiphers []string `json:"supported_ciphers,omitempty"`
	Hash             ecsHash  `json:"hash,omitzero"`
	X509             *ecsX509 `json:"x509,omitempty"`
}

type ecsTLSServer struct {
	JA3S      string   `json:"ja3s,omitempty"`
	Hash      ecsHash  `json:"hash,omitzero"`
	NotBefore string   `json:"not_before,omitempty"`
	NotAfter  string   `json:"not_after,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Issuer    string   `json:"issuer,omitempty"`
	X509      *ecsX509 `json:"x509,omitempty"`
}

type ecsHash struct {
	SHA1   string `json:"sha1,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

type ecsX509 struct {
	AlternativeNames   []string    `json:"alternative_names,omitempty"`
	Issuer             ecsX509Name `json:"issuer,omitzero"`
	Subject            ecsX509Name `json:"subject,omitzero"`
	SerialNumber       string      `json:"serial_number,omitempty"`
	NotBefore          string      `json:"not_before,omitempty"`
	NotAfter           string      `json:"not_after,omitempty"`
	PublicKeyAlgorithm string      `json:"public_key_algorithm,omitempty"`
	PublicKeySize      int         `json:"public_key_size,omitempty"`
	PublicKeyCurve     string      `json:"public_key_curve,omitempty"`
	SignatureAlgorithm string      `json:"signature_algorithm,omitempty"`
	VersionNumber      string      `json:"version_number,omitempty"`
}

type ecsX509Name struct {
	CommonName        string `json:"common_name,omitempty"`
	DistinguishedName string `json:"distinguished_name,omitempty"`
}

type ecsObserver struct {
	Name     string `json:"name,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Type     string `json:"type,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	Product  string `json:"product,omitempty"`
	Version  string `json:"version,omitempty"`
}

// tlsentryInfo is what ECS has no field for.
type tlsentryInfo struct {
	Client     tlsentryClient      `json:"client,omitzero"`
	Server     tlsentryServer      `json:"server,omitzero"`
	Anomalies  []string            `json:"anomalies,omitempty"`
	Incomplete bool                `json:"incomplete"`
	Alerts     []tlsentryAlert     `json:"alerts,omitempty"`
	Heartbeats []tlsentryHeartbeat `json:"heartbeats,omitempty"`
	ParseError string              `json:"parse_error,omitempty"`
	QUIC       *tlsentryQUIC       `json:"quic,omitempty"`
	Session    *tlsentrySession    `json:"session,omitempty"`
	Alert      *tlsentryAlertInfo  `json:"alert,omitempty"`
}

// tlsentrySession is tlsentry.session: an alert's link to its session.
type tlsentrySession struct {
	ID string `json:"id"`
}

// tlsentryAlertInfo is tlsentry.alert: how many matches an alert stands for.
type tlsentryAlertInfo struct {
	Count uint64 `json:"count"`
	First string `json:"first,omitempty"`
}

// tlsentryQUIC describes a QUIC connection.
type tlsentryQUIC struct {
	Version string `json:"version,omitempty"` // wire version, "0x00000001"
}

type tlsentryClient struct {
	JA4                 string   `json:"ja4,omitempty"`
	JA3String           string   `json:"ja3_string,omitempty"`
	Versions            []string `json:"versions,omitempty"`
	ALPN                []string `json:"alpn,omitempty"`
	Extensions          []string `json:"extensions,omitempty"`
	Groups              []string `json:"groups,omitempty"`
	KeyShareGroups      []string `json:"key_share_groups,omitempty"`
	SignatureAlgorithms []string `json:"signature_algorithms,omitempty"`
	ECH                 *bool    `json:"ech,omitempty"`
	HelloCount          int      `json:"hello_count,omitempty"`
	HelloRecords        int      `json:"hello_records,omitempty"`
	HelloSegments       int      `json:"hello_segments,omitempty"`
	Certificates        int      `json:"certificates,omitempty"`
}

type tlsentryServer struct {
	JA3SString        string          `json:"ja3s_string,omitempty"`
	Chain             []tlsentryChain `json:"chain,omitempty"`
	Validation        string          `json:"validation,omitempty"`
	HelloRetryRequest *bool           `json:"hello_retry_request,omitempty"`
	OCSPStapled       *bool           `json:"ocsp_stapled,omitempty"`
	DHPrimeBits       int             `json:"dh_prime_bits,omitempty"`
}

type tlsentryChain struct {
	Subject  string `json:"subject,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	SHA1     string `json:"sha1,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	NotAfter string `json:"not_after,omitempty"`
	Error    string `json:"error,omitempty"`
}

type tlsentryAlert struct {
	Direction   string `json:"direction"`
	Level       string `json:"level,omitempty"`
	Description string `json:"description,omitempty"`
	Encrypted   bool   `json:"encrypted"`
}

type tlsentryHeartbeat struct {
	Direction      string `json:"direction"`
	Type           string `json:"type"`
	DeclaredLength int    `json:"declared_length"`
	RecordLength   int    `json:"record_length"`
}

var (
	categoryNetwork = []string{"network"}
	typeSession     = []string{"connection", "protocol"}
	categoryAlert   = []string{"network", "intrusion_detection"}
	typeAlert       = []string{"info"}
)

// oracleEncode is Encode as it was, with encoding/json: lean documents.
func oracleEncode(obs Observer, s *session.Session, v detect.Verdict) []Document {
	return oracleEncodeDetail(obs, s, v, false)
}

// oracleEncodeDetail is oracleEncode for lean (full false) or full documents.
func oracleEncodeDetail(obs Observer, s *session.Session, v detect.Verdict, full bool) []Document {
	if s == nil {
		return nil
	}
	st := newOracleState()
	st.full = full
	st.fill(s, &v, &obs)
	sid := sessionID(s)
	st.doc.Event.ID = string(appendID(nil, sid))
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
		body := st.marshal()
		if !full {
			body = oracleLean(body)
		}
		docs = append(docs, Document{ID: st.doc.Event.ID, Dataset: DatasetAlert, Timestamp: ts, Body: body})
	}
	if s.Inventory != nil {
		for i := range s.Inventory.Items {
			id, body := oracleInventory(obs, &s.Inventory.Items[i], s.Inventory.Learning)
			docs = append(docs, Document{ID: id, Dataset: DatasetInventory, Timestamp: ts, Body: body})
		}
	}
	return docs
}

// oracleState is the per-call scratch space: the document tree and the
// slices it points into, reused between calls to save allocations.
type oracleState struct {
	doc       ecsDoc
	tls       ecsTLS
	x509      ecsX509
	rule      ecsRule
	alert     tlsentryAlertInfo
	threat    ecsThreat
	clientX   ecsX509
	duration  int64
	riskScore int

	ciphers, versions, alpn, exts, groups, keyShares, sigalgs []string
	anomalies                                                 []string
	chain                                                     []tlsentryChain
	alerts                                                    []tlsentryAlert
	heartbeats                                                []tlsentryHeartbeat

	full bool // DetailFull

	tbuf []byte
	buf  bytes.Buffer
	enc  *json.Encoder
}

func newOracleState() *oracleState {
	st := &oracleState{tbuf: make([]byte, 0, 64)}
	st.enc = json.NewEncoder(&st.buf)
	st.enc.SetEscapeHTML(false)
	return st
}

// marshal encodes the current document into a new slice without the
// trailing newline.
func (st *oracleState) marshal() []byte {
	st.buf.Reset()
	if err := st.enc.Encode(&st.doc); err != nil {
		// The tree holds only strings, numbers, bools and slices of them:
		// encoding cannot fail. Keep the document rather than panic.
		return []byte(`{"error":{"message":"tlsentry: encoding failed"}}`)
	}
	return bytes.Clone(bytes.TrimSuffix(st.buf.Bytes(), []byte{'\n'}))
}

func (st *oracleState) formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	st.tbuf = t.UTC().AppendFormat(st.tbuf[:0], timeLayout)
	return string(st.tbuf)
}

func (st *oracleState) fill(s *session.Session, v *detect.Verdict, obs *Observer) {
	d := &st.doc
	*d = ecsDoc{}
	d.ECS.Version = ECSVersion
	ns := obs.Namespace
	if ns == "" {
		ns = "default"
	}
	d.DataStream = ecsDataStrm{Type: "logs", Dataset: DatasetTLS, Namespace: ns}

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

	d.Observer = ecsObserver{Name: obs.Name, Hostname: obs.Hostname, Type: "ids", Vendor: "tlsentry", Product: "tlsentry", Version: obs.Version}

	// related: the addresses, the SNI, the fingerprints and leaf hashes.
	if ca.IsValid() {
		d.Related.IP = append(d.Related.IP, ca.String())
	}
	if sa.IsValid() && sa != ca {
		d.Related.IP = append(d.Related.IP, sa.String())
	}

	// tlsentry.* that does not depend on TLS.
	st.anomalies = s.AllAnomalies().AppendNames(st.anomalies[:0])
	d.TLSentry.Anomalies = nilIfEmpty(st.anomalies)
	d.TLSentry.Incomplete = s.Incomplete
	if s.QUICVersion != 0 {
		d.TLSentry.QUIC = &tlsentryQUIC{Version: string(appendHex32(nil, s.QUICVersion))}
	}

	if hs := s.TLS; isTLS(s) {
		st.fillTLS(s, hs, v)
		fp := &s.Fingerprints
		hashes := []string{fp.JA3, fp.JA4, fp.JA3S, "", ""}
		if c := leafOf(s); c != nil {
			hashes[3] = c.SHA256
		}
		hashes[4] = st.tls.Client.Hash.SHA256
		for _, h := range hashes {
			if h != "" {
				d.Related.Hash = append(d.Related.Hash, h)
			}
		}
		if sni := d.Destination.Domain; sni != "" {
			d.Related.Hosts = []string{sni}
		}
	}
}

func (st *oracleState) fillTLS(s *session.Session, hs *tlsparse.Handshake, v *detect.Verdict) {
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
		d.Destination.Domain = ch.ServerName
		fp := &s.Fingerprints
		t.Client.JA3 = fp.JA3
		if st.full {
			te.Client.JA3String = fp.JA3String
		}
		te.Client.JA4 = fp.JA4
		if st.full {
			st.ciphers = appendNames(st.ciphers[:0], ch.CipherSuites, tlsparse.CipherSuiteName)
			t.Client.SupportedCiphers = nilIfEmpty(st.ciphers)
		}

		st.versions = st.versions[:0]
		if len(ch.SupportedVersions) > 0 {
			for _, ver := range ch.SupportedVersions {
				if !tlsparse.IsGREASE(ver) {
					st.versions = append(st.versions, string(appendVersionLabel(nil, ver)))
				}
			}
		} else if ch.LegacyVersion != 0 {
			st.versions = append(st.versions, string(appendVersionLabel(nil, ch.LegacyVersion)))
		}
		te.Client.Versions = nilIfEmpty(st.versions)
		st.alpn = append(st.alpn[:0], ch.ALPN...)
		te.Client.ALPN = nilIfEmpty(st.alpn)
		if st.full {
			st.exts = appendNames(st.exts[:0], ch.Extensions, tlsparse.ExtensionName)
			te.Client.Extensions = nilIfEmpty(st.exts)
			st.groups = appendNames(st.groups[:0], ch.SupportedGroups, tlsparse.GroupName)
			te.Client.Groups = nilIfEmpty(st.groups)
		}
		if st.full {
			st.keyShares = appendNames(st.keyShares[:0], ch.KeyShareGroups, tlsparse.GroupName)
			te.Client.KeyShareGroups = nilIfEmpty(st.keyShares)
			st.sigalgs = appendNames(st.sigalgs[:0], ch.SignatureAlgorithms, tlsparse.SignatureSchemeName)
			te.Client.SignatureAlgorithms = nilIfEmpty(st.sigalgs)
		}
		te.Client.ECH = boolPtr(ch.ECH)
		te.Client.HelloCount = hs.ClientHelloCount
		te.Client.HelloRecords = hs.ClientHelloRecords
		te.Client.HelloSegments = hs.ClientHelloChunks
	}
	te.Client.Certificates = len(hs.ClientCertificates)
	if len(hs.ClientCertificates) > 0 {
		c := tlsparse.SummarizeCertificate(hs.ClientCertificates[0])
		t.Client.Hash = ecsHash{SHA1: c.SHA1, SHA256: c.SHA256}
		if c.Err == nil {
			st.clientX = st.x509Of(c, st.formatTime(c.NotBefore), st.formatTime(c.NotAfter))
			t.Client.X509 = &st.clientX
		}
	}

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
		t.Server.JA3S = fp.JA3S
		if st.full {
			te.Server.JA3SString = fp.JA3SString
		}
		if !sh.TLS13() {
			te.Server.OCSPStapled = boolPtr(hs.CertificateStatus)
		}
	}
	if st.full && (hs.ServerHello != nil || hs.HelloRetryRequest != nil) {
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

	// Certificates: the leaf in tls.server.*, every one in the chain (lean:
	// the leaf only when it did not parse).
	var leaf *tlsparse.CertSummary
	if len(s.Certificates) > 0 && s.Certificates[0] != nil {
		leaf = s.Certificates[0]
		st.fillLeaf(leaf)
	}
	st.chain = st.chain[:0]
	for i, c := range s.Certificates {
		if c == nil || (i == 0 && !st.full && c.Err == nil) {
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

func (st *oracleState) fillLeaf(c *tlsparse.CertSummary) {
	srv := &st.tls.Server
	srv.Hash = ecsHash{SHA1: c.SHA1, SHA256: c.SHA256}
	srv.NotBefore = st.formatTime(c.NotBefore)
	srv.NotAfter = st.formatTime(c.NotAfter)
	srv.Subject = c.Subject
	srv.Issuer = c.Issuer
	if c.Err != nil {
		return // only the hashes are known
	}
	st.x509 = st.x509Of(c, srv.NotBefore, srv.NotAfter)
	srv.X509 = &st.x509
}

func (st *oracleState) x509Of(c *tlsparse.CertSummary, notBefore, notAfter string) ecsX509 {
	x := ecsX509{
		AlternativeNames:   nilIfEmpty(c.AlternativeNames),
		Issuer:             ecsX509Name{CommonName: c.IssuerCommonName, DistinguishedName: c.Issuer},
		Subject:            ecsX509Name{CommonName: c.SubjectCommonName, DistinguishedName: c.Subject},
		SerialNumber:       c.SerialNumber,
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		PublicKeyAlgorithm: c.PublicKeyAlgorithm,
		PublicKeySize:      c.PublicKeySize,
		PublicKeyCurve:     c.PublicKeyCurve,
		SignatureAlgorithm: c.SignatureAlgorithm,
	}
	if c.VersionNumber > 0 {
		x.VersionNumber = strconv.Itoa(c.VersionNumber)
	}
	return x
}

// setAlert turns the filled session document into the alert document for a.
func (st *oracleState) setAlert(sid [sha256.Size]byte, a *detect.Alert) {
	d := &st.doc
	r := a.Rule
	d.Event.Kind = "alert"
	d.Event.Category = categoryAlert
	d.Event.Type = typeAlert
	d.Event.Dataset = DatasetAlert
	d.DataStream.Dataset = DatasetAlert
	d.TLSentry.Session = &tlsentrySession{ID: string(appendID(nil, sid))}
	d.Event.ID = string(appendID(nil, alertID(sid, a)))
	d.Event.Severity = r.SeverityScore()
	st.riskScore = r.RiskScore
	d.Event.RiskScore = &st.riskScore
	st.rule = ecsRule{
		ID:       r.ID,
		Name:     r.Name,
		Category: r.Category,
		Ruleset:  r.Ruleset,
		Version:  r.Version,
	}
	if st.full {
		st.rule.Description = r.Description
		st.rule.Reference = nilIfEmpty(r.References)
	}
	d.Rule = &st.rule
	d.Message = r.Name
	if d.Message == "" {
		d.Message = r.ID
	}
	d.Event.Reason = a.Message
	if d.Event.Reason == "" {
		d.Event.Reason = d.Message
	}
	if a.CountText != "" {
		d.Event.Reason += " " + a.CountText
	}
	st.alert = tlsentryAlertInfo{Count: max(a.Count, 1)}
	if a.Count > 1 {
		st.alert.First = st.formatTime(a.First)
	}
	d.TLSentry.Alert = &st.alert

	st.threat = ecsThreat{}
	d.Threat = nil
	if len(r.Techniques) > 0 {
		st.threat.Framework = "MITRE ATT&CK"
		tq := &ecsTechnique{}
		sub := &ecsSubtechnique{}
		seen := map[string]bool{}
		for _, x := range r.Techniques {
			p := x.Parent()
			if !seen[p.ID] {
				seen[p.ID] = true
				tq.ID = append(tq.ID, p.ID)
				tq.Name = append(tq.Name, p.Name)
				tq.Reference = append(tq.Reference, p.Reference())
			}
			if x.IsSub() {
				sub.ID = append(sub.ID, x.ID)
				sub.Name = append(sub.Name, x.Name)
				sub.Reference = append(sub.Reference, x.Reference())
			}
		}
		if len(sub.ID) > 0 {
			tq.Subtechnique = sub
		}
		st.threat.Technique = tq
		d.Threat = &st.threat
	}
	if in := a.Intel; in != nil {
		st.threat.Feed = &ecsFeed{Name: in.List}
		var e ecsEnrichment
		e.Indicator.Type = indicatorType(in)
		e.Indicator.Name = in.Entry
		e.Indicator.Description = in.Reason
		e.Feed.Name = in.List
		e.Matched.Atomic, e.Matched.Field, e.Matched.Type = in.Value, in.DocField, "indicator_match_rule"
		st.threat.Enrichments = []ecsEnrichment{e}
		d.Threat = &st.threat
	}
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

// The oracle of an inventory document (output/inventory.go).
type invDoc struct {
	Timestamp   string      `json:"@timestamp,omitempty"`
	ECS         ecsECS      `json:"ecs"`
	DataStream  ecsDataStrm `json:"data_stream"`
	Event       invEvent    `json:"event"`
	Destination *invDest    `json:"destination,omitempty"`
	TLS         *invTLS     `json:"tls,omitempty"`
	Observer    ecsObserver `json:"observer"`
	TLSentry    invTLSentry `json:"tlsentry"`
}

type invEvent struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Module   string   `json:"module"`
	Dataset  string   `json:"dataset"`
	ID       string   `json:"id"`
}

type invDest struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

type invTLS struct {
	Client *invClient `json:"client,omitempty"`
	Server *invServer `json:"server,omitempty"`
}

type invClient struct {
	ServerName string `json:"server_name,omitempty"`
	JA3        string `json:"ja3,omitempty"`
}

type invServer struct {
	Hash struct {
		SHA256 string `json:"sha256"`
	} `json:"hash"`
	NotBefore string `json:"not_before,omitempty"`
	NotAfter  string `json:"not_after,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	X509      *struct {
		AlternativeNames []string `json:"alternative_names,omitempty"`
	} `json:"x509,omitempty"`
}

type invTLSentry struct {
	Client *struct {
		JA4 string `json:"ja4"`
	} `json:"client,omitempty"`
	Inventory struct {
		Kind       string `json:"kind"`
		Value      string `json:"value"`
		FirstSeen  string `json:"first_seen,omitempty"`
		LastSeen   string `json:"last_seen,omitempty"`
		Count      uint64 `json:"count"`
		Learning   bool   `json:"learned"`
		SelfSigned *bool  `json:"self_signed,omitempty"`
	} `json:"inventory"`
}

func oracleInventory(obs Observer, it *session.InventoryItem, learning bool) (string, []byte) {
	st := newOracleState()
	d := invDoc{
		Timestamp:  st.formatTime(it.FirstSeen),
		ECS:        ecsECS{Version: ECSVersion},
		DataStream: ecsDataStrm{Type: "logs", Dataset: DatasetInventory, Namespace: cmp.Or(obs.Namespace, "default")},
		Event: invEvent{Kind: "state", Category: []string{"network"}, Type: []string{"info"}, Module: "tlsentry",
			Dataset: DatasetInventory, ID: string(appendID(nil, inventoryID(it)))},
		Observer: ecsObserver{Name: obs.Name, Hostname: obs.Hostname, Type: "ids", Vendor: "tlsentry", Product: "tlsentry", Version: obs.Version},
	}
	if it.Kind == "server_certificate" {
		d.Destination = &invDest{IP: it.Server.Addr().Unmap().String(), Port: int(it.Server.Port())}
	}
	var tls invTLS
	if it.SNI != "" || it.Kind == "client_ja3" {
		tls.Client = &invClient{ServerName: it.SNI}
		if it.Kind == "client_ja3" {
			tls.Client.JA3 = it.Value
		}
	}
	if c := it.Certificate; c != nil {
		sv := &invServer{NotBefore: st.formatTime(c.NotBefore), NotAfter: st.formatTime(c.NotAfter), Subject: c.Subject, Issuer: c.Issuer}
		sv.Hash.SHA256 = c.SHA256
		if len(c.AlternativeNames) > 0 {
			sv.X509 = &struct {
				AlternativeNames []string `json:"alternative_names,omitempty"`
			}{c.AlternativeNames}
		}
		tls.Server = sv
	}
	if tls.Client != nil || tls.Server != nil {
		d.TLS = &tls
	}
	if it.Kind == "client_ja4" {
		d.TLSentry.Client = &struct {
			JA4 string `json:"ja4"`
		}{it.Value}
	}
	inv := &d.TLSentry.Inventory
	inv.Kind, inv.Value, inv.Count, inv.Learning = it.Kind, it.Value, it.Count, learning
	inv.FirstSeen, inv.LastSeen = st.formatTime(it.FirstSeen), st.formatTime(it.LastSeen)
	if it.Certificate != nil {
		inv.SelfSigned = boolPtr(it.Certificate.SelfSigned)
	}
	st.buf.Reset()
	if err := st.enc.Encode(&d); err != nil {
		return "", nil
	}
	return d.Event.ID, bytes.Clone(bytes.TrimSuffix(st.buf.Bytes(), []byte{'\n'}))
}

// oracleLean restricts an alert document to what lean alerts carry: the
// fields schema says InLeanAlerts, found by path with encoding/json (not
// the encoder's writer). Objects and lists left empty go, as do list
// elements left empty; member order and value bytes stay. An object of the
// alert's own (rule, threat.feed) written empty stays: the alert writes it
// whole.
func oracleLean(doc []byte) []byte {
	keep := map[string]bool{}
	session := map[string]bool{} // paths with a session field under them
	for _, f := range schema.Documents() {
		if f.InLeanAlerts() {
			keep[f.Path] = true
		}
		if !f.Alert {
			for p := f.Path; strings.Contains(p, "."); {
				p = p[:strings.LastIndexByte(p, '.')]
				session[p] = true
			}
		}
	}
	under := func(path string) bool {
		for p := range keep {
			if strings.HasPrefix(p, path+".") {
				return true
			}
		}
		return false
	}
	var restrict func(raw json.RawMessage, path string) json.RawMessage
	restrict = func(raw json.RawMessage, path string) json.RawMessage {
		if string(raw) == "{}" && !session[path] { // as written (rule, threat.feed) stays
			return raw
		}
		switch raw[0] {
		case '{':
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.Token() // {
			var out []byte
			for dec.More() {
				tok, _ := dec.Token()
				k := tok.(string)
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					panic(err)
				}
				p := k
				if path != "" {
					p = path + "." + k
				}
				switch {
				case keep[p]:
				case under(p):
					if v = restrict(v, p); v == nil {
						continue
					}
				default:
					continue
				}
				if out == nil {
					out = append(out, '{')
				} else {
					out = append(out, ',')
				}
				kb, _ := json.Marshal(k)
				out = append(append(append(out, kb...), ':'), v...)
			}
			if out == nil {
				return nil
			}
			return append(out, '}')
		case '[':
			var elems []json.RawMessage
			if err := json.Unmarshal(raw, &elems); err != nil {
				panic(err)
			}
			var out []byte
			for _, e := range elems {
				if e = restrict(e, path); e == nil {
					continue
				}
				if out == nil {
					out = append(out, '[')
				} else {
					out = append(out, ',')
				}
				out = append(out, e...)
			}
			if out == nil {
				return nil
			}
			return append(out, ']')
		}
		return nil // a value under a path no kept field is
	}
	return restrict(doc, "")
}
