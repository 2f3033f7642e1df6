package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tlsentry/tlsentry/output"
)

// TestSetupKibanaMultipart checks the import request Kibana's saved objects
// API expects: POST, overwrite=true, kbn-xsrf, one multipart part "file" with
// an .ndjson filename holding exactly the objects, and the credentials.
func TestSetupKibanaMultipart(t *testing.T) {
	objects := output.KibanaObjects()
	var problems []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(s string) { problems = append(problems, s) }
		if r.Method != http.MethodPost || r.URL.Path != "/api/saved_objects/_import" || r.URL.Query().Get("overwrite") != "true" {
			fail("request " + r.Method + " " + r.URL.String())
		}
		if r.Header.Get("kbn-xsrf") == "" {
			fail("no kbn-xsrf header")
		}
		if got := r.Header.Get("Authorization"); got != "ApiKey c2VjcmV0" {
			fail("authorization " + got)
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			fail("content type " + r.Header.Get("Content-Type"))
			w.WriteHeader(400)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		parts := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				fail("multipart: " + err.Error())
				break
			}
			parts++
			if p.FormName() != "file" || !strings.HasSuffix(p.FileName(), ".ndjson") {
				fail("part " + p.FormName() + " " + p.FileName())
			}
			data, _ := io.ReadAll(p)
			if !bytes.Equal(data, objects) {
				fail("file content differs from KibanaObjects()")
			}
		}
		if parts != 1 {
			fail("parts: " + string(rune('0'+parts)))
		}
		n := bytes.Count(bytes.TrimSpace(objects), []byte{'\n'}) + 1
		json.NewEncoder(w).Encode(map[string]any{"success": true, "successCount": n})
	}))
	defer srv.Close()
	var out bytes.Buffer
	s := &setup{opt: output.ESOptions{APIKey: "c2VjcmV0"}, out: &out}
	if err := s.kibana(context.Background(), srv.URL, objects); err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if !strings.Contains(out.String(), "saved objects imported") {
		t.Errorf("output %q", out.String())
	}
}

func TestSetupKibanaErrors(t *testing.T) {
	for name, answer := range map[string]struct {
		status int
		body   string
	}{
		"conflicts":   {200, `{"success":false,"successCount":1,"errors":[{"id":"x","error":{"type":"conflict"}}]}`},
		"status 403":  {403, `{"message":"forbidden"}`},
		"garbage 200": {200, `<html>`},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(answer.status)
				w.Write([]byte(answer.body))
			}))
			defer srv.Close()
			s := &setup{out: io.Discard}
			if err := s.kibana(context.Background(), srv.URL, []byte(`{"type":"index-pattern"}`)); err == nil {
				t.Error("no error")
			}
		})
	}
}

// fakeTemplateES accepts PUT _index_template like Elasticsearch does.
type fakeTemplateES struct {
	mu        sync.Mutex
	templates map[string][]byte
	requests  []string
	noDSAPI   int // 0: data stream API; 405 like 8.19, 400 like 9.x without the data-streams module
	// ingest: "" has ingest nodes and processors; "no-processors" answers
	// PUT _ingest/pipeline as the integ-test-zip does (no ingest-common
	// module); "no-nodes" has no ingest node; "401" refuses credentials.
	ingest    string
	pipelines map[string][]byte
}

func (f *fakeTemplateES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_nodes/ingest:true/_none":
		switch f.ingest {
		case "401":
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"type":"security_exception"}}`))
		case "no-nodes":
			w.Write([]byte(`{"_nodes":{"total":0}}`))
		default:
			w.Write([]byte(`{"_nodes":{"total":1}}`))
		}
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_ingest/pipeline/"):
		if f.ingest == "no-processors" {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":{"root_cause":[{"type":"parse_exception","reason":"No processor type exists with name [set]"}],"type":"parse_exception","reason":"No processor type exists with name [set]"},"status":400}`))
			return
		}
		if !json.Valid(body) {
			w.WriteHeader(400)
			return
		}
		if f.pipelines == nil {
			f.pipelines = map[string][]byte{}
		}
		f.pipelines[strings.TrimPrefix(r.URL.Path, "/_ingest/pipeline/")] = body
		w.Write([]byte(`{"acknowledged":true}`))
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		if !json.Valid(body) {
			w.WriteHeader(400)
			return
		}
		f.templates[strings.TrimPrefix(r.URL.Path, "/_index_template/")] = body
		w.Write([]byte(`{"acknowledged":true}`))
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_data_stream/"):
		switch f.noDSAPI {
		case 405:
			w.WriteHeader(405)
			w.Write([]byte(`{"error":"Incorrect HTTP method for uri [` + r.URL.Path + `] and method [PUT], allowed: [POST]","status":405}`))
			return
		case 400:
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"no handler found for uri [` + r.URL.Path + `] and method [PUT]"}`))
			return
		}
		w.WriteHeader(400)
		w.Write([]byte(`{"error":{"type":"resource_already_exists_exception"}}`))
	default:
		w.WriteHeader(404)
	}
}

func TestSetupTemplates(t *testing.T) {
	for _, noDS := range []int{0, 405, 400} {
		f := &fakeTemplateES{templates: map[string][]byte{}, noDSAPI: noDS}
		srv := httptest.NewServer(f)
		templates := []output.Template{
			{Name: "logs-tlsentry.tls", Body: []byte(`{"index_patterns":["logs-tlsentry.tls-*"],"data_stream":{},"template":{"mappings":{"properties":{"message":{"type":"text"}}}}}`)},
			{Name: "logs-tlsentry.alert", Body: []byte(`{"index_patterns":["logs-tlsentry.alert-*"],"data_stream":{}}`)},
		}
		var out, warn bytes.Buffer
		s := &setup{opt: output.ESOptions{URLs: []string{srv.URL}, Namespace: "ns1"}, out: &out, warn: &warn}
		// Twice: setup is idempotent.
		for i := 0; i < 2; i++ {
			if err := s.elasticsearch(context.Background(), templates); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
		}
		srv.Close()
		want, err := output.WithDefaultPipeline(templates[0].Body, output.IngestPipeline)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.templates["logs-tlsentry.tls"]; !bytes.Equal(got, want) {
			t.Errorf("template installed as %s, want %s", got, want)
		}
		if f.templates["logs-tlsentry.alert"] == nil {
			t.Error("alert template not installed")
		}
		if !strings.Contains(strings.Join(f.requests, "\n"), "PUT /_data_stream/logs-tlsentry.alert-ns1") {
			t.Errorf("requests %v", f.requests)
		}
		if !strings.Contains(out.String(), "index template logs-tlsentry.tls installed") {
			t.Errorf("output %q", out.String())
		}
		if noDS != 0 && (!strings.Contains(out.String(), "data stream logs-tlsentry.tls-ns1: created on first write") ||
			strings.Count(warn.String(), "warning: Elasticsearch has no data stream API") != 2) { // once per run
			t.Errorf("no data stream API (%d): output %q, warnings %q", noDS, out.String(), warn.String())
		}
		if noDS == 0 && warn.Len() != 0 {
			t.Errorf("warnings %q", warn.String())
		}
	}
}

// TestSetupIngestPipeline: setup installs the event.ingested pipeline and
// names it as the templates' default pipeline where the cluster can run it;
// without ingest nodes or processors (the integ-test-zip) it warns and the
// templates name none, so that documents are not rejected.
func TestSetupIngestPipeline(t *testing.T) {
	for _, c := range []struct {
		ingest   string
		pipeline bool   // the templates name the pipeline
		warning  string // "" none
		err      bool
	}{
		{"", true, "", false},
		{"no-processors", false, "No processor type exists with name [set]", false},
		{"no-nodes", false, "the cluster has no ingest node", false},
		{"401", false, "", true},
	} {
		t.Run("ingest="+c.ingest, func(t *testing.T) {
			f := &fakeTemplateES{templates: map[string][]byte{}, ingest: c.ingest}
			srv := httptest.NewServer(f)
			defer srv.Close()
			var out, warn bytes.Buffer
			s := &setup{opt: output.ESOptions{URLs: []string{srv.URL}, Namespace: "default"}, out: &out, warn: &warn}
			err := s.elasticsearch(context.Background(), output.IndexTemplates())
			if (err != nil) != c.err {
				t.Fatalf("err %v, want error %v", err, c.err)
			}
			if c.err {
				if len(f.templates) != 0 {
					t.Error("templates installed after a refused request")
				}
				return
			}
			if c.pipeline {
				var p struct {
					Processors []map[string]struct {
						Field, Value string
						Override     bool
					}
				}
				if err := json.Unmarshal(f.pipelines[output.IngestPipeline], &p); err != nil || len(p.Processors) != 1 ||
					p.Processors[0]["set"].Field != "event.ingested" || p.Processors[0]["set"].Value != "{{{_ingest.timestamp}}}" || !p.Processors[0]["set"].Override {
					t.Errorf("pipeline %s (%v)", f.pipelines[output.IngestPipeline], err)
				}
			}
			for name, body := range f.templates {
				var tpl struct {
					Template struct {
						Settings struct {
							Index struct {
								DefaultPipeline string `json:"default_pipeline"`
							} `json:"index"`
						} `json:"settings"`
						Mappings map[string]any `json:"mappings"`
					} `json:"template"`
				}
				if err := json.Unmarshal(body, &tpl); err != nil {
					t.Fatal(err)
				}
				want := ""
				if c.pipeline {
					want = output.IngestPipeline
				}
				if tpl.Template.Settings.Index.DefaultPipeline != want || tpl.Template.Mappings == nil {
					t.Errorf("%s: default_pipeline %q, want %q", name, tpl.Template.Settings.Index.DefaultPipeline, want)
				}
			}
			if !strings.Contains(warn.String(), c.warning) || (c.warning == "") != (warn.Len() == 0) {
				t.Errorf("warnings %q, want %q", warn.String(), c.warning)
			}
		})
	}
}

func TestSetupDryRunSendsNothing(t *testing.T) {
	var out bytes.Buffer
	s := &setup{opt: output.ESOptions{URLs: []string{"http://127.0.0.1:1"}, Namespace: "default", Password: "hunter2"}, out: &out, dryRun: true}
	if err := s.elasticsearch(context.Background(), output.IndexTemplates()); err != nil {
		t.Fatal(err)
	}
	if err := s.kibana(context.Background(), "http://127.0.0.1:1", output.KibanaObjects()); err != nil {
		t.Fatal(err)
	}
	o := out.String()
	for _, tpl := range output.IndexTemplates() {
		if !strings.Contains(o, "PUT /_index_template/"+tpl.Name+"\n") {
			t.Errorf("dry run lacks %s", tpl.Name)
		}
	}
	for _, want := range []string{"PUT /_ingest/pipeline/tlsentry-ingested\n", `"default_pipeline": "tlsentry-ingested"`, "PUT /_data_stream/logs-tlsentry.tls-default", "POST http://127.0.0.1:1/api/saved_objects/_import?overwrite=true"} {
		if !strings.Contains(o, want) {
			t.Errorf("dry run lacks %q", want)
		}
	}
	if strings.Contains(o, "hunter2") {
		t.Error("dry run prints the password")
	}
}

func TestESOptionsFromEnv(t *testing.T) {
	t.Setenv(envESURL, "http://env:9200")
	t.Setenv(envESAPIKey, "from-env")
	t.Setenv(envESUsername, "")
	cfg := &Config{ES: ESConfig{URLs: nil, APIKey: "from-file", Username: "u", Password: "p", Namespace: "prod"}}
	opt, err := esOptions(cfg, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(opt.URLs) != 1 || opt.URLs[0] != "http://env:9200" || opt.APIKey != "from-env" || opt.Username != "u" ||
		opt.Namespace != "prod" || !opt.Live {
		t.Errorf("opt %+v", opt)
	}
	if opt.SpoolDir == "" || opt.DeadLetter == "" {
		t.Errorf("no default spool/dead letter: %+v", opt)
	}
	t.Setenv("STATE_DIRECTORY", "/var/lib/tlsentry")
	if opt, _ := esOptions(cfg, "", false); opt.SpoolDir != "/var/lib/tlsentry/es-spool" || opt.DeadLetter != "/var/lib/tlsentry/es-dead-letter.ndjson" {
		t.Errorf("state directory: %q %q", opt.SpoolDir, opt.DeadLetter)
	}
	opt, err = esOptions(cfg, "http://a:9200/, https://b:9200", false)
	if err != nil || len(opt.URLs) != 2 || opt.URLs[0] != "http://a:9200" || opt.URLs[1] != "https://b:9200" {
		t.Errorf("flag URLs %v %v", opt.URLs, err)
	}
	_, err = esOptions(cfg, "http://user:secret@a:9200", false)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("URL with credentials: %v", err)
	}
	if _, err := esOptions(cfg, "ftp://a", false); err == nil {
		t.Error("ftp URL accepted")
	}
	t.Setenv(envESCACert, "/nonexistent/ca.pem")
	if _, err := esOptions(cfg, "", false); err == nil {
		t.Error("missing CA file accepted")
	}
}

// TestTemplatesUseCoreTypes: the templates use only field types every
// distribution has, so setup installs them as they are (there is no
// fallback that rewrites x-pack types).
func TestTemplatesUseCoreTypes(t *testing.T) {
	core := map[string]bool{"boolean": true, "date": true, "float": true, "ip": true, "keyword": true, "long": true, "text": true, "nested": true}
	typeRE := regexp.MustCompile(`"type"\s*:\s*"([a-z_]+)"`)
	for _, tp := range output.IndexTemplates() {
		for _, m := range typeRE.FindAllSubmatch(tp.Body, -1) {
			if !core[string(m[1])] {
				t.Errorf("template %s: field type %s is not a core type", tp.Name, m[1])
			}
		}
	}
}
