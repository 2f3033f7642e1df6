package detect

import (
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testEngine has every built-in rule, the test PKI as trust store and one
// small list per intel type. Suppression is off (Config.Suppress): the
// tests judge the conditions, several on one server (suppress_test.go
// judges suppression).
func testEngine(t testing.TB) *Engine {
	t.Helper()
	dir := t.TempDir()
	e, err := New(Config{
		Roots: getPKI(t).pool,
		Intel: []IntelList{
			{Name: "sslbl-ja3", Type: "ja3", File: writeFile(t, dir, "ja3.csv",
				"# abuse.ch\nja3_md5,Firstseen,Lastseen,Listingreason\n"+
					"B386946A5A44D1DDCC843BC75336DFCE,2019-01-01 00:00:00,2019-02-01 00:00:00,Dridex\n")},
			{Name: "ja4-bad", Type: "ja4", File: writeFile(t, dir, "ja4.txt", "t13d1516h2_8daaf6152771_e5627efa2ab1\n")},
			{Name: "sslbl", Type: "cert_sha1", File: writeFile(t, dir, "sslbl.csv",
				"################\n# Terms Of Use\n################\n# Listingdate,SHA1,Listingreason\n"+
					"2024-01-01 10:00:00,0000000000000000000000000000000000000000,QakBot C&C\n")},
			{Name: "bad-domains", Type: "domain", File: writeFile(t, dir, "domains.txt", "evil.test\n# comment\n0.0.0.0 tracker.test\n")},
			{Name: "bad-ips", Type: "ip", File: writeFile(t, dir, "ips.txt", "203.0.113.0/24\n2001:db8:bad::/48\n198.18.0.1\n")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestBuiltinRules(t *testing.T) {
	e := testEngine(t)
	p := getPKI(t)
	tls := func(f func(*tlsparse.Handshake)) func(*session.Session) {
		return func(s *session.Session) { f(s.TLS) }
	}
	version := func(v uint16) func(*session.Session) {
		return tls(func(h *tlsparse.Handshake) { h.ServerHello.LegacyVersion = v })
	}
	cipher := func(c uint16) func(*session.Session) {
		return tls(func(h *tlsparse.Handshake) { h.ServerHello.CipherSuite = c })
	}
	tls13 := func(s *session.Session) {
		s.TLS.ServerHello.SupportedVersion = 0x0304
		s.TLS.ServerHello.CipherSuite = 0x1301
		s.TLS.KeyExchange = nil
		s.TLS.ServerHello.KeyShareGroup = 29
		s.Certificates, s.TLS.ServerCertificates = nil, nil
	}
	resumed := func(s *session.Session) {
		s.TLS.Resumed = true
		s.Certificates, s.TLS.ServerCertificates = nil, nil
	}
	nonTLS := func(proto session.Protocol) func(*session.Session) {
		return func(s *session.Session) {
			s.Protocol, s.TLS, s.Certificates = proto, nil, nil
		}
	}
	sni := func(name string) func(*session.Session) {
		return tls(func(h *tlsparse.Handshake) { h.ClientHello.ServerName = name })
	}
	leaf := func(o certOpt) func(*session.Session) {
		return func(s *session.Session) {
			c := leafCert(t, o)
			if o.selfSigned {
				withLeaf(c)(s)
			} else {
				withLeaf(c, p.inter)(s)
			}
		}
	}
	heartbeat := func(declared, record int) func(*session.Session) {
		return tls(func(h *tlsparse.Handshake) {
			h.Heartbeats = append(h.Heartbeats, tlsparse.Heartbeat{Type: 1, DeclaredLength: declared, RecordLength: record})
		})
	}
	otherCA := makeCert(t, certOpt{cn: "someone else's CA", isCA: true, key: "p256",
		notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(1, 0, 0)})

	cases := []struct {
		name string
		rule string
		fire bool
		mut  []func(*session.Session)
		msg  string // substring of the message, when it fires
	}{
		{"tls1.0", "tls.deprecated_version", true, []func(*session.Session){version(0x0301)}, "TLS 1.0 negotiated with www.example.test (198.51.100.7:443)"},
		{"ssl3", "tls.deprecated_version", true, []func(*session.Session){version(0x0300)}, "SSL 3.0"},
		{"tls1.1", "tls.deprecated_version", true, []func(*session.Session){version(0x0302)}, "TLS 1.1"},
		{"tls1.2", "tls.deprecated_version", false, nil, ""},
		{"tls1.3", "tls.deprecated_version", false, []func(*session.Session){tls13}, ""},
		{"offered only", "tls.deprecated_version", false, []func(*session.Session){tls(func(h *tlsparse.Handshake) {
			h.ClientHello.LegacyVersion = 0x0301
			h.ServerHello = nil
		})}, ""},

		{"sslv2 hello", "tls.sslv2_hello", true, []func(*session.Session){tls(func(h *tlsparse.Handshake) { h.ClientHello.SSLv2 = true })}, "SSLv2-format ClientHello from 192.0.2.10"},
		{"tls hello", "tls.sslv2_hello", false, nil, ""},

		{"rc4", "tls.weak_cipher", true, []func(*session.Session){cipher(0x0005)}, "TLS_RSA_WITH_RC4_128_SHA"},
		{"3des", "tls.weak_cipher", true, []func(*session.Session){cipher(0x000a)}, "3DES"},
		{"export", "tls.weak_cipher", true, []func(*session.Session){cipher(0x0003)}, "EXPORT"},
		{"null", "tls.weak_cipher", true, []func(*session.Session){cipher(0x0002)}, "NULL"},
		{"anon", "tls.weak_cipher", true, []func(*session.Session){cipher(0x0034)}, "anon"},
		{"md5 mac", "tls.weak_cipher", true, []func(*session.Session){cipher(0x0004)}, "MD5"},
		{"aes-gcm", "tls.weak_cipher", false, nil, ""},
		{"aes-cbc-sha", "tls.weak_cipher", false, []func(*session.Session){cipher(0x002f)}, ""},
		{"tls13 suite", "tls.weak_cipher", false, []func(*session.Session){tls13}, ""},

		{"rsa kx", "tls.no_forward_secrecy", true, []func(*session.Session){cipher(0x009c)}, "static RSA"},
		{"static ecdh", "tls.no_forward_secrecy", true, []func(*session.Session){cipher(0xc004)}, "static ECDH"},
		{"ecdhe", "tls.no_forward_secrecy", false, nil, ""},
		{"dhe", "tls.no_forward_secrecy", false, []func(*session.Session){cipher(0x009e)}, ""},
		{"tls13 no kx in suite", "tls.no_forward_secrecy", false, []func(*session.Session){tls13}, ""},

		{"dhe 1024", "tls.weak_dh", true, []func(*session.Session){cipher(0x009e), tls(func(h *tlsparse.Handshake) {
			h.KeyExchange = &tlsparse.ServerKeyExchange{DHPrimeBits: 1024}
		})}, "1024-bit DHE group"},
		{"dhe 2048", "tls.weak_dh", false, []func(*session.Session){cipher(0x009e), tls(func(h *tlsparse.Handshake) {
			h.KeyExchange = &tlsparse.ServerKeyExchange{DHPrimeBits: 2048}
		})}, ""},

		{"no sni on 443", "tls.missing_sni", true, []func(*session.Session){sni("")}, "without SNI from 192.0.2.10"},
		{"sni present", "tls.missing_sni", false, nil, ""},
		{"esni (encrypted, not missing)", "tls.missing_sni", false, []func(*session.Session){sni(""), tls(func(h *tlsparse.Handshake) {
			h.ClientHello.Extensions = append(h.ClientHello.Extensions, 0xffce)
		})}, ""},
		{"no sni on 8443", "tls.missing_sni", false, []func(*session.Session){sni(""), func(s *session.Session) {
			s.Server = netip.MustParseAddrPort("198.51.100.7:8443")
		}}, ""},

		{"heartbleed", "tls.heartbleed", true, []func(*session.Session){heartbeat(16384, 3)}, "declaring 16384 bytes in a 3-byte record"},
		{"honest heartbeat", "tls.heartbleed", false, []func(*session.Session){heartbeat(16, 35)}, ""},
		{"heartbeat without padding", "tls.heartbleed", true, []func(*session.Session){heartbeat(16, 19)}, ""},

		{"two records", "tls.fragmented_hello", true, []func(*session.Session){tls(func(h *tlsparse.Handshake) { h.ClientHelloRecords, h.ClientHelloLength = 2, 508 })}, "2 records"},
		{"many segments", "tls.fragmented_hello", true, []func(*session.Session){tls(func(h *tlsparse.Handshake) { h.ClientHelloChunks, h.ClientHelloLength = 12, 508 })}, "12 segments"},
		{"huge hello in full records and segments", "tls.fragmented_hello", false, []func(*session.Session){tls(func(h *tlsparse.Handshake) {
			h.ClientHelloRecords, h.ClientHelloChunks, h.ClientHelloLength = 2, 12, 17000
		})}, ""},
		{"two segments (PQ key share)", "tls.fragmented_hello", false, []func(*session.Session){tls(func(h *tlsparse.Handshake) { h.ClientHelloChunks = 2 })}, ""},

		{"ssh on 443", "proto.non_tls_on_443", true, []func(*session.Session){nonTLS(session.SSH)}, "SSH (not TLS) on port 443"},
		{"http on 443", "proto.non_tls_on_443", true, []func(*session.Session){nonTLS(session.HTTP)}, "HTTP (not TLS)"},
		{"openvpn on 443", "proto.non_tls_on_443", true, []func(*session.Session){nonTLS(session.OpenVPN)}, "OpenVPN (not TLS)"},
		{"unknown on 443", "proto.non_tls_on_443", true, []func(*session.Session){nonTLS(session.Unknown)}, "unknown (not TLS)"},
		{"tls on 443", "proto.non_tls_on_443", false, nil, ""},
		{"no payload", "proto.non_tls_on_443", false, []func(*session.Session){nonTLS(session.Unknown), func(s *session.Session) { s.ClientBytes, s.ServerBytes = 0, 0 }}, ""},
		{"midstream", "proto.non_tls_on_443", false, []func(*session.Session){nonTLS(session.Unknown), func(s *session.Session) { s.Anomalies.Add(tlsparse.AnomalyMidstream) }}, ""},
		{"openvpn mid-stream, 443 seen as client", "proto.non_tls_on_443", true, []func(*session.Session){nonTLS(session.OpenVPN), func(s *session.Session) {
			s.Anomalies.Add(tlsparse.AnomalyMidstream)
			s.Client, s.Server = s.Server, s.Client
		}}, "OpenVPN (not TLS) on port 443: 198.51.100.7:443 to 192.0.2.10:50000"},
		{"sslv2 server hello has no suite", "tls.weak_cipher", false, []func(*session.Session){tls(func(h *tlsparse.Handshake) {
			h.ClientHello.SSLv2, h.ServerHello.SSLv2, h.ServerHello.LegacyVersion, h.ServerHello.CipherSuite = true, true, 0x0002, 0
		})}, ""},
		{"ssh on 22", "proto.non_tls_on_443", false, []func(*session.Session){nonTLS(session.SSH), func(s *session.Session) { s.Server = netip.MustParseAddrPort("198.51.100.7:22") }}, ""},

		{"expired", "cert.expired", true, []func(*session.Session){leaf(certOpt{notBefore: t0.AddDate(0, -4, 0), notAfter: t0.AddDate(0, 0, -1)})}, "expired on 2024-04-30"},
		{"valid at packet time, expired now", "cert.expired", false, []func(*session.Session){leaf(certOpt{notBefore: t0.AddDate(0, -1, 0), notAfter: t0.AddDate(0, 1, 0)})}, ""},
		{"expired cert, tls1.3 (invisible)", "cert.expired", false, []func(*session.Session){tls13}, ""},
		{"expired cert, resumed", "cert.expired", false, []func(*session.Session){leaf(certOpt{notAfter: t0.AddDate(0, 0, -1), notBefore: t0.AddDate(0, -2, 0)}), resumed}, ""},

		{"not yet valid", "cert.not_yet_valid", true, []func(*session.Session){leaf(certOpt{notBefore: t0.AddDate(0, 0, 1), notAfter: t0.AddDate(0, 3, 0)})}, "valid only from 2024-05-02"},
		{"valid", "cert.not_yet_valid", false, nil, ""},
		{"unknown packet time", "cert.not_yet_valid", false, []func(*session.Session){func(s *session.Session) { s.Start = time.Time{} }}, ""},

		{"self-signed", "cert.self_signed", true, []func(*session.Session){leaf(certOpt{selfSigned: true, key: "p256"})}, "self-signed certificate from www.example.test"},
		{"ca-issued", "cert.self_signed", false, nil, ""},

		{"rsa1024", "cert.weak_key", true, []func(*session.Session){leaf(certOpt{key: "rsa1024"})}, "1024-bit RSA"},
		{"p224", "cert.weak_key", false, []func(*session.Session){leaf(certOpt{key: "p224"})}, ""},
		{"rsa2048", "cert.weak_key", false, nil, ""},
		{"p256", "cert.weak_key", false, []func(*session.Session){leaf(certOpt{key: "p256"})}, ""},

		{"sha1 signature", "cert.weak_signature", true, []func(*session.Session){leaf(certOpt{selfSigned: true, sigAlg: x509.SHA1WithRSA})}, "SHA1-RSA"},
		{"sha256 signature", "cert.weak_signature", false, nil, ""},

		{"sni not covered", "cert.name_mismatch", true, []func(*session.Session){sni("mail.other.test")}, "covers www.example.test, example.test, not mail.other.test"},
		{"wildcard covers one label", "cert.name_mismatch", false, []func(*session.Session){sni("a.example.test"), leaf(certOpt{dns: []string{"*.example.test"}})}, ""},
		{"wildcard does not cover two labels", "cert.name_mismatch", true, []func(*session.Session){sni("a.b.example.test"), leaf(certOpt{dns: []string{"*.example.test"}})}, ""},
		{"CN used only without SAN", "cert.name_mismatch", false, []func(*session.Session){sni("legacy.example.test"), leaf(certOpt{cn: "legacy.example.test", dns: []string{}})}, ""},
		{"CN ignored when SAN present", "cert.name_mismatch", true, []func(*session.Session){sni("cn.example.test"), leaf(certOpt{cn: "cn.example.test", dns: []string{"san.example.test"}})}, ""},
		{"case and trailing dot", "cert.name_mismatch", false, []func(*session.Session){sni("WWW.Example.TEST.")}, ""},
		{"no sni", "cert.name_mismatch", false, []func(*session.Session){sni("")}, ""},

		{"unknown CA", "cert.untrusted", true, []func(*session.Session){func(s *session.Session) {
			withLeaf(leafCert(t, certOpt{issuer: otherCA}), otherCA)(s)
		}}, "unknown_authority"},
		{"trusted chain", "cert.untrusted", false, nil, ""},
		{"self-signed is not also untrusted", "cert.untrusted", false, []func(*session.Session){leaf(certOpt{selfSigned: true, key: "p256"})}, ""},
		{"missing intermediate", "cert.untrusted", true, []func(*session.Session){func(s *session.Session) { withLeaf(leafCert(t, certOpt{}))(s) }}, ""},

		{"825 days, 2021", "cert.long_validity", true, []func(*session.Session){leaf(certOpt{notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(-1, 0, 825)})}, "valid for 825 days"},
		{"398 days", "cert.long_validity", false, []func(*session.Session){leaf(certOpt{notBefore: t0.AddDate(0, -1, 0), notAfter: t0.AddDate(0, -1, 398)})}, ""},
		{"825 days, issued 2019", "cert.long_validity", false, []func(*session.Session){func(s *session.Session) {
			s.Start = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		}, leaf(certOpt{notBefore: time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 825)})}, ""},

		{"ja3 not listed", "intel.ja3", false, nil, ""},
		{"ip listed (server)", "intel.ip", true, []func(*session.Session){func(s *session.Session) {
			s.Server = netip.MustParseAddrPort("203.0.113.77:443")
		}}, "203.0.113.77 (session 192.0.2.10 to 203.0.113.77:443) matches 203.0.113.0/24 on list bad-ips"},
		{"ip listed (client v6)", "intel.ip", true, []func(*session.Session){func(s *session.Session) {
			s.Client = netip.MustParseAddrPort("[2001:db8:bad:1::5]:40000")
		}}, "matches 2001:db8:bad::/48"},
		{"ip not listed", "intel.ip", false, []func(*session.Session){func(s *session.Session) {
			s.Server = netip.MustParseAddrPort("203.0.114.1:443")
		}}, ""},
		{"sni subdomain listed", "intel.domain", true, []func(*session.Session){sni("a.b.evil.test")}, "SNI a.b.evil.test (198.51.100.7:443) matches evil.test on list bad-domains"},
		{"cert name listed", "intel.domain", true, []func(*session.Session){leaf(certOpt{dns: []string{"www.example.test", "cdn.tracker.test"}})}, "certificate name cdn.tracker.test"},
		{"look-alike not listed", "intel.domain", false, []func(*session.Session){sni("notevil.test")}, ""},
		{"cert sha1 not listed", "intel.cert_sha1", false, nil, ""},
		{"ja4 not listed", "intel.ja4", false, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.rule+"/"+c.name, func(t *testing.T) {
			s := testSession(t, c.mut...)
			v := e.Evaluate(s)
			got := fired(v)
			a, ok := got[c.rule]
			if ok != c.fire {
				t.Fatalf("%s fired=%v, want %v; alerts: %v", c.rule, ok, c.fire, alertList(v))
			}
			if ok && c.msg != "" && !strings.Contains(a.Message, c.msg) {
				t.Errorf("message %q does not contain %q", a.Message, c.msg)
			}
		})
	}
}

func alertList(v Verdict) string {
	var l []string
	for _, a := range v.Alerts {
		l = append(l, a.Rule.ID+": "+a.Message)
	}
	sort.Strings(l)
	return strings.Join(l, "\n  ")
}

// A clean modern session raises nothing and validates.
func TestCleanSession(t *testing.T) {
	e := testEngine(t)
	v := e.Evaluate(testSession(t))
	if len(v.Alerts) != 0 {
		t.Fatalf("alerts on a clean session:\n  %s", alertList(v))
	}
	if v.Validation != ValidationTrusted {
		t.Fatalf("validation %q, want trusted", v.Validation)
	}
}

func TestValidationField(t *testing.T) {
	e := testEngine(t)
	s := testSession(t, func(s *session.Session) { s.Certificates = nil })
	if v := e.Evaluate(s).Validation; v != ValidationNotChecked {
		t.Errorf("no certificate: %q", v)
	}
	other := makeCert(t, certOpt{cn: "other root", isCA: true, key: "p256", notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(1, 0, 0)})
	s = testSession(t, withLeaf(leafCert(t, certOpt{issuer: other}), other))
	if v := e.Evaluate(s).Validation; v != ValidationUntrusted {
		t.Errorf("unknown CA: %q", v)
	}
}

// The same chain is trusted at one packet time and untrusted (expired) at
// another: the cache must not carry one verdict over to the other.
func TestValidationCacheRespectsPacketTime(t *testing.T) {
	e := testEngine(t)
	c := leafCert(t, certOpt{notBefore: t0.AddDate(0, -1, 0), notAfter: t0.AddDate(0, 1, 0)})
	p := getPKI(t)
	at := func(ts time.Time) string {
		s := testSession(t, withLeaf(c, p.inter), func(s *session.Session) { s.Start = ts })
		return e.Evaluate(s).Validation
	}
	for i, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0, ValidationTrusted},
		{t0.AddDate(0, 2, 0), ValidationUntrusted},
		{t0.Add(time.Hour), ValidationTrusted},
		{t0.AddDate(0, -2, 0), ValidationUntrusted},
		{t0.Add(2 * time.Hour), ValidationTrusted},
		{t0.Add(3 * time.Hour), ValidationTrusted}, // from the cache
	} {
		if got := at(tc.at); got != tc.want {
			t.Errorf("%d: at %v: %s, want %s", i, tc.at, got, tc.want)
		}
	}
	st := e.Stats().Trust
	if st.CacheHits != 1 || st.Verifications != 5 {
		t.Errorf("no cache hits: %+v", st)
	}
}

// A chain with a SHA-1-signed intermediate was trusted at packet times
// before SHA-1 was distrusted; crypto/x509 refuses it, legacyVerify not.
func TestValidationSHA1Chain(t *testing.T) {
	e := testEngine(t)
	p := getPKI(t)
	inter := makeCert(t, certOpt{cn: "sha1 intermediate", isCA: true, issuer: p.root, sigAlg: x509.ECDSAWithSHA1,
		notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(1, 0, 0)})
	leaf := leafCert(t, certOpt{issuer: inter})
	v := e.Evaluate(testSession(t, withLeaf(leaf, inter)))
	if v.Validation != ValidationTrusted {
		t.Errorf("SHA-1 intermediate under a trusted root: %s; alerts %s", v.Validation, alertList(v))
	}
	// The same under a root that is not in the store stays untrusted.
	other := makeCert(t, certOpt{cn: "unknown root", isCA: true, key: "p256", notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(1, 0, 0)})
	inter2 := makeCert(t, certOpt{cn: "sha1 intermediate 2", isCA: true, issuer: other, sigAlg: x509.ECDSAWithSHA1,
		notBefore: t0.AddDate(-1, 0, 0), notAfter: t0.AddDate(1, 0, 0)})
	v = e.Evaluate(testSession(t, withLeaf(leafCert(t, certOpt{issuer: inter2}), inter2)))
	if v.Validation != ValidationUntrusted {
		t.Errorf("SHA-1 intermediate under an unknown root: %s", v.Validation)
	}
	// And an expired SHA-1 intermediate is untrusted.
	inter3 := makeCert(t, certOpt{cn: "sha1 intermediate 3", isCA: true, issuer: p.root, sigAlg: x509.ECDSAWithSHA1,
		notBefore: t0.AddDate(-2, 0, 0), notAfter: t0.AddDate(0, 0, -1)})
	v = e.Evaluate(testSession(t, withLeaf(leafCert(t, certOpt{issuer: inter3}), inter3)))
	if v.Validation != ValidationUntrusted || fired(v)["cert.untrusted"] == nil {
		t.Errorf("expired SHA-1 intermediate: %s; %s", v.Validation, alertList(v))
	}
}

// clear leaves no value of the session behind: the session state and
// every vals entry are zero again, whichever variables were read.
func TestActivationClear(t *testing.T) {
	e := testEngine(t)
	for _, s := range variedSessions(t) {
		var a activation
		a.reset(e, s)
		for i := range variables {
			if i%3 != 0 {
				a.value(i)
			}
		}
		a.ResolveName("tls.client.server_name")
		if a.nset == 0 {
			t.Fatal("no value cached")
		}
		a.clear()
		if !reflect.DeepEqual(a.sessionState, sessionState{}) {
			t.Errorf("session state left: %+v", a.sessionState)
		}
		for i, v := range a.vals {
			if v != nil {
				t.Errorf("vals[%d] (%s) left", i, variables[i].name)
			}
		}
		if a.nset != 0 {
			t.Errorf("nset %d", a.nset)
		}
	}
}
