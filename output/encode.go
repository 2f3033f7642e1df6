package output

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// ECSVersion is written to ecs.version in every document.
const ECSVersion = "8.17.0"

// Observer names the sensor in observer.* fields, and the data stream
// namespace its documents go to.
type Observer struct {
	Name     string // observer.name, from the configuration
	Hostname string // observer.hostname
	Version  string // observer.version: the build
	// Namespace is data_stream.namespace: the sink's namespace ("" is
	// "default"), so that documents say which data stream they are in.
	Namespace string
}

// Vendor is observer.vendor and observer.product.
const Vendor = "tlsentry"

// clientCertCache bounds the client certificate summaries an Encoder keeps
// (mutual TLS: a few client certificates, seen again and again).
const clientCertCache = 256

// Encoder turns finished sessions and their verdicts into ECS documents
// (fields.go lists every field; FIELDS.md is generated from it). It is
// safe for concurrent use: capture calls handlers from several workers.
//
// Documents are appended field by field into a pooled buffer (json.go), in
// the order and with the omissions the reflection encoder it replaced had
// (json_oracle_test.go keeps that one, and tests require the same bytes).
type Encoder struct {
	obs Observer
	ns  []byte // data_stream.namespace, a JSON string
	// observer is the observer member ("observer":{...}) every document
	// carries, written once.
	observer []byte
	full     bool // Detail is DetailFull
	certs    *tlsparse.CertCache
	pool     sync.Pool // *encodeState
}

// NewEncoder returns an Encoder that stamps documents with obs and writes
// lean documents (SetDetail changes that).
func NewEncoder(obs Observer) *Encoder {
	if obs.Namespace == "" {
		obs.Namespace = "default"
	}
	e := &Encoder{obs: obs, certs: tlsparse.NewCertCache(clientCertCache)}
	e.ns = appendJSONString(nil, obs.Namespace)
	e.observer = jsonWriter{}.observer(&obs).b
	e.pool.New = func() any { return new(encodeState) }
	return e
}

// clientLeaf returns the summary of the client's leaf certificate (mutual
// TLS), or nil.
func (e *Encoder) clientLeaf(s *session.Session) *tlsparse.CertSummary {
	if s.TLS == nil || len(s.TLS.ClientCertificates) == 0 {
		return nil
	}
	return e.certs.Summary(s.TLS.ClientCertificates[0])
}

// timeLayout is RFC 3339 in UTC with a fixed microsecond fraction, the
// precision of classic pcap timestamps; event.duration keeps nanoseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// idLen is the length of an encoded id (appendID).
const idLen = 22

// maxPooledBuffer is the largest scratch buffer kept for the next call: a
// session with huge strings should not pin its buffer forever.
const maxPooledBuffer = 1 << 20

// encodeState is the per-call scratch space, reused between calls.
type encodeState struct {
	buf   []byte   // the scratch buffer every document is written into
	names []string // anomaly names
	docs  []docSpan
	lean  []byte // the triage fields alerts carry (lean.go)
	// triage are the parts of the session document's body its triage
	// copy repeats.
	triage triageParts
	frags  fragments
	// negotiated are the latest tls.version to tls.cipher written, the
	// last first.
	negotiated [4]struct {
		key negotiatedKey
		b   []byte
	}
}

// triageParts are parts of the session document's body that its triage
// copy (lean.go) repeats, noted as body writes the document, so that the
// triage copy need not write them again. An open part is an object's member
// up to where its triage fields end, left open; nil when it has none (the
// triage copy leaves the object out). The others are members (or a run of
// members) to copy as they are.
type triageParts struct {
	source, destination, related []byte // open
	tlsClient, tlsServer         []byte // open: up to tls.client.ja3, tls.server.ja3s
	network                      []byte
	negotiated                   []byte // tls.version to tls.cipher
	tlsState                     []byte // tls.next_protocol to tls.resumed
}

// docSpan is where one document's body and id lie in the scratch buffer.
type docSpan struct {
	start, end, id int
	dataset        string
}

// Encode returns one session document (event.kind "event", dataset
// tlsentry.tls) followed by one alert document per alert in v (event.kind
// "alert", dataset tlsentry.alert), which repeats every session field and
// adds rule.*, event.severity, event.risk_score, event.reason, message (the
// rule's name), tlsentry.alert and threat.* (ATT&CK techniques, and for
// intel matches threat.enrichments). Alerts without a rule are skipped. Bodies are
// freshly allocated and belong to the caller. A nil session gives nil.
//
// The session's fields are encoded once: an alert document is the session
// document's bytes with the alert's fields spliced in (its head up to
// data_stream.dataset, event.start/end/duration, and everything from
// source to tlsentry.quic are copied). All bodies and ids of one call share
// one allocation.
//
// Ids are deterministic: the session's event.id hashes the flow (client and
// server address and port, transport), Start in nanoseconds and FirstPacket;
// an alert's id hashes the session id, the rule id and the intel match.
func (e *Encoder) Encode(s *session.Session, v detect.Verdict) []Document {
	if s == nil {
		return nil
	}
	st := e.pool.Get().(*encodeState)
	defer e.put(st)
	w, ts := e.encode(st, s, v)
	return st.documents(w, ts)
}

// Scratch is a caller's reusable space for EncodeScratch. It is not safe
// for concurrent use.
type Scratch struct {
	st   encodeState
	docs []Document
}

// EncodeScratch is Encode, except that the documents' bodies and ids lie in
// sc's buffers and the slice is sc's: they are valid until sc is used
// again. Sinks copy what they keep (Sink.Write), so a caller that writes
// the documents and drops them saves Encode's copy (a run's worth of
// document bytes in allocations).
func (e *Encoder) EncodeScratch(sc *Scratch, s *session.Session, v detect.Verdict) []Document {
	if s == nil {
		return nil
	}
	st := &sc.st
	w, ts := e.encode(st, s, v)
	sc.docs = st.shareDocuments(w, ts, sc.docs[:0])
	if cap(st.buf) > maxPooledBuffer {
		st.buf = nil // the documents keep the big buffer until sc's next use
	}
	if cap(st.lean) > maxPooledBuffer {
		st.lean = nil
	}
	return sc.docs
}

// encode writes every document of s into st's buffer (st.docs says where
// they lie) and returns the writer and the documents' timestamp.
func (e *Encoder) encode(st *encodeState, s *session.Session, v detect.Verdict) (jsonWriter, time.Time) {
	w := jsonWriter{b: st.buf[:0], full: e.full}
	st.docs = st.docs[:0]

	ts := s.Start
	if ts.IsZero() {
		ts = s.End
	}
	sid := sessionID(s)

	// The session document. Its head (up to data_stream.dataset), times
	// (event.start, end, duration) and body (source to tlsentry.quic) are
	// the parts alert documents copy; times and body begin with their own
	// comma, so they read the same wherever they are copied to.
	w.b = append(w.b, '{')
	w = w.timeOmit("@timestamp", ts)
	stamp := w.b[1:] // "@timestamp":"..." (or nothing), which event.start repeats
	w = w.key("ecs")
	w.b = append(w.b, `{"version":"`+ECSVersion+`"}`...)
	w = w.key("data_stream")
	w.b = append(w.b, `{"type":"logs","dataset":`...)
	head := len(w.b)
	w = w.startEvent(DatasetTLS, e.ns, sessionEvent, sid)
	st.docs = append(st.docs, docSpan{start: 0, id: len(w.b) - idLen - 1, dataset: DatasetTLS})
	t0 := len(w.b)
	if ts == s.Start && len(stamp) > 0 {
		w = w.key("start")
		w.b = append(w.b, stamp[len(`"@timestamp":`):]...)
	} else {
		w = w.timeOmit("start", s.Start)
	}
	w = w.timeOmit("end", s.End)
	if !s.Start.IsZero() && !s.End.IsZero() && !s.End.Before(s.Start) {
		w = w.int("duration", s.End.Sub(s.Start).Nanoseconds())
	}
	t1 := len(w.b)
	w = w.close()
	b0 := len(w.b)
	var cc *tlsparse.CertSummary // the client's leaf (mutual TLS)
	if isTLS(s) {
		cc = e.clientLeaf(s)
	}
	w = w.body(st, s, &v, e.observer, cc)
	b1 := len(w.b)
	w.b = append(w.b, "}}"...)
	st.docs[0].end = len(w.b)
	sidAt := st.docs[0].id

	// What alerts copy of the body: all of it (full), or the triage
	// fields, written once (lean.go). Either leaves tlsentry open.
	body := w.b[b0+1 : b1] // without its leading comma
	if !e.full && hasAlert(v.Alerts) {
		lw := jsonWriter{b: st.lean[:0], triage: true}.body(st, s, &v, e.observer, cc)
		st.lean = lw.b
		body = lw.b
	}
	st.triage = triageParts{} // it points into the document's buffer

	for i := range v.Alerts {
		a := &v.Alerts[i]
		r := a.Rule
		if r == nil {
			continue
		}
		start := len(w.b)
		w.b = append(w.b, w.b[:head]...)
		w = w.startEvent(DatasetAlert, e.ns, alertEvent, alertID(sid, a))
		st.docs = append(st.docs, docSpan{start: start, id: len(w.b) - idLen - 1, dataset: DatasetAlert})
		w.b = append(w.b, w.b[t0:t1]...)
		w = w.intOmit("severity", r.SeverityScore())
		w = w.int("risk_score", int64(r.RiskScore))
		w = w.reason(a)
		w = w.close()
		w = w.ruleFields(st, r)
		w = w.sep()
		w.b = append(w.b, body...)
		w = w.open("session")
		w.b = append(w.b, `"id":"`...)
		w.b = append(w.b, w.b[sidAt:sidAt+idLen]...)
		w.b = append(w.b, '"', '}')
		w = w.open("alert")
		w = w.uint("count", max(a.Count, 1))
		if a.Count > 1 {
			w = w.timeOmit("first", a.First)
		}
		w = w.close()
		w.b = append(w.b, '}')
		w = w.threat(r, a.Intel)
		w.b = append(w.b, '}')
		st.docs[len(st.docs)-1].end = len(w.b)
	}
	w = w.inventoryDocs(st, s, &e.obs, e.ns) // then one tlsentry.inventory document per item s saw first (inventory.go)
	return w, ts
}

// ruleFields writes rule.* and message: an alert's fields that are its
// rule's alone, so kept like certificates' (certfrag.go).
func (w jsonWriter) ruleFields(st *encodeState, r *detect.Rule) jsonWriter {
	kind := fragRule
	if w.full {
		kind = fragRuleFull
	}
	key := unsafe.Pointer(r)
	f := st.frags.slot(key, kind)
	if f.holds(key, kind) {
		return w.member(f.b)
	}
	m := len(w.b)
	w = w.open("rule")
	w = w.strOmit("id", r.ID)
	w = w.strOmit("name", r.Name)
	w = w.strOmit("category", r.Category)
	if w.full { // lean: the rule's constants, in rules list and its file
		w = w.strOmit("description", r.Description)
		w = w.strs("reference", r.References)
	}
	w = w.strOmit("ruleset", r.Ruleset)
	w = w.strOmit("version", r.Version)
	w = w.close()
	w = w.strOmit("message", ruleName(r))
	f.keep(key, kind, w.b[m:])
	return w
}

// The event object's kind, category and type of sessions and alerts. ECS
// allows intrusion_detection with the types allowed, denied and info; a
// passive sensor neither allows nor denies.
const (
	sessionEvent = `"kind":"event","category":["network"],"type":["connection","protocol"]`
	alertEvent   = `"kind":"alert","category":["network","intrusion_detection"],"type":["info"]`
)

// startEvent writes a document's dataset and namespace (a JSON string),
// its event object's fields up to event.id, and the id: the last idLen+1
// bytes are the id and its quote.
func (w jsonWriter) startEvent(dataset string, ns []byte, kind string, id [sha256.Size]byte) jsonWriter {
	w.b = append(w.b, '"')
	w.b = append(w.b, dataset...)
	w.b = append(w.b, `","namespace":`...)
	w.b = append(w.b, ns...)
	w.b = append(w.b, `},"event":{`...)
	w.b = append(w.b, kind...)
	w.b = append(w.b, `,"module":"tlsentry","dataset":"`...)
	w.b = append(w.b, dataset...)
	w.b = append(w.b, `","id":"`...)
	w.b = appendID(w.b, id)
	w.b = append(w.b, '"')
	return w
}

// documents copies the bodies and ids out of w into one new allocation:
// the bodies, then the ids. Each Body is capped at its own end, so
// appending to one never reaches the next; the ids are strings over the
// tail that no Body covers and nothing writes after this. It keeps w's
// buffer for the next call.
func (st *encodeState) documents(w jsonWriter, ts time.Time) []Document {
	n := len(w.b)
	for _, d := range st.docs {
		w.b = append(w.b, w.b[d.id:d.id+idLen]...)
	}
	out := append([]byte(nil), w.b...) // not zeroed first, unlike make
	st.buf = w.b
	docs := make([]Document, len(st.docs))
	for i, d := range st.docs {
		idAt := n + i*idLen
		docs[i] = Document{
			ID:        unsafe.String(&out[idAt], idLen),
			Dataset:   d.dataset,
			Timestamp: ts,
			Body:      out[d.start:d.end:d.end],
		}
	}
	return docs
}

// shareDocuments is documents without the copy: the bodies and ids stay in
// w's buffer, which st keeps; docs is appended to.
func (st *encodeState) shareDocuments(w jsonWriter, ts time.Time, docs []Document) []Document {
	n := len(w.b)
	for _, d := range st.docs {
		w.b = append(w.b, w.b[d.id:d.id+idLen]...)
	}
	st.buf = w.b
	for i, d := range st.docs {
		idAt := n + i*idLen
		docs = append(docs, Document{
			ID:        unsafe.String(&w.b[idAt], idLen),
			Dataset:   d.dataset,
			Timestamp: ts,
			Body:      w.b[d.start:d.end:d.end],
		})
	}
	return docs
}

func (e *Encoder) put(st *encodeState) {
	if cap(st.buf) > maxPooledBuffer {
		st.buf = nil
	}
	if cap(st.lean) > maxPooledBuffer {
		st.lean = nil
	}
	e.pool.Put(st)
}

// body writes source through tlsentry.quic: every field from the session
// (w.triage: only the triage ones), none from an alert. It leaves the
// tlsentry object open. cc is the client's leaf certificate, or nil;
// observer the observer member; st.names is scratch space.
//
// The triage copy is written after the document, from the same st: it
// copies what st.triage noted of the document's source, destination,
// network, tls and related objects.
func (w jsonWriter) body(st *encodeState, s *session.Session, v *detect.Verdict, observer []byte, cc *tlsparse.CertSummary) jsonWriter {
	tp := &st.triage
	tls := isTLS(s)
	if w.triage {
		w = w.copyPart(tp.source)
		w = w.copyPart(tp.destination)
		w = w.member(tp.network)
		if tls {
			w = w.tlsTriage(st, s, cc)
		}
		w = w.copyPart(tp.related)
	} else {
		*tp = triageParts{}
		ca, sa := s.Client.Addr().Unmap(), s.Server.Addr().Unmap()
		// Each address is written twice: quote it once.
		var cb, sb [len(`"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"`)]byte
		cq, sq := appendAddr(cb[:0], ca), appendAddr(sb[:0], sa)
		w, tp.source = w.endpoint("source", cq, s.Client.Port(), "", s.ClientBytes, s.ClientPackets)
		w, tp.destination = w.endpoint("destination", sq, s.Server.Port(), serverName(s), s.ServerBytes, s.ServerPackets)
		m := len(w.b)
		w = w.network(s, ca)
		tp.network = w.b[m:len(w.b):len(w.b)]
		if tls {
			w = w.tls(st, s, cc)
		}
		var ips [2][]byte
		ips[0] = cq
		if sa != ca {
			ips[1] = sq
		}
		w, tp.related = w.related(s, ips, tls, cc)
	}

	w = w.member(observer)

	w = w.open("tlsentry")
	switch {
	case tls && w.triage:
		w = w.tlsentryTriage(s, v)
	case tls:
		w = w.tlsentryClient(s)
		w = w.tlsentryServer(st, s, v)
	}
	st.names = s.AllAnomalies().AppendNames(st.names[:0])
	w = w.strs("anomalies", st.names)
	w = w.bool("incomplete", s.Incomplete)
	if w.triage {
		return w
	}
	if tls {
		w = w.tlsentryEvents(s.TLS)
	}
	if s.QUICVersion != 0 {
		w = w.open("quic")
		w = w.key("version")
		w.b = append(w.b, '"')
		w.b = appendHex32(w.b, s.QUICVersion)
		w.b = append(w.b, '"')
		w = w.close()
	}
	return w
}

// network writes the network object (all its fields are triage ones).
func (w jsonWriter) network(s *session.Session, ca netip.Addr) jsonWriter {
	m := len(w.b)
	w = w.open("network")
	switch {
	case ca.Is4():
		w = w.str("type", "ipv4")
	case ca.Is6():
		w = w.str("type", "ipv6")
	}
	w = w.strOmit("transport", s.Transport.String())
	w = w.strOmit("protocol", s.Protocol.String())
	if p := uint8(s.Transport); p != 0 {
		m := len(w.b)
		w = w.key("community_id")
		w.b = append(w.b, '"') // "1:" and base64: nothing to escape
		if id := AppendCommunityID(w.b, s.Client, s.Server, p, 0); len(id) > len(w.b) {
			w.b = append(id, '"')
		} else {
			w.b = w.b[:m] // the addresses have none
		}
	}
	if len(s.VLANs) > 0 {
		w = w.open("vlan")
		w = w.quotedInt("id", int64(s.VLANs[0]))
		w = w.close()
	}
	if len(s.VLANs) > 1 {
		w = w.open("inner")
		w = w.open("vlan")
		w = w.quotedInt("id", int64(s.VLANs[1]))
		w = w.close()
		w = w.close()
	}
	return w.closeOmit(m)
}

// endpoint writes source or destination; ip is the address as a JSON
// string, or empty. Bytes and packets are always written: they are counted
// for every session, and 0 (a silent server) is a measurement, not an
// absent value; only an endpoint with no address, no domain and no traffic
// is left out. It returns the endpoint's open part for the triage copy
// (triageParts): all but bytes and packets.
func (w jsonWriter) endpoint(k string, ip []byte, port uint16, domain string, bytes, packets uint64) (jsonWriter, []byte) {
	if len(ip) == 0 && domain == "" && bytes == 0 && packets == 0 {
		return w, nil
	}
	m := len(w.b)
	w = w.open(k)
	if len(ip) > 0 { // first in the object: no comma
		w.b = append(w.b, `"ip":`...)
		w.b = append(w.b, ip...)
		if port != 0 {
			w.b = append(w.b, `,"port":`...)
			w.b = appendUint(w.b, uint64(port))
		}
	}
	w = w.strOmit("domain", domain)
	part := w.part(m)
	w = w.uint("bytes", bytes)
	w.b = append(w.b, `,"packets":`...)
	w.b = appendUint(w.b, packets)
	return w.close(), part
}

// part returns the object opened at mark, up to what is written so far,
// as triageParts keeps it: nil if nothing is written into it yet.
func (w jsonWriter) part(mark int) []byte {
	if w.b[len(w.b)-1] == '{' {
		return nil
	}
	return w.b[mark:len(w.b):len(w.b)]
}

// copyPart copies an open part (triageParts) and closes it; nothing if p
// is nil.
func (w jsonWriter) copyPart(p []byte) jsonWriter {
	if p == nil {
		return w
	}
	w = w.member(p)
	return w.close()
}

// appendAddr appends a as a JSON string, or nothing if a is not valid.
func appendAddr(dst []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return dst
	case a.Zone() != "":
		return appendJSONString(dst, a.String())
	}
	dst = append(dst, '"') // digits, dots and colons only
	dst = a.AppendTo(dst)
	return append(dst, '"')
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

// leafOf returns the certificate tls.server.* describes, or nil.
func leafOf(s *session.Session) *tlsparse.CertSummary {
	if len(s.Certificates) > 0 {
		return s.Certificates[0]
	}
	return nil
}

// serverName is the SNI, or "".
func serverName(s *session.Session) string {
	if s.TLS != nil && s.TLS.ClientHello != nil {
		return s.TLS.ClientHello.ServerName
	}
	return ""
}

// related writes related.ip (ips: the client's and the server's address
// as JSON strings, empty for none and for a server address that is the
// client's), related.hosts (the SNI) and, in a TLS session, related.hash
// (JA3, JA4, JA3S, the leaf certificates' SHA-256). It returns related's
// open part for the triage copy (triageParts): all but the hashes.
func (w jsonWriter) related(s *session.Session, ips [2][]byte, tls bool, cc *tlsparse.CertSummary) (jsonWriter, []byte) {
	m := len(w.b)
	w = w.open("related")
	a := len(w.b)
	w = w.openArray("ip")
	for _, ip := range ips {
		if len(ip) > 0 {
			w = w.elem()
			w.b = append(w.b, ip...)
		}
	}
	w = w.closeArray(a)
	if sni := serverName(s); sni != "" {
		w = w.key("hosts")
		w.b = append(w.b, '[')
		w.b = appendJSONString(w.b, sni)
		w.b = append(w.b, ']')
	}
	part := w.part(m)
	if !tls {
		return w.closeOmit(m), part
	}
	a = len(w.b)
	w = w.openArray("hash")
	fp := &s.Fingerprints
	leaf := ""
	if c := leafOf(s); c != nil {
		leaf = c.SHA256
	}
	client := ""
	if cc != nil {
		client = cc.SHA256
	}
	for _, h := range [5]string{fp.JA3, fp.JA4, fp.JA3S, leaf, client} {
		if h != "" {
			w = w.elem()
			w.b = appendJSONString(w.b, h)
		}
	}
	w = w.closeArray(a)
	return w.closeOmit(m), part
}

// tls writes the tls object; cc is the client's leaf certificate, or nil.
// It notes for the triage copy (tlsTriage) all but tls.curve, the
// certificates' fields and the cipher list.
func (w jsonWriter) tls(st *encodeState, s *session.Session, cc *tlsparse.CertSummary) jsonWriter {
	hs := s.TLS
	sh := hs.ServerHello
	tp := &st.triage
	w = w.open("tls")
	n := len(w.b)
	w = w.negotiated(st, sh)
	tp.negotiated = w.b[n:len(w.b):len(w.b)]
	switch {
	case sh != nil && sh.KeyShareGroup != 0:
		w = w.str("curve", nameOrHex(sh.KeyShareGroup, tlsparse.GroupName))
	case hs.KeyExchange != nil && hs.KeyExchange.NamedCurve != 0:
		w = w.str("curve", nameOrHex(hs.KeyExchange.NamedCurve, tlsparse.GroupName))
	}
	n = len(w.b)
	if sh != nil {
		w = w.strOmit("next_protocol", sh.ALPN)
	}
	w = w.bool("established", hs.Established)
	w.b = append(w.b, `,"resumed":`...)
	w.b = strconv.AppendBool(w.b, hs.Resumed)
	tp.tlsState = w.b[n:len(w.b):len(w.b)]

	m := len(w.b)
	w = w.open("client")
	if ch := hs.ClientHello; ch != nil {
		w = w.strOmit("server_name", ch.ServerName)
		w = w.strOmit("ja3", s.Fingerprints.JA3)
	}
	tp.tlsClient = w.b[m:len(w.b):len(w.b)]
	if ch := hs.ClientHello; ch != nil && w.full { // lean: JA3 (and JA4's cipher hash) carry them
		w = w.names("supported_ciphers", ch.CipherSuites, tlsparse.CipherSuiteName)
	}
	if cc != nil {
		w = w.certHashes(cc)
		if cc.Err == nil {
			var d [2 * (len(`,"not_before":""`) + len(timeLayout))]byte
			dates := jsonWriter{b: append(d[:0], '{')}
			dates = dates.timeOmit("not_before", cc.NotBefore)
			dates = dates.timeOmit("not_after", cc.NotAfter)
			w = w.x509(cc, dates.b[1:])
		}
	}
	if w = w.closeOmit(m); len(w.b) == m { // dropped, and its bytes will be written over
		tp.tlsClient = openClient
	}

	m = len(w.b)
	w = w.open("server")
	if sh != nil {
		w = w.strOmit("ja3s", s.Fingerprints.JA3S)
	}
	tp.tlsServer = w.b[m:len(w.b):len(w.b)]
	if c := leafOf(s); c != nil {
		w = w.serverCert(st, c)
	}
	if w = w.closeOmit(m); len(w.b) == m {
		tp.tlsServer = openServer
	}
	return w.close()
}

// openClient and openServer are what a part of tls.client or tls.server
// holds when nothing was written into the object.
var openClient, openServer = []byte(`"client":{`), []byte(`"server":{`)

// serverCert writes the fields tls.server has from the leaf certificate c
// (in triage mode, the triage ones). They depend on c alone, and the
// sessions of a busy server share one summary (tlsparse.CertCache), so the
// bytes of recent ones are kept in st and copied.
func (w jsonWriter) serverCert(st *encodeState, c *tlsparse.CertSummary) jsonWriter {
	kind := fragServer
	if w.triage {
		kind = fragServerTriage
	}
	key := unsafe.Pointer(c)
	f := st.frags.slot(key, kind)
	if f.holds(key, kind) {
		return w.member(f.b)
	}
	m := len(w.b)
	w = w.certHashes(c)
	if w.triage {
		if c.Err == nil {
			w = w.x509Triage(c, true)
		}
	} else {
		// The validity dates are the same in tls.server.x509: format
		// them once, and keep them without their leading comma.
		d0 := len(w.b)
		w = w.timeOmit("not_before", c.NotBefore)
		w = w.timeOmit("not_after", c.NotAfter)
		if d0 < len(w.b) && w.b[d0] == ',' {
			d0++
		}
		d1 := len(w.b)
		w = w.strOmit("subject", c.Subject)
		w = w.strOmit("issuer", c.Issuer)
		if c.Err == nil { // else only the hashes are known
			w = w.x509(c, w.b[d0:d1])
		}
	}
	f.keep(key, kind, w.b[m:])
	return w
}

// chainElem writes the tlsentry.server.chain element of c (a summary's
// alone, so kept like serverCert's fields).
func (w jsonWriter) chainElem(st *encodeState, c *tlsparse.CertSummary) jsonWriter {
	key := unsafe.Pointer(c)
	f := st.frags.slot(key, fragChain)
	if f.holds(key, fragChain) {
		return w.member(f.b)
	}
	w = w.elem()
	m := len(w.b)
	w.b = append(w.b, '{')
	w = w.strOmit("subject", c.Subject)
	w = w.strOmit("issuer", c.Issuer)
	w = w.strOmit("sha1", c.SHA1)
	w = w.strOmit("sha256", c.SHA256)
	w = w.timeOmit("not_after", c.NotAfter)
	if c.Err != nil {
		w = w.strOmit("error", c.Err.Error())
	}
	w = w.close()
	f.keep(key, fragChain, w.b[m:])
	return w
}

// negotiated writes tls.version, version_protocol and cipher from sh (nil:
// nothing). They depend on three values alone, which most sessions share
// with a recent one: st keeps the fields of the last few.
func (w jsonWriter) negotiated(st *encodeState, sh *tlsparse.ServerHello) jsonWriter {
	if sh == nil {
		return w
	}
	ver := sh.Version()
	k := negotiatedKey{ver: ver, cipher: sh.CipherSuite, sslv2: sh.SSLv2, set: true}
	for i := range st.negotiated {
		if f := &st.negotiated[i]; f.key == k {
			return w.member(f.b)
		}
	}
	m := len(w.b)
	if name, proto := tlsparse.VersionName(ver); name != "" {
		w = w.str("version", name)
		w = w.strOmit("version_protocol", proto)
	} else {
		w = w.str("version", hex16(ver))
	}
	if !sh.SSLv2 || sh.CipherSuite != 0 {
		w = w.str("cipher", nameOrHex(sh.CipherSuite, tlsparse.CipherSuiteName))
	}
	// Replace the oldest: the entries move down one.
	f := st.negotiated[len(st.negotiated)-1]
	copy(st.negotiated[1:], st.negotiated[:])
	f.key, f.b = k, append(f.b[:0], w.b[m:]...)
	st.negotiated[0] = f
	return w
}

// negotiatedKey is what negotiated's fields depend on.
type negotiatedKey struct {
	ver, cipher uint16
	sslv2, set  bool
}

// certHashes writes the hash object of a certificate.
func (w jsonWriter) certHashes(c *tlsparse.CertSummary) jsonWriter {
	h := len(w.b)
	w = w.open("hash")
	w = w.strOmit("sha1", c.SHA1)
	w = w.strOmit("sha256", c.SHA256)
	return w.closeOmit(h)
}

// x509 writes tls.server.x509 for the leaf certificate c; dates are its
// not_before and not_after fields, already encoded.
func (w jsonWriter) x509(c *tlsparse.CertSummary, dates []byte) jsonWriter {
	w = w.open("x509")
	w = w.strs("alternative_names", c.AlternativeNames)
	m := len(w.b)
	w = w.open("issuer")
	w = w.strOmit("common_name", c.IssuerCommonName)
	w = w.strOmit("distinguished_name", c.Issuer)
	w = w.closeOmit(m)
	m = len(w.b)
	w = w.open("subject")
	w = w.strOmit("common_name", c.SubjectCommonName)
	w = w.strOmit("distinguished_name", c.Subject)
	w = w.closeOmit(m)
	w = w.strOmit("serial_number", c.SerialNumber)
	if len(dates) > 0 {
		w = w.sep()
		w.b = append(w.b, dates...)
	}
	w = w.strOmit("public_key_algorithm", c.PublicKeyAlgorithm)
	w = w.intOmit("public_key_size", c.PublicKeySize)
	w = w.strOmit("public_key_curve", c.PublicKeyCurve)
	w = w.strOmit("signature_algorithm", c.SignatureAlgorithm)
	if c.VersionNumber > 0 {
		w = w.quotedInt("version_number", int64(c.VersionNumber))
	}
	return w.close()
}

// tlsentryClient writes tlsentry.client.
func (w jsonWriter) tlsentryClient(s *session.Session) jsonWriter {
	hs := s.TLS
	m := len(w.b)
	w = w.open("client")
	if ch := hs.ClientHello; ch != nil {
		fp := &s.Fingerprints
		w = w.strOmit("ja4", fp.JA4)
		if w.full {
			w = w.strOmit("ja3_string", fp.JA3String)
		}
		a := len(w.b)
		w = w.openArray("versions")
		if len(ch.SupportedVersions) > 0 {
			for _, ver := range ch.SupportedVersions {
				if !tlsparse.IsGREASE(ver) {
					w = w.versionLabel(ver)
				}
			}
		} else if ch.LegacyVersion != 0 {
			w = w.versionLabel(ch.LegacyVersion)
		}
		w = w.closeArray(a)
		w = w.strs("alpn", ch.ALPN)
		if w.full { // lean: the JA3 and JA4 fingerprints carry them
			w = w.names("extensions", ch.Extensions, tlsparse.ExtensionName)
			w = w.names("groups", ch.SupportedGroups, tlsparse.GroupName)
		}
		if w.full { // lean: groups (in the JA3 string) include them
			w = w.names("key_share_groups", ch.KeyShareGroups, tlsparse.GroupName)
			w = w.names("signature_algorithms", ch.SignatureAlgorithms, tlsparse.SignatureSchemeName)
		}
		w = w.bool("ech", ch.ECH)
		w = w.intOmit("hello_count", hs.ClientHelloCount)
		w = w.intOmit("hello_records", hs.ClientHelloRecords)
		w = w.intOmit("hello_segments", hs.ClientHelloChunks)
	}
	w = w.intOmit("certificates", len(hs.ClientCertificates))
	return w.closeOmit(m)
}

// tlsentryServer writes tlsentry.server.
func (w jsonWriter) tlsentryServer(st *encodeState, s *session.Session, v *detect.Verdict) jsonWriter {
	hs := s.TLS
	m := len(w.b)
	w = w.open("server")
	if hs.ServerHello != nil && w.full {
		w = w.strOmit("ja3s_string", s.Fingerprints.JA3SString)
	}
	a := len(w.b)
	w = w.openArray("chain")
	for i, c := range s.Certificates {
		if !w.inChain(i, c) {
			continue
		}
		w = w.chainElem(st, c)
	}
	w = w.closeArray(a)
	if len(s.Certificates) > 0 {
		w = w.strOmit("validation", v.Validation)
	}
	if w.full && (hs.ServerHello != nil || hs.HelloRetryRequest != nil) { // lean: hello_count is 2 after one
		w = w.bool("hello_retry_request", hs.HelloRetryRequest != nil)
	}
	if sh := hs.ServerHello; sh != nil && !sh.TLS13() { // TLS 1.3 staples inside the encrypted Certificate
		w = w.bool("ocsp_stapled", hs.CertificateStatus)
	}
	if hs.KeyExchange != nil {
		w = w.intOmit("dh_prime_bits", hs.KeyExchange.DHPrimeBits)
	}
	return w.closeOmit(m)
}

// inChain reports whether tlsentry.server.chain lists c, the i-th
// certificate the server sent: lean documents leave out a leaf that
// parsed, which tls.server.* describes.
func (w jsonWriter) inChain(i int, c *tlsparse.CertSummary) bool {
	return c != nil && (i > 0 || w.full || c.Err != nil)
}

// tlsentryEvents writes tlsentry.alerts, tlsentry.heartbeats and
// tlsentry.parse_error.
func (w jsonWriter) tlsentryEvents(hs *tlsparse.Handshake) jsonWriter {
	a := len(w.b)
	w = w.openArray("alerts")
	for _, al := range hs.Alerts {
		w = w.elem()
		w.b = append(w.b, '{')
		w = w.str("direction", directionName(al.Direction))
		if !al.Encrypted {
			w = w.strOmit("level", alertLevelName(al.Level))
			w = w.strOmit("description", alertDescriptionName(al.Description))
		}
		w = w.bool("encrypted", al.Encrypted)
		w = w.close()
	}
	w = w.closeArray(a)
	a = len(w.b)
	w = w.openArray("heartbeats")
	for _, h := range hs.Heartbeats {
		w = w.elem()
		w.b = append(w.b, '{')
		w = w.str("direction", directionName(h.Direction))
		w = w.str("type", heartbeatTypeName(h.Type))
		w = w.int("declared_length", int64(h.DeclaredLength))
		w = w.int("record_length", int64(h.RecordLength))
		w = w.close()
	}
	w = w.closeArray(a)
	if hs.Err != nil {
		w = w.strOmit("parse_error", hs.Err.Error())
	}
	return w
}

// names writes the names of ids as a list, leaving GREASE values out.
func (w jsonWriter) names(k string, ids []uint16, name func(uint16) string) jsonWriter {
	a := len(w.b)
	w = w.openArray(k)
	for _, id := range ids {
		if !tlsparse.IsGREASE(id) {
			w = w.elem()
			w.b = appendJSONString(w.b, nameOrHex(id, name))
		}
	}
	return w.closeArray(a)
}

// versionLabel writes an offered version as a list element.
func (w jsonWriter) versionLabel(v uint16) jsonWriter {
	w = w.elem()
	w.b = append(w.b, '"')
	w.b = appendVersionLabel(w.b, v)
	w.b = append(w.b, '"')
	return w
}

// quotedInt writes v as a string ("100"), for keyword fields that hold
// numbers.
func (w jsonWriter) quotedInt(k string, v int64) jsonWriter {
	w = w.key(k)
	w.b = append(w.b, '"')
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, '"')
	return w
}

// appendID appends the first 128 bits of a hash as 22 base64url
// characters, unpadded: an event.id. (base64.RawURLEncoding's, written
// with fixed offsets: AppendEncode's general loop cost ten times the
// encoding itself.)
func appendID(dst []byte, h [sha256.Size]byte) []byte {
	const url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [idLen]byte
	for i := range 5 {
		v := uint(h[3*i])<<16 | uint(h[3*i+1])<<8 | uint(h[3*i+2])
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = url[v>>18], url[v>>12&63], url[v>>6&63], url[v&63]
	}
	b[20], b[21] = url[h[15]>>2], url[h[15]<<4&63]
	return append(dst, b[:]...)
}

// appendVersionLabel appends an offered version for
// tlsentry.client.versions: "TLS 1.3", "SSL 3.0", or hex for what has no
// name (e.g. drafts). It needs no JSON escaping.
func appendVersionLabel(dst []byte, v uint16) []byte {
	ver, proto := tlsparse.VersionName(v)
	switch {
	case ver == "":
		return append(dst, hex16(v)...)
	case proto == "tls":
		dst = append(dst, "TLS "...)
	case proto == "ssl":
		dst = append(dst, "SSL "...)
	default:
		dst = append(append(dst, proto...), ' ')
	}
	return append(dst, ver...)
}

// appendHex32 appends v as "0x" and eight lower-case hex digits.
func appendHex32(dst []byte, v uint32) []byte {
	dst = append(dst, '0', 'x')
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[v>>uint(shift)&0xf])
	}
	return dst
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
	var buf [128]byte // the bytes hashed: on the stack unless long
	b := append(buf[:0], sid[:]...)
	b = append(b, a.Rule.ID...)
	if a.Intel != nil {
		b = append(b, 0)
		b = append(b, a.Intel.List...)
		b = append(b, 0)
		b = append(b, a.Intel.Field...)
		b = append(b, 0)
		b = append(b, a.Intel.Entry...)
	}
	return sha256.Sum256(b)
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

// hasAlert reports whether an alert in as has a rule: Encode writes a
// document for it.
func hasAlert(as []detect.Alert) bool {
	for i := range as {
		if as[i].Rule != nil {
			return true
		}
	}
	return false
}

// observer writes the observer object every document carries.
func (w jsonWriter) observer(obs *Observer) jsonWriter {
	w = w.open("observer")
	w = w.strOmit("name", obs.Name)
	w = w.strOmit("hostname", obs.Hostname)
	w = w.str("type", "ids")
	w = w.str("vendor", Vendor)
	w = w.str("product", Vendor)
	w = w.strOmit("version", obs.Version)
	return w.close()
}
