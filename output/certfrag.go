package output

import (
	"unsafe"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// certFragments keeps the encoded tls.server certificate fields of recent
// leaf certificates (encodeState.certs; serverCert writes and reads them).
// A slot is found by the summary's address and holds the summary, so a hit
// is exact: summaries are never modified, and one a slot holds cannot be
// freed and its address reused. The cache is fixed: certFragmentSlots
// slots of at most maxCertFragment bytes each, per encodeState.
type certFragments [certFragmentSlots]certFragment

const (
	certFragmentSlots = 32
	// maxCertFragment is the largest fragment kept: a certificate with
	// thousands of names is written each time instead of pinned.
	maxCertFragment = 4 << 10
)

type certFragment struct {
	cert   *tlsparse.CertSummary
	triage bool   // written in triage mode
	b      []byte // the fields, as member expects them
}

// slot returns the slot for c in the given mode (lean and triage
// fragments of one certificate sit side by side).
func (f *certFragments) slot(c *tlsparse.CertSummary, triage bool) *certFragment {
	h := uint64(uintptr(unsafe.Pointer(c))) * 0x9e3779b97f4a7c15 // Fibonacci hashing
	i := h >> (64 - 5) &^ 1
	if triage {
		i |= 1
	}
	return &f[i]
}

// keep stores b as the fragment of c, or empties the slot when b is too
// long to keep.
func (f *certFragment) keep(c *tlsparse.CertSummary, triage bool, b []byte) {
	if len(b) > maxCertFragment {
		*f = certFragment{b: f.b[:0]}
		return
	}
	f.cert, f.triage, f.b = c, triage, append(f.b[:0], b...)
}
