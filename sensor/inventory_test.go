package sensor

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/inventory"
	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/session"
)

// These tests write captures with internal/tlsgen and internal/pcapgen,
// replay them through a sensor with an inventory and the built-in rules,
// and look at the alerts of the rules of issue 13.

var invT0 = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// gconv is one generated TCP connection.
type gconv struct {
	name   string
	at     time.Duration // start, after invT0
	server string        // address:port
	sni    string
	chain  []*tlsgen.Cert // server chain, leaf first; nil: the default leaf
	// client tweaks the client's configuration (cipher suites change the
	// JA3 and JA4).
	client func(*tls.Config)
	tls13  bool
	// after writes more records once the handshake (and, without
	// noRequest, an HTTP exchange) is done.
	after     func(send func(d pcapgen.Dir, b []byte), clock *pcapgen.Clock)
	noRequest bool
}

type certs struct {
	ca1, ca2 *tlsgen.Cert
	t        *testing.T
}

func newCerts(t *testing.T) *certs {
	c := &certs{t: t}
	c.ca1 = c.issue(tlsgen.CertSpec{Name: "ca1", CommonName: "Test CA 1", Org: "Test", CA: true,
		NotBefore: invT0.AddDate(-1, 0, 0), NotAfter: invT0.AddDate(5, 0, 0)}, nil)
	c.ca2 = c.issue(tlsgen.CertSpec{Name: "ca2", CommonName: "Other CA 2", Org: "Other", CA: true,
		NotBefore: invT0.AddDate(-1, 0, 0), NotAfter: invT0.AddDate(5, 0, 0)}, nil)
	return c
}

func (c *certs) issue(spec tlsgen.CertSpec, issuer *tlsgen.Cert) *tlsgen.Cert {
	c.t.Helper()
	if spec.Key == "" {
		spec.Key = tlsgen.P256
	}
	key, err := tlsgen.GenerateKey(spec.Key, rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	cert, err := tlsgen.Issue(spec, key, issuer, rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	return cert
}

// leaf issues a server certificate for name valid from nb for days.
func (c *certs) leaf(name string, issuer *tlsgen.Cert, nb time.Time, days int) []*tlsgen.Cert {
	l := c.issue(tlsgen.CertSpec{Name: name, CommonName: name, DNSNames: []string{name},
		NotBefore: nb, NotAfter: nb.Add(time.Duration(days) * 24 * time.Hour)}, issuer)
	if issuer == nil {
		return []*tlsgen.Cert{l}
	}
	return []*tlsgen.Cert{l, issuer}
}

// writeCapture writes convs, in order, to a new capture file.
func writeCapture(t *testing.T, cs *certs, convs []gconv) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	w, err := pcapgen.Create(path, pcapgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := pcapgen.NewClock(invT0, time.Millisecond)
	var def []*tlsgen.Cert
	for i, c := range convs {
		if d := invT0.Add(c.at); clock.T.Before(d) {
			clock.T = d
		}
		chain := c.chain
		if chain == nil {
			if def == nil {
				def = cs.leaf("www.example.com", cs.ca1, invT0.AddDate(0, -1, 0), 365)
			}
			chain = def
		}
		client := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(40000+i))
		cv, err := w.NewConv(pcapgen.ConvConfig{Client: client, Server: netip.MustParseAddrPort(c.server), Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := cv.Handshake(); err != nil {
			t.Fatal(err)
		}
		send := func(d pcapgen.Dir, b []byte) {
			if len(b) == 0 {
				return
			}
			if err := cv.Emit(cv.Segments(d, b, 0)...); err != nil {
				t.Fatal(err)
			}
			if err := cv.Ack(1 - d); err != nil {
				t.Fatal(err)
			}
		}
		ccfg := &tls.Config{ServerName: c.sni, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
		scfg := &tls.Config{Certificates: []tls.Certificate{chain[0].TLS(chain[1:]...)}, MaxVersion: tls.VersionTLS12,
			SessionTicketsDisabled: true}
		if c.tls13 {
			ccfg.MaxVersion, scfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
			ccfg.CurvePreferences = []tls.CurveID{tls.X25519}
			scfg.CurvePreferences = []tls.CurveID{tls.X25519}
		}
		if c.client != nil {
			c.client(ccfg)
		}
		opt := tlsgen.Options{Client: ccfg, Server: scfg, Seed: uint64(i + 1), Time: clock.T}
		if !c.noRequest {
			opt.Request, opt.Response = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
		tr, err := tlsgen.Run(opt)
		if err != nil {
			t.Fatal(err)
		}
		if tr.ClientErr != nil || tr.ServerErr != nil {
			t.Fatalf("%s: handshake: client %v, server %v", c.name, tr.ClientErr, tr.ServerErr)
		}
		for _, ev := range tr.Events {
			d := ev.Dir()
			send(d, ev.Data)
		}
		if c.after != nil {
			c.after(send, clock)
		}
		if err := cv.Close(pcapgen.ClientToServer); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// firing is one session's alerts of the rules looked at.
type firing struct {
	client  netip.AddrPort
	rule    string
	message string
}

var issue13Rules = []string{"inventory.new_client_fingerprint", "inventory.new_server_certificate",
	"cert.expiring_soon", "policy.dns_over_https", "anomaly.tls_tunnel"}

// replay runs path through a sensor with inv (nil: none) and returns the
// alerts of issue13Rules, in session order, and the inventory documents.
func replay(t *testing.T, path string, inv *inventory.Inventory, dc detect.Config) ([]firing, []output.Document, []*session.Session) {
	t.Helper()
	if dc.Roots == nil {
		dc.Roots = []*x509.Certificate{}
	}
	e, err := detect.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []firing
	var sessions []*session.Session
	sink := &docSink{}
	cfg := Config{Capture: capture.Config{Workers: 1}, Judge: e, Sinks: Sinks{NewSink("rec", sink)},
		OnVerdict: func(s *session.Session, v detect.Verdict) {
			mu.Lock()
			defer mu.Unlock()
			sessions = append(sessions, s)
			for _, a := range v.Alerts {
				if slices.Contains(issue13Rules, a.Rule.ID) {
					out = append(out, firing{s.Client, a.Rule.ID, a.Message})
				}
			}
		}}
	if inv != nil {
		cfg.Stages = []Stage{inv}
	}
	if _, err := New(cfg).Run(context.Background(), openCapture(t, path)); err != nil {
		t.Fatal(err)
	}
	var docs []output.Document
	for _, d := range sink.docs {
		if d.Dataset == output.DatasetInventory {
			docs = append(docs, d)
		}
	}
	return out, docs, sessions
}

type docSink struct {
	mu   sync.Mutex
	docs []output.Document
}

func (s *docSink) Write(_ context.Context, docs ...output.Document) error {
	s.mu.Lock()
	s.docs = append(s.docs, docs...)
	s.mu.Unlock()
	return nil
}

func (s *docSink) Close(context.Context) error { return nil }

func openInv(t *testing.T, dir string, learning time.Duration) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Open(dir, inventory.Options{LearningPeriod: learning})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func byRule(fs []firing, rule string) []firing {
	var out []firing
	for _, f := range fs {
		if f.rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func client(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(40000+i))
}

// otherSuites gives a client another JA3 and JA4.
func otherSuites(c *tls.Config) {
	c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305}
}

func TestInventoryFirstSeenOnce(t *testing.T) {
	cs := newCerts(t)
	path := writeCapture(t, cs, []gconv{
		{name: "first", server: "198.51.100.1:443", sni: "www.example.com"},
		{name: "same again", at: time.Minute, server: "198.51.100.1:443", sni: "www.example.com"},
		{name: "new client", at: 2 * time.Minute, server: "198.51.100.1:443", sni: "www.example.com", client: otherSuites},
	})
	dir := t.TempDir()
	inv := openInv(t, dir, -1)
	got, docs, _ := replay(t, path, inv, detect.Config{})
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
	fp := byRule(got, "inventory.new_client_fingerprint")
	if len(fp) != 2 || fp[0].client != client(0) || fp[1].client != client(2) {
		t.Errorf("new_client_fingerprint: %+v, want sessions 0 and 2", fp)
	}
	sc := byRule(got, "inventory.new_server_certificate")
	if len(sc) != 1 || sc[0].client != client(0) || !strings.HasPrefix(sc[0].message, "first certificate seen for www.example.com (198.51.100.1:443)") {
		t.Errorf("new_server_certificate: %+v", sc)
	}
	// JA4, JA3, certificate, pair; then the new client's JA4 and JA3.
	if len(docs) != 6 {
		t.Errorf("%d inventory documents, want 6", len(docs))
	}

	// A second replay into the same state directory finds nothing new.
	inv = openInv(t, dir, -1)
	defer inv.Close()
	got, docs, _ = replay(t, path, inv, detect.Config{})
	if n := len(byRule(got, "inventory.new_client_fingerprint")) + len(byRule(got, "inventory.new_server_certificate")); n != 0 || len(docs) != 0 {
		t.Errorf("second replay: %d first-seen alerts %+v, %d inventory documents; want none", n, got, len(docs))
	}
}

func TestInventoryLearningPeriod(t *testing.T) {
	cs := newCerts(t)
	path := writeCapture(t, cs, []gconv{
		{name: "learning", server: "198.51.100.1:443", sni: "www.example.com"},
		{name: "still learning", at: 59 * time.Minute, server: "198.51.100.2:443", sni: "www.example.com", client: otherSuites},
		{name: "after", at: 61 * time.Minute, server: "198.51.100.3:443", sni: "www.example.com",
			client: func(c *tls.Config) { c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384} }},
	})
	inv := openInv(t, t.TempDir(), time.Hour)
	defer inv.Close()
	got, docs, sessions := replay(t, path, inv, detect.Config{})
	fp := byRule(got, "inventory.new_client_fingerprint")
	if len(fp) != 1 || fp[0].client != client(2) {
		t.Errorf("new_client_fingerprint: %+v, want only the session after the learning hour", fp)
	}
	sc := byRule(got, "inventory.new_server_certificate")
	if len(sc) != 1 || sc[0].client != client(2) {
		t.Errorf("new_server_certificate: %+v, want only the session after the learning hour", sc)
	}
	if !sessions[0].Inventory.Learning || !sessions[1].Inventory.Learning || sessions[2].Inventory.Learning {
		t.Errorf("learning flags %v %v %v", sessions[0].Inventory.Learning, sessions[1].Inventory.Learning, sessions[2].Inventory.Learning)
	}
	// Items learned are still documented.
	if len(docs) < 8 {
		t.Errorf("%d inventory documents, want every item first seen (learning too)", len(docs))
	}
}

func TestInventoryRenewalVersusChange(t *testing.T) {
	cs := newCerts(t)
	nb := invT0.AddDate(0, -2, 0)
	first := cs.leaf("shop.example", cs.ca1, nb, 90)
	renewed := cs.leaf("shop.example", cs.ca1, nb.AddDate(0, 1, 0), 90)
	otherCA := cs.leaf("shop.example", cs.ca2, nb.AddDate(0, 1, 1), 90)
	self := cs.leaf("shop.example", nil, nb.AddDate(0, 1, 2), 90)
	path := writeCapture(t, cs, []gconv{
		{name: "first", server: "198.51.100.9:443", sni: "shop.example", chain: first},
		{name: "renewed", at: time.Hour, server: "198.51.100.9:443", sni: "shop.example", chain: renewed},
		{name: "other CA", at: 2 * time.Hour, server: "198.51.100.9:443", sni: "shop.example", chain: otherCA},
		{name: "self-signed", at: 3 * time.Hour, server: "198.51.100.9:443", sni: "shop.example", chain: self},
	})
	inv := openInv(t, t.TempDir(), -1)
	defer inv.Close()
	got, _, sessions := replay(t, path, inv, detect.Config{})
	sc := byRule(got, "inventory.new_server_certificate")
	if len(sc) != 4 {
		t.Fatalf("new_server_certificate: %d alerts %+v, want 4", len(sc), sc)
	}
	wantChange := []string{"first", "renewal", "change", "change"}
	wantMsg := []string{"first certificate seen for", "certificate renewed by", "certificate changed by shop.example (198.51.100.9:443) (issuer_changed)",
		"certificate changed by shop.example (198.51.100.9:443) (issuer_changed, became_self_signed)"}
	for i, s := range sessions {
		if s.Inventory.Change != wantChange[i] {
			t.Errorf("session %d: change %q, want %q", i, s.Inventory.Change, wantChange[i])
		}
		if !strings.HasPrefix(sc[i].message, wantMsg[i]) {
			t.Errorf("session %d: message %q, want it to start %q", i, sc[i].message, wantMsg[i])
		}
	}
	if !strings.Contains(sc[3].message, "(self-signed)") || !strings.Contains(sc[2].message, "before issued by CN=Test CA 1") {
		t.Errorf("messages: %q, %q", sc[2].message, sc[3].message)
	}
}

func TestExpiringSoon(t *testing.T) {
	cs := newCerts(t)
	path := writeCapture(t, cs, []gconv{
		{name: "expires in 10 days", server: "198.51.100.1:443", sni: "soon.example", chain: cs.leaf("soon.example", cs.ca1, invT0.AddDate(0, 0, -80), 90)},
		{name: "expires in 60 days", server: "198.51.100.2:443", sni: "later.example", chain: cs.leaf("later.example", cs.ca1, invT0.AddDate(0, 0, -30), 90)},
		{name: "expired", server: "198.51.100.3:443", sni: "gone.example", chain: cs.leaf("gone.example", cs.ca1, invT0.AddDate(0, 0, -95), 90)},
	})
	got, _, _ := replay(t, path, nil, detect.Config{})
	ex := byRule(got, "cert.expiring_soon")
	if len(ex) != 1 || ex[0].client != client(0) || !strings.Contains(ex[0].message, "10 days after this connection") {
		t.Errorf("cert.expiring_soon: %+v, want the 10-day one only", ex)
	}
	// A wider window (rules.expiring_days: 90) takes the 60-day one too.
	got, _, _ = replay(t, path, nil, detect.Config{ExpiringWindow: 90 * 24 * time.Hour})
	if ex := byRule(got, "cert.expiring_soon"); len(ex) != 2 {
		t.Errorf("90-day window: %+v, want 2", ex)
	}

	// With suppression (the sensor's default) a certificate alerts once
	// per 30 days, however many connections show it: three in the first
	// 10 days, one 31 days after the first.
	soon := cs.leaf("soon.example", cs.ca1, invT0.AddDate(0, 0, -40), 90) // expires 50 days after invT0
	var convs []gconv
	for i, at := range []time.Duration{0, 24 * time.Hour, 9 * 24 * time.Hour, 31 * 24 * time.Hour} {
		convs = append(convs, gconv{name: fmt.Sprint(i), at: at, server: "198.51.100.1:443", sni: "soon.example", chain: soon})
	}
	got, _, _ = replay(t, writeCapture(t, cs, convs), nil, detect.Config{Suppress: true, ExpiringWindow: 60 * 24 * time.Hour})
	if ex := byRule(got, "cert.expiring_soon"); len(ex) != 2 || ex[0].client != client(0) || ex[1].client != client(3) {
		t.Errorf("suppressed: %+v, want sessions 0 and 3", ex)
	}
}

func TestDNSOverHTTPS(t *testing.T) {
	cs := newCerts(t)
	path := writeCapture(t, cs, []gconv{
		{name: "doh by name", server: "198.51.100.1:443", sni: "dns.google", chain: cs.leaf("dns.google", cs.ca1, invT0.AddDate(0, -1, 0), 90)},
		{name: "plain https", server: "198.51.100.2:443", sni: "www.example.com"},
		{name: "doh by address", server: "1.1.1.1:443", sni: ""},
		{name: "subdomain", server: "198.51.100.3:443", sni: "x.dns.nextdns.io"},
	})
	got, _, _ := replay(t, path, nil, detect.Config{})
	d := byRule(got, "policy.dns_over_https")
	if len(d) != 3 || d[0].client != client(0) || d[1].client != client(2) || d[2].client != client(3) {
		t.Fatalf("policy.dns_over_https: %+v, want sessions 0, 2 and 3", d)
	}
	if !strings.Contains(d[0].message, "listed resolver dns.google") || !strings.Contains(d[1].message, "listed resolver 1.1.1.1") {
		t.Errorf("messages %q, %q", d[0].message, d[1].message)
	}
	// A list of one's own replaces the shipped one.
	own := filepath.Join(t.TempDir(), "doh.txt")
	writeFile(t, own, "# ours\nwww.example.com\n")
	got, _, _ = replay(t, path, nil, detect.Config{DoHResolvers: own})
	if d := byRule(got, "policy.dns_over_https"); len(d) != 1 || d[0].client != client(1) {
		t.Errorf("own list: %+v", d)
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	writeFile(t, bad, "dns.google\nnot a name\n")
	if _, err := detect.New(detect.Config{DoHResolvers: bad}); err == nil || !strings.Contains(err.Error(), "bad.txt:2:") {
		t.Errorf("bad list: %v, want file:line", err)
	}
}

// appData is a TLS application data record of n bytes of "ciphertext".
func appData(n int) []byte {
	b := []byte{0x17, 0x03, 0x03, byte(n >> 8), byte(n)}
	for i := range n {
		b = append(b, byte(i*7+n))
	}
	return b
}

// vpnFlow: five minutes of small records both ways, one pair a second.
func vpnFlow(send func(pcapgen.Dir, []byte), clock *pcapgen.Clock) {
	for i := range 300 {
		send(pcapgen.ClientToServer, appData(60+i%90))
		send(pcapgen.ServerToClient, appData(70+i%110))
		clock.Advance(time.Second)
	}
}

// tlsInTLS wraps a whole inner crypto/tls conversation in outer
// application data records (TLS 1.3 outer: 5 header, 1 content type, 16
// tag bytes more per inner write).
func tlsInTLS(t *testing.T, cs *certs) func(func(pcapgen.Dir, []byte), *pcapgen.Clock) {
	inner := cs.leaf("inner.example", cs.ca2, invT0.AddDate(0, -1, 0), 90)
	tr, err := tlsgen.Run(tlsgen.Options{
		Client: &tls.Config{ServerName: "inner.example", InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}},
		Server: &tls.Config{Certificates: []tls.Certificate{inner[0].TLS(inner[1:]...)}, CurvePreferences: []tls.CurveID{tls.X25519}, SessionTicketsDisabled: true},
		Seed:   99, Time: invT0,
		Request: []byte("GET /secret HTTP/1.1\r\nHost: inner.example\r\n\r\n"), Response: []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
	})
	if err != nil || tr.ClientErr != nil || tr.ServerErr != nil {
		t.Fatalf("inner: %v %v %v", err, tr.ClientErr, tr.ServerErr)
	}
	return func(send func(pcapgen.Dir, []byte), clock *pcapgen.Clock) {
		for _, ev := range tr.Events {
			d := ev.Dir()
			rec := appData(len(ev.Data) + 17)
			copy(rec[5:], ev.Data)
			send(d, rec)
			clock.Advance(20 * time.Millisecond)
		}
	}
}

func TestTLSTunnel(t *testing.T) {
	cs := newCerts(t)
	path := writeCapture(t, cs, []gconv{
		{name: "vpn", server: "198.51.100.1:443", sni: "vpn.example", tls13: true, noRequest: true, after: vpnFlow},
		{name: "plain https", at: 6 * time.Minute, server: "198.51.100.2:443", sni: "www.example.com", tls13: true},
		{name: "tls in tls", at: 7 * time.Minute, server: "198.51.100.3:443", sni: "proxy.example", tls13: true, noRequest: true, after: tlsInTLS(t, cs)},
		{name: "plain https 1.2", at: 8 * time.Minute, server: "198.51.100.4:443", sni: "www.example.com"},
	})
	got, _, sessions := replay(t, path, nil, detect.Config{})
	tu := byRule(got, "anomaly.tls_tunnel")
	if len(tu) != 2 || tu[0].client != client(0) || tu[1].client != client(2) {
		for _, s := range sessions {
			t.Logf("%v: %+v", s.Client, s.Profile)
		}
		t.Fatalf("anomaly.tls_tunnel: %+v, want sessions 0 (vpn) and 2 (tls in tls)", tu)
	}
	if !strings.Contains(tu[0].message, "long-lived steady two-way flow: 301 s, 302 client and 301 server payload packets") {
		t.Errorf("vpn message %q", tu[0].message)
	}
	if !strings.Contains(tu[1].message, "TLS inside TLS") {
		t.Errorf("tls-in-tls message %q", tu[1].message)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// With several workers the inventory is observed from one goroutine at a
// time: each new item is reported once, whichever session carries it.
func TestInventoryWorkers(t *testing.T) {
	cs := newCerts(t)
	var convs []gconv
	for i := range 24 {
		c := gconv{name: fmt.Sprint(i), at: time.Duration(i) * time.Second, server: fmt.Sprintf("198.51.100.%d:443", 1+i%4), sni: "www.example.com"}
		if i%2 == 1 {
			c.client = otherSuites
		}
		convs = append(convs, c)
	}
	path := writeCapture(t, cs, convs)
	inv := openInv(t, t.TempDir(), -1)
	defer inv.Close()
	e, err := detect.New(detect.Config{Roots: []*x509.Certificate{}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	_, err = New(Config{Capture: capture.Config{Workers: 4}, Judge: e, Stages: []Stage{inv},
		OnVerdict: func(s *session.Session, v detect.Verdict) {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range v.Alerts {
				counts[a.Rule.ID]++
			}
		}}).Run(context.Background(), openCapture(t, path))
	if err != nil {
		t.Fatal(err)
	}
	// Two client fingerprints; one certificate on four servers.
	if counts["inventory.new_client_fingerprint"] != 2 || counts["inventory.new_server_certificate"] != 4 {
		t.Errorf("alerts %v, want 2 new_client_fingerprint and 4 new_server_certificate", counts)
	}
}
