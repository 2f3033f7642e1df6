package suricata

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// verifyRuleFiles returns the suricata-verify corpus rule files, or nil
// when the corpus is absent (it is located like corpustest.Dir, without
// skipping).
func verifyRuleFiles() []string {
	wd, err := os.Getwd()
	if err != nil {
		return nil
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return nil
		}
		root = parent
	}
	var out []string
	filepath.WalkDir(filepath.Join(root, "..", "shared", "corpus", "suricata-verify-tls", "tests"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".rules") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func FuzzParseRules(f *testing.F) {
	for _, p := range verifyRuleFiles() {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Add(`alert tls $HOME_NET any -> [!1.2.3.0/24,$EXTERNAL_NET] [443,8443:] (msg:"x\;y"; flow:established,to_server; tls.sni; dotprefix; content:".evil|2e|com"; nocase; endswith; fast_pattern; pcre:"/ev[i]l/Ri"; isdataat:!1,relative; bsize:<100; threshold: type limit, track by_src, count 1, seconds 60; sid:1; rev:2;)`)
	f.Add(`alert tls any any => any any (ja3.hash; content:"abc"; ja3s.hash; content:!"def"; tls.cert_chain_len:1<>4; tls_cert_notafter:2020-01-01<>2030-01-01; ssl_state:!client_hello|server_hello; sid:2;)`)
	f.Add(`alert tls any any -> any any (tls.subject:!"CN=x"; tls.fingerprint:"AA:bb"; ssl_version:!tls1.3,tls1.2; tls.version:0x7f12; content:"a"; distance:-3; within:5; sid:3;)` + "\n" + `alert tls any any <> any any ( \` + "\n" + `tls.certs; content:"|30 82|"; offset:0; depth:2; sid:4;)`)
	s := testSession(f)
	vars := map[string]string{"HOME_NET": "[10.0.0.0/8]", "EXTERNAL_NET": "!$HOME_NET", "LOOP": "$LOOP"}
	f.Fuzz(func(t *testing.T, data string) {
		rs, err := Load(strings.NewReader(data), "fuzz.rules", Config{Vars: vars})
		if err != nil {
			return
		}
		rs.Match(s)
		for _, e := range rs.Errors {
			_ = e.Error()
		}
		for _, sk := range rs.Skipped {
			_ = sk.String()
		}
	})
}

// genRules writes n rules shaped like ET Open / SSLBL TLS rules.
func genRules(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		sid := 2000000 + i
		switch i % 10 {
		case 0, 1, 2:
			fmt.Fprintf(&b, `alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET MALWARE Observed Malicious Domain (evil%d.example) in TLS SNI"; flow:established,to_server; tls.sni; dotprefix; content:".evil%d.example"; nocase; endswith; fast_pattern; reference:url,example.com/%d; classtype:trojan-activity; sid:%d; rev:1; metadata:created_at 2024_01_01;)`+"\n", i, i, i, sid)
		case 3, 4:
			fmt.Fprintf(&b, `alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET JA3 Hash %d"; ja3.hash; content:"%032x"; sid:%d; rev:1;)`+"\n", i, i*7919, sid)
		case 5, 6:
			fmt.Fprintf(&b, `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"SSLBL: Malicious SSL certificate detected (%d)"; tls.fingerprint:"%s"; reference:url,sslbl.abuse.ch; sid:%d; rev:1;)`+"\n", i, fakeFP(i), sid)
		case 7:
			fmt.Fprintf(&b, `alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET POLICY cert %d"; flow:established,to_client; tls.cert_subject; content:"CN=host%d.bad"; nocase; isdataat:!1,relative; sid:%d; rev:1;)`+"\n", i, i, sid)
		case 8:
			fmt.Fprintf(&b, `alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET SNI pcre %d"; flow:established,to_server; tls.sni; content:"cdn%d"; fast_pattern; pcre:"/^cdn%d\.[a-z]{4,8}\.(top|xyz)$/"; sid:%d; rev:1;)`+"\n", i, i, i, sid)
		case 9:
			fmt.Fprintf(&b, `alert tls $EXTERNAL_NET 443 -> $HOME_NET any (msg:"ET issuer %d"; flow:established,to_client; tls.cert_issuer; content:"O=Bad Issuer %d"; tls.cert_subject; content:"CN="; sid:%d; rev:1;)`+"\n", i, i, sid)
		}
	}
	return b.String()
}

// genRulesIPLists is genRules(n-lists) and lists rules shaped like ET
// Open's CINS / compromised / DShield rules: no content, an address list of
// perAddr entries in the header (ET's hold 250 or so), so every session
// evaluates their header.
func genRulesIPLists(n, lists, perAddr int) string {
	var b strings.Builder
	b.WriteString(genRules(n - lists))
	for l := 0; l < lists; l++ {
		addrs := make([]string, perAddr)
		for j := range addrs {
			k := l*perAddr + j
			if j%25 == 0 {
				addrs[j] = fmt.Sprintf("%d.%d.%d.0/24", 20+k%200, (k*7)%256, (k*13)%256)
			} else {
				addrs[j] = fmt.Sprintf("%d.%d.%d.%d", 20+k%200, (k*7)%256, (k*13)%256, (k*29)%256)
			}
		}
		fmt.Fprintf(&b, `alert ip [%s] any -> $HOME_NET any (msg:"ET CINS Active Threat Intelligence Poor Reputation IP group %d"; reference:url,www.cinsscore.com; threshold: type limit, track by_src, seconds 3600, count 1; classtype:misc-attack; sid:%d; rev:1;)`+"\n",
			strings.Join(addrs, ","), l+1, 2403300+l)
	}
	return b.String()
}

// BenchmarkMatch3000IPLists is BenchmarkMatch3000 with 60 of the 3,000
// rules IP-list rules of 250 addresses each.
func BenchmarkMatch3000IPLists(b *testing.B) { benchMatch(b, genRulesIPLists(3000, 60, 250)) }

func fakeFP(i int) string {
	var parts []string
	for j := 0; j < 20; j++ {
		parts = append(parts, fmt.Sprintf("%02x", (i*31+j*17)&0xff))
	}
	return strings.Join(parts, ":")
}

var benchVars = map[string]string{"HOME_NET": "[10.0.0.0/8,192.168.0.0/16,172.16.0.0/12]", "EXTERNAL_NET": "!$HOME_NET"}

func BenchmarkLoad3000(b *testing.B) {
	rules := genRules(3000)
	b.SetBytes(int64(len(rules)))
	for b.Loop() {
		rs, err := Load(strings.NewReader(rules), "gen.rules", Config{Vars: benchVars})
		if err != nil || len(rs.Rules) != 3000 {
			b.Fatalf("%v: %d rules, %d errors, %d skipped", err, len(rs.Rules), len(rs.Errors), len(rs.Skipped))
		}
	}
}

func BenchmarkMatch3000(b *testing.B) { benchMatch(b, genRules(3000)) }

// benchMatch loads 3,000 rules and matches the test session against them.
func benchMatch(b *testing.B, rules string) {
	rs, err := Load(strings.NewReader(rules), "gen.rules", Config{Vars: benchVars})
	if err != nil || len(rs.Rules) != 3000 {
		b.Fatal(err, len(rs.Rules), rs.Errors)
	}
	s := testSession(b)
	b.ReportAllocs()
	for b.Loop() {
		rs.Match(s)
	}
}

// BenchmarkMatch3000Hit evaluates a session that several rules' fast
// patterns (and rules) hit.
func BenchmarkMatch3000Hit(b *testing.B) {
	rs, err := Load(strings.NewReader(genRules(3000)), "gen.rules", Config{Vars: benchVars})
	if err != nil {
		b.Fatal(err)
	}
	s := testSession(b)
	s.TLS.ClientHello.ServerName = "a.evil20.example"
	s.Fingerprints.JA3 = fmt.Sprintf("%032x", 3*7919)
	if len(rs.Match(s)) != 2 {
		b.Fatalf("want 2 matches, got %d", len(rs.Match(s)))
	}
	b.ReportAllocs()
	for b.Loop() {
		rs.Match(s)
	}
}

// BenchmarkLoadETSized loads 3,000 TLS rules among 47,000 rules of other
// protocols (ET Open's size), which the loader must skip.
func BenchmarkLoadETSized(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(genRules(3000))
	for i := 0; i < 47000; i++ {
		fmt.Fprintf(&sb, `alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET MALWARE Something %d"; flow:established,to_server; http.method; content:"POST"; http.uri; content:"/gate%d.php"; fast_pattern; http.header; content:"User-Agent|3a 20|x"; pcre:"/^\/gate\d+\.php$/U"; reference:url,example.com; classtype:trojan-activity; sid:%d; rev:1; metadata:created_at 2024_01_01;)`+"\n", i, i, 3000000+i)
	}
	rules := sb.String()
	for b.Loop() {
		rs, err := Load(strings.NewReader(rules), "et.rules", Config{Vars: benchVars})
		if err != nil || len(rs.Rules) != 3000 || len(rs.Skipped) != 47000 {
			b.Fatalf("%v: %d rules, %d skipped, %d errors", err, len(rs.Rules), len(rs.Skipped), len(rs.Errors))
		}
	}
}

// BenchmarkMatch3000Cold is BenchmarkMatch3000 with the certificate cache
// emptied each time: every session brings certificates not seen before.
func BenchmarkMatch3000Cold(b *testing.B) {
	rs, err := Load(strings.NewReader(genRules(3000)), "gen.rules", Config{Vars: benchVars})
	if err != nil {
		b.Fatal(err)
	}
	s := testSession(b)
	b.ReportAllocs()
	for b.Loop() {
		rs.certs.m = nil
		rs.Match(s)
	}
}
