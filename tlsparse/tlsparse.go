// Package tlsparse parses what a passive sensor sees of one TLS connection:
// the two reassembled byte streams, fed in whatever chunks capture delivers.
//
// Bytes in, structs out: no I/O, no clock, no logging, no goroutines.
// Values returned by this package own their memory (nothing aliases a buffer
// passed to Feed) unless a doc comment says otherwise.
package tlsparse

import (
	"crypto/x509"
	"errors"
	"time"
)

// Sentinel errors, for errors.Is. Parse errors wrap one of these.
var (
	ErrIncomplete = errors.New("tlsparse: incomplete message")
	ErrMalformed  = errors.New("tlsparse: malformed message")
	ErrNotTLS     = errors.New("tlsparse: not TLS")
)

// Direction of a byte stream within a connection.
type Direction uint8

const (
	ClientToServer Direction = iota
	ServerToClient
)

// Protocol is what a stream turned out to carry.
type Protocol uint8

const (
	ProtocolUndetermined Protocol = iota // not enough bytes yet
	ProtocolTLS                          // TLS or SSL 3.0 records
	ProtocolSSLv2                        // SSLv2 record format
	ProtocolSSH                          // "SSH-" banner
	ProtocolHTTP                         // HTTP/1.x request or response, or the HTTP/2 preface
	ProtocolOpenVPN                      // OpenVPN over TCP (length-prefixed P_CONTROL_HARD_RESET)
	ProtocolUnknown                      // something else
)

// String returns the lower-case name used in documents ("tls", "ssh", ...).
func (p Protocol) String() string {
	switch p {
	case ProtocolTLS, ProtocolSSLv2:
		return "tls"
	case ProtocolSSH:
		return "ssh"
	case ProtocolHTTP:
		return "http"
	case ProtocolOpenVPN:
		return "openvpn"
	case ProtocolUnknown:
		return "unknown"
	}
	return "undetermined"
}

// ClientHello is a parsed ClientHello (or SSLv2-format CLIENT-HELLO).
// Lists keep wire order and include GREASE values.
type ClientHello struct {
	SSLv2              bool   // SSLv2-format record (2-byte header)
	RecordVersion      uint16 // version field of the first record carrying it
	LegacyVersion      uint16
	Random             []byte
	SessionID          []byte
	CipherSuites       []uint16 // SSLv2: 3-byte cipher specs whose first byte is 0 are mapped to uint16; others are dropped
	CompressionMethods []uint8
	Extensions         []uint16 // extension types, wire order

	ServerName           string
	SupportedGroups      []uint16
	ECPointFormats       []uint8
	SignatureAlgorithms  []uint16
	ALPN                 []string
	SupportedVersions    []uint16
	KeyShareGroups       []uint16
	PSKModes             []uint8
	PreSharedKey         bool
	SessionTicket        bool
	ExtendedMasterSecret bool
	RenegotiationInfo    bool
	Heartbeat            bool // heartbeat extension present
	StatusRequest        bool
	ECH                  bool // encrypted_client_hello (0xfe0d) present
	Padding              bool

	// Malformed is set when the hello breaks its wire format or repeats an
	// extension (RFC 8446 4.2). Fields parsed before the problem, and every
	// well-formed extension, are still filled in; tshark gives no JA3 for such
	// a hello.
	Malformed bool
	// SessionTicketLen is the length of the session_ticket extension data: a
	// non-empty ticket asks the server to resume (RFC 5077).
	SessionTicketLen int

	scr *chScratch // the lists' backing arrays (see Unmarshal); nil in a copy
}

// ServerHello is a parsed ServerHello, HelloRetryRequest or SSLv2 SERVER-HELLO.
type ServerHello struct {
	SSLv2                bool
	LegacyVersion        uint16
	SupportedVersion     uint16 // from supported_versions; 0 when absent
	Random               []byte
	SessionID            []byte
	CipherSuite          uint16
	CompressionMethod    uint8
	Extensions           []uint16
	ALPN                 string // protocol chosen
	KeyShareGroup        uint16 // TLS 1.3 key_share group (HRR: the group asked for)
	PreSharedKey         bool   // server selected a PSK (TLS 1.3 resumption)
	SessionTicket        bool   // session_ticket extension (ticket to follow)
	ExtendedMasterSecret bool
	RenegotiationInfo    bool
	Heartbeat            bool
	HelloRetryRequest    bool     // random equals the HRR magic value
	Certificates         [][]byte // SSLv2 SERVER-HELLO carries the certificate inline
	SessionIDHit         bool     // SSLv2 SERVER-HELLO: the session was resumed
	SSLv2CipherKind      uint32   // SSLv2: 3-byte cipher kind from the client's CLIENT-MASTER-KEY

	scr *shScratch // the lists' backing arrays; nil in a copy
}

// shScratch is a ServerHello's parse storage, reused by the next Unmarshal.
type shScratch struct {
	u16     []uint16 // backing array of Extensions
	b       []byte   // backing array of Random, SessionID, Certificates
	certs   [][]byte // backing array of Certificates
	extSpan span
}

// Version returns the negotiated version: supported_versions when present,
// else the legacy version (SSLv2: 0x0002).
func (s *ServerHello) Version() uint16 {
	if s.SupportedVersion != 0 {
		return s.SupportedVersion
	}
	return s.LegacyVersion
}

// TLS13 reports whether the negotiated version is TLS 1.3 or one of its
// drafts: the rest of the server's handshake is then encrypted.
func (s *ServerHello) TLS13() bool { return isTLS13(s.Version()) }

// ServerKeyExchange holds what a sensor can tell about the key exchange.
type ServerKeyExchange struct {
	NamedCurve  uint16 // ECDHE named group; 0 when not ECDHE
	DHPrimeBits int    // finite-field DHE prime size; 0 when not DHE
}

// Alert is a TLS alert seen in cleartext, or flagged as encrypted.
type Alert struct {
	Direction   Direction
	Level       uint8
	Description uint8
	Encrypted   bool // after the direction turned encrypted: level/description unknown
}

// Heartbeat is a heartbeat record seen in cleartext.
type Heartbeat struct {
	Direction      Direction
	Type           uint8 // 1 request, 2 response
	DeclaredLength int   // payload_length field
	RecordLength   int   // bytes in the record's fragment
	Encrypted      bool  // after the direction turned encrypted: Type and DeclaredLength unknown
}

// Handshake is everything parsed from one connection so far.
type Handshake struct {
	Protocol           Protocol
	ClientHello        *ClientHello // the first ClientHello (JA3/JA4 come from it)
	ClientHelloCount   int          // a second one follows a HelloRetryRequest (or is an anomaly)
	ClientHelloRecords int          // records the first ClientHello spanned
	ClientHelloChunks  int          // Feed calls (segments) the first ClientHello spanned
	ClientHelloLength  int          // bytes of the first ClientHello's body
	// UnexpectedClientHelloLength and UnexpectedClientHelloSNI describe the
	// first ClientHello no HelloRetryRequest asked for (anomaly
	// duplicate_client_hello): its body's bytes and its server_name. The
	// values of the session stay those of the first ClientHello.
	UnexpectedClientHelloLength int
	UnexpectedClientHelloSNI    string
	HelloRetryRequest           *ServerHello // set when the server sent an HRR
	ServerHello                 *ServerHello // the ServerHello that selected parameters
	ServerCertificates          [][]byte     // DER, in the order sent (TLS <= 1.2, or SSLv2)
	ClientCertificates          [][]byte
	CertificateStatus           bool // a CertificateStatus (stapled OCSP) message was seen
	KeyExchange                 *ServerKeyExchange
	Alerts                      []Alert
	Heartbeats                  []Heartbeat
	ClientEncrypted             bool // client->server turned encrypted (CCS seen, or TLS 1.3 after ServerHello)
	ServerEncrypted             bool
	Established                 bool // both sides reached the encrypted phase without a fatal alert
	Resumed                     bool // session id echoed, ticket resumption or TLS 1.3 PSK selected
	Anomalies                   AnomalySet
	Err                         error // first parse error, wrapping ErrMalformed; parsing stops on it
}

// CertSummary is the ECS x509 view of one DER certificate.
// A certificate that does not parse still has its hashes and Err set.
type CertSummary struct {
	SHA1, SHA256       string // uppercase hex of the DER
	Subject, Issuer    string // RFC 4514
	SubjectCommonName  string
	IssuerCommonName   string
	AlternativeNames   []string // DNS names, IP addresses, e-mail addresses, URIs
	SerialNumber       string   // uppercase hex
	NotBefore          time.Time
	NotAfter           time.Time
	PublicKeyAlgorithm string // "RSA", "ECDSA", "Ed25519", "DSA"
	PublicKeySize      int    // bits
	PublicKeyCurve     string // "P-256" ...
	SignatureAlgorithm string // as crypto/x509 names it, e.g. "SHA256-RSA"
	VersionNumber      int
	Cert               *x509.Certificate // nil when Err != nil; shared, read-only
	Err                error
}
