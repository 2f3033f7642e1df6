package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/schema"
)

// The Kibana saved objects (kibana/tlsentry.ndjson) are generated here, from
// Go values, because their nested JSON-in-strings (panelsJSON,
// searchSourceJSON) is error-prone by hand. -update rewrites the file;
// TestKibanaObjectsShape checks the file whatever wrote it.

const (
	kbDataView      = "tlsentry-logs"
	kbSearchSession = "tlsentry-sessions"
	kbSearchAlerts  = "tlsentry-alerts"
	kbSearchExpiry  = "tlsentry-certificates-expiring"
	kbLensExpiry    = "tlsentry-lens-certificates-expiring"
	kbLensByRule    = "tlsentry-lens-alerts-by-rule"

	// kbExpiring is the query of the expiring-certificates objects: a leaf
	// that expires within 30 days, not one that has expired already.
	kbExpiring = "event.kind:event and tls.server.x509.not_after >= now and tls.server.x509.not_after < now+30d"

	// KibanaMinVersion is the oldest Kibana the objects import into: their
	// coreMigrationVersion, and the dashboard's panel references (8.7+)
	// and Lens's formBased datasource (8.6+) need no newer one.
	kibanaMinVersion = "8.8.0"
	kbSearchNew      = "tlsentry-inventory-first-seen"
	kbDashboard      = "tlsentry-overview"
)

type kbObject struct {
	Type                 string         `json:"type"`
	ID                   string         `json:"id"`
	Attributes           map[string]any `json:"attributes"`
	References           []kbRef        `json:"references"`
	CoreMigrationVersion string         `json:"coreMigrationVersion,omitempty"`
	TypeMigrationVersion string         `json:"typeMigrationVersion,omitempty"`
	Managed              bool           `json:"managed"`
}

type kbRef struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

func mustJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func kbSearch(id, title, query string, columns []string, sort [][]string) kbObject {
	return kbObject{
		Type: "search", ID: id,
		Attributes: map[string]any{
			"title":       title,
			"description": "",
			"columns":     columns,
			"sort":        sort,
			"grid":        map[string]any{},
			"hideChart":   false,
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": mustJSON(map[string]any{
				"query":        map[string]any{"query": query, "language": "kuery"},
				"filter":       []any{},
				"indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
			})},
		},
		References:           []kbRef{{Name: "kibanaSavedObjectMeta.searchSourceJSON.index", Type: "index-pattern", ID: kbDataView}},
		CoreMigrationVersion: "8.8.0",
		TypeMigrationVersion: "8.0.0",
	}
}

// Lens columns.
func colCount() map[string]any {
	return map[string]any{"label": "Count of records", "dataType": "number", "operationType": "count",
		"isBucketed": false, "scale": "ratio", "sourceField": "___records___", "params": map[string]any{"emptyAsNull": true}}
}

func colDate() map[string]any {
	return map[string]any{"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
		"sourceField": "@timestamp", "isBucketed": true, "scale": "interval",
		"params": map[string]any{"interval": "auto", "includeEmptyRows": true, "dropPartials": false}}
}

func colTerms(field, label string, size int, orderBy string) map[string]any {
	return colTermsBy(field, label, size, orderBy, "desc")
}

func colTermsBy(field, label string, size int, orderBy, dir string) map[string]any {
	return map[string]any{"label": label, "dataType": "string", "operationType": "terms",
		"sourceField": field, "isBucketed": true, "scale": "ordinal",
		"params": map[string]any{"size": size, "orderBy": map[string]any{"type": "column", "columnId": orderBy},
			"orderDirection": dir, "otherBucket": dir == "desc", "missingBucket": false, "parentFormat": map[string]any{"id": "terms"}}}
}

func kbLens(id, title, visType, query string, columns map[string]any, order []string, vis map[string]any) kbObject {
	const layer = "layer1"
	return kbObject{
		Type: "lens", ID: id,
		Attributes: map[string]any{
			"title":             title,
			"description":       "",
			"visualizationType": visType,
			"state": map[string]any{
				"datasourceStates": map[string]any{"formBased": map[string]any{"layers": map[string]any{
					layer: map[string]any{"columns": columns, "columnOrder": order, "incompleteColumns": map[string]any{}},
				}}},
				"visualization":      vis,
				"query":              map[string]any{"query": query, "language": "kuery"},
				"filters":            []any{},
				"adHocDataViews":     map[string]any{},
				"internalReferences": []any{},
			},
		},
		References: []kbRef{
			{Name: "indexpattern-datasource-layer-" + layer, Type: "index-pattern", ID: kbDataView},
		},
		CoreMigrationVersion: "8.8.0",
		// 8.6.0 renamed the datasource to formBased; a newer version than the
		// importing Kibana knows is an import error, so claim no more.
		TypeMigrationVersion: "8.6.0",
	}
}

// colMetric is a metric column (min, max) over field.
func colMetric(op, field, label, dataType string) map[string]any {
	return map[string]any{"label": label, "dataType": dataType, "operationType": op, "sourceField": field,
		"isBucketed": false, "scale": "ratio", "params": map[string]any{"emptyAsNull": true}}
}

// colLastValue is the newest value of field (by @timestamp).
func colLastValue(field, label string) map[string]any {
	return map[string]any{"label": label, "dataType": "string", "operationType": "last_value", "sourceField": field,
		"isBucketed": false, "scale": "ordinal", "filter": map[string]any{"query": field + ": *", "language": "kuery"},
		"params": map[string]any{"sortField": "@timestamp", "showArrayValues": true}}
}

func kbTopTable(id, title, query, field, label string) kbObject {
	return kbLens(id, title, "lnsDatatable", query,
		map[string]any{"terms": colTerms(field, label, 10, "count"), "count": colCount()},
		[]string{"terms", "count"},
		map[string]any{"layerId": "layer1", "layerType": "data",
			"columns": []any{map[string]any{"columnId": "terms"}, map[string]any{"columnId": "count"}}})
}

func kibanaObjectList() []kbObject {
	objs := []kbObject{{
		Type: "index-pattern", ID: kbDataView,
		Attributes: map[string]any{
			"title":         "logs-tlsentry.*",
			"name":          "tlsentry",
			"timeFieldName": "@timestamp",
			"fieldAttrs":    "{}", "fieldFormatMap": "{}", "runtimeFieldMap": "{}", "sourceFilters": "[]",
		},
		References:           []kbRef{},
		CoreMigrationVersion: "8.8.0",
		TypeMigrationVersion: "8.0.0",
	},
		kbSearch(kbSearchSession, "tlsentry sessions", "event.kind:event",
			[]string{"source.ip", "destination.ip", "destination.port", "network.protocol", "tls.client.server_name", "tls.version", "tls.cipher", "tlsentry.client.ja4"},
			[][]string{{"@timestamp", "desc"}}),
		kbSearch(kbSearchAlerts, "tlsentry alerts", "event.kind:alert",
			[]string{"rule.name", "event.severity", "event.reason", "tlsentry.alert.count", "source.ip", "destination.ip", "tls.client.server_name"},
			[][]string{{"@timestamp", "desc"}}),
		// The sessions behind the table below: Discover cannot group rows.
		kbSearch(kbSearchExpiry, "tlsentry certificates expiring within 30 days (sessions)", kbExpiring,
			[]string{"tls.server.x509.not_after", "tls.server.x509.subject.common_name", "tls.server.issuer", "tls.client.server_name", "destination.ip", "destination.port", "tls.server.hash.sha256"},
			[][]string{{"tls.server.x509.not_after", "asc"}}),
		// One row per certificate (its SHA-256), soonest expiry first.
		kbLens(kbLensExpiry, "tlsentry certificates expiring within 30 days", "lnsDatatable", kbExpiring,
			map[string]any{
				"cert":    colTermsBy("tls.server.hash.sha256", "Certificate (SHA-256)", 100, "expires", "asc"),
				"expires": colMetric("min", "tls.server.x509.not_after", "Expires", "date"),
				"subject": colLastValue("tls.server.x509.subject.common_name", "Subject CN"),
				"sni":     colLastValue("tls.client.server_name", "SNI"),
				"server":  colLastValue("destination.ip", "Server"),
				"seen":    colMetric("max", "@timestamp", "Last seen", "date"),
				"count":   colCount(),
			},
			[]string{"cert", "expires", "subject", "sni", "server", "seen", "count"},
			map[string]any{"layerId": "layer1", "layerType": "data",
				"columns": []any{map[string]any{"columnId": "cert"}, map[string]any{"columnId": "expires"}, map[string]any{"columnId": "subject"},
					map[string]any{"columnId": "sni"}, map[string]any{"columnId": "server"}, map[string]any{"columnId": "seen"}, map[string]any{"columnId": "count"}},
				"sorting": map[string]any{"columnId": "expires", "direction": "asc"}}),
		kbSearch(kbSearchNew, "tlsentry inventory: first seen (pick the week in the time picker)", "event.dataset:tlsentry.inventory",
			[]string{"tlsentry.inventory.kind", "tlsentry.inventory.value", "tls.client.server_name", "destination.ip", "destination.port", "tls.server.subject", "tls.server.issuer", "tlsentry.inventory.learned"},
			[][]string{{"@timestamp", "desc"}}),
		kbLens("tlsentry-lens-sessions-by-version", "tlsentry sessions over time by TLS version", "lnsXY", "event.kind:event",
			map[string]any{"date": colDate(), "count": colCount(), "version": colTerms("tls.version", "TLS version", 6, "count")},
			[]string{"version", "date", "count"},
			map[string]any{
				"legend": map[string]any{"isVisible": true, "position": "right"}, "valueLabels": "hide",
				"preferredSeriesType": "bar_stacked",
				"layers": []any{map[string]any{"layerId": "layer1", "layerType": "data", "seriesType": "bar_stacked",
					"xAccessor": "date", "accessors": []string{"count"}, "splitAccessor": "version", "position": "top", "showGridlines": false}},
			}),
		kbTopTable("tlsentry-lens-top-sni", "tlsentry top server names (SNI)", "event.kind:event", "tls.client.server_name", "SNI"),
		kbTopTable("tlsentry-lens-top-ja4", "tlsentry top JA4 fingerprints", "event.kind:event", "tlsentry.client.ja4", "JA4"),
		kbLens(kbLensByRule, "tlsentry alerts by rule", "lnsXY", "event.kind:alert",
			map[string]any{"rule": colTerms("rule.name", "Rule", 10, "count"), "count": colCount()},
			[]string{"rule", "count"},
			map[string]any{
				"legend": map[string]any{"isVisible": false, "position": "right"}, "valueLabels": "show",
				"preferredSeriesType": "bar_horizontal",
				"layers": []any{map[string]any{"layerId": "layer1", "layerType": "data", "seriesType": "bar_horizontal",
					"xAccessor": "rule", "accessors": []string{"count"}, "position": "top", "showGridlines": false}},
			}),
	}

	// Dashboard: 48 columns wide.
	type panel struct {
		typ, id    string
		x, y, w, h int
	}
	panels := []panel{
		{"lens", "tlsentry-lens-sessions-by-version", 0, 0, 48, 14},
		{"lens", "tlsentry-lens-top-sni", 0, 14, 24, 15},
		{"lens", "tlsentry-lens-top-ja4", 24, 14, 24, 15},
		{"lens", kbLensByRule, 0, 29, 24, 15},
		{"lens", kbLensExpiry, 24, 29, 24, 15},
		{"search", kbSearchAlerts, 0, 44, 48, 15},
	}
	var pj []any
	var refs []kbRef
	for i, p := range panels {
		// The 8.7+ form Kibana's own sample dashboards use: panelRefName
		// "panel_<panelIndex>", reference named "<panelIndex>:panel_<panelIndex>".
		idx := fmt.Sprintf("%d", i+1)
		ref := "panel_" + idx
		pj = append(pj, map[string]any{
			"type":             p.typ,
			"panelIndex":       idx,
			"gridData":         map[string]any{"x": p.x, "y": p.y, "w": p.w, "h": p.h, "i": idx},
			"embeddableConfig": map[string]any{"enhancements": map[string]any{}},
			"panelRefName":     ref,
		})
		refs = append(refs, kbRef{Name: idx + ":" + ref, Type: p.typ, ID: p.id})
	}
	objs = append(objs, kbObject{
		Type: "dashboard", ID: kbDashboard,
		Attributes: map[string]any{
			"title":       "tlsentry overview",
			"description": "TLS sessions and alerts seen by tlsentry sensors",
			"panelsJSON":  mustJSON(pj),
			"optionsJSON": mustJSON(map[string]any{"useMargins": true, "syncColors": false, "syncCursor": true, "syncTooltips": false, "hidePanelTitles": false}),
			"timeRestore": false,
			"version":     1,
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": mustJSON(map[string]any{
				"query": map[string]any{"query": "", "language": "kuery"}, "filter": []any{}})},
		},
		References:           refs,
		CoreMigrationVersion: "8.8.0",
		TypeMigrationVersion: "8.7.0",
	})
	return objs
}

func TestKibanaObjectsGenerated(t *testing.T) {
	var b bytes.Buffer
	for _, o := range kibanaObjectList() {
		b.WriteString(mustJSON(o))
		b.WriteByte('\n')
	}
	const path = "kibana/tlsentry.ndjson"
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s is stale: run go test ./output -run TestKibanaObjectsGenerated -update", path)
	}
}

// kqlField matches the field of a KQL clause: `field:` or `field <`.
var kqlField = regexp.MustCompile(`([A-Za-z@_][A-Za-z0-9@_.]*)\s*(?::|<=?|>=?)`)

// TestKibanaObjectsShape checks the embedded objects as Kibana's import
// would need them, and that every field they use is mapped.
func TestKibanaObjectsShape(t *testing.T) {
	mapped := map[string]string{}
	for _, tpl := range IndexTemplates() {
		for p, typ := range templateFields(t, tpl.Body) {
			mapped[p] = typ
		}
	}
	checkField := func(where, f string) {
		if f == "___records___" {
			return
		}
		if _, ok := mapped[f]; !ok {
			t.Errorf("%s uses field %q that no template maps", where, f)
		}
	}
	// Objects that show alerts use only fields lean alerts carry.
	checkLean := func(where, q, f string) {
		if !strings.Contains(q, "event.kind:alert") || f == "___records___" {
			return
		}
		if sf, ok := schema.Lookup(f); !ok || !sf.InLeanAlerts() {
			t.Errorf("%s shows alerts by %q, which lean alerts do not carry (mark it Triage in schema/fields.go)", where, f)
		}
	}
	checkKQL := func(where, q string) {
		for _, m := range kqlField.FindAllStringSubmatch(q, -1) {
			checkField(where, m[1])
		}
	}

	raw := KibanaObjects()
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Fatal("empty or unterminated NDJSON")
	}
	objs := map[string]kbObject{} // type/id
	var order []kbObject
	for i, line := range bytes.Split(bytes.TrimSuffix(raw, []byte{'\n'}), []byte{'\n'}) {
		var o kbObject
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if o.Type == "" || o.ID == "" || o.Attributes == nil || o.Attributes["title"] == "" {
			t.Errorf("line %d: missing type/id/attributes/title", i+1)
		}
		key := o.Type + "/" + o.ID
		for k := range objs {
			if strings.HasSuffix(k, "/"+o.ID) {
				t.Errorf("line %d: id %s not unique", i+1, o.ID)
			}
		}
		objs[key] = o
		order = append(order, o)
	}
	dv, ok := objs["index-pattern/"+kbDataView]
	if !ok || dv.Attributes["timeFieldName"] != "@timestamp" || dv.Attributes["title"] != "logs-tlsentry.*" {
		t.Fatalf("data view: %+v", dv)
	}
	for _, o := range order {
		where := o.Type + "/" + o.ID
		refNames := map[string]kbRef{}
		for _, r := range o.References {
			if _, ok := objs[r.Type+"/"+r.ID]; !ok {
				t.Errorf("%s: reference %s -> %s/%s does not resolve", where, r.Name, r.Type, r.ID)
			}
			refNames[r.Name] = r
		}
		switch o.Type {
		case "search":
			meta := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)
			var ss struct {
				Query        struct{ Query, Language string }
				IndexRefName string
			}
			if err := json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &ss); err != nil {
				t.Errorf("%s: searchSourceJSON: %v", where, err)
			}
			if r, ok := refNames[ss.IndexRefName]; !ok || r.ID != kbDataView {
				t.Errorf("%s: indexRefName %q has no data view reference", where, ss.IndexRefName)
			}
			checkKQL(where, ss.Query.Query)
			for _, c := range o.Attributes["columns"].([]any) {
				checkField(where, c.(string))
				checkLean(where, ss.Query.Query, c.(string))
			}
			for _, s := range o.Attributes["sort"].([]any) {
				checkField(where, s.([]any)[0].(string))
				checkLean(where, ss.Query.Query, s.([]any)[0].(string))
			}
		case "lens":
			st := o.Attributes["state"].(map[string]any)
			q := st["query"].(map[string]any)["query"].(string)
			checkKQL(where, q)
			layers := st["datasourceStates"].(map[string]any)["formBased"].(map[string]any)["layers"].(map[string]any)
			for id, l := range layers {
				if r, ok := refNames["indexpattern-datasource-layer-"+id]; !ok || r.ID != kbDataView {
					t.Errorf("%s: layer %s has no data view reference", where, id)
				}
				cols := l.(map[string]any)["columns"].(map[string]any)
				for _, cid := range l.(map[string]any)["columnOrder"].([]any) {
					if _, ok := cols[cid.(string)]; !ok {
						t.Errorf("%s: columnOrder names missing column %s", where, cid)
					}
				}
				for _, c := range cols {
					checkField(where, c.(map[string]any)["sourceField"].(string))
					checkLean(where, q, c.(map[string]any)["sourceField"].(string))
				}
			}
		case "dashboard":
			var panels []struct {
				Type, PanelIndex, PanelRefName string
				GridData                       struct{ X, Y, W, H int }
			}
			if err := json.Unmarshal([]byte(o.Attributes["panelsJSON"].(string)), &panels); err != nil {
				t.Fatalf("%s: panelsJSON: %v", where, err)
			}
			if len(panels) < 5 {
				t.Errorf("%s: %d panels", where, len(panels))
			}
			for _, p := range panels {
				r, ok := refNames[p.PanelIndex+":"+p.PanelRefName]
				if !ok || r.Type != p.Type {
					t.Errorf("%s: panel %s: panelRefName %q has no %s reference", where, p.PanelIndex, p.PanelRefName, p.Type)
				}
				if p.GridData.W <= 0 || p.GridData.H <= 0 || p.GridData.X+p.GridData.W > 48 {
					t.Errorf("%s: panel %s: grid %+v", where, p.PanelIndex, p.GridData)
				}
			}
			var opts map[string]any
			if err := json.Unmarshal([]byte(o.Attributes["optionsJSON"].(string)), &opts); err != nil {
				t.Errorf("%s: optionsJSON: %v", where, err)
			}
		}
	}
	// The brief's required objects are all there.
	for _, k := range []string{"search/" + kbSearchSession, "search/" + kbSearchAlerts, "search/" + kbSearchExpiry,
		"lens/" + kbLensExpiry, "lens/" + kbLensByRule, "dashboard/" + kbDashboard} {
		if _, ok := objs[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	// No object claims a migration version newer than the oldest Kibana
	// the README names: Kibana refuses to import those.
	for _, o := range order {
		for _, v := range []string{o.CoreMigrationVersion, o.TypeMigrationVersion} {
			if v != "" && versionLess(kibanaMinVersion, v) {
				t.Errorf("%s/%s: migration version %s is newer than %s", o.Type, o.ID, v, kibanaMinVersion)
			}
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Kibana " + strings.TrimSuffix(kibanaMinVersion, ".0") + " or newer"; !bytes.Contains(readme, []byte(want)) {
		t.Errorf("README.md does not say %q", want)
	}
	lensLayer := func(id string) map[string]any {
		st := objs["lens/"+id].Attributes["state"].(map[string]any)
		return st["datasourceStates"].(map[string]any)["formBased"].(map[string]any)["layers"].(map[string]any)["layer1"].(map[string]any)
	}
	// Alerts by rule: bars per rule.name (message is the rule's name too,
	// but rule.name is the field that says so).
	byRule := lensLayer(kbLensByRule)["columns"].(map[string]any)
	if c := byRule["rule"].(map[string]any); c["operationType"] != "terms" || c["sourceField"] != "rule.name" {
		t.Errorf("alerts by rule: %v", c)
	}
	// Expiring certificates: expired ones excluded, one row per certificate.
	for _, q := range []string{
		objs["lens/"+kbLensExpiry].Attributes["state"].(map[string]any)["query"].(map[string]any)["query"].(string),
		func() string {
			var ss struct{ Query struct{ Query string } }
			json.Unmarshal([]byte(objs["search/"+kbSearchExpiry].Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"].(string)), &ss)
			return ss.Query.Query
		}(),
	} {
		if !strings.Contains(q, "tls.server.x509.not_after >= now") || !strings.Contains(q, "tls.server.x509.not_after < now+30d") {
			t.Errorf("expiring certificates query %q does not exclude expired ones", q)
		}
	}
	exp := lensLayer(kbLensExpiry)
	order0 := exp["columnOrder"].([]any)
	bucketed := 0
	for _, c := range exp["columns"].(map[string]any) {
		if c.(map[string]any)["isBucketed"] == true {
			bucketed++
		}
	}
	first := exp["columns"].(map[string]any)[order0[0].(string)].(map[string]any)
	if bucketed != 1 || first["operationType"] != "terms" || first["sourceField"] != "tls.server.hash.sha256" {
		t.Errorf("expiring certificates: rows are not one per certificate: %d bucket columns, first %v", bucketed, first)
	}
}

// versionLess compares dotted versions: 8.8.0 < 8.10.0.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		var x, y int
		fmt.Sscan(pa[i], &x)
		fmt.Sscan(pb[i], &y)
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}
