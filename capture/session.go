// Package capture reads packets from files and interfaces, decodes them,
// tracks flows, reassembles TCP, and turns each connection into a Session.
package capture

import (
	"net/netip"
	"time"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// Session is one finished connection as the rest of the program sees it:
// a TLS (or QUIC) connection, or a non-TLS connection on port 443.
//
// Sessions are handed to a Handler once and are not touched by capture
// afterwards; the handler may keep them.
type Session struct {
	Start, End time.Time      // packet times of the first and last packet
	Client     netip.AddrPort // the side that sent the ClientHello (else opened the flow)
	Server     netip.AddrPort
	Transport  string   // "tcp" or "udp"
	VLANs      []uint16 // outermost first
	Protocol   string   // "tls", "quic", "ssh", "http", "openvpn", "unknown"
	// QUICVersion is the QUIC version of the client's Initial packets
	// (Protocol "quic" only).
	QUICVersion uint32

	ClientPackets, ClientBytes uint64 // counted even after bypass
	ServerPackets, ServerBytes uint64

	TLS *tlsparse.Handshake // nil when the flow carried no TLS
	// Certificates holds summaries of TLS.ServerCertificates, same order.
	Certificates []*tlsparse.CertSummary

	Anomalies  []string // capture's own: "tcp_gap", "tcp_overlap", "midstream", ...
	Incomplete bool     // a gap, a missing direction, or the capture ended mid-handshake

	// FirstPacket is a hash of the flow's first packet (bytes from the IP
	// header on); with the flow key and Start it makes event.id deterministic.
	FirstPacket uint64

	fp *Fingerprints // computed on first use
}

// Fingerprints are a session's JA3, JA3S and JA4.
type Fingerprints struct {
	JA3, JA3String   string // MD5 (hex) and the string hashed
	JA3S, JA3SString string
	JA4              string // "q..." for QUIC
}

// Fingerprints computes the session's fingerprints on first use and keeps
// them, so the rules and the document encoder do not compute them twice.
// Like the rest of a Session it is not safe for concurrent use: the handler
// that receives a session owns it.
func (s *Session) Fingerprints() *Fingerprints {
	if s.fp != nil {
		return s.fp
	}
	fp := &Fingerprints{}
	if s.TLS != nil {
		if ch := s.TLS.ClientHello; ch != nil {
			fp.JA3String, fp.JA3 = tlsparse.JA3(ch)
			fp.JA4 = tlsparse.JA4(ch, s.Protocol == "quic")
		}
		if sh := s.TLS.ServerHello; sh != nil {
			fp.JA3SString, fp.JA3S = tlsparse.JA3S(sh)
		}
	}
	s.fp = fp
	return fp
}

// ResetFingerprints forgets computed fingerprints, for a caller that changed
// s.TLS after Fingerprints was called.
func (s *Session) ResetFingerprints() { s.fp = nil }

// Handler receives finished sessions. It is called from worker goroutines
// concurrently and must be safe for that.
type Handler interface {
	HandleSession(*Session)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(*Session)

// HandleSession calls f(s).
func (f HandlerFunc) HandleSession(s *Session) { f(s) }
