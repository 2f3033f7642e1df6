package detect

import (
	"strings"
	"testing"
)

// A rule that names an anomaly tlsparse does not know is refused, with the
// file, the line and the closest name.
func TestRuleAnomalyNames(t *testing.T) {
	cases := []struct {
		name, cond, want string // want "" accepts
	}{
		{"in", `"midstream" in tlsentry.anomalies`, ""},
		{"in, misspelt", `"midstraem" in tlsentry.anomalies`, `r.yaml:6: rule x.a: condition: 1:1: no anomaly is named "midstraem" (did you mean "midstream"?)`},
		{"negated, second line", "destination.port == 443 &&\n!(\"tcp_gapp\" in tlsentry.anomalies)", `r.yaml:7: rule x.a: condition: 2:3: no anomaly is named "tcp_gapp" (did you mean "tcp_gap"?)`},
		{"parse anomalies", `"fragmented_helo" in tlsentry.parse_anomalies`, `no anomaly is named "fragmented_helo" (did you mean "fragmented_hello"?)`},
		{"exists ==", `tlsentry.anomalies.exists(a, a == "tcp_overlap")`, ""},
		{"exists == misspelt", `tlsentry.anomalies.exists(a, a == "tcp_overlop")`, `no anomaly is named "tcp_overlop" (did you mean "tcp_overlap"?)`},
		{"exists, constant first", `tlsentry.anomalies.exists(a, "quic_retyr" == a)`, `(did you mean "quic_retry"?)`},
		{"all !=", `tlsentry.anomalies.all(a, a != "gap_clinet")`, `(did you mean "gap_client"?)`},
		{"exists_one", `tlsentry.anomalies.exists_one(a, a == "socks")`, ""},
		{"filter", `tlsentry.anomalies.filter(a, a == "sockz").size() > 0`, `"sockz"`},
		{"in a list", `tlsentry.anomalies.exists(a, a in ["tcp_gap", "tcp_overlap"])`, ""},
		{"in a list, misspelt", `tlsentry.anomalies.exists(a, a in ["tcp_gap", "tcp_ovrelap"])`, `"tcp_ovrelap" (did you mean "tcp_overlap"?)`},
		{"startsWith", `tlsentry.anomalies.exists(a, a.startsWith("quic_"))`, ""},
		{"startsWith, no such prefix", `tlsentry.anomalies.exists(a, a.startsWith("quik_"))`, `no anomaly name starts with "quik_" (did you mean "quic_`},
		{"endsWith", `tlsentry.anomalies.exists(a, a.endsWith("_limit"))`, ""},
		{"contains, nothing fits", `tlsentry.anomalies.exists(a, a.contains("heartbleed"))`, `no anomaly name contains "heartbleed"`},
		{"index", `tlsentry.anomalies.size() > 0 && tlsentry.anomalies[0] == "midstrem"`, `"midstrem" (did you mean "midstream"?)`},
		{"list equality", `tlsentry.anomalies == ["midstream", "tcp_gapp"]`, `"tcp_gapp"`},
		{"shadowed: a is not an anomaly here", `tlsentry.anomalies.exists(a, ["x"].exists(a, a == "x"))`, ""},
		{"other lists are not judged", `tlsentry.client.alpn.exists(a, a == "midstraem") || "h3" in tlsentry.client.alpn`, ""},
		{"computed names are not judged", `tls.next_protocol in tlsentry.anomalies && tlsentry.client.alpn.exists(p, p == tls.next_protocol)`, ""},
		{"nested comprehension", `tlsentry.anomalies.exists(a, tlsentry.client.alpn.exists(p, a == "midstraem"))`, `"midstraem"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkOne(t, c.cond, "")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q\nwant it to contain %q", err, c.want)
			}
		})
	}
	// Messages are judged too.
	if err := checkOne(t, "true", `${'midstreem' in tlsentry.anomalies}`); err == nil || !strings.Contains(err.Error(), `r.yaml:7: rule x.a: message ${'midstreem' in tlsentry.anomalies}: 1:1: no anomaly is named "midstreem"`) {
		t.Errorf("message: %v", err)
	}
}
