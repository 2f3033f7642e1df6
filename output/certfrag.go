package output

import (
	"unsafe"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// certFragments keeps encoded fields of recent certificates: what
// serverCert and chainElem write depends on the summary alone. A slot is
// found by the summary's address and holds the summary, so a hit is exact:
// summaries are never modified, and one a slot holds cannot be freed and
// its address reused. The cache is fixed: certFragmentSlots slots of at
// most maxCertFragment bytes each, per encodeState, in sets of two, so two
// busy certificates whose fragments hash alike do not evict each other.
type certFragments [certFragmentSlots]certFragment

const (
	certFragmentSlots   = 2 << certFragmentSetBits
	certFragmentSetBits = 4
	// maxCertFragment is the largest fragment kept: a certificate with
	// thousands of names is written each time instead of pinned.
	maxCertFragment = 4 << 10
)

// fragKind says which fields a fragment holds.
type fragKind uint8

const (
	fragServer       fragKind = iota // tls.server's fields of the leaf
	fragServerTriage                 // the same, triage mode
	fragChain                        // a tlsentry.server.chain element
)

type certFragment struct {
	cert *tlsparse.CertSummary
	kind fragKind
	b    []byte // the fields, as member expects them
}

// slot returns the slot that holds c's fragment of kind k or, if none
// does, the slot to keep it in: of its set, the one used longer ago. The
// slot it returns is its set's first, the one used last.
func (f *certFragments) slot(c *tlsparse.CertSummary, k fragKind) *certFragment {
	// Summaries are more than k bytes apart; Fibonacci hashing.
	h := (uint64(uintptr(unsafe.Pointer(c))) + uint64(k)) * 0x9e3779b97f4a7c15
	set := f[h>>(64-certFragmentSetBits)*2:][:2]
	if set[0].cert != c || set[0].kind != k {
		set[0], set[1] = set[1], set[0]
	}
	return &set[0]
}

// keep stores b as c's fragment of kind k, or empties the slot when b is
// too long to keep.
func (f *certFragment) keep(c *tlsparse.CertSummary, k fragKind, b []byte) {
	if len(b) > maxCertFragment {
		*f = certFragment{b: f.b[:0]}
		return
	}
	f.cert, f.kind, f.b = c, k, append(f.b[:0], b...)
}
