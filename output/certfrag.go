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
// most maxCertFragment bytes each, per encodeState.
type certFragments [certFragmentSlots]certFragment

const (
	certFragmentSlots = 32
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

// slot returns the slot for c's fragment of kind k (the kinds of one
// certificate sit side by side).
func (f *certFragments) slot(c *tlsparse.CertSummary, k fragKind) *certFragment {
	h := uint64(uintptr(unsafe.Pointer(c))) * 0x9e3779b97f4a7c15 // Fibonacci hashing
	return &f[(h>>(64-5)+uint64(k))%certFragmentSlots]
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
