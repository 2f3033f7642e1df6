package session

import (
	"net/netip"
	"time"
)

// Inventory is what the inventory stage recorded of a session before it
// was judged: what the session showed first. Nil when no inventory ran.
type Inventory struct {
	// Learning: the session fell in the inventory's learning period;
	// nothing below is reported new (Items still lists what it saw first).
	Learning bool
	// NewClientJA4 and NewClientJA3: the client's fingerprint was first seen.
	NewClientJA4, NewClientJA3 bool
	// NewCertificate: the server's leaf certificate was first seen.
	NewCertificate bool
	// NewServerCertificate: the (server address and port, SNI) →
	// certificate pair was first seen. Change says how it relates to the
	// certificate the same (server, SNI) showed before.
	NewServerCertificate bool
	// Change is "first" (no earlier certificate known), "renewal" or
	// "change"; "" unless NewServerCertificate.
	Change string
	// ChangeReasons name how a "change" differs: issuer_changed,
	// subject_changed, names_changed, became_self_signed, not_newer.
	ChangeReasons []string
	// PreviousIssuer and PreviousSHA256 describe the certificate shown
	// before (NewServerCertificate with Change other than "first").
	PreviousIssuer, PreviousSHA256 string
	// Items are the items this session saw first (during learning too):
	// one tlsentry.inventory document each.
	Items []InventoryItem
}

// InventoryItem is one inventory entry as first seen.
type InventoryItem struct {
	// Kind is "client_ja4", "client_ja3", "certificate" or
	// "server_certificate".
	Kind string
	// Value is the fingerprint or the certificate's SHA-256 (uppercase hex).
	Value string
	// Server and SNI: server_certificate only.
	Server netip.AddrPort
	SNI    string
	// FirstSeen and LastSeen are packet times; Count the sessions seen.
	FirstSeen, LastSeen time.Time
	Count               uint64
	// Certificate: certificate and server_certificate only.
	Certificate *InventoryCertificate
}

// InventoryCertificate is what the inventory keeps of a certificate.
type InventoryCertificate struct {
	SHA256              string
	Subject, Issuer     string // RFC 4514
	NotBefore, NotAfter time.Time
	AlternativeNames    []string
	SelfSigned          bool
}

// ProfileLen is how many payload sizes a Profile keeps.
const ProfileLen = 16

// SmallPayload is the largest payload Profile.Small counts, in bytes.
const SmallPayload = 256

// Profile is the shape of a TCP flow once it was bypassed (both directions
// encrypted, the parser done): what the tunnel heuristics read. Capture
// fills it per packet at the cost of a few increments.
type Profile struct {
	// Payloads counts the bypassed packets that carried payload, Small
	// those of at most SmallPayload bytes, Bytes their payload bytes, per
	// direction: [0] from the client, [1] from the server.
	Payloads, Small [2]uint32
	Bytes           [2]uint64
	// First are the payload sizes of the first N such packets, in order:
	// positive from the client, negative from the server.
	First [ProfileLen]int16
	N     uint8
}
