package output

import (
	"strings"

	"github.com/tlsentry/tlsentry/detect"
)

// The parts of an alert document that are the alert's, not the session's:
// event.reason, message, threat.*.

// ruleName is message: Kibana Security names an alert by it, so it is the
// rule's name, the same for every alert of the rule.
func ruleName(r *detect.Rule) string {
	if r.Name != "" {
		return r.Name
	}
	return r.ID
}

// reason writes event.reason: the rule's message for this session, and the
// matches the alert stands for in words.
func (w jsonWriter) reason(a *detect.Alert) jsonWriter {
	msg := a.Message
	if msg == "" {
		msg = ruleName(a.Rule)
	}
	if msg == "" && a.CountText == "" {
		return w
	}
	w = w.key("reason")
	w.b = appendJSONString(w.b, msg)
	if a.CountText == "" {
		return w
	}
	// One string: msg's closing quote becomes a space, and the count
	// text's opening quote goes.
	w.b[len(w.b)-1] = ' '
	n := len(w.b)
	w.b = appendJSONString(w.b, a.CountText)
	w.b = append(w.b[:n], w.b[n+1:]...)
	return w
}

// attackRef is where attack.mitre.org describes techniques.
const attackRef = "https://attack.mitre.org/techniques/"

// threat writes threat.*: the ATT&CK techniques of r and the intel match
// in, either of which may be missing (then so is threat).
func (w jsonWriter) threat(r *detect.Rule, in *detect.IntelMatch) jsonWriter {
	m := len(w.b)
	w = w.open("threat")
	if ts := r.Techniques; len(ts) > 0 {
		w = w.str("framework", detect.AttackFramework)
		w = w.open("technique")
		w = w.techniques(ts, false)
		t := len(w.b)
		w = w.open("subtechnique")
		w = w.techniques(ts, true)
		w = w.closeOmit(t)
		w = w.close()
	}
	if in != nil {
		w = w.open("feed")
		w = w.strOmit("name", in.List)
		w = w.close()
		w = w.key("enrichments")
		w.b = append(w.b, "[{"...)
		w = w.open("indicator")
		w = w.str("type", indicatorType(in))
		w = w.strOmit("name", in.Entry)
		w = w.strOmit("description", in.Reason)
		w = w.close()
		w = w.open("feed")
		w = w.strOmit("name", in.List)
		w = w.close()
		w = w.open("matched")
		w = w.strOmit("atomic", in.Value)
		w = w.strOmit("field", in.DocField)
		w = w.str("type", "indicator_match_rule")
		w = w.close()
		w.b = append(w.b, "}]"...)
	}
	return w.closeOmit(m)
}

// techniques writes the id, name and reference lists of the techniques
// (sub false: each sub-technique's parent, once) or of the sub-techniques.
func (w jsonWriter) techniques(ts []detect.Technique, sub bool) jsonWriter {
	for _, k := range [3]string{"id", "name", "reference"} {
		a := len(w.b)
		w = w.openArray(k)
		for i, t := range ts {
			if sub {
				if !t.IsSub() {
					continue
				}
			} else {
				t = t.Parent()
				if seenParent(ts[:i], t.ID) {
					continue
				}
			}
			w = w.elem()
			switch k {
			case "id":
				w.b = appendJSONString(w.b, t.ID)
			case "name":
				w.b = appendJSONString(w.b, t.Name)
			default:
				w.b = append(w.b, '"')
				w.b = append(w.b, attackRef...)
				w.b = appendReplaced(w.b, t.ID)
				w.b = append(w.b, '/', '"')
			}
		}
		w = w.closeArray(a)
	}
	return w
}

// seenParent reports whether a technique in ts has the parent id.
func seenParent(ts []detect.Technique, id string) bool {
	for _, t := range ts {
		if p, _, _ := strings.Cut(t.ID, "."); p == id {
			return true
		}
	}
	return false
}

// appendReplaced appends a technique id as its page's path: T1071.001 is
// T1071/001. Ids are letters, digits and dots (detect checks them).
func appendReplaced(dst []byte, id string) []byte {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '.' {
			dst = append(dst, '/')
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// indicatorType is threat.enrichments.indicator.type: ECS's names (STIX
// 2.0 cyber observable types) for what the list holds.
func indicatorType(in *detect.IntelMatch) string {
	switch in.Field {
	case "ja3", "ja4":
		return "software"
	case "cert_sha1":
		return "x509-certificate"
	case "sni", "cert_name":
		return "domain-name"
	case "ip":
		if strings.Contains(in.Value, ":") {
			return "ipv6-addr"
		}
		return "ipv4-addr"
	}
	return "artifact"
}
