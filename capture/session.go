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
