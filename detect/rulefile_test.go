package detect

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

func TestRuleFileErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", `rules:
  - id: x.a
    category: c
    severity: low
    condtion: "true"
`, "bad.yaml:5: unknown rule key \"condtion\""},
		{"unknown top key", "rulez: []\n", "bad.yaml:1: field rulez not found"},
		{"undeclared variable", `rules:
  - id: x.a
    category: c
    severity: low
    condition: tls.verison == "1.0"
`, "bad.yaml:5: rule x.a: condition: 1:4: undeclared reference to 'tls.verison' (did you mean 'tls.version'?)"},
		{"error on line 3 of a block", `rules:
  - id: x.a
    category: c
    severity: low
    condition: |
      tlsentry.client.hello &&
      tls.client.server_name != "" &&
      tls.client.server_name == )
`, "bad.yaml:8: rule x.a: condition: 3:"},
		{"not bool", `rules:
  - id: x.a
    category: c
    severity: low
    condition: tls.client.server_name
`, "bad.yaml:5: rule x.a: condition is string, not bool"},
		{"bad severity", `rules:
  - id: x.a
    category: c
    severity: urgent
    condition: "true"
`, "bad.yaml:2: rule x.a: severity \"urgent\""},
		{"unknown technique", `rules:
  - id: x.a
    category: c
    severity: low
    mitre: [T1573, T9999]
    condition: "true"
`, "bad.yaml:2: rule x.a: mitre: unknown ATT&CK technique \"T9999\""},
		{"technique twice", `rules:
  - id: x.a
    category: c
    severity: low
    mitre: [T1573, T1573]
    condition: "true"
`, "bad.yaml:2: rule x.a: mitre: T1573 named twice"},
		{"risk score", `rules:
  - id: x.a
    category: c
    severity: low
    risk_score: 101
    condition: "true"
`, "risk_score 101 is outside 0-100"},
		{"no condition", `rules:
  - id: x.a
    category: c
    severity: low
`, "bad.yaml:2: rule x.a: no condition"},
		{"duplicate of builtin checked in New", `rules:
  - id: x.a
    category: c
    severity: low
    condition: "true"
  - id: x.a
    category: c
    severity: low
    condition: "false"
`, "bad.yaml:6: rule x.a is already defined at"},
		{"bad message expression", `rules:
  - id: x.a
    category: c
    severity: low
    condition: "true"
    message: "on ${tlsentry.server.dispaly}"
`, "bad.yaml:6: rule x.a: message ${tlsentry.server.dispaly}"},
		{"unclosed message", `rules:
  - id: x.a
    category: c
    severity: low
    condition: "true"
    message: "on ${tlsentry.server.display"
`, "unclosed ${"},
		{"bad id", `rules:
  - id: "X A"
    category: c
    severity: low
    condition: "true"
`, "rule id \"X A\""},
		{"wrong type", `rules:
  - id: x.a
    category: c
    severity: low
    references: 3
    condition: "true"
`, "bad.yaml:5: cannot unmarshal"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(p, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Check(p)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
}

func TestUserRulesAndDisabling(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "mine.yaml", `rules:
  - id: local.h2_to_test
    name: h2 to test domains
    category: policy
    severity: high
    version: "3"
    references: [https://example.test/policy]
    condition: tls.next_protocol == "h2" && tls.client.server_name.endsWith(".test") && "h2" in tlsentry.client.alpn && 0xc02f in tlsentry.client.cipher_ids && tlsentry.client.extension_ids.exists(e, e == 16)
    message: "h2 to ${tls.client.server_name} via ${tls.cipher}, ${tlsentry.client.alpn}"
  - id: local.off
    category: policy
    severity: low
    enabled: false
    condition: "true"
`)
	roots := []*x509.Certificate{}
	e, err := New(Config{RuleFiles: []string{p}, Roots: roots, DisableCategories: []string{"certificate"}, DisableIDs: []string{"tls.missing_sni"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Rules() {
		if r.Category == "certificate" || r.ID == "tls.missing_sni" || r.ID == "local.off" {
			t.Errorf("rule %s should be off", r.ID)
		}
	}
	s := testSession(t, func(s *session.Session) { s.TLS.ClientHello.ServerName = "www.example.test" })
	v := e.Evaluate(s)
	a := fired(v)["local.h2_to_test"]
	if a == nil {
		t.Fatalf("user rule did not fire: %s", alertList(v))
	}
	if a.Message != "h2 to www.example.test via TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, h2, http/1.1" {
		t.Errorf("message %q", a.Message)
	}
	if a.Rule.Ruleset != p || a.Rule.Severity != "high" || a.Rule.RiskScore != 73 || a.Rule.Version != "3" || a.Rule.SeverityScore() != 73 {
		t.Errorf("rule metadata %+v", a.Rule)
	}
	// Untrusted chain with all certificate rules off: nothing about it.
	if _, ok := fired(v)["cert.untrusted"]; ok {
		t.Error("cert.untrusted fired while its category is disabled")
	}
	if v.Validation != ValidationUntrusted {
		t.Errorf("validation %q with an empty trust store", v.Validation)
	}

	if _, err := New(Config{Roots: roots, DisableIDs: []string{"tls.no_such_rule"}}); err == nil || !strings.Contains(err.Error(), "tls.no_such_rule") {
		t.Errorf("unknown disabled id: %v", err)
	}
	if _, err := New(Config{Roots: roots, DisableCategories: []string{"nope"}}); err == nil {
		t.Error("unknown disabled category accepted")
	}
}

// Every built-in rule id the issue names exists, with complete metadata.
func TestBuiltinRuleSet(t *testing.T) {
	e, err := New(Config{Roots: []*x509.Certificate{}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tls.deprecated_version", "tls.sslv2_hello", "tls.weak_cipher", "tls.no_forward_secrecy",
		"tls.weak_dh", "tls.missing_sni", "tls.heartbleed", "tls.fragmented_hello", "proto.non_tls_on_443",
		"cert.expired", "cert.not_yet_valid", "cert.self_signed", "cert.weak_key", "cert.weak_signature",
		"cert.name_mismatch", "cert.untrusted", "cert.long_validity", "intel.ja3", "intel.ja4",
		"intel.cert_sha1", "intel.domain", "intel.ip",
		"tcp.overlap_different_data", "ip.fragment_overlap", "tls.unexpected_client_hello",
		"inventory.new_client_fingerprint", "inventory.new_server_certificate", "cert.expiring_soon",
		"policy.dns_over_https", "anomaly.tls_tunnel"}
	have := map[string]*Rule{}
	for _, r := range e.Rules() {
		have[r.ID] = r
	}
	if len(have) != len(want) {
		t.Errorf("%d built-in rules, want %d", len(have), len(want))
	}
	for _, id := range want {
		r := have[id]
		if r == nil {
			t.Errorf("missing built-in rule %s", id)
			continue
		}
		if r.Name == "" || r.Description == "" || r.Version == "" || r.Ruleset != "builtin" || r.RiskScore == 0 {
			t.Errorf("rule %s: incomplete metadata %+v", id, r)
		}
	}
	// The built-in rules that name ATT&CK techniques, with the names of
	// attack.mitre.org.
	techniques := map[string]string{
		"intel.ja3":            "T1573 Encrypted Channel, T1071.001 Web Protocols",
		"intel.ja4":            "T1573 Encrypted Channel, T1071.001 Web Protocols",
		"intel.cert_sha1":      "T1573 Encrypted Channel, T1587.003 Digital Certificates",
		"intel.domain":         "T1573 Encrypted Channel",
		"intel.ip":             "T1573 Encrypted Channel",
		"cert.self_signed":     "T1587.003 Digital Certificates",
		"tls.heartbleed":       "T1190 Exploit Public-Facing Application",
		"proto.non_tls_on_443": "T1571 Non-Standard Port",
	}
	for id, r := range have {
		var got []string
		for _, tq := range r.Techniques {
			got = append(got, tq.ID+" "+tq.Name)
		}
		if g := strings.Join(got, ", "); g != techniques[id] {
			t.Errorf("rule %s: techniques %q, want %q", id, g, techniques[id])
		}
	}
	sub := Technique{ID: "T1071.001", Name: "Web Protocols"}
	if p := sub.Parent(); p.ID != "T1071" || p.Name != "Application Layer Protocol" || !sub.IsSub() ||
		sub.Reference() != "https://attack.mitre.org/techniques/T1071/001/" {
		t.Errorf("sub-technique: parent %+v, reference %s", p, sub.Reference())
	}
}

// A condition can only read variables that exist; the variables table and
// its index agree.
func TestVariableTable(t *testing.T) {
	seen := map[string]bool{}
	for i, v := range variables {
		if seen[v.name] {
			t.Errorf("duplicate variable %s", v.name)
		}
		seen[v.name] = true
		if j, ok := lookupVariable(v.name); variableIndex[v.name] != i || !ok || j != i {
			t.Errorf("variable %s: index", v.name)
		}
	}
	if !varTableOK {
		t.Error("no collision-free seed for the variable table: add one")
	}
	for _, name := range []string{"tls", "tls.versio", "tls.version_", "tlsentry.intel", "x", "tlsentry.server.x509.names2", "tls.sni"} {
		if _, ok := lookupVariable(name); ok {
			t.Errorf("%q resolved", name)
		}
	}
	// Every variable resolves on an empty session without panicking.
	e, err := New(Config{NoBuiltin: true, Roots: []*x509.Certificate{}})
	if err != nil {
		t.Fatal(err)
	}
	var a activation
	a.reset(e, &session.Session{})
	for _, v := range variables {
		if val, ok := a.ResolveName(v.name); !ok || val == nil {
			t.Errorf("%s did not resolve", v.name)
		}
	}
}

// Partial and odd sessions (no hellos, certificates that did not parse, nil
// entries, zero times) are judged without panicking and without cert.*
// alerts.
func TestOddSessions(t *testing.T) {
	e := testEngine(t)
	bad := &tlsparse.CertSummary{SHA1: "00", Err: errors.New("x509: malformed")}
	for i, s := range []*session.Session{
		{},
		{Protocol: session.TLS, TLS: &tlsparse.Handshake{}},
		{Protocol: session.TLS, TLS: &tlsparse.Handshake{ServerHello: &tlsparse.ServerHello{CipherSuite: 0xffff, LegacyVersion: 0x7f1c}}},
		{Protocol: session.TLS, TLS: &tlsparse.Handshake{ClientHello: &tlsparse.ClientHello{}}, Certificates: []*tlsparse.CertSummary{nil, bad}},
		{Protocol: session.TLS, TLS: &tlsparse.Handshake{ClientHello: &tlsparse.ClientHello{ServerName: "a.test"}}, Certificates: []*tlsparse.CertSummary{bad}},
		{Protocol: session.TLS, TLS: &tlsparse.Handshake{Heartbeats: []tlsparse.Heartbeat{{Type: 1, DeclaredLength: -5, RecordLength: -1}}}},
	} {
		v := e.Evaluate(s)
		for _, a := range v.Alerts {
			if strings.HasPrefix(a.Rule.ID, "cert.") {
				t.Errorf("session %d: %s: %s", i, a.Rule.ID, a.Message)
			}
		}
		if v.Validation != ValidationNotChecked {
			t.Errorf("session %d: validation %s", i, v.Validation)
		}
	}
}
