package output

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/schema"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// TestGeneratedFiles checks that elasticsearch/*.json and FIELDS.md are what
// schema/fields.go generates; -update rewrites them.
func TestGeneratedFiles(t *testing.T) {
	files := map[string][]byte{"FIELDS.md": fieldsMarkdown()}
	for _, ds := range templateDatasets {
		b, err := buildTemplate(ds)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Join("elasticsearch", TemplateName(ds)+".json")] = b
	}
	for path, want := range files {
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./output -run TestGeneratedFiles -update", path)
		}
	}
}

func fieldsMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# tlsentry document fields\n\n")
	b.WriteString("Generated from schema/fields.go by `go test ./output -run TestGeneratedFiles -update`. DO NOT EDIT.\n\n")
	b.WriteString("Documents: `event.kind: event` (dataset `tlsentry.tls`, one per session) and `event.kind: alert`\n")
	b.WriteString("(dataset `tlsentry.alert`, one per rule that fired: the alert-only fields, `tlsentry.session.id` (the session\n")
	b.WriteString("document's `event.id`) and the session fields marked `triage`; with `output.detail: full` every session field);\n")
	b.WriteString("with an inventory, `event.kind: state` (dataset `tlsentry.inventory`, one per item first seen: the\n")
	b.WriteString("`inventory` fields, and the destination, SNI, fingerprint and certificate fields that describe the item).\n")
	b.WriteString("Absent values are left out. Elasticsearch types are those of the index templates in output/elasticsearch/.\n\n")
	b.WriteString("Rules (rules/README.md) read fields by these names: `rules` says which (`read`). Fields marked\n")
	b.WriteString("`rules only` are values only rules need; documents never carry them (`in`: none) and the templates\n")
	b.WriteString("do not map them. A list is marked `[]`.\n\n")
	b.WriteString("Documents are lean by default (`output.detail: lean`): fields marked `full` in `in` repeat what other\n")
	b.WriteString("fields carry (the JA3/JA4 strings, the named lists behind them, a rule's description and references)\n")
	b.WriteString("and are written only with `output.detail: full` (`--detail full`). Lean alerts carry of their session\n")
	b.WriteString("only the fields marked `triage` (what an analyst triages with, what the Kibana objects show alerts by,\n")
	b.WriteString("every field `threat.enrichments.matched.field` can name); the session document (`event.id` = the\n")
	b.WriteString("alert's `tlsentry.session.id`) has the rest. `both` without `triage`: in alerts only with\n")
	b.WriteString("`output.detail: full`.\n\n")
	b.WriteString("| field | type | in | rules | description |\n|---|---|---|---|---|\n")
	for _, f := range schema.All() {
		in := "both"
		switch {
		case !f.InDocuments():
			in = "none"
		case f.Alert:
			in = "alert"
		case f.Inventory:
			in = "inventory"
		}
		if f.Triage {
			in += ", triage"
		}
		if f.Full {
			in += ", full"
		}
		rules := ""
		switch f.Rule {
		case schema.RuleRead:
			rules = "read"
		case schema.RuleOnly:
			rules = "rules only"
		}
		typ := f.Type
		if f.List {
			typ += "[]"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Path, typ, in, rules, strings.ReplaceAll(f.Doc, "|", `\|`))
	}
	return b.Bytes()
}

func TestIndexTemplates(t *testing.T) {
	ts := IndexTemplates()
	if len(ts) != 3 || ts[0].Name != "logs-tlsentry.tls" || ts[1].Name != "logs-tlsentry.alert" || ts[2].Name != "logs-tlsentry.inventory" {
		t.Fatalf("templates: %v", ts)
	}
	for _, tpl := range ts {
		var body struct {
			IndexPatterns []string        `json:"index_patterns"`
			DataStream    *map[string]any `json:"data_stream"`
			Priority      int             `json:"priority"`
			Template      struct {
				Mappings struct {
					Dynamic    any            `json:"dynamic"`
					Properties map[string]any `json:"properties"`
				} `json:"mappings"`
			} `json:"template"`
		}
		dec := json.NewDecoder(bytes.NewReader(tpl.Body))
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("%s: %v", tpl.Name, err)
		}
		if len(body.IndexPatterns) != 1 || body.IndexPatterns[0] != tpl.Name+"-*" {
			t.Errorf("%s: index_patterns %v", tpl.Name, body.IndexPatterns)
		}
		if body.DataStream == nil {
			t.Errorf("%s: not a data stream template", tpl.Name)
		}
		if body.Priority <= 100 {
			t.Errorf("%s: priority %d does not beat the built-in logs template (100)", tpl.Name, body.Priority)
		}
		if body.Template.Mappings.Dynamic != false {
			t.Errorf("%s: dynamic = %v", tpl.Name, body.Template.Mappings.Dynamic)
		}
		if _, ok := body.Template.Mappings.Properties["@timestamp"]; !ok {
			t.Errorf("%s: no @timestamp mapping", tpl.Name)
		}
	}
}

// templateFields parses a template body into dotted path -> mapping type.
func templateFields(t testing.TB, body []byte) map[string]string {
	t.Helper()
	var tpl struct {
		Template struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &tpl); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var rec func(prefix string, props map[string]json.RawMessage)
	rec = func(prefix string, props map[string]json.RawMessage) {
		for name, raw := range props {
			var m struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.Properties != nil {
				rec(prefix+name+".", m.Properties)
			} else {
				out[prefix+name] = m.Type
			}
		}
	}
	rec("", tpl.Template.Mappings.Properties)
	return out
}

// fullSession fills every field the encoder can write.
func fullSession() *session.Session {
	s := sessionLegacy()
	tls13 := sessionTLS13()
	// Add what the legacy session lacks: ALPN, groups, key shares, sigalgs,
	// supported versions, a chosen ALPN, a key-share curve, HRR, stapling,
	// an inner VLAN.
	s.TLS.ClientHello = chromeLikeHello("full.example.test")
	s.TLS.ServerHello = tls13.TLS.ServerHello
	s.TLS.ServerHello.SupportedVersion = 0 // TLS 1.2, whose stapling is seen
	s.TLS.ServerHello.ALPN = "h2"
	s.TLS.HelloRetryRequest = tls13.TLS.HelloRetryRequest
	s.TLS.CertificateStatus = true
	s.VLANs = []uint16{300, 301}
	s.QUICVersion = 1 // not a real combination, but every field once
	s.FirstPacket = 8 // another session: another id
	// An ECDSA client certificate (it has a curve).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	s.TLS.ClientCertificates = [][]byte{clientCertWith(key)}
	s.Inventory = inventorySession().Inventory
	return s
}

// placeholderFields lists fields whose value comes from a tlsparse function
// that still returns "" (placeholder contracts being implemented by others):
// they cannot appear yet, and the test says so instead of failing.
func placeholderFields(t *testing.T, s *session.Session) map[string]bool {
	out := map[string]bool{}
	if _, h := tlsparse.JA3(s.TLS.ClientHello); h == "" {
		out["tls.client.ja3"], out["tlsentry.client.ja3_string"] = true, true
	}
	if _, h := tlsparse.JA3S(s.TLS.ServerHello); h == "" {
		out["tls.server.ja3s"], out["tlsentry.server.ja3s_string"] = true, true
	}
	if tlsparse.JA4(s.TLS.ClientHello, false) == "" {
		out["tlsentry.client.ja4"] = true
	}
	if _, p := tlsparse.VersionName(s.TLS.ServerHello.Version()); p == "" {
		out["tls.version_protocol"] = true
	}
	// event.ingested is Elasticsearch's (the pipeline) or the sink's.
	out["event.ingested"] = true
	if len(out) > 1 {
		t.Logf("tlsparse placeholders: not expecting %v yet", sortedKeys(out))
	}
	return out
}

// TestTemplateMatchesEncoder encodes a session that fills every field and
// checks, for both templates, that every emitted field is mapped with a
// type its values fit, and that every mapping is emitted (no stale ones).
func TestTemplateMatchesEncoder(t *testing.T) {
	s := fullSession()
	enc := NewEncoder(testObserver)
	enc.SetDetail(DetailFull) // the templates map the full-only fields too
	docs := enc.Encode(s, verdictLegacy())
	emitted := map[string]map[string][]any{DatasetTLS: {}, DatasetAlert: {}, DatasetInventory: {}}
	arrays := map[string]bool{} // paths of arrays
	for _, d := range docs {
		m := decode(t, d.Body)
		for p, vs := range leaves(m) {
			emitted[d.Dataset][p] = append(emitted[d.Dataset][p], vs...)
		}
		walk(m, "", func(p string, v any) {
			if _, ok := v.([]any); ok {
				arrays[p] = true
			}
		})
	}
	// The table's List flag matches reality: a field is a list when it, or
	// an object above it, is an array.
	for _, f := range fields {
		list := false
		for p := f.Path; ; {
			list = list || arrays[p]
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
		_, seen := emitted[DatasetAlert][f.Path]
		if seen && list != f.List {
			t.Errorf("%s: List is %v in the table, but the encoder writes an array: %v", f.Path, f.List, list)
		}
	}
	skip := placeholderFields(t, s)
	for _, tpl := range IndexTemplates() {
		ds := strings.TrimPrefix(tpl.Name, "logs-")
		mapped := templateFields(t, tpl.Body)
		got := emitted[ds]
		if len(got) == 0 {
			t.Fatalf("%s: no documents", ds)
		}
		for _, p := range sortedKeys(got) {
			typ, ok := mapped[p]
			if !ok {
				t.Errorf("%s: emitted field %s has no mapping", tpl.Name, p)
				continue
			}
			for _, v := range got[p] {
				if err := checkType(typ, v); err != nil {
					t.Errorf("%s: %s (%s) = %#v: %v", tpl.Name, p, typ, v, err)
				}
			}
		}
		for _, p := range sortedKeys(mapped) {
			if _, ok := got[p]; !ok && !skip[p] {
				t.Errorf("%s: mapping %s is never emitted (stale, or the full session misses it)", tpl.Name, p)
			}
		}
	}
	// The table's Alert flag matches reality: alert-only fields are absent
	// from session documents. Rule-only fields are in no document.
	for _, f := range schema.All() {
		if f.Alert {
			if _, ok := emitted[DatasetTLS][f.Path]; ok {
				t.Errorf("%s is marked alert-only but is in session documents", f.Path)
			}
		}
		if !f.InDocuments() {
			for ds, got := range emitted {
				if _, ok := got[f.Path]; ok {
					t.Errorf("%s is rule-only but is in %s documents", f.Path, ds)
				}
			}
		}
	}
}

func checkType(typ string, v any) error {
	switch typ {
	case tKeyword, tText:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("not a string")
		}
	case tIP:
		s, _ := v.(string)
		if _, err := netip.ParseAddr(s); err != nil {
			return err
		}
	case tDate:
		s, _ := v.(string)
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(s, "Z") || tm.Year() < 1970 {
			return fmt.Errorf("not UTC / before 1970")
		}
	case tLong:
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("not an integer")
		}
	case tFloat:
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("not a number")
		}
	case tBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("not a boolean")
		}
	default:
		return fmt.Errorf("unexpected mapping type %q", typ)
	}
	return nil
}

// TestFieldsTable checks the table itself: unique paths, known types, and
// no path that is both a leaf and an object.
func TestFieldsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range schema.All() {
		if seen[f.Path] {
			t.Errorf("duplicate field %s", f.Path)
		}
		seen[f.Path] = true
		if f.Type == schema.Nested {
			if !f.List {
				t.Errorf("%s: nested but not a list", f.Path)
			}
		} else if err := checkType(f.Type, sample(f.Type)); err != nil {
			t.Errorf("%s: %v", f.Path, err)
		}
		if f.Doc == "" {
			t.Errorf("%s: no description", f.Path)
		}
		if f.Rule > schema.RuleOnly || (f.Rule == schema.RuleOnly && f.Alert) {
			t.Errorf("%s: Rule %d, Alert %v: a rule-only field is in no document", f.Path, f.Rule, f.Alert)
		}
	}
	for p := range seen {
		if f, _ := schema.Lookup(p); f.Type == schema.Nested {
			continue // a nested object's fields are its rows
		}
		for q := range seen {
			if strings.HasPrefix(q, p+".") {
				t.Errorf("%s is a leaf and a parent of %s", p, q)
			}
		}
	}
}

func sample(typ string) any {
	switch typ {
	case tIP:
		return "192.0.2.1"
	case tDate:
		return "2024-01-01T00:00:00Z"
	case tLong, tFloat:
		return 1.0
	case tBool:
		return true
	}
	return "x"
}
