// Package session is the model the stages share: capture builds a Session
// for every finished connection, detect judges it and output encodes it.
// It depends on tlsparse and the standard library only, so that rules and
// encoders never pull in packet capture.
package session

import (
	"net/netip"
	"time"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// Session is one finished connection: a TLS (or QUIC) connection, or a
// non-TLS connection on port 443.
//
// A Session is handed to a Handler once and is not touched by capture
// afterwards; the handler may keep it. It is read-only from then on, so
// several goroutines may read it.
type Session struct {
	Start, End time.Time      // packet times of the first and last packet
	Client     netip.AddrPort // the side that sent the ClientHello (else opened the flow)
	Server     netip.AddrPort
	Transport  Transport
	VLANs      []uint16 // outermost first
	Protocol   Protocol
	// QUICVersion is the QUIC version of the client's Initial packets
	// (Protocol QUIC only).
	QUICVersion uint32

	ClientPackets, ClientBytes uint64 // counted even after bypass
	ServerPackets, ServerBytes uint64

	TLS *tlsparse.Handshake // nil when the flow carried no TLS
	// Certificates holds summaries of TLS.ServerCertificates, same order.
	Certificates []*tlsparse.CertSummary

	// Anomalies are what capture and the QUIC decoder noticed; the
	// parser's own are in TLS.Anomalies. AllAnomalies joins them.
	Anomalies  tlsparse.AnomalySet
	Incomplete bool // a gap, a missing direction, or the capture ended mid-handshake
	// Evasion says where overlapping bytes differed (anomalies tcp_overlap
	// and ip_fragment_overlap).
	Evasion Evasion

	// FirstPacket is a hash of the flow's first packet (its first 128 bytes
	// from the IP header on); with the flow key and Start it makes event.id
	// deterministic.
	FirstPacket uint64

	// Fingerprints are computed by Finish, once.
	Fingerprints Fingerprints

	// Profile is the flow's shape after bypass (TCP only).
	Profile Profile
	// Inventory is set by the inventory stage, before the judge; nil
	// without one. It is the one field set after capture hands the
	// session over, by the one goroutine that then judges it.
	Inventory *Inventory
}

// Evasion holds where capture saw overlaps with different bytes. The first
// overlap of each kind is kept; the bytes that arrived first were used.
type Evasion struct {
	// TCP (anomaly tcp_overlap): the direction, the stream offset (bytes
	// from the direction's first byte) and the length of the first overlap
	// whose bytes differed.
	OverlapClient bool
	OverlapOffset int64
	OverlapLength int
	// IP fragments (anomaly ip_fragment_overlap): the offset in the
	// datagram's payload and the length of the first fragment overlap whose
	// bytes differed.
	FragmentOverlapOffset int
	FragmentOverlapLength int
}

// Fingerprints are a session's JA3, JA3S and JA4.
type Fingerprints struct {
	JA3, JA3String   string // MD5 (hex) and the string hashed
	JA3S, JA3SString string
	JA4              string // "q..." for QUIC
}

// Finish computes what is derived from the parsed handshake (the
// fingerprints). The builder calls it once, after setting TLS and
// Protocol, before handing the session over.
func (s *Session) Finish() { s.FinishWith(nil) }

// FinishWith is Finish taking the fingerprints from c (nil: computes them).
func (s *Session) FinishWith(c *tlsparse.FingerprintCache) {
	s.Fingerprints = Fingerprints{}
	if s.TLS == nil {
		return
	}
	if ch := s.TLS.ClientHello; ch != nil {
		s.Fingerprints.JA3String, s.Fingerprints.JA3, s.Fingerprints.JA4 = c.Client(ch, s.Protocol == QUIC)
	}
	if sh := s.TLS.ServerHello; sh != nil {
		s.Fingerprints.JA3SString, s.Fingerprints.JA3S = c.Server(sh)
	}
}

// AllAnomalies is the union of the session's and the parser's anomalies.
func (s *Session) AllAnomalies() tlsparse.AnomalySet {
	if s.TLS == nil {
		return s.Anomalies
	}
	return s.Anomalies | s.TLS.Anomalies
}

// Handler receives finished sessions. It is called from worker goroutines
// concurrently and must be safe for that.
type Handler interface {
	HandleSession(*Session)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(*Session)

// HandleSession calls f(s).
func (f HandlerFunc) HandleSession(s *Session) { f(s) }
