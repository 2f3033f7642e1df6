package session

import "github.com/tlsentry/tlsentry/tlsparse"

// Transport is the session's transport protocol; its value is the IP
// protocol number.
type Transport uint8

const (
	TCP Transport = 6
	UDP Transport = 17
)

// String is the ECS network.transport value.
func (t Transport) String() string {
	switch t {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return ""
}

// Protocol is what the connection carried: the ECS network.protocol value.
type Protocol uint8

const (
	Unknown Protocol = iota // payload that is none of the others
	TLS                     // TLS or SSL (including SSLv2) over TCP
	QUIC                    // QUIC with TLS in its Initial packets
	SSH
	HTTP // HTTP/1.x or the HTTP/2 preface
	OpenVPN
)

var protocolNames = [...]struct{ value, display string }{
	Unknown: {"unknown", "unknown"},
	TLS:     {"tls", "TLS"},
	QUIC:    {"quic", "QUIC"},
	SSH:     {"ssh", "SSH"},
	HTTP:    {"http", "HTTP"},
	OpenVPN: {"openvpn", "OpenVPN"},
}

// String is the ECS network.protocol value: "tls", "quic", "ssh", ...
func (p Protocol) String() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p].value
	}
	return "unknown"
}

// Display is the protocol's name in prose: "TLS", "OpenVPN", ...
func (p Protocol) Display() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p].display
	}
	return "unknown"
}

// ProtocolOf maps what the parser found on a TCP stream to the session's
// protocol: TLS and SSLv2 are TLS; nothing determined is Unknown.
func ProtocolOf(p tlsparse.Protocol) Protocol {
	switch p {
	case tlsparse.ProtocolTLS, tlsparse.ProtocolSSLv2:
		return TLS
	case tlsparse.ProtocolSSH:
		return SSH
	case tlsparse.ProtocolHTTP:
		return HTTP
	case tlsparse.ProtocolOpenVPN:
		return OpenVPN
	}
	return Unknown
}
