package detect

import (
	"fmt"
	"time"

	"github.com/tlsentry/tlsentry/session"
)

// Tunnel heuristics over a TCP session's bypassed payload profile
// (session.Profile), read by anomaly.tls_tunnel. Like nDPI's obfuscation
// heuristics they judge shape, not content: what a session does after its
// TLS handshake.
const (
	// A long flow: at least tunnelMinDuration long, tunnelMinPayloads
	// payload packets each way, at least tunnelSmallShare of them small
	// (session.SmallPayload bytes or less) each way, the two directions'
	// packet counts within a factor of two, and tunnelMinRate payload
	// packets a second over the whole flow (steady, not one burst and a
	// long idle).
	tunnelMinDuration = 60 * time.Second
	tunnelMinPayloads = 50
	tunnelSmallShare  = 0.8
	tunnelMinRate     = 0.5

	// TLS in TLS: among the first flights after the outer handshake, a
	// client flight of one packet the size of an inner ClientHello record
	// (plus the outer record's overhead), a server flight as large as an
	// inner server flight with certificates (its first packet full), then
	// a client flight whose first packet is as small as an inner Finished
	// (TLS 1.3) or ClientKeyExchange, ChangeCipherSpec and Finished (TLS
	// 1.2), and more packets after it (the inner connection's data). Known
	// false
	// positives: an HTTP/2 or HTTP/1.1 exchange of the same shape (a
	// request of ClientHello size, a response whose first packet is full,
	// then a small client frame such as WINDOW_UPDATE, then more data).
	innerHelloMin, innerHelloMax       = 200, 1800
	innerServerMin                     = 800
	innerServerFirstMin                = 600 // its first packet: ServerHello and certificates leave in one write
	innerFinishedMin, innerFinishedMax = 40, 200
	innerSearchFlights                 = 4 // the client hello flight starts among the first flights
)

type tunnelFacts struct{ kind, reason string }

// tunnel judges s: kind "long_flow" or "tls_in_tls", reason the evidence;
// both "" for neither.
func tunnel(s *session.Session) tunnelFacts {
	if s.Transport != session.TCP || s.Protocol != session.TLS {
		return tunnelFacts{}
	}
	p := &s.Profile
	if r := innerHandshake(p); r != "" {
		return tunnelFacts{"tls_in_tls", r}
	}
	if r := longFlow(p, s.Start, s.End); r != "" {
		return tunnelFacts{"long_flow", r}
	}
	return tunnelFacts{}
}

// longFlow is the long-lived steady two-way flow reason, "" if the
// session from start to end is not one. The payload counts, which rule
// out most sessions, come before the duration's time arithmetic.
func longFlow(p *session.Profile, start, end time.Time) string {
	c, sv := p.Payloads[0], p.Payloads[1]
	if c < tunnelMinPayloads || sv < tunnelMinPayloads || c > 2*sv || sv > 2*c {
		return ""
	}
	d := end.Sub(start)
	if d < tunnelMinDuration {
		return ""
	}
	cs, ss := float64(p.Small[0])/float64(c), float64(p.Small[1])/float64(sv)
	rate := float64(c+sv) / d.Seconds()
	if cs < tunnelSmallShare || ss < tunnelSmallShare || rate < tunnelMinRate {
		return ""
	}
	return fmt.Sprintf("long-lived steady two-way flow: %.0f s, %d client and %d server payload packets (%.1f/s), %.0f%% and %.0f%% of them at most %d bytes (mean %d and %d bytes)",
		d.Seconds(), c, sv, rate, 100*cs, 100*ss, session.SmallPayload, p.Bytes[0]/uint64(c), p.Bytes[1]/uint64(sv))
}

// flight is consecutive payload packets from one side.
type flight struct {
	client  bool
	packets int
	bytes   int
	first   int // the first packet's payload bytes
}

// flights groups p's first payloads by direction into buf (no allocation:
// at most ProfileLen flights).
func flights(p *session.Profile, buf *[session.ProfileLen]flight) []flight {
	out := buf[:0]
	for _, v := range p.First[:p.N] {
		c := v > 0
		n := int(v)
		if !c {
			n = -n
		}
		if len(out) > 0 && out[len(out)-1].client == c {
			out[len(out)-1].packets++
			out[len(out)-1].bytes += n
			continue
		}
		out = append(out, flight{client: c, packets: 1, bytes: n, first: n})
	}
	return out
}

func innerHandshake(p *session.Profile) string {
	var buf [session.ProfileLen]flight
	fl := flights(p, &buf)
	for i := 0; i+2 < len(fl) && i < innerSearchFlights; i++ {
		h, sf, fin := fl[i], fl[i+1], fl[i+2]
		if !h.client || h.packets != 1 || h.bytes < innerHelloMin || h.bytes > innerHelloMax {
			continue
		}
		if sf.bytes < innerServerMin || sf.first < innerServerFirstMin || fin.first < innerFinishedMin || fin.first > innerFinishedMax {
			continue
		}
		// The inner connection carries data afterwards: more packets.
		if fin.packets == 1 && i+3 >= len(fl) {
			continue
		}
		return fmt.Sprintf("TLS inside TLS: after the handshake, a %d-byte client packet (an inner ClientHello), %d server bytes in %d packets (an inner server flight), a %d-byte client packet (an inner Finished), then data",
			h.bytes, sf.bytes, sf.packets, fin.first)
	}
	return ""
}

func (a *activation) tunnelFacts() tunnelFacts {
	if a.done&doneTunnel == 0 {
		a.done |= doneTunnel
		a.tunnelv = tunnel(a.s)
	}
	return a.tunnelv
}

// expiring is tlsentry.server.x509.expiring_soon: the leaf is valid at
// packet time and expires within the engine's window.
func (a *activation) expiring() bool {
	if a.leaf == nil || a.s.Start.IsZero() {
		return false
	}
	t := a.s.Start
	return !t.Before(a.leaf.NotBefore) && !t.After(a.leaf.NotAfter) && a.leaf.NotAfter.Sub(t) <= a.e.expiringWindow
}

// daysLeft is tlsentry.server.x509.days_left: days from the session's
// start to the leaf's not_after (negative once expired).
func (a *activation) daysLeft() float64 {
	if a.leaf == nil || a.s.Start.IsZero() {
		return 0
	}
	return a.leaf.NotAfter.Sub(a.s.Start).Hours() / 24
}

var noInventory session.Inventory

// inv is the session's inventory facts (empty without an inventory).
func (a *activation) inv() *session.Inventory {
	if a.s.Inventory == nil {
		return &noInventory
	}
	return a.s.Inventory
}
