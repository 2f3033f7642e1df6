package output

import "unsafe"

// fragments keeps encoded fields of recent certificates and rules: what
// serverCert and chainElem write depends on the certificate's summary
// alone, what ruleFields writes on the rule alone. A slot is found by the
// summary's or rule's address and holds it, so a hit is exact: summaries
// and rules are never modified, and one a slot holds cannot be freed and
// its address reused. The cache is fixed: fragmentSlots slots of at most
// maxFragment bytes each, per encodeState, in sets of two, so two busy
// certificates whose fragments hash alike do not evict each other.
type fragments [fragmentSlots]fragment

const (
	fragmentSlots   = 2 << fragmentSetBits
	fragmentSetBits = 4
	// maxFragment is the largest fragment kept: a certificate with
	// thousands of names is written each time instead of pinned.
	maxFragment = 4 << 10
)

// fragKind says which fields a fragment holds.
type fragKind uint8

const (
	fragServer       fragKind = iota // tls.server's fields of the leaf
	fragServerTriage                 // the same, triage mode
	fragChain                        // a tlsentry.server.chain element
	fragRule                         // rule.* and message (ruleFields)
	fragRuleFull                     // the same, full detail
)

type fragment struct {
	key  unsafe.Pointer // the *tlsparse.CertSummary or *detect.Rule
	kind fragKind
	b    []byte // the fields, as member expects them
}

// slot returns the slot that holds key's fragment of kind k or, if none
// does, the slot to keep it in: of its set, the one used longer ago. The
// slot it returns is its set's first, the one used last.
func (f *fragments) slot(key unsafe.Pointer, k fragKind) *fragment {
	// Summaries and rules are more than k bytes apart; Fibonacci hashing.
	h := (uint64(uintptr(key)) + uint64(k)) * 0x9e3779b97f4a7c15
	set := f[h>>(64-fragmentSetBits)*2:][:2]
	if !set[0].holds(key, k) {
		set[0], set[1] = set[1], set[0]
	}
	return &set[0]
}

// holds reports whether f is key's fragment of kind k.
func (f *fragment) holds(key unsafe.Pointer, k fragKind) bool {
	return f.key == key && f.kind == k
}

// keep stores b as key's fragment of kind k, or empties the slot when b is
// too long to keep.
func (f *fragment) keep(key unsafe.Pointer, k fragKind, b []byte) {
	if len(b) > maxFragment {
		*f = fragment{b: f.b[:0]}
		return
	}
	f.key, f.kind, f.b = key, k, append(f.b[:0], b...)
}
