package suricata

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

var testNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func makeCert(t testing.TB, cn string, serial *big.Int, sans []string, ips []net.IP, nb, na time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Country: []string{"US"}, Organization: []string{"Test Org"}, CommonName: cn},
		NotBefore:    nb,
		NotAfter:     na,
		DNSNames:     sans,
		IPAddresses:  ips,
	}
	issuer := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Country: []string{"FR"}, Organization: []string{"Stamus"}, CommonName: "SELKS", Province: []string{"IDF"}, Locality: []string{"Paris"}},
	}
	tmpl.Issuer = issuer.Subject
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	leafDER  []byte
	chainDER []byte
	clientDE []byte
)

func testSession(t testing.TB) *session.Session {
	t.Helper()
	if leafDER == nil {
		serial, _ := new(big.Int).SetString("97E647098EEAC9B4", 16) // high bit: DER keeps a leading 00
		leafDER = makeCert(t, "test.example", serial, []string{"www.bing.com", "xn--j1ahhq.xn--p1ai"}, []net.IP{net.IPv4(192, 168, 0, 1)},
			time.Date(2015, 2, 12, 18, 7, 27, 0, time.UTC), time.Date(2025, 2, 9, 18, 7, 27, 0, time.UTC))
		chainDER = makeCert(t, "intermediate", big.NewInt(0x55), nil, nil, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
		clientDE = makeCert(t, "client", big.NewInt(7), nil, nil, testNow.AddDate(-1, 0, 0), testNow.AddDate(-0, -1, 0))
	}
	random := make([]byte, 32)
	for i := range random {
		random[i] = byte(i)
	}
	srandom := make([]byte, 32)
	for i := range srandom {
		srandom[i] = byte(0xa0 + i)
	}
	h := &tlsparse.Handshake{
		Protocol: tlsparse.ProtocolTLS,
		ClientHello: &tlsparse.ClientHello{
			LegacyVersion: 0x0303, ServerName: "www.Example.com", ALPN: []string{"h2", "http/1.1"}, Random: random,
		},
		ServerHello:        &tlsparse.ServerHello{LegacyVersion: 0x0303, ALPN: "http/1.1", Random: srandom},
		ServerCertificates: [][]byte{leafDER, chainDER},
		ClientCertificates: [][]byte{clientDE},
		ClientEncrypted:    true, ServerEncrypted: true, Established: true,
	}
	return &session.Session{
		Start: testNow, End: testNow.Add(time.Second),
		Client:    netip.MustParseAddrPort("10.1.1.1:50000"),
		Server:    netip.MustParseAddrPort("93.184.216.34:443"),
		Transport: session.TCP, Protocol: session.TLS,
		ClientPackets: 5, ServerPackets: 5,
		TLS: h,
		Fingerprints: session.Fingerprints{
			JA3: "e7d705a3286e19ea42f587b344ee6865", JA3String: "771,4865-4866,0-23-65281,29-23,0",
			JA3S: "5d79edf64e03689ff559a54e9d9487bc", JA3SString: "771,49199,65281-0-11",
			JA4: "t13d1516h2_8daaf6152771_e5627efa2ab1",
		},
	}
}

func ruleFor(opts string) string {
	return `alert tls any any -> any any (msg:"t"; ` + opts + ` sid:1;)`
}

func evalRule(t *testing.T, rule string, s *session.Session, cfg Config) (bool, error) {
	t.Helper()
	rs, err := Load(strings.NewReader(rule), "t.rules", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Errors) > 0 {
		return false, rs.Errors[0]
	}
	if len(rs.Skipped) > 0 {
		return false, &skipError{keyword: rs.Skipped[0].Keyword, reason: rs.Skipped[0].Reason}
	}
	return len(rs.Match(s)) == 1, nil
}

func TestKeywords(t *testing.T) {
	s := testSession(t)
	cases := []struct {
		opts string
		want bool
	}{
		// content and case
		{`tls.sni; content:"Example";`, true},
		{`tls.sni; content:"example";`, false},
		{`tls.sni; content:"example"; nocase;`, true},
		{`tls_sni; content:"Example";`, true},
		{`tls.sni; content:"|2e|Example|2e|";`, true},
		{`tls.sni; content:"|2E 45|xample";`, true},
		{`tls.sni; content:"www"; content:"com";`, true},
		{`tls.sni; content:"www"; content:"nope";`, false},
		// startswith / endswith
		{`tls.sni; content:"www."; startswith;`, true},
		{`tls.sni; content:"Example"; startswith;`, false},
		{`tls.sni; content:".com"; endswith;`, true},
		{`tls.sni; content:"Example"; endswith;`, false},
		{`tls.sni; content:"www.Example.com"; startswith; endswith;`, true},
		{`tls.sni; content:"www.Example.co"; startswith; endswith;`, false},
		// depth / offset
		{`tls.sni; content:"www"; depth:3;`, true},
		{`tls.sni; content:"Example"; depth:10;`, false},
		{`tls.sni; content:"Example"; offset:4; depth:7;`, true},
		{`tls.sni; content:"Example"; offset:5;`, false},
		// distance / within edges ("www" ends at 3, "Example" is at 4..11)
		{`tls.sni; content:"www"; content:"Example"; distance:1; within:7;`, true},
		{`tls.sni; content:"www"; content:"Example"; distance:2;`, false},
		{`tls.sni; content:"www"; content:"Example"; distance:0; within:8;`, true},
		{`tls.sni; content:"www"; content:"Example"; distance:0; within:7;`, false},
		{`tls.sni; content:"www"; content:"com"; distance:0; within:12;`, true},
		{`tls.sni; content:"www"; content:"com"; distance:0; within:11;`, false},
		{`tls.sni; content:"com"; content:"Example"; distance:-11; within:7;`, true},
		{`tls.sni; content:"com"; content:"Example"; distance:-10; within:7;`, false},
		{`tls.sni; content:"Example"; content:"www"; distance:0;`, false},
		// negation
		{`tls.sni; content:!"evil";`, true},
		{`tls.sni; content:!"Example";`, false},
		{`tls.sni; content:"www"; content:!"Exam"; distance:1; within:4;`, false},
		{`tls.sni; content:"www"; content:!"Exam"; distance:1; within:4; content:"com"; distance:0;`, false},
		{`tls.sni; content:"www"; content:!"Example"; distance:2;`, true},
		// isdataat
		{`tls.sni; content:".com"; isdataat:!1,relative;`, true},
		{`tls.sni; content:"Example"; isdataat:!1,relative;`, false},
		{`tls.sni; content:"Example"; isdataat:4,relative;`, true},
		{`tls.sni; content:"Example"; isdataat:5,relative;`, false},
		{`tls.sni; content:"w"; isdataat:14;`, true},
		{`tls.sni; content:"w"; isdataat:15;`, false},
		// bsize
		{`tls.sni; bsize:15;`, true},
		{`tls.sni; bsize:<15;`, false},
		{`tls.sni; content:"www"; bsize:10<>20;`, true},
		{`tls.sni; bsize:>=15;`, true},
		{`tls.sni; bsize:!15;`, false},
		// transforms
		{`tls.sni; dotprefix; content:".example.com"; nocase; endswith;`, true},
		{`tls.sni; dotprefix; content:".xample.com"; nocase; endswith;`, false},
		{`tls.sni; to_lowercase; content:"www.example.com";`, true},
		{`tls.sni; to_lowercase; content:"Example";`, false},
		// pcre
		{`tls.sni; pcre:"/^www\.example\.com$/i";`, true},
		{`tls.sni; pcre:"/^www\.example\.com$/";`, false},
		{`tls.sni; content:"www"; pcre:"/^\.Ex/R";`, true},
		{`tls.sni; content:"www"; pcre:"/^Ex/R";`, false},
		{`tls.sni; pcre:!"/evil/";`, true},
		// fast_pattern / prefilter accepted
		{`tls.sni; content:"Example"; fast_pattern; content:"www"; prefilter;`, true},
		// buffers
		{`tls.cert_subject; content:"C=US, O=Test Org, CN=test.example"; bsize:33;`, true},
		{`tls_cert_subject; content:"CN=test.example";`, true},
		{`tls.cert_issuer; content:"C=FR, ST=IDF, L=Paris, O=Stamus, CN=SELKS";`, true}, // certificate order, not RFC 4514
		{`tls.cert_issuer; content:"CN=SELKS"; endswith;`, true},
		{`tls.cert_serial; content:"00:97:E6:47:09:8E:EA:C9:B4"; bsize:26;`, true},
		{`tls.cert_serial; content:"00:97:e6:47"; startswith;`, true}, // contents upper-cased like Suricata
		{`tls.certs; content:"intermediate";`, true},
		{`tls.subjectaltname; content:"www.bing.com"; bsize:12;`, true},
		{`tls.subjectaltname; content:"[192, 168, 0, 1]";`, true},
		{`tls.subjectaltname; content:"bing.com"; content:"p1ai";`, false}, // one SAN at a time
		{`tls.alpn; content:"h2"; bsize:2;`, true},
		{`tls.alpn; content:"http/1.1"; flow:to_client;`, true},
		{`tls.alpn; content:"h2"; flow:to_client;`, false},
		{`ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865";`, true},
		{`ja3_hash; content:"E7D705A3286E19EA42F587B344EE6865";`, true}, // lower-cased like Suricata
		{`ja3.string; content:"771,4865-4866,";`, true},
		{`ja3s.hash; content:"5d79edf64e03689ff559a54e9d9487bc";`, true},
		{`ja3s_hash; content:"5d79edf64e03689ff559a54e9d9487bd";`, false},
		{`ja3s.string; content:"49199";`, true},
		{`ja4.hash; content:"t13d1516h2_"; startswith;`, true},
		{`tls.random; content:"|00 01 02 03|"; startswith; flow:to_server;`, true},
		{`tls.random_time; content:"|a0 a1 a2 a3|"; bsize:4;`, true},
		{`tls.random_bytes; content:"|a4 a5|"; startswith; flow:to_client;`, true},
		{`tls.random_bytes; content:"|a0 a1|"; startswith;`, false},
		// legacy value forms
		{`tls.subject:"CN=test.example";`, true},
		{`flow:to_client; tls.subject:!"CN=test.example";`, false},
		{`tls.subject:!"CN=test.example";`, true}, // to_server: the client certificate's subject
		{`tls.subject:"cn=test.example";`, false},
		{`tls.issuerdn:"O=Stamus";`, true},
		// client certificate: to_server direction
		{`flow:to_server; tls.cert_subject; content:"CN=client";`, true},
		{`flow:to_client; tls.cert_subject; content:"CN=client";`, false},
		// versions and states
		{`tls.version:1.2;`, true},
		{`tls.version:1.3;`, false},
		{`ssl_version:tls1.2;`, true},
		{`ssl_version:!tls1.2;`, false},
		{`ssl_version:sslv3,tls1.2;`, true},
		{`ssl_state:client_hello;`, true},
		{`ssl_state:server_keyx;`, false},
		{`ssl_state:client_hello|server_keyx;`, true},
		// certificate validity (leaf: 2015-02-12 .. 2025-02-09; session in 2024)
		{`tls_cert_notbefore:<2016;`, true},
		{`tls_cert_notbefore:>2016;`, false},
		{`tls_cert_notafter:2025-01-01<>2025-03-01;`, true},
		{`tls_cert_notafter:2025-02-09T18:07:27;`, true},
		{`tls_cert_expired;`, false},
		{`tls_cert_valid;`, true},
		{`tls.cert_chain_len:2;`, true},
		{`tls.cert_chain_len:>2;`, false},
		// flow
		{`flow:established,to_server; tls.sni; content:"www";`, true},
		{`flow:not_established; tls.sni; content:"www";`, false},
	}
	for _, c := range cases {
		got, err := evalRule(t, ruleFor(c.opts), s, Config{})
		if err != nil {
			t.Errorf("%s: %v", c.opts, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: match %v, want %v", c.opts, got, c.want)
		}
	}
}

func TestFingerprintBuffer(t *testing.T) {
	s := testSession(t)
	fp := string(parseCert(leafDER).fingerprint)
	if len(fp) != 59 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q: want 20 lower-case colon-separated bytes", fp)
	}
	for _, r := range []string{
		ruleFor(`tls.cert_fingerprint; content:"` + fp + `";`),
		ruleFor(`tls.fingerprint:"` + strings.ToUpper(fp) + `";`), // lower-cased, as Suricata does
	} {
		if got, err := evalRule(t, r, s, Config{}); err != nil || !got {
			t.Errorf("%s: got %v, %v", r, got, err)
		}
	}
}

func TestHeader(t *testing.T) {
	s := testSession(t)
	vars := map[string]string{"HOME_NET": "[10.0.0.0/8,192.168.0.0/16]", "EXTERNAL_NET": "!$HOME_NET", "HTTPS": "[443,8443]"}
	cases := []struct {
		hdr  string
		want bool
	}{
		{"alert tls $HOME_NET any -> $EXTERNAL_NET $HTTPS", true},
		{"alert tls $EXTERNAL_NET any -> $HOME_NET any", false},
		{"alert tls $EXTERNAL_NET $HTTPS <> $HOME_NET any", true},
		{"alert tls any any -> 93.184.216.0/24 443", true},
		{"alert tls any any -> !93.184.216.34 any", false},
		{"alert tls any any -> [!93.184.216.34, 1.2.3.4] any", false},
		{"alert tls any any -> any !443", false},
		{"alert tls any any -> any [1:442,444:]", false},
		{"alert tls any 50000: -> any 400:500", true},
		{"alert tls any any -> $UNDEFINED any", true},
		{"alert tcp any any -> any 443", true},
		{"alert ip any any -> any any", true},
		{"alert any any any -> any any", true},
	}
	for _, c := range cases {
		r := c.hdr + ` (msg:"x"; tls.sni; content:"Example"; sid:9;)`
		got, err := evalRule(t, r, s, Config{Vars: vars})
		if err != nil {
			t.Errorf("%s: %v", c.hdr, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: match %v, want %v", c.hdr, got, c.want)
		}
	}
}

func TestDirections(t *testing.T) {
	s := testSession(t)
	// A uni-directional rule cannot mix to_server and to_client buffers.
	_, err := evalRule(t, ruleFor(`tls.sni; content:"www"; ja3s.hash; content:"5d79";`), s, Config{})
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Errorf("mixed directions with ->: err %v, want a parse error", err)
	}
	got, err := evalRule(t, `alert tls any any => any any (tls.sni; content:"www"; ja3s.hash; content:"5d79"; sid:1;)`, s, Config{})
	if err != nil || !got {
		t.Errorf("=>: got %v %v", got, err)
	}
	got, err = evalRule(t, `alert tls any any => any any (tls.sni; content:"www"; ja3s.hash; content:"6d79"; sid:1;)`, s, Config{})
	if err != nil || got {
		t.Errorf("=> near miss: got %v %v", got, err)
	}
	if _, err := evalRule(t, ruleFor(`flow:to_client; tls.sni; content:"www";`), s, Config{}); !errors.As(err, &pe) {
		t.Errorf("flow:to_client with tls.sni: err %v, want a parse error", err)
	}
}

func TestSkipped(t *testing.T) {
	rules := `alert tls any any -> any any (msg:"a"; flowbits:set,x; tls.sni; content:"a"; sid:1;)
alert tls any any -> any any (msg:"b"; tls.sni; content:"a"; byte_test:1,>,2,0,relative; sid:2;)
alert http any any -> any any (msg:"c"; http.uri; content:"a"; sid:3;)
alert tls any any -> any any (msg:"d"; http.uri; content:"a"; sid:4;)
alert tls any any -> any any (msg:"e"; content:"|16 03|"; sid:5;)
alert tls any any -> any any (msg:"f"; tls.sni; pcre:"/(a)\1/"; sid:6;)
alert tls any any -> any any (msg:"g"; tls.sni; pcre:"/a(?=b)/"; sid:7;)
alert tls any any -> any any (msg:"h"; tls.sni; dataset:isset,x,type string; sid:8;)
alert tls any any -> any any (msg:"i"; lua:x.lua; sid:9;)
alert tls any any -> any any (msg:"j"; tls.sni; content:"ok"; sid:10;)
alert tls any any -> any any (msg:"k"; xbits:set,x,track ip_src; sid:11;)
alert tls any any -> any any (msg:"l"; dns.query; content:"x"; sid:12;)
`
	rs, err := Load(strings.NewReader(rules), "s.rules", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || rs.Rules[0].SID != 10 {
		t.Fatalf("loaded %d rules, want only sid 10", len(rs.Rules))
	}
	want := map[uint64]string{1: "flowbits", 2: "byte_test", 3: "proto http", 4: "http.uri", 5: "content", 6: "pcre", 7: "pcre", 8: "dataset", 9: "lua", 11: "xbits", 12: "dns.query"}
	if len(rs.Skipped) != len(want) {
		t.Errorf("skipped %d, want %d: %v", len(rs.Skipped), len(want), rs.Skipped)
	}
	for _, s := range rs.Skipped {
		if want[s.SID] != s.Keyword {
			t.Errorf("sid %d skipped for %q (%s), want %q", s.SID, s.Keyword, s.Reason, want[s.SID])
		}
		if s.Line == 0 || s.File != "s.rules" {
			t.Errorf("sid %d: location %s:%d", s.SID, s.File, s.Line)
		}
	}
	if rs.SkipCounts["pcre"] != 2 {
		t.Errorf("SkipCounts = %v", rs.SkipCounts)
	}
	for _, s := range rs.Skipped {
		if s.SID == 6 && !strings.Contains(s.Reason, "back-reference") || s.SID == 7 && !strings.Contains(s.Reason, "lookahead") {
			t.Errorf("sid %d reason %q", s.SID, s.Reason)
		}
	}
}

func TestParseSyntax(t *testing.T) {
	file := `# a comment
   # indented comment

alert tls any any -> any any (msg:"semi\; in \"quotes\""; \
    tls.sni; content:"a\;b"; \
    sid:1; rev:3; classtype:trojan-activity; priority:2; \
    reference:url,example.com; metadata:created_at 2024_01_01, signature_severity Major; target:dest_ip; \
    threshold: type limit, track by_src, count 1, seconds 60;)
alert tls any any -> any any (msg:"no sid"; tls.sni; content:"x";)
alert tls any any -> any any (msg:"unterminated; tls.sni; content:"x"; sid:3;)
alert tls any any any any (msg:"bad header"; sid:4;)
alert tls any any -> any any (msg:"bad"; tls.sni; content:"|4|"; sid:5;)
alert tls any any -> any any (msg:"depth"; tls.sni; content:"abc"; depth:2; sid:6;)
alert tls any any -> any any (msg:"nocase first"; nocase; sid:7;)
alert tls any any -> any any (msg:"no end"; sid:8;
alert tls any any -> any any (msg:"df"; tls.sni; content:"x"; detection_filter: track by_dst, count 5, seconds 10; sid:9;)
alert tls any any -> any any (msg:"both"; tls.sni; content:"x"; detection_filter: track by_dst, count 5, seconds 10; threshold: type limit, track by_src, count 1, seconds 60; sid:10;)
`
	rs, err := Load(strings.NewReader(file), "p.rules", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 2 {
		t.Fatalf("%d rules, errors %v", len(rs.Rules), rs.Errors)
	}
	r := rs.Rules[0]
	if r.Msg != `semi; in "quotes"` || r.SID != 1 || r.Rev != 3 || r.Classtype != "trojan-activity" || r.Priority != 2 ||
		r.Line != 4 || r.Target != "dest_ip" || len(r.References) != 1 || len(r.Metadata) != 2 {
		t.Errorf("rule = %+v", r)
	}
	if th := r.Threshold; th == nil || th.Type != "limit" || th.Track != "by_src" || th.Count != 1 || th.Seconds != 60 {
		t.Errorf("threshold = %+v", r.Threshold)
	}
	if r.DetectionFilter != nil {
		t.Errorf("detection_filter = %+v", r.DetectionFilter)
	}
	if df := rs.Rules[1].DetectionFilter; df == nil || df.Track != "by_dst" || df.Count != 5 || df.Seconds != 10 {
		t.Errorf("detection_filter = %+v", rs.Rules[1].DetectionFilter)
	}
	if string(r.sections[0].items[0].pat) != "a;b" {
		t.Errorf("content = %q", r.sections[0].items[0].pat)
	}
	wantLines := []int{9, 10, 11, 12, 13, 14, 15, 17} // 17: threshold and detection_filter
	if len(rs.Errors) != len(wantLines) {
		t.Fatalf("errors: %v", rs.Errors)
	}
	for i, e := range rs.Errors {
		if e.Line != wantLines[i] || e.File != "p.rules" || !strings.HasPrefix(e.Error(), "p.rules:") {
			t.Errorf("error %d: %v, want line %d", i, e, wantLines[i])
		}
	}
}

func TestQUIC(t *testing.T) {
	s := testSession(t)
	s.Transport, s.Protocol, s.QUICVersion = session.UDP, session.QUIC, 0x6b3343cf
	s.TLS.ServerCertificates = nil
	for _, c := range []struct {
		rule string
		want bool
	}{
		{`alert quic any any -> any any (ja4.hash; content:"t13d"; sid:1;)`, true},
		{`alert quic any any -> any any (quic.version; content:"|6b 33 43 cf|"; sid:1;)`, true},
		{`alert tls any any -> any any (ja4.hash; content:"t13d"; sid:1;)`, false},
		{`alert quic any any -> any any (ja3.hash; content:"e7d7"; sid:1;)`, true},
		{`alert udp any any -> any any (ja3.hash; content:"e7d7"; sid:1;)`, true},
	} {
		got, err := evalRule(t, c.rule, s, Config{})
		if err != nil || got != c.want {
			t.Errorf("%s: got %v (%v), want %v", c.rule, got, err, c.want)
		}
	}
}

func TestNoTLS(t *testing.T) {
	s := testSession(t)
	s.TLS, s.Protocol, s.Fingerprints = nil, session.Unknown, session.Fingerprints{}
	for _, r := range []string{
		ruleFor(`tls.sni; content:!"x";`),
		ruleFor(`ssl_version:!tls1.2;`),
		`alert tcp any any -> any any (tls.cert_chain_len:0; sid:1;)`,
	} {
		if got, err := evalRule(t, r, s, Config{}); err != nil || got {
			t.Errorf("%s on a non-TLS session: %v %v", r, got, err)
		}
	}
	// A header-only tcp rule matches any TCP session.
	if got, _ := evalRule(t, `alert tcp any any -> any 443 (msg:"x"; sid:1;)`, s, Config{}); !got {
		t.Error("header-only rule did not match")
	}
}

func TestBacktracking(t *testing.T) {
	s := testSession(t)
	s.TLS.ClientHello.ServerName = "abcabcX"
	for _, c := range []struct {
		opts string
		want bool
	}{
		{`tls.sni; content:"abc"; content:"X"; distance:0; within:1;`, true},
		{`tls.sni; content:"abc"; content:"a"; distance:0; within:1; content:"X"; distance:2; within:1;`, true},
		{`tls.sni; content:"abc"; content:"abc"; distance:0; within:3; content:"abc"; distance:0;`, false},
		// A negated content that is found stops the inspection: no retry
		// with the second "abc" (Suricata's no_match_discontinue).
		{`tls.sni; content:"abc"; content:!"a"; distance:0; within:1;`, false},
		{`tls.sni; content:"abc"; content:!"Y"; distance:0; within:1;`, true},
	} {
		got, err := evalRule(t, ruleFor(c.opts), s, Config{})
		if err != nil || got != c.want {
			t.Errorf("%s: got %v (%v), want %v", c.opts, got, err, c.want)
		}
	}
}

func TestNameFormat(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x0102),
		Subject: pkix.Name{
			CommonName: "a\x00b", SerialNumber: "42",
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{2, 5, 4, 97}, Value: "VATFR-1"}, {Type: []int{1, 2, 840, 113549, 1, 9, 1}, Value: "x@y.z"}},
		},
		NotBefore: testNow, NotAfter: testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cv := parseCert(der)
	if !cv.ok {
		t.Fatal("certificate did not parse")
	}
	if got, want := string(cv.subject), "CN=a\x00b, serialNumber=42, 2.5.4.97=VATFR-1, Email=x@y.z"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if got := string(cv.serial); got != "01:02" {
		t.Errorf("serial %q", got)
	}
	// Never panics on garbage.
	for i := 0; i < len(der); i += 7 {
		parseCert(der[:i])
	}
}

func TestDuplicateSID(t *testing.T) {
	rules := `alert tls any any -> any any (msg:"old"; tls.sni; content:"a"; sid:1; rev:1;)
alert tls any any -> any any (msg:"new"; tls.sni; content:"b"; sid:1; rev:2;)
alert tls any any -> any any (msg:"older"; tls.sni; content:"c"; sid:1; rev:1;)
`
	rs, err := Load(strings.NewReader(rules), "d.rules", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || rs.Rules[0].Msg != "new" || len(rs.Errors) != 2 {
		t.Fatalf("rules %v errors %v", rs.Rules, rs.Errors)
	}
	if rs.Errors[0].Line != 1 || rs.Errors[1].Line != 3 {
		t.Errorf("errors %v", rs.Errors)
	}
}

// TestRealWorldShapes loads rules written the way ET Open and abuse.ch
// SSLBL write them.
func TestRealWorldShapes(t *testing.T) {
	s := testSession(t)
	fp := string(parseCert(leafDER).fingerprint)
	rules := `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"SSLBL: Malicious SSL certificate detected (Dridex C&C)"; tls.fingerprint:"` + fp + `"; reference:url, sslbl.abuse.ch/ssl-certificates/sha1/x/; sid:902200000; rev:1;)
alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"SSLBL: Malicious JA3 SSL-Client Fingerprint detected (Tofsee)"; ja3_hash; content:"e7d705a3286e19ea42f587b344ee6865"; reference:url, sslbl.abuse.ch/ja3-fingerprints/x/; sid:906200000; rev:1;)
alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET MALWARE Observed Malicious Domain in TLS SNI"; flow:established,to_server; tls.sni; bsize:15; content:"www.Example.com"; fast_pattern; reference:url,example.org; classtype:domain-c2; sid:2040000; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2022_11_01, deployment Perimeter, signature_severity Major, updated_at 2022_11_01;)
alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET INFO Observed DNS over HTTPS Domain in TLS SNI"; flow:established,to_server; tls.sni; dotprefix; content:".example.com"; nocase; endswith; classtype:bad-unknown; sid:2040001; rev:2;)
alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET POLICY Self Signed SSL Certificate (SomeOrganizationalUnit)"; flow:established,from_server; tls.cert_issuer; content:"O=Stamus"; tls.cert_subject; content:"CN=test.example"; isdataat:!1,relative; classtype:policy-violation; sid:2013659; rev:4;)
alert tls $EXTERNAL_NET 443 -> $HOME_NET any (msg:"ET MALWARE Cert"; flow:established,to_client; tls.cert_serial; content:"00:97:E6"; startswith; threshold:type limit, track by_src, seconds 60, count 1; sid:2040002; rev:1;)
alert tcp $HOME_NET any -> $EXTERNAL_NET 443 (msg:"ET POLICY old payload rule"; flow:established,to_server; content:"|16 03 01|"; depth:3; content:"|01|"; distance:2; within:1; sid:2040003; rev:1;)
alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET INFO cert expired"; flow:established,to_client; tls_cert_expired; sid:2040004; rev:1;)
`
	vars := map[string]string{"HOME_NET": "[10.0.0.0/8,192.168.0.0/16,172.16.0.0/12]", "EXTERNAL_NET": "!$HOME_NET"}
	rs, err := Load(strings.NewReader(rules), "et.rules", Config{Vars: vars})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Errors) > 0 || len(rs.Skipped) != 1 || rs.Skipped[0].SID != 2040003 {
		t.Fatalf("errors %v skipped %v", rs.Errors, rs.Skipped)
	}
	got := rs.MatchSIDs(s)
	want := []uint64{902200000, 906200000, 2040000, 2040001, 2013659, 2040002}
	if len(got) != len(want) {
		t.Fatalf("matched %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("matched %v, want %v", got, want)
		}
	}
}

func TestConcurrentMatch(t *testing.T) {
	rs, err := Load(strings.NewReader(genRules(300)+ruleFor(`tls.cert_subject; content:"CN=test";`)), "c.rules", Config{Vars: benchVars})
	if err != nil || len(rs.Errors) > 0 {
		t.Fatal(err, rs.Errors)
	}
	base := testSession(t)
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- true }()
			for i := 0; i < 200; i++ {
				s := *base
				if n := len(rs.Match(&s)); n != 1 {
					t.Errorf("matched %d rules, want 1", n)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// TestPrefilterExact checks that the prefilter never hides a match: Match
// equals evaluating every rule, on sessions that hit and miss.
func TestPrefilterExact(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(genRules(500))
	// every keyword-table rule, each with its own sid
	for i, opts := range []string{
		`tls.sni; dotprefix; content:".example.com"; nocase; endswith;`, `tls.sni; dotprefix; content:"."; startswith;`,
		`tls.sni; to_uppercase; content:"WWW.EXAMPLE";`, `tls.sni; to_md5; content:"|00|";`,
		`tls.sni; content:!"zzz";`, `ssl_version:tls1.2;`, `tls.alpn; content:"H2"; nocase;`,
		`tls.cert_serial; content:"00:97:e6";`, `ja3.hash; content:"E7D705A3";`, `tls.fingerprint:"AA";`,
		`tls.sni; content:"www"; fast_pattern; content:"Example";`, `tls.certs; content:"intermediate"; nocase;`,
	} {
		fmt.Fprintf(&sb, "alert tls any any -> any any (%s sid:%d;)\n", opts, 9000+i)
	}
	rs, err := Load(strings.NewReader(sb.String()), "p.rules", Config{Vars: benchVars})
	if err != nil || len(rs.Errors) > 0 || len(rs.Skipped) > 0 {
		t.Fatal(err, rs.Errors, rs.Skipped)
	}
	sessions := []*session.Session{testSession(t)}
	for _, sni := range []string{"a.evil20.example", "cdn8.abcde.top", "EXAMPLE.COM", "x", ""} {
		s := testSession(t)
		s.TLS.ClientHello.ServerName = sni
		sessions = append(sessions, s)
	}
	total := 0
	for _, s := range sessions {
		got := rs.MatchSIDs(s)
		total += len(got)
		c := &evalCtx{cache: &rs.certs}
		c.reset(s)
		var want []uint64
		for _, r := range rs.Rules {
			if c.matchRule(r) {
				want = append(want, r.SID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sni %q: Match %v, every rule %v", s.TLS.ClientHello.ServerName, got, want)
		}
	}
	if total < 20 {
		t.Errorf("only %d matches over %d sessions: the test is too weak", total, len(sessions))
	}
}

// An option ends at an unescaped ';', not at a quote: Suricata's
// SigParseOptions looks for the first ';' without a backslash before it, so
// the quote inside the pcre below does not open a string.
func TestOptionEndsAtSemicolon(t *testing.T) {
	rule := `alert tls any any -> any any (msg:"quote in pcre"; tls.sni; content:"post"; nocase; pcre:"/^["']?post/Ri"; sid:42; rev:1;)`
	r, err := ParseRule(rule, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if r.SID != 42 || r.Rev != 1 || r.Msg != "quote in pcre" {
		t.Errorf("rule = %+v", r)
	}
	// The same pcre, not relative, judged on the SNI.
	rule = `alert tls any any -> any any (msg:"quote in pcre"; tls.sni; pcre:"/^["']?post/i"; sid:43;)`
	rs, err := Load(strings.NewReader(rule+"\n"), "q.rules", Config{})
	if err != nil || len(rs.Rules) != 1 {
		t.Fatalf("load: %v, %d rules, errors %v", err, len(rs.Rules), rs.Errors)
	}
	for sni, want := range map[string]bool{"'post.example": true, "\"POST": true, "post": true, "xpost": false} {
		s := testSession(t)
		s.TLS.ClientHello.ServerName = sni
		if got := len(rs.Match(s)) == 1; got != want {
			t.Errorf("sni %q: match %v, want %v", sni, got, want)
		}
	}
}
