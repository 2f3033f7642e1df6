package detect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkOne writes a rule with condition cond (and message msg, when not
// empty) at line 5 of a file and returns what Check says.
func checkOne(t *testing.T, cond, msg string) error {
	t.Helper()
	y := "rules:\n  - id: x.a\n    category: c\n    severity: low\n    condition: |\n      " +
		strings.ReplaceAll(cond, "\n", "\n      ") + "\n"
	if msg != "" {
		y += "    message: \"" + msg + "\"\n"
	}
	p := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Check(p)
	return err
}

// An old variable name is refused with the file, the line and the new name.
func TestRuleOldNames(t *testing.T) {
	cases := []struct {
		name, cond, msg, want string
	}{
		{"sni", `tls.sni == "x"`, "", `r.yaml:6: rule x.a: condition: 1:1: undeclared reference to 'tls.sni' (renamed: did you mean 'tls.client.server_name'?)`},
		{"method on an old name", `tls.sni.endsWith(".test")`, "", `'tls.sni' (renamed: did you mean 'tls.client.server_name'?)`},
		{"anomalies", `"midstream" in anomalies`, "", `1:16: undeclared reference to 'anomalies' (renamed: did you mean 'tlsentry.anomalies'?)`},
		{"second line, two names", "tlsentry.server.x509.present &&\ncert.not_after < event.start && server.ip != \"\"", "",
			`r.yaml:7: rule x.a: condition: 2:1: undeclared reference to 'cert.not_after' (renamed: did you mean 'tls.server.x509.not_after'?); 2:33: undeclared reference to 'server.ip' (renamed: did you mean 'destination.ip'?)`},
		{"intel", `intel.ja3 != ""`, "", `'intel.ja3' (renamed: did you mean 'tlsentry.intel.ja3.list'?)`},
		{"intel entry", `intel.domain_value != ""`, "", `'intel.domain_value' (renamed: did you mean 'tlsentry.intel.domain.value'?)`},
		{"in a macro", `tls.client_ciphers.exists(c, c == 5)`, "", `'tls.client_ciphers' (renamed: did you mean 'tlsentry.client.cipher_ids'?)`},
		{"message", `true`, `on ${server.display}`, `r.yaml:7: rule x.a: message ${server.display}: 1:1: undeclared reference to 'server.display' (renamed: did you mean 'tlsentry.server.display'?)`},
		{"a typo is not a rename", `tls.verison == "1.2"`, "", `undeclared reference to 'tls.verison' (did you mean 'tls.version'?)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkOne(t, c.cond, c.msg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}
