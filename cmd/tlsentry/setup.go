package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/tlsentry/tlsentry/output"
)

// Environment variables for the Elasticsearch connection. Secrets come only
// from here or the config file, never from flags, and are never printed.
const (
	envESURL        = "ELASTICSEARCH_URL" // also read by go-elasticsearch itself
	envESAPIKey     = "ELASTICSEARCH_API_KEY"
	envESUsername   = "ELASTICSEARCH_USERNAME"
	envESPassword   = "ELASTICSEARCH_PASSWORD"
	envESCACert     = "ELASTICSEARCH_CA_CERT"     // path to a PEM file
	envESClientCert = "ELASTICSEARCH_CLIENT_CERT" // path to a PEM file
	envESClientKey  = "ELASTICSEARCH_CLIENT_KEY"  // path to a PEM file
	envESNamespace  = "TLSENTRY_ES_NAMESPACE"
)

// esOptions merges the Elasticsearch settings: config file, then
// environment, then the --es flag (a comma-separated URL list, "" for none).
// live selects shedding instead of blocking when the queue is full. The
// sensor (-r, -i) and setup both build their connection with it.
func esOptions(cfg *Config, esFlag string, live bool) (output.ESOptions, error) {
	c := cfg.ES
	opt := output.ESOptions{
		URLs:          c.URLs,
		Namespace:     c.Namespace,
		APIKey:        c.APIKey,
		Username:      c.Username,
		Password:      c.Password,
		SpoolDir:      c.SpoolDir,
		SpoolMaxBytes: int64(c.SpoolMaxMB) << 20,
		DeadLetter:    c.DeadLetter,
		Workers:       c.Workers,
		FlushBytes:    c.FlushBytes,
		Live:          live,
	}
	caPath, certPath, keyPath := c.CACert, c.ClientCert, c.ClientKey
	if v := os.Getenv(envESURL); v != "" && len(opt.URLs) == 0 {
		opt.URLs = splitURLs(v)
	}
	for _, e := range []struct {
		name string
		dst  *string
	}{
		{envESAPIKey, &opt.APIKey}, {envESUsername, &opt.Username}, {envESPassword, &opt.Password},
		{envESCACert, &caPath}, {envESClientCert, &certPath}, {envESClientKey, &keyPath},
		{envESNamespace, &opt.Namespace},
	} {
		if v := os.Getenv(e.name); v != "" {
			*e.dst = v
		}
	}
	if esFlag != "" {
		opt.URLs = splitURLs(esFlag)
	}
	for _, u := range opt.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return opt, fmt.Errorf("%w: elasticsearch URL %q: want http:// or https://", errUsage, redactURL(u))
		}
		if strings.Contains(u, "@") {
			return opt, fmt.Errorf("%w: elasticsearch URL %s carries credentials: put them in the config file or %s/%s", errUsage, redactURL(u), envESUsername, envESPassword)
		}
	}
	if opt.SpoolDir == "" || opt.DeadLetter == "" {
		if dir := stateDir(); dir != "" {
			if opt.SpoolDir == "" {
				opt.SpoolDir = filepath.Join(dir, "es-spool")
			}
			if opt.DeadLetter == "" {
				opt.DeadLetter = filepath.Join(dir, "es-dead-letter.ndjson")
			}
		}
	}
	var err error
	if opt.CACert, err = readPEM("CA certificate", caPath); err != nil {
		return opt, err
	}
	if opt.ClientCert, err = readPEM("client certificate", certPath); err != nil {
		return opt, err
	}
	if opt.ClientKey, err = readPEM("client key", keyPath); err != nil {
		return opt, err
	}
	return opt, nil
}

// esNamespace is the data stream namespace documents say they are in
// (data_stream.namespace), as esOptions reads it: the environment, else the
// config file, else "default".
func esNamespace(cfg *Config) string {
	if v := os.Getenv(envESNamespace); v != "" {
		return v
	}
	if cfg.ES.Namespace != "" {
		return cfg.ES.Namespace
	}
	return "default"
}

// stateDir is where the Elasticsearch spool and dead-letter file go unless
// configured: $STATE_DIRECTORY (systemd StateDirectory=), else
// $XDG_STATE_HOME/tlsentry, else ~/.local/state/tlsentry.
func stateDir() string {
	if v := os.Getenv("STATE_DIRECTORY"); v != "" {
		return strings.Split(v, ":")[0]
	}
	if v := os.Getenv("XDG_STATE_HOME"); v != "" {
		return filepath.Join(v, "tlsentry")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "state", "tlsentry")
	}
	return ""
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, strings.TrimRight(u, "/"))
		}
	}
	return out
}

var userinfo = regexp.MustCompile(`//[^/@]*@`)

// redactURL hides user:password in a URL before it is shown.
func redactURL(u string) string { return userinfo.ReplaceAllString(u, "//<redacted>@") }

func readPEM(what, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch %s: %w", what, err)
	}
	return b, nil
}

// runSetup implements "tlsentry setup": install the index templates in
// Elasticsearch (idempotent: PUT replaces), and with --kibana import the
// saved objects into Kibana. --dry-run prints the requests instead.
func runSetup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		configPath = fs.String("config", "", "YAML config file")
		esFlag     = fs.String("es", "", "Elasticsearch URL[,URL...] (default: config file, then $ELASTICSEARCH_URL, then http://localhost:9200)")
		kibanaURL  = fs.String("kibana", "", "Kibana URL: import the saved objects (data view, searches, dashboard)")
		dryRun     = fs.Bool("dry-run", false, "print the requests instead of sending them")
		namespace  = fs.String("namespace", "", "data stream namespace to create (default: config file, else \"default\")")
		skipES     = fs.Bool("skip-es", false, "do not touch Elasticsearch (with --kibana: import the Kibana objects only)")
		apiKeyName = fs.String("create-api-key", "", "also create an API key `NAME` for the sensor (create_doc and auto_configure on logs-tlsentry.* only) and print it once, encoded, for ELASTICSEARCH_API_KEY")
	)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tlsentry setup [--config FILE] [--es URL[,URL]] [--kibana URL] [--namespace NS] [--create-api-key NAME] [--dry-run]")
		fmt.Fprintln(os.Stderr, "credentials: config file or $ELASTICSEARCH_API_KEY, $ELASTICSEARCH_USERNAME/$ELASTICSEARCH_PASSWORD, $ELASTICSEARCH_CA_CERT, $ELASTICSEARCH_CLIENT_CERT/$ELASTICSEARCH_CLIENT_KEY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: setup takes no arguments (got %q)", errUsage, fs.Args())
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	opt, err := esOptions(cfg, *esFlag, false)
	if err != nil {
		return err
	}
	if *namespace != "" {
		opt.Namespace = *namespace
	}
	if opt.Namespace == "" {
		opt.Namespace = "default"
	}
	if *apiKeyName != "" && *skipES {
		return fmt.Errorf("%w: --create-api-key needs Elasticsearch (drop --skip-es)", errUsage)
	}
	st := &setup{opt: opt, out: os.Stdout, dryRun: *dryRun}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !*skipES {
		if err := st.elasticsearch(ctx, output.IndexTemplates()); err != nil {
			return err
		}
	}
	if *apiKeyName != "" {
		if err := st.createAPIKey(ctx, *apiKeyName); err != nil {
			return err
		}
	}
	if *kibanaURL != "" {
		if err := st.kibana(ctx, strings.TrimRight(*kibanaURL, "/"), output.KibanaObjects()); err != nil {
			return err
		}
	}
	return nil
}

type setup struct {
	opt    output.ESOptions
	out    io.Writer
	warn   io.Writer // warnings; nil: os.Stderr
	dryRun bool
	hc     *http.Client // Kibana; nil: built from opt
}

// dataStreams are created after the templates so that they exist (with the
// template's mappings) before the first document.
func (s *setup) dataStreams() []string {
	return []string{
		"logs-" + output.DatasetTLS + "-" + s.opt.Namespace,
		"logs-" + output.DatasetAlert + "-" + s.opt.Namespace,
		"logs-" + output.DatasetInventory + "-" + s.opt.Namespace,
	}
}

func (s *setup) elasticsearch(ctx context.Context, templates []output.Template) error {
	if len(templates) == 0 {
		return errors.New("setup: no index templates built in")
	}
	if s.dryRun {
		fmt.Fprintf(s.out, "GET /_nodes/ingest:true/_none\n\nPUT /_ingest/pipeline/%s\n%s\n\n", output.IngestPipeline, output.IngestPipelineBody())
		for _, t := range templates {
			body, err := output.WithDefaultPipeline(t.Body, output.IngestPipeline)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "PUT /_index_template/%s\n%s\n\n", t.Name, bytes.TrimSpace(body))
		}
		fmt.Fprintf(s.out, "(without ingest: the templates without index.default_pipeline; the sensor sets event.ingested)\n\n")
		for _, ds := range s.dataStreams() {
			fmt.Fprintf(s.out, "PUT /_data_stream/%s\n\n", ds)
		}
		return nil
	}
	client, err := s.esClient()
	if err != nil {
		return err
	}
	pipeline, err := s.ingestPipeline(ctx, client)
	if err != nil {
		return err
	}
	for _, t := range templates {
		if pipeline {
			if t.Body, err = output.WithDefaultPipeline(t.Body, output.IngestPipeline); err != nil {
				return err
			}
		}
		status, body, err := esDo(ctx, client, http.MethodPut, "/_index_template/"+t.Name, t.Body)
		if err != nil {
			return fmt.Errorf("setup: index template %s: %w", t.Name, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("setup: index template %s: status %d: %s", t.Name, status, output.Truncate(body, 400))
		}
		fmt.Fprintf(s.out, "index template %s installed\n", t.Name)
	}
	warned := false
	for _, ds := range s.dataStreams() {
		status, body, err := esDo(ctx, client, http.MethodPut, "/_data_stream/"+ds, nil)
		switch {
		case err != nil:
			return fmt.Errorf("setup: data stream %s: %w", ds, err)
		case status == http.StatusOK:
			fmt.Fprintf(s.out, "data stream %s created\n", ds)
		case bytes.Contains(body, []byte("resource_already_exists_exception")):
			fmt.Fprintf(s.out, "data stream %s exists\n", ds)
		case noHandler(status, body):
			// No data stream API (a distribution without the data-streams
			// module, like the integ-test-zip): the index is created from
			// the template on the first write. 8.19 answers 405 (its core
			// knows the path, for POST), 9.x 400 "no handler found".
			if !warned {
				w := s.warn
				if w == nil {
					w = os.Stderr
				}
				fmt.Fprintf(w, "tlsentry: setup: warning: Elasticsearch has no data stream API (status %d); the data streams are created from their templates on the first write\n", status)
				warned = true
			}
			fmt.Fprintf(s.out, "data stream %s: created on first write\n", ds)
		default:
			return fmt.Errorf("setup: data stream %s: status %d: %s", ds, status, output.Truncate(body, 400))
		}
	}
	return nil
}

// ingestPipeline installs output.IngestPipeline (event.ingested) and
// reports whether the cluster can run it: it has an ingest node, and the
// pipeline's set processor exists (the integ-test-zip distribution has no
// ingest-common module, so no processors). Without, setup warns and the
// templates name no default pipeline: a default pipeline that cannot run
// would reject every document. The sensor's stamp (output/ingested.go)
// then stays.
func (s *setup) ingestPipeline(ctx context.Context, client *elasticsearch.Client) (bool, error) {
	warn := func(why string) {
		w := s.warn
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprintf(w, "tlsentry: setup: warning: no ingest pipeline (%s); event.ingested is set by the sensor when it sends\n", why)
	}
	status, body, err := esDo(ctx, client, http.MethodGet, "/_nodes/ingest:true/_none?filter_path=_nodes.total", nil)
	if err != nil {
		return false, fmt.Errorf("setup: ingest nodes: %w", err)
	}
	var nodes struct {
		Nodes struct {
			Total *int `json:"total"`
		} `json:"_nodes"`
	}
	switch {
	case status == http.StatusUnauthorized:
		return false, fmt.Errorf("setup: ingest nodes: status %d: %s", status, output.Truncate(body, 400))
	case status != http.StatusOK || json.Unmarshal(body, &nodes) != nil || nodes.Nodes.Total == nil:
		warn(fmt.Sprintf("cannot list ingest nodes: status %d: %s", status, output.Truncate(body, 200)))
		return false, nil
	case *nodes.Nodes.Total == 0:
		warn("the cluster has no ingest node")
		return false, nil
	}
	status, body, err = esDo(ctx, client, http.MethodPut, "/_ingest/pipeline/"+output.IngestPipeline, output.IngestPipelineBody())
	switch {
	case err != nil:
		return false, fmt.Errorf("setup: ingest pipeline %s: %w", output.IngestPipeline, err)
	case status == http.StatusOK:
		fmt.Fprintf(s.out, "ingest pipeline %s installed (sets event.ingested)\n", output.IngestPipeline)
		return true, nil
	case status == http.StatusUnauthorized:
		return false, fmt.Errorf("setup: ingest pipeline %s: status %d: %s", output.IngestPipeline, status, output.Truncate(body, 400))
	}
	// 400 "No processor type exists with name [set]" without ingest-common;
	// 403 without manage_pipeline; no handler without ingest at all.
	warn(fmt.Sprintf("PUT /_ingest/pipeline/%s: status %d: %s", output.IngestPipeline, status, output.Truncate(body, 200)))
	return false, nil
}

// noHandler tells whether Elasticsearch answered that it has no handler for
// the request: 404 or 405, or 9.x's 400 "no handler found for uri".
func noHandler(status int, body []byte) bool {
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	case http.StatusBadRequest:
		return bytes.Contains(body, []byte("no handler found for uri"))
	}
	return false
}

// sensorRole is the API key's only role: write documents into tlsentry's
// data streams (create_doc: op_type create, which the sink uses; never
// overwrite or delete) and let the first write create them from the
// template (auto_configure). No cluster privilege, no read.
var sensorRole = map[string]any{
	"cluster": []string{},
	"indices": []map[string]any{{
		"names":      []string{"logs-tlsentry.*"},
		"privileges": []string{"create_doc", "auto_configure"},
	}},
}

// createAPIKey creates the sensor's API key (POST /_security/api_key, as the
// user setup runs as) and prints it once in Elasticsearch's encoded form
// (base64 of id:api_key), the value ELASTICSEARCH_API_KEY takes.
func (s *setup) createAPIKey(ctx context.Context, name string) error {
	body, err := json.Marshal(map[string]any{
		"name":             name,
		"role_descriptors": map[string]any{"tlsentry_sensor": sensorRole},
		"metadata":         map[string]any{"application": "tlsentry"},
	})
	if err != nil {
		return err
	}
	if s.dryRun {
		fmt.Fprintf(s.out, "POST /_security/api_key\n%s\n\n", body)
		return nil
	}
	client, err := s.esClient()
	if err != nil {
		return err
	}
	status, data, err := esDo(ctx, client, http.MethodPost, "/_security/api_key", body)
	if err != nil {
		return fmt.Errorf("setup: api key %s: %w", name, err)
	}
	if status != http.StatusOK {
		hint := ""
		if bytes.Contains(data, []byte("pattern_capture")) {
			hint = " (this Elasticsearch cannot create its security index, which holds API keys: it lacks the analysis-common module, as the integ-test-zip distribution does; use a full distribution)"
		}
		return fmt.Errorf("setup: api key %s: status %d: %s%s", name, status, output.Truncate(data, 400), hint)
	}
	var r struct {
		ID      string `json:"id"`
		APIKey  string `json:"api_key"`
		Encoded string `json:"encoded"`
	}
	if err := json.Unmarshal(data, &r); err != nil || r.ID == "" || r.APIKey == "" {
		// Not the answer's text: it would hold the key.
		return fmt.Errorf("setup: api key %s: status 200 but no id and api_key in the answer", name)
	}
	if r.Encoded == "" { // before 7.16
		r.Encoded = base64.StdEncoding.EncodeToString([]byte(r.ID + ":" + r.APIKey))
	}
	fmt.Fprintf(s.out, "api key %s created (id %s; create_doc and auto_configure on logs-tlsentry.* only). It is shown only this once: set ELASTICSEARCH_API_KEY (or the config file's API key) to\n%s\n", name, r.ID, r.Encoded)
	return nil
}

func (s *setup) esClient() (*elasticsearch.Client, error) {
	cfg := elasticsearch.Config{
		Addresses: s.opt.URLs, APIKey: s.opt.APIKey, Username: s.opt.Username, Password: s.opt.Password,
		MaxRetries: 3, RetryOnStatus: []int{429, 502, 503, 504}, Transport: s.opt.Transport,
	}
	if cfg.Transport == nil {
		tr, err := output.NewESTransport(s.opt)
		if err != nil {
			return nil, err
		}
		cfg.Transport = tr
	}
	c, err := elasticsearch.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("setup: elasticsearch: %w", err)
	}
	return c, nil
}

func esDo(ctx context.Context, c *elasticsearch.Client, method, path string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Perform(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, data, err
}

// kibana imports the saved objects through POST
// /api/saved_objects/_import?overwrite=true (multipart, field "file").
func (s *setup) kibana(ctx context.Context, base string, objects []byte) error {
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return fmt.Errorf("%w: kibana URL %q: want http:// or https://", errUsage, redactURL(base))
	}
	url := base + "/api/saved_objects/_import?overwrite=true"
	if s.dryRun {
		n := bytes.Count(bytes.TrimSpace(objects), []byte{'\n'}) + 1
		fmt.Fprintf(s.out, "POST %s\nkbn-xsrf: true\nContent-Type: multipart/form-data (field \"file\", tlsentry.ndjson, %d bytes, %d objects)\n\n",
			redactURL(url), len(objects), n)
		return nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", `form-data; name="file"; filename="tlsentry.ndjson"`)
	h.Set("Content-Type", "application/ndjson")
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := part.Write(objects); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return fmt.Errorf("setup: kibana: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("kbn-xsrf", "true")
	switch {
	case s.opt.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+s.opt.APIKey)
	case s.opt.Username != "":
		req.SetBasicAuth(s.opt.Username, s.opt.Password)
	}
	hc := s.hc
	if hc == nil {
		tr, err := output.NewESTransport(s.opt)
		if err != nil {
			return err
		}
		hc = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("setup: kibana: %w", err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("setup: kibana import: status %d: %s", res.StatusCode, output.Truncate(data, 400))
	}
	var r struct {
		Success      bool              `json:"success"`
		SuccessCount int               `json:"successCount"`
		Errors       []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("setup: kibana import: unreadable answer: %s", output.Truncate(data, 200))
	}
	if !r.Success || len(r.Errors) > 0 {
		return fmt.Errorf("setup: kibana import: %d objects imported, %d errors: %s", r.SuccessCount, len(r.Errors), output.Truncate(data, 400))
	}
	fmt.Fprintf(s.out, "kibana: %d saved objects imported\n", r.SuccessCount)
	return nil
}
