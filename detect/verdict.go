// Package detect judges finished sessions with rules and threat-intel lists.
package detect

import "time"

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
	// Techniques are the MITRE ATT&CK techniques the rule names (mitre:).
	Techniques []Technique
	// Limit is the rule's suppress or threshold block in words ("one alert
	// per 1h per (destination.ip, tls.server.hash.sha256)"); "" without.
	Limit string
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

	// Count is how many matches of the rule the alert stands for: 1, plus
	// the matches of the same rule and key that its suppress or threshold
	// block held back since the key's previous alert (rules/README.md).
	// Engine alerts have Count >= 1.
	Count uint64
	// First is the packet time of the first match counted in Count, when
	// Count > 1 (zero otherwise).
	First time.Time
	// CountText says it in words for event.reason when Count > 1: "(and 41
	// more matches in the last 1h)"; "" otherwise.
	CountText string
}

// IntelMatch names the list and the entry that matched.
type IntelMatch struct {
	List  string // list name (from the configuration)
	Entry string // the entry as written in the list
	Field string // what matched it: "ja3", "ja4", "cert_sha1", "sni", "cert_name", "ip"
	// Reason is the list's own words for the entry (abuse.ch "Listingreason"), if any.
	Reason string
	// Value is the session's value that matched (the address a CIDR
	// covers, the subdomain a listed domain covers) and DocField the
	// document field that holds it ("destination.ip", "tls.client.ja3"):
	// threat.enrichments.matched.atomic and matched.field.
	Value, DocField string
}

// Verdict is the judgement of one session.
type Verdict struct {
	Validation string // ValidationTrusted, ValidationUntrusted or ValidationNotChecked
	Alerts     []Alert
}
