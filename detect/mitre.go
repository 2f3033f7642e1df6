package detect

import (
	"fmt"
	"sort"
	"strings"
)

// Technique is a MITRE ATT&CK technique a rule names (threat.technique.* in
// alert documents). A sub-technique (T1071.001) is written under
// threat.technique.subtechnique.*, its parent under threat.technique.*.
type Technique struct {
	ID   string // "T1573" or "T1071.001"
	Name string // "Encrypted Channel"
}

// Parent returns the technique a sub-technique belongs to, or t itself.
func (t Technique) Parent() Technique {
	id, _, ok := strings.Cut(t.ID, ".")
	if !ok {
		return t
	}
	return Technique{ID: id, Name: attackTechniques[id]}
}

// IsSub reports whether t is a sub-technique.
func (t Technique) IsSub() bool { return strings.Contains(t.ID, ".") }

// Reference is the technique's page on attack.mitre.org.
func (t Technique) Reference() string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(t.ID, ".", "/") + "/"
}

// AttackFramework is threat.framework for rules that name techniques.
const AttackFramework = "MITRE ATT&CK"

// attackTechniques are the ATT&CK (Enterprise) techniques a rule file may
// name, with their names as attack.mitre.org gives them. A sub-technique's
// parent is in the table too. Add a row to name another.
var attackTechniques = map[string]string{
	"T1071":     "Application Layer Protocol",
	"T1071.001": "Web Protocols",
	"T1090":     "Proxy",
	"T1190":     "Exploit Public-Facing Application",
	"T1553":     "Subvert Trust Controls",
	"T1553.004": "Install Root Certificate",
	"T1557":     "Adversary-in-the-Middle",
	"T1571":     "Non-Standard Port",
	"T1572":     "Protocol Tunneling",
	"T1573":     "Encrypted Channel",
	"T1573.002": "Asymmetric Cryptography",
	"T1587":     "Develop Capabilities",
	"T1587.003": "Digital Certificates",
	"T1588":     "Obtain Capabilities",
	"T1588.004": "Digital Certificates",
}

// lookupTechniques resolves a rule's mitre: list.
func lookupTechniques(ids []string) ([]Technique, error) {
	out := make([]Technique, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		name, ok := attackTechniques[id]
		if !ok {
			known := make([]string, 0, len(attackTechniques))
			for k := range attackTechniques {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("mitre: unknown ATT&CK technique %q (known: %s)", id, strings.Join(known, ", "))
		}
		if seen[id] {
			return nil, fmt.Errorf("mitre: %s named twice", id)
		}
		seen[id] = true
		out = append(out, Technique{ID: id, Name: name})
	}
	return out, nil
}
