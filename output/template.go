package output

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tlsentry/tlsentry/schema"
)

// Template is one Elasticsearch composable index template: PUT
// _index_template/<Name> with Body.
type Template struct {
	Name string
	Body []byte // JSON
}

// TemplatePriority is above the stack's built-in "logs" template (100), so
// ours wins for logs-tlsentry.*-* data streams.
const TemplatePriority = 200

// TemplateVersion is the template's "version"; raise it when mappings change.
const TemplateVersion = 2

//go:embed elasticsearch/*.json
var templateFiles embed.FS

//go:embed kibana/tlsentry.ndjson
var kibanaObjects []byte

// templateDatasets are the datasets with a template, in IndexTemplates order.
var templateDatasets = []string{DatasetTLS, DatasetAlert, DatasetInventory}

// TemplateName returns the index template name of a dataset, which is also
// the data stream prefix: "logs-tlsentry.tls".
func TemplateName(dataset string) string { return "logs-" + dataset }

// IndexTemplates returns the index templates for the session and alert data
// streams (logs-tlsentry.tls-* and logs-tlsentry.alert-*): data streams,
// priority 200, explicit ECS mappings for every field the encoder writes,
// and "dynamic": false, so a field unknown to the template stays in _source
// unindexed while a value that contradicts a mapping (a string in a long
// field) is rejected. The bodies are the embedded files
// output/elasticsearch/<name>.json, generated from fields.go.
func IndexTemplates() []Template {
	out := make([]Template, 0, len(templateDatasets))
	for _, ds := range templateDatasets {
		name := TemplateName(ds)
		body, err := templateFiles.ReadFile("elasticsearch/" + name + ".json")
		if err != nil {
			// The files are embedded at build time; a test checks each exists.
			continue
		}
		out = append(out, Template{Name: name, Body: body})
	}
	return out
}

// KibanaObjects returns the Kibana saved objects (Kibana 8.x NDJSON, for
// POST /api/saved_objects/_import?overwrite=true): the data view
// "logs-tlsentry.*", saved searches for sessions, alerts and certificates
// expiring within 30 days, Lens visualizations and the "tlsentry overview"
// dashboard. The slice is shared; callers must not modify it.
func KibanaObjects() []byte { return kibanaObjects }

// buildTemplate renders the template of dataset from the fields table.
func buildTemplate(dataset string) ([]byte, error) {
	props := map[string]any{}
	for _, f := range fields {
		if dataset == DatasetInventory {
			if !inventoryDocField(f) {
				continue
			}
		} else if f.Alert && dataset != DatasetAlert || f.Inventory {
			continue
		}
		m := map[string]any{"type": f.Type}
		if f.Type == tKeyword {
			m["ignore_above"] = 1024
		}
		parts := strings.Split(f.Path, ".")
		node := props
		for _, p := range parts[:len(parts)-1] {
			child, ok := node[p].(map[string]any)
			if !ok {
				child = map[string]any{"properties": map[string]any{}}
				node[p] = child
			}
			node = child["properties"].(map[string]any)
		}
		last := parts[len(parts)-1]
		if f.Type == schema.Nested {
			// A nested object: its fields are the rows under its path,
			// which come after it in the table.
			m["properties"] = map[string]any{}
		}
		node[last] = m
	}
	body := map[string]any{
		"index_patterns": []string{TemplateName(dataset) + "-*"},
		"data_stream":    map[string]any{},
		"priority":       TemplatePriority,
		"version":        TemplateVersion,
		"_meta": map[string]any{
			"description": "tlsentry " + dataset + " documents (ECS " + ECSVersion + "), generated from output/fields.go",
			"managed_by":  "tlsentry",
		},
		"template": map[string]any{
			"mappings": map[string]any{
				"dynamic":        false,
				"date_detection": false,
				"properties":     props,
			},
		},
	}
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WithDefaultPipeline returns the template body with
// template.settings.index.default_pipeline set to pipeline: every document
// indexed into its data streams goes through it (IngestPipeline sets
// event.ingested). "tlsentry setup" uses it when the cluster can run the
// pipeline.
func WithDefaultPipeline(body []byte, pipeline string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("output: index template: %w", err)
	}
	tpl, _ := m["template"].(map[string]any)
	if tpl == nil {
		tpl = map[string]any{}
		m["template"] = tpl
	}
	settings, _ := tpl["settings"].(map[string]any)
	if settings == nil {
		settings = map[string]any{}
		tpl["settings"] = settings
	}
	index, _ := settings["index"].(map[string]any)
	if index == nil {
		index = map[string]any{}
		settings["index"] = index
	}
	index["default_pipeline"] = pipeline
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
