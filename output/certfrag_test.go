package output

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// TestCertFragments: sessions whose certificates (leaf and chain)
// alternate, repeat, share a slot or are too long to keep encode as a fresh
// Encoder encodes each alone, in lean and full detail, with alerts
// (triage) and without.
func TestCertFragments(t *testing.T) {
	many := *leafCert
	for i := range 300 { // a fragment over maxCertFragment
		many.AlternativeNames = append(many.AlternativeNames, fmt.Sprintf("host-%03d.example.test", i))
	}
	other := *leafCert
	other.Subject, other.SHA256 = "CN=other.example.test", "00"+leafCert.SHA256[2:]
	certs := []*tlsparse.CertSummary{leafCert, &other, leafCert, &many, &many, brokenCert, leafCert, &other}
	// Summaries that land in one slot: the cache must still tell them apart.
	var st encodeState
	for len(certs) < 40 {
		c := *leafCert
		c.Subject = fmt.Sprintf("CN=slot-%d.example.test", len(certs))
		if st.frags.slot(unsafe.Pointer(&c), fragServer) == st.frags.slot(unsafe.Pointer(leafCert), fragServer) {
			certs = append(certs, &c, leafCert)
		} else {
			certs = append(certs, &c)
		}
	}
	for _, detail := range []Detail{DetailLean, DetailFull} {
		enc := NewEncoder(testObserver)
		enc.SetDetail(detail)
		var sc Scratch
		for i, c := range certs {
			s, v := sessionTLS12(), verdictLegacy()
			s.Certificates = []*tlsparse.CertSummary{c, certs[(i+1)%len(certs)]} // a chain element too
			fresh := NewEncoder(testObserver)
			fresh.SetDetail(detail)
			want := fresh.Encode(s, v)
			got := enc.EncodeScratch(&sc, s, v)
			if len(got) != len(want) {
				t.Fatalf("%v, certificate %d: %d documents, want %d", detail, i, len(got), len(want))
			}
			for j := range want {
				if !bytes.Equal(got[j].Body, want[j].Body) {
					t.Errorf("%v, certificate %d, document %d:\n got %s\nwant %s", detail, i, j, got[j].Body, want[j].Body)
				}
			}
		}
	}
}

// TestCertFragmentsTwoWays: of two summaries whose fragments share a set,
// keeping the second does not evict the first.
func TestCertFragmentsTwoWays(t *testing.T) {
	var st encodeState
	a := unsafe.Pointer(leafCert)
	f := st.frags.slot(a, fragServer)
	f.keep(a, fragServer, []byte("a"))
	for {
		b := unsafe.Pointer(new(tlsparse.CertSummary))
		if st.frags.slot(b, fragServer) != st.frags.slot(a, fragServer) {
			continue
		}
		if f = st.frags.slot(b, fragServer); f.holds(b, fragServer) {
			t.Fatal("a summary never kept is found")
		}
		f.keep(b, fragServer, []byte("b"))
		break
	}
	if f = st.frags.slot(a, fragServer); !f.holds(a, fragServer) || string(f.b) != "a" {
		t.Errorf("the first summary's fragment is gone: %q", f.b)
	}
}

// TestRuleFragments: alerts of rules that repeat, alternate or are equal
// copies, written with one Scratch by a lean and a full Encoder in turn,
// encode as a fresh Encoder encodes each alone.
func TestRuleFragments(t *testing.T) {
	other := *ruleDeprecated
	other.Name, other.Version = "Another rule", "7"
	copied := *ruleDeprecated
	rules := []*detect.Rule{ruleDeprecated, &other, ruleDeprecated, ruleHeartbleed, &copied, &other, ruleDeprecated}
	lean, full := NewEncoder(testObserver), NewEncoder(testObserver)
	full.SetDetail(DetailFull)
	var sc Scratch
	for i, r := range rules {
		for _, detail := range []Detail{DetailLean, DetailFull, DetailLean} {
			enc := lean
			if detail == DetailFull {
				enc = full
			}
			s, v := sessionTLS12(), verdictLegacy()
			v.Alerts[0].Rule = r
			fresh := NewEncoder(testObserver)
			fresh.SetDetail(detail)
			want := fresh.Encode(s, v)
			got := enc.EncodeScratch(&sc, s, v)
			if len(got) != len(want) {
				t.Fatalf("rule %d: %d documents, want %d", i, len(got), len(want))
			}
			for j := range want {
				if !bytes.Equal(got[j].Body, want[j].Body) {
					t.Errorf("rule %d, document %d:\n got %s\nwant %s", i, j, got[j].Body, want[j].Body)
				}
			}
		}
	}
}
