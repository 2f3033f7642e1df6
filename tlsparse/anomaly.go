package tlsparse

import (
	"fmt"
	"math/bits"
	"sort"
)

// Anomaly is one thing a stage noticed that well-behaved endpoints do not
// do, or that kept the sensor from seeing all of a handshake. The set is
// closed: anomalyTable lists every one, with the stage that raises it.
//
// The table covers capture's and the QUIC decoder's anomalies too: tlsparse
// is the lowest package every stage imports, so one table here serves them
// all, and a rule or a document can only name what is in it.
type Anomaly uint8

// Stage is the part of the pipeline that raises an anomaly.
type Stage uint8

const (
	StageCapture Stage = iota + 1 // flow tracking and TCP reassembly
	StageQUIC                     // QUIC Initial decryption
	StageTLS                      // this package
)

func (s Stage) String() string {
	switch s {
	case StageCapture:
		return "capture"
	case StageQUIC:
		return "quic"
	case StageTLS:
		return "tlsparse"
	}
	return "unknown"
}

// The anomalies, in the order of anomalyTable. The values are not stable
// across versions; names are (rules and documents use them).
const (
	AnomalyMidstream Anomaly = iota
	AnomalyTCPGap
	AnomalyTCPOverlap
	AnomalyTCPStreamLimit
	AnomalyIPFragmentOverlap
	AnomalyQUICCryptoLimit
	AnomalyQUICInitialLimit
	AnomalyQUICDecryptFailed
	AnomalyQUICMalformed
	AnomalyQUICRetry
	AnomalyFragmentedHello
	AnomalyMalformedClientHello
	AnomalyDuplicateClientHello
	AnomalyMalformedServerHello
	AnomalyDuplicateServerHello
	AnomalyDuplicateHelloRetryRequest
	AnomalyMalformedCertificate
	AnomalyDuplicateCertificate
	AnomalyTooManyCertificates
	AnomalyMalformedServerKeyExchange
	AnomalyMalformedCertificateStatus
	AnomalyOversizedHandshakeMessage
	AnomalyMalformedRecord
	AnomalyRecordOverflow
	AnomalyBadRecordAfterEncryption
	AnomalyMalformedHeartbeat
	AnomalyTooManyAlerts
	AnomalyTooManyHeartbeats
	AnomalyNotTLSClient
	AnomalyNotTLSServer
	AnomalyGapClient
	AnomalyGapServer
	AnomalySSLv2Error
	AnomalyStartTLS
	AnomalyHTTPConnect
	AnomalySOCKS
	numAnomalies
)

// AnomalyInfo describes one anomaly.
type AnomalyInfo struct {
	Anomaly Anomaly
	Name    string // as documents and rules write it
	Stage   Stage  // who raises it (midstream: capture and tlsparse both)
	Meaning string
}

var anomalyTable = [numAnomalies]AnomalyInfo{
	{AnomalyMidstream, "midstream", StageCapture, "the flow was picked up without its start: no SYN, or TLS records before any hello"},
	{AnomalyTCPGap, "tcp_gap", StageCapture, "bytes of a TCP direction are missing from the capture"},
	{AnomalyTCPOverlap, "tcp_overlap", StageCapture, "overlapping TCP segments carried different bytes (the first-arrived bytes were kept)"},
	{AnomalyTCPStreamLimit, "tcp_stream_limit", StageCapture, "a direction passed the per-direction stream limit before the handshake ended"},
	{AnomalyIPFragmentOverlap, "ip_fragment_overlap", StageCapture, "overlapping IPv4 or IPv6 fragments carried different bytes (the first-arrived bytes were kept)"},
	{AnomalyQUICCryptoLimit, "quic_crypto_limit", StageQUIC, "a direction's CRYPTO data passed its limit"},
	{AnomalyQUICInitialLimit, "quic_initial_limit", StageQUIC, "more Initial packets than are inspected per connection"},
	{AnomalyQUICDecryptFailed, "quic_decrypt_failed", StageQUIC, "an Initial packet did not decrypt"},
	{AnomalyQUICMalformed, "quic_malformed", StageQUIC, "a QUIC long header or Initial frame did not parse"},
	{AnomalyQUICRetry, "quic_retry", StageQUIC, "the server sent a Retry"},
	{AnomalyFragmentedHello, "fragmented_hello", StageTLS, "the first ClientHello spanned several records or segments"},
	{AnomalyMalformedClientHello, "malformed_client_hello", StageTLS, "a ClientHello did not parse"},
	{AnomalyDuplicateClientHello, "duplicate_client_hello", StageTLS, "a second ClientHello that no HelloRetryRequest asked for"},
	{AnomalyMalformedServerHello, "malformed_server_hello", StageTLS, "a ServerHello did not parse"},
	{AnomalyDuplicateServerHello, "duplicate_server_hello", StageTLS, "a second ServerHello"},
	{AnomalyDuplicateHelloRetryRequest, "duplicate_hello_retry_request", StageTLS, "a second HelloRetryRequest"},
	{AnomalyMalformedCertificate, "malformed_certificate", StageTLS, "a Certificate message did not parse"},
	{AnomalyDuplicateCertificate, "duplicate_certificate", StageTLS, "a second server Certificate message"},
	{AnomalyTooManyCertificates, "too_many_certificates", StageTLS, "more certificates in a chain than are kept"},
	{AnomalyMalformedServerKeyExchange, "malformed_server_key_exchange", StageTLS, "a ServerKeyExchange did not parse"},
	{AnomalyMalformedCertificateStatus, "malformed_certificate_status", StageTLS, "a CertificateStatus did not parse"},
	{AnomalyOversizedHandshakeMessage, "oversized_handshake_message", StageTLS, "a handshake message longer than the parser accepts was skipped"},
	{AnomalyMalformedRecord, "malformed_record", StageTLS, "a record header did not parse; parsing stopped"},
	{AnomalyRecordOverflow, "record_overflow", StageTLS, "a record longer than TLS allows; parsing stopped"},
	{AnomalyBadRecordAfterEncryption, "bad_record_after_encryption", StageTLS, "a record header did not parse after the direction turned encrypted"},
	{AnomalyMalformedHeartbeat, "malformed_heartbeat", StageTLS, "a cleartext heartbeat record too short for its header"},
	{AnomalyTooManyAlerts, "too_many_alerts", StageTLS, "more alert records than are kept"},
	{AnomalyTooManyHeartbeats, "too_many_heartbeats", StageTLS, "more heartbeat records than are kept"},
	{AnomalyNotTLSClient, "not_tls_client", StageTLS, "the client's bytes stopped being TLS records"},
	{AnomalyNotTLSServer, "not_tls_server", StageTLS, "the server's bytes stopped being TLS records"},
	{AnomalyGapClient, "gap_client", StageTLS, "parsing of the client's direction stopped at a gap"},
	{AnomalyGapServer, "gap_server", StageTLS, "parsing of the server's direction stopped at a gap"},
	{AnomalySSLv2Error, "sslv2_error", StageTLS, "an SSLv2 ERROR message"},
	{AnomalyStartTLS, "starttls", StageTLS, "TLS followed a cleartext STARTTLS exchange (SMTP, IMAP, POP3, FTP, XMPP)"},
	{AnomalyHTTPConnect, "http_connect", StageTLS, "TLS followed an HTTP CONNECT"},
	{AnomalySOCKS, "socks", StageTLS, "TLS followed a SOCKS4 or SOCKS5 exchange"},
}

// byName orders the anomalies by name: AnomalySet.Names lists them so.
var byName = func() (order [numAnomalies]Anomaly) {
	for i := range order {
		order[i] = Anomaly(i)
	}
	sort.Slice(order[:], func(i, j int) bool { return anomalyTable[order[i]].Name < anomalyTable[order[j]].Name })
	return order
}()

// String is the anomaly's name.
func (a Anomaly) String() string {
	if a < numAnomalies {
		return anomalyTable[a].Name
	}
	return "unknown"
}

// Info describes a.
func (a Anomaly) Info() AnomalyInfo {
	if a < numAnomalies {
		return anomalyTable[a]
	}
	return AnomalyInfo{Anomaly: a, Name: "unknown"}
}

// AnomalyTable lists every anomaly, sorted by name.
func AnomalyTable() []AnomalyInfo {
	out := make([]AnomalyInfo, numAnomalies)
	for i, a := range byName {
		out[i] = anomalyTable[a]
	}
	return out
}

// AnomalyByName finds an anomaly by the name documents and rules use.
func AnomalyByName(name string) (Anomaly, bool) {
	for _, info := range anomalyTable {
		if info.Name == name {
			return info.Anomaly, true
		}
	}
	return 0, false
}

// AnomalySet is a set of anomalies. The zero value is empty.
type AnomalySet uint64

// Add puts a into the set.
func (s *AnomalySet) Add(a Anomaly) { *s |= 1 << a }

// Remove takes a out of the set.
func (s *AnomalySet) Remove(a Anomaly) { *s &^= 1 << a }

// Has reports whether a is in the set.
func (s AnomalySet) Has(a Anomaly) bool { return s&(1<<a) != 0 }

// Len is the number of anomalies in the set.
func (s AnomalySet) Len() int { return bits.OnesCount64(uint64(s)) }

// AppendNames appends the set's names to dst, sorted by name.
func (s AnomalySet) AppendNames(dst []string) []string {
	if s == 0 {
		return dst
	}
	for _, a := range byName {
		if s.Has(a) {
			dst = append(dst, anomalyTable[a].Name)
		}
	}
	return dst
}

// Names lists the set's names sorted; nil when empty.
func (s AnomalySet) Names() []string { return s.AppendNames(nil) }

// String lists the names, for messages and tests.
func (s AnomalySet) String() string { return fmt.Sprint(s.Names()) }
