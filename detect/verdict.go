// Package detect judges finished sessions with rules and threat-intel lists.
package detect

// Validation results for tlsentry.server.validation.
const (
	ValidationTrusted    = "trusted"
	ValidationUntrusted  = "untrusted"
	ValidationNotChecked = "not_checked"
)

// Rule is one detection rule. Built-in rules live in rules/; users add files.
type Rule struct {
	ID          string // e.g. "tls.deprecated_version"; an interface users filter on
	Name        string
	Category    string // "protocol", "cipher", "certificate", "intel", "anomaly"
	Severity    string // "low", "medium", "high", "critical"
	RiskScore   int    // 0-100
	Description string
	References  []string
	Version     string
	Ruleset     string // "builtin" or the file it came from
}

// SeverityScore maps Severity to the numbers Kibana Security uses
// (21 low, 47 medium, 73 high, 99 critical).
func (r *Rule) SeverityScore() int {
	switch r.Severity {
	case "critical":
		return 99
	case "high":
		return 73
	case "medium":
		return 47
	}
	return 21
}

// Alert is one rule firing on one session.
type Alert struct {
	Rule    *Rule
	Message string // says why, in words, naming the session's server
	// Intel is set when a threat-intel list matched.
	Intel *IntelMatch
}

// IntelMatch names the list and the entry that matched.
type IntelMatch struct {
	List  string // list name (from the configuration)
	Entry string // the entry as written in the list
	Field string // what matched it: "ja3", "ja4", "cert_sha1", "sni", "cert_name", "ip"
	// Reason is the list's own words for the entry (abuse.ch "Listingreason"), if any.
	Reason string
}

// Verdict is the judgement of one session.
type Verdict struct {
	Validation string // ValidationTrusted, ValidationUntrusted or ValidationNotChecked
	Alerts     []Alert
}
