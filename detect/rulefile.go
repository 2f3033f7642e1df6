package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A rule file is YAML:
//
//	rules:
//	  - id: tls.deprecated_version
//	    name: Deprecated protocol version
//	    category: protocol
//	    severity: medium            # low, medium, high, critical
//	    risk_score: 47              # 0-100; defaults from severity
//	    description: ...
//	    references: [https://...]
//	    version: "1"
//	    condition: tlsentry.version.id in [0x0300, 0x0301]   # CEL, must be bool
//	    message: "TLS ${tls.version} negotiated with ${tlsentry.server.display}"
//	    enabled: true               # optional
//	    mitre: [T1573, T1071.001]   # optional: ATT&CK techniques (detect/mitre.go)
//	    suppress:                   # optional: one alert per key per window
//	      track: [destination.ip, tls.server.hash.sha256]
//	      for: 1h
//	    threshold:                  # optional, instead of suppress (Suricata's)
//	      type: both                # limit, threshold or both
//	      track: [source.ip]
//	      count: 10
//	      within: 1m
//
// Unknown keys are errors; every error names the file and line.

type ruleFile struct {
	Rules []ruleSpec `yaml:"rules"`
}

type ruleSpec struct {
	line        int
	ID          string   `yaml:"id"`
	Name        string   `yaml:"name"`
	Category    string   `yaml:"category"`
	Severity    string   `yaml:"severity"`
	RiskScore   *int     `yaml:"risk_score"`
	Description string   `yaml:"description"`
	References  []string `yaml:"references"`
	Version     string   `yaml:"version"`
	Condition   srcText  `yaml:"condition"`
	Message     srcText  `yaml:"message"`
	Enabled     *bool    `yaml:"enabled"`
	Mitre       []string `yaml:"mitre"`
	techniques  []Technique

	Suppress  *suppressSpec  `yaml:"suppress"`
	Threshold *thresholdSpec `yaml:"threshold"`
	limit     *limitRule     // compiled Suppress or Threshold
}

var ruleKeys = map[string]bool{
	"id": true, "name": true, "category": true, "severity": true, "risk_score": true, "description": true,
	"references": true, "version": true, "condition": true, "message": true, "enabled": true,
	"mitre": true, "suppress": true, "threshold": true,
}

// UnmarshalYAML decodes one rule strictly, remembering its line.
func (r *ruleSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a rule must be a mapping", n.Line)
	}
	r.line = n.Line
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !ruleKeys[k.Value] {
			return fmt.Errorf("line %d: unknown rule key %q", k.Line, k.Value)
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: duplicate rule key %q", k.Line, k.Value)
		}
		seen[k.Value] = true
	}
	type plain ruleSpec
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	p.line = n.Line
	// A block's errors name the line of its key, not of its first entry.
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; {
		case k.Value == "suppress" && p.Suppress != nil:
			p.Suppress.line = k.Line
		case k.Value == "threshold" && p.Threshold != nil:
			p.Threshold.line = k.Line
		}
	}
	*r = ruleSpec(p)
	return nil
}

// srcText is a scalar with the position of its first character.
type srcText struct {
	Value string
	Line  int // line of the first line of Value in the file
	Set   bool
}

func (s *srcText) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a string", n.Line)
	}
	s.Value, s.Line, s.Set = n.Value, n.Line, true
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		s.Line++ // block scalars start on the next line
	}
	return nil
}

var ruleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// parseRuleFile decodes and checks a rule file (not the CEL: see compile).
func parseRuleFile(name string, data []byte) ([]ruleSpec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f ruleFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlErr(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: one YAML document per rule file", name)
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		pos := fmt.Sprintf("%s:%d", name, r.line)
		switch {
		case r.ID == "":
			return nil, fmt.Errorf("%s: rule without id", pos)
		case !ruleIDPattern.MatchString(r.ID):
			return nil, fmt.Errorf("%s: rule id %q: use lower-case letters, digits, '.', '_' and '-'", pos, r.ID)
		case r.Category == "":
			return nil, fmt.Errorf("%s: rule %s: no category", pos, r.ID)
		case !r.Condition.Set || strings.TrimSpace(r.Condition.Value) == "":
			return nil, fmt.Errorf("%s: rule %s: no condition", pos, r.ID)
		}
		switch r.Severity {
		case "low", "medium", "high", "critical":
		case "":
			return nil, fmt.Errorf("%s: rule %s: no severity (low, medium, high, critical)", pos, r.ID)
		default:
			return nil, fmt.Errorf("%s: rule %s: severity %q is not low, medium, high or critical", pos, r.ID, r.Severity)
		}
		if r.RiskScore != nil && (*r.RiskScore < 0 || *r.RiskScore > 100) {
			return nil, fmt.Errorf("%s: rule %s: risk_score %d is outside 0-100", pos, r.ID, *r.RiskScore)
		}
		if len(r.Mitre) > 0 {
			var err error
			if r.techniques, err = lookupTechniques(r.Mitre); err != nil {
				return nil, fmt.Errorf("%s: rule %s: %w", pos, r.ID, err)
			}
		}
		if r.Suppress != nil && r.Threshold != nil {
			return nil, fmt.Errorf("%s:%d: rule %s: suppress and threshold: use one (suppress is threshold type limit, count 1)",
				name, r.Threshold.line, r.ID)
		}
		var err error
		switch {
		case r.Suppress != nil:
			r.limit, err = checkLimit(name, r.ID, &r.Suppress.limitSpec)
		case r.Threshold != nil:
			r.limit, err = checkLimit(name, r.ID, &r.Threshold.limitSpec)
		}
		if err != nil {
			return nil, err
		}
	}
	return f.Rules, nil
}

// yamlErr turns yaml's "yaml: unmarshal errors:\n  line 3: ..." into
// "file:3: ...".
func yamlErr(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, m := range msgs {
		var line int
		var rest string
		if n, _ := fmt.Sscanf(m, "line %d:", &line); n == 1 {
			_, rest, _ = strings.Cut(m, ":")
			msgs[i] = fmt.Sprintf("%s:%d:%s", file, line, rest)
		} else {
			msgs[i] = file + ": " + m
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}
