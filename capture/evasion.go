package capture

import (
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// fragOverlap is a flow's first IP fragment overlap with different bytes.
type fragOverlap struct {
	seen        bool
	off, length uint16
}

// note records p's fragment overlap, if it has one and none was recorded.
func (o *fragOverlap) note(p *Packet) {
	if p.FragOverlapLength > 0 && !o.seen {
		*o = fragOverlap{seen: true, off: p.FragOverlapOffset, length: p.FragOverlapLength}
	}
}

// evasionFacts adds f's overlap anomalies (tcp_overlap, ip_fragment_overlap)
// and where the bytes differed to s, whose client is side cs. For TCP, the
// client's direction is reported when both had one.
func evasionFacts(f *flow, cs int8, s *session.Session) {
	for _, side := range [2]int8{cs, 1 - cs} {
		if h := &f.half[side]; h.overlap {
			s.Anomalies.Add(tlsparse.AnomalyTCPOverlap)
			s.Evasion.OverlapClient = side == cs
			s.Evasion.OverlapOffset = int64(h.ovOff)
			s.Evasion.OverlapLength = int(h.ovLen)
			break
		}
	}
	if f.fragOv.seen {
		s.Anomalies.Add(tlsparse.AnomalyIPFragmentOverlap)
		s.Evasion.FragmentOverlapOffset = int(f.fragOv.off)
		s.Evasion.FragmentOverlapLength = int(f.fragOv.length)
	}
}
