package inventory

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// Kind is what an inventory item records.
type Kind uint8

const (
	// ClientJA4 is a client's JA4 fingerprint (Key.Value).
	ClientJA4 Kind = iota + 1
	// ClientJA3 is a client's JA3 hash (Key.Value).
	ClientJA3
	// Certificate is a server's leaf certificate (Key.Value is its SHA-256,
	// uppercase hex, as tlsparse gives it).
	Certificate
	// ServerCertificate is a (server address and port, SNI) → certificate
	// pair (Key.Value is the certificate's SHA-256).
	ServerCertificate

	numKinds = int(ServerCertificate) + 1
)

var kindNames = [...]string{
	ClientJA4:         "client_ja4",
	ClientJA3:         "client_ja3",
	Certificate:       "certificate",
	ServerCertificate: "server_certificate",
}

// String is the kind's name in documents: "client_ja4", "client_ja3",
// "certificate", "server_certificate".
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Key identifies an item. It is comparable and is the inventory's map key.
type Key struct {
	Kind   Kind
	Value  string         // fingerprint, or certificate SHA-256
	Server netip.AddrPort // ServerCertificate only
	SNI    string         // ServerCertificate only; empty when the client sent none
}

// CertInfo is what the inventory keeps of a certificate.
type CertInfo struct {
	SHA256              string // uppercase hex of the DER
	Subject, Issuer     string // RFC 4514
	NotBefore, NotAfter time.Time
	AlternativeNames    []string
	// SelfSigned: subject equals issuer and the authority key id, when
	// present, equals the subject key id.
	SelfSigned bool
}

// Item is one inventory entry: what was seen, when first and last (packet
// time), and how many sessions saw it. It is the content of one
// tlsentry.inventory document.
type Item struct {
	Key
	Certificate *CertInfo // Certificate and ServerCertificate; shared, read-only
	FirstSeen   time.Time
	LastSeen    time.Time
	Count       uint64
}

func certInfo(c *tlsparse.CertSummary) *CertInfo {
	ci := &CertInfo{
		SHA256:           c.SHA256,
		Subject:          c.Subject,
		Issuer:           c.Issuer,
		NotBefore:        c.NotBefore,
		NotAfter:         c.NotAfter,
		AlternativeNames: slices.Clone(c.AlternativeNames),
	}
	ci.SelfSigned = c.Subject != "" && c.Subject == c.Issuer
	if ci.SelfSigned && c.Cert != nil && len(c.Cert.AuthorityKeyId) > 0 &&
		!bytes.Equal(c.Cert.AuthorityKeyId, c.Cert.SubjectKeyId) {
		ci.SelfSigned = false
	}
	return ci
}

// ChangeKind tells how a server's new certificate relates to the one it
// showed before.
type ChangeKind uint8

const (
	// First: no certificate of this (server, SNI) was known.
	First ChangeKind = iota
	// Renewal: same issuer, subject and names, and the new one is newer
	// (later not_before) or the previous one was near expiry.
	Renewal
	// Change: anything else; Reasons says what.
	Change
)

var changeNames = [...]string{First: "first", Renewal: "renewal", Change: "change"}

// String is "first", "renewal" or "change".
func (c ChangeKind) String() string {
	if int(c) < len(changeNames) {
		return changeNames[c]
	}
	return "unknown"
}

// Reason is a set of ways a certificate differs from the previous one.
type Reason uint16

const (
	IssuerChanged    Reason = 1 << iota // a different issuer
	SubjectChanged                      // a different subject
	NamesChanged                        // a different set of subject alternative names
	BecameSelfSigned                    // self-signed where the previous one was not
	NotNewer                            // not_before not later, and the previous one was not near expiry
)

var reasonNames = []string{"issuer_changed", "subject_changed", "names_changed", "became_self_signed", "not_newer"}

// Strings lists the reasons' names, e.g. ["issuer_changed"].
func (r Reason) Strings() []string {
	var out []string
	for i, n := range reasonNames {
		if r&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// CertificateChange is a (server, SNI) → certificate pair seen for the
// first time.
type CertificateChange struct {
	Server      netip.AddrPort
	SNI         string
	Certificate *CertInfo
	Previous    *CertInfo // the server's certificate before; nil when First
	Change      ChangeKind
	Reasons     Reason // Change only
}

// classify compares a server's new certificate with its previous one at
// packet time t.
func classify(prev, cur *CertInfo, t time.Time, window time.Duration) (ChangeKind, Reason) {
	if prev == nil {
		return First, 0
	}
	var r Reason
	if prev.Issuer != cur.Issuer {
		r |= IssuerChanged
	}
	if prev.Subject != cur.Subject {
		r |= SubjectChanged
	}
	if !sameNames(prev.AlternativeNames, cur.AlternativeNames) {
		r |= NamesChanged
	}
	if cur.SelfSigned && !prev.SelfSigned {
		r |= BecameSelfSigned
	}
	nearExpiry := !prev.NotAfter.IsZero() && prev.NotAfter.Sub(t) <= window
	if !cur.NotBefore.After(prev.NotBefore) && !nearExpiry {
		r |= NotNewer
	}
	if r == 0 {
		return Renewal, 0
	}
	return Change, r
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if slices.Equal(a, b) {
		return true
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
