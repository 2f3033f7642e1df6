package detect

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// handshakeWorkload is synthetic traffic of a small network: TLS sessions
// spread evenly over span of packet time, from 2,000 clients to 300
// servers (certificates) chosen with a Zipf law, as real traffic repeats a
// few popular servers. Four servers in ten have a problem a built-in rule
// reports: a self-signed, an expired or a privately issued certificate, or
// TLS 1.0 with RSA key transport. Fifty virtual hosts share ten addresses
// (each its own certificate and SNI). Twenty scripted clients send no SNI
// to their three API servers. Sessions are in packet-time order.
func handshakeWorkload(t testing.TB, sessions int, span time.Duration) []*session.Session {
	t.Helper()
	const (
		servers = 300
		clients = 2000
	)
	p := getPKI(t)
	private := makeCert(t, certOpt{cn: "corp private CA", isCA: true}) // not in the trust store
	r := rand.New(rand.NewPCG(11, 11))
	type server struct {
		addr      netip.AddrPort
		sni, nosn *session.Session // with and without SNI
	}
	srv := make([]server, servers)
	for i := range srv {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(1 + i%250)})
		if i >= 250 { // virtual hosts: 50 names on 10 addresses
			ip = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i%10)})
		}
		name := fmt.Sprintf("s%d.example.test", i)
		opt := certOpt{cn: name, dns: []string{name}, key: "p256", issuer: p.inter}
		chain := []*testCert{p.inter}
		var mut func(h *tlsparse.Handshake)
		switch i % 10 {
		case 6:
			opt.selfSigned, opt.issuer, chain = true, nil, nil
		case 7:
			opt.issuer, chain = private, []*testCert{private}
		case 8:
			opt.notBefore = t0.AddDate(0, -6, 0) // 90 days: expired a quarter ago
		case 9:
			mut = func(h *tlsparse.Handshake) {
				h.ServerHello.LegacyVersion, h.ServerHello.CipherSuite, h.KeyExchange = 0x0301, 0x002f, nil
			}
		}
		leaf := makeCert(t, opt)
		base := testSession(t, withLeaf(leaf, chain...), func(s *session.Session) {
			s.Server = netip.AddrPortFrom(ip, 443)
			s.TLS.ClientHello.ServerName = name
			if mut != nil {
				mut(s.TLS)
			}
		})
		nosn := *base
		hs := *base.TLS
		ch := *hs.ClientHello
		ch.ServerName = ""
		ch.Extensions = slices.DeleteFunc(slices.Clone(ch.Extensions), func(e uint16) bool { return e == 0 })
		hs.ClientHello = &ch
		nosn.TLS = &hs
		nosn.Finish()
		srv[i] = server{addr: base.Server, sni: base, nosn: &nosn}
	}
	zipf := rand.NewZipf(r, 1.1, 1, servers-1)
	out := make([]*session.Session, 0, sessions)
	for i := 0; i < sessions; i++ {
		ts := t0.Add(time.Duration(int64(span) * int64(i) / int64(sessions)))
		var x session.Session
		if script := r.IntN(20) == 0; script {
			c := r.IntN(20)
			x = *srv[(c*7+r.IntN(3))%servers].nosn
			x.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(c)}), uint16(1024+r.IntN(60000)))
		} else {
			x = *srv[zipf.Uint64()].sni
			c := r.IntN(clients)
			x.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(c >> 8), byte(c)}), uint16(1024+r.IntN(60000)))
		}
		x.Start, x.End = ts, ts.Add(time.Duration(50+r.IntN(2000))*time.Millisecond)
		out = append(out, &x)
	}
	return out
}

type workloadAlert struct {
	rule, dst, cert string
	count           uint64
}

func runWorkload(t testing.TB, e *Engine, ss []*session.Session) []workloadAlert {
	var out []workloadAlert
	for _, s := range ss {
		for _, a := range e.Evaluate(s).Alerts {
			h := ""
			if len(s.Certificates) > 0 {
				h = s.Certificates[0].SHA256
			}
			out = append(out, workloadAlert{a.Rule.ID, s.Server.Addr().String(), h, a.Count})
		}
	}
	return out
}

// TestSuppressWorkload measures the cut: go test ./detect -run TestSuppressWorkload -v
// The cut is the number of matches per key per window, so it follows the
// rate: 72,000 sessions over three hours (6.7 a second, three windows of
// every key) are judged; 24,000 over three hours (2.2 a second) are logged.
func TestSuppressWorkload(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, c := range []struct {
		sessions int
		span     time.Duration
		want     float64
	}{{72000, 3 * time.Hour, 20}, {24000, 3 * time.Hour, 0}} {
		t.Run(fmt.Sprintf("%d/%s", c.sessions, c.span), func(t *testing.T) {
			ratio := suppressWorkload(t, handshakeWorkload(t, c.sessions, c.span))
			if ratio < c.want {
				t.Errorf("alerts cut %.1f-fold, want at least %.0f", ratio, c.want)
			}
		})
	}
}

func suppressWorkload(t *testing.T, ss []*session.Session) float64 {
	newEngine := func(suppress bool) *Engine {
		e, err := New(Config{Roots: getPKI(t).pool, Suppress: suppress})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	all := runWorkload(t, newEngine(false), ss)
	e := newEngine(true)
	cut := runWorkload(t, e, ss)
	type combo struct{ rule, dst, cert string }
	before, after := map[combo]bool{}, map[combo]bool{}
	perRule := map[string][2]int{}
	for _, a := range all {
		before[combo{a.rule, a.dst, a.cert}] = true
		n := perRule[a.rule]
		n[0]++
		perRule[a.rule] = n
	}
	var carried uint64
	for _, a := range cut {
		after[combo{a.rule, a.dst, a.cert}] = true
		carried += a.count
		n := perRule[a.rule]
		n[1]++
		perRule[a.rule] = n
	}
	for c := range before {
		if !after[c] {
			t.Errorf("%v alerted without suppression, not with it", c)
		}
	}
	if len(cut) == 0 {
		t.Fatal("no alerts")
	}
	ratio := float64(len(all)) / float64(len(cut))
	st := e.Stats()
	var held uint64
	for _, n := range st.Suppressed {
		held += n
	}
	t.Logf("%d sessions: %d alerts without suppression, %d with it (%.1f-fold); %d distinct (rule, destination.ip, tls.server.hash.sha256), all still alerted",
		len(ss), len(all), len(cut), ratio, len(before))
	t.Logf("alerts carry %d matches in Count; %d held back, %d of them not yet carried; limiter %+v", carried, held, uint64(len(all))-carried, st.Limiter)
	ids := make([]string, 0, len(perRule))
	for id := range perRule {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t.Logf("  %-24s %6d -> %d", id, perRule[id][0], perRule[id][1])
	}
	if carried > uint64(len(all)) || st.Alerts+held != uint64(len(all)) {
		t.Errorf("counts do not add up: %d alerts + %d held back, %d carried, %d matches", st.Alerts, held, carried, len(all))
	}
	// One worker: the same alerts on a second run.
	if again := runWorkload(t, newEngine(true), ss); !slices.Equal(again, cut) {
		t.Error("a second run gave other alerts")
	}
	return ratio
}
