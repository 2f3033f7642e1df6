package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
)

// What the secured node is: the integ-test-zip 9.x with x-pack-security on,
// HTTPS with a CA scripts/elasticsearch.sh made, the elastic user's password
// set at start (bootstrap.password, the reserved realm). It shows TLS with
// ELASTICSEARCH_CA_CERT, basic authentication, and what the sensor does with
// credentials the node rejects. It cannot create API keys: they live in the
// security index, whose mappings need the analysis-common module, which the
// integ-test-zip lacks (POST /_security/api_key answers 400 "Unknown filter
// type [pattern_capture]"). The API key's request and its use by the sensor
// are TestSetupAPIKeyFake's, against a fake: request shapes only.

// secretsAbsent fails when a secret appears in any of the outputs or in any
// file under the dirs (spool, dead letter, NDJSON, state).
func secretsAbsent(t *testing.T, secrets []string, outputs map[string]string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				b, _ := os.ReadFile(p)
				outputs[p] = string(b)
			}
			return nil
		})
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for where, text := range outputs {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%d characters) is in %s", len(s), where)
			}
		}
	}
}

func TestESSecure(t *testing.T) {
	sn := estest.SecureNode(t)
	node := secureNode(t, sn)
	captures := testCaptures(t)
	ns := fmt.Sprintf("secure%d", time.Now().UnixNano()%1e12)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	base := []string{"TLSENTRY_ES_NAMESPACE=" + ns, "STATE_DIRECTORY=" + state}
	admin := append([]string{"ELASTICSEARCH_CA_CERT=" + sn.CAFile, "ELASTICSEARCH_USERNAME=elastic", "ELASTICSEARCH_PASSWORD=" + sn.Password}, base...)
	outs := map[string]string{}
	secrets := []string{sn.Password}

	r := runTlsentry(t, admin, "setup", "--es", sn.URL)
	outs["setup stdout"], outs["setup stderr"] = r.stdout, r.stderr
	if r.code != 0 {
		t.Fatalf("setup over TLS as elastic: exit %d\n%s", r.code, r.stderr)
	}

	// The API key. On this node creating it fails (see above); should the
	// node ever have the module, the key is used for real below.
	r = runTlsentry(t, admin, "setup", "--es", sn.URL, "--create-api-key", "tlsentry-test")
	outs["setup --create-api-key stdout"], outs["setup --create-api-key stderr"] = r.stdout, r.stderr
	key := ""
	if r.code == 0 {
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		key = lines[len(lines)-1]
		t.Log("the node created an API key: the sensor replays with it")
	} else if !strings.Contains(r.stderr, "analysis-common") {
		t.Errorf("--create-api-key: exit %d without the known reason:\n%s", r.code, r.stderr)
	} else {
		t.Log("no API key on the integ-test-zip (no analysis-common module): the sensor replays as elastic; the key's shape is TestSetupAPIKeyFake's")
	}

	sensor := admin
	if key != "" {
		secrets = append(secrets, key)
		sensor = append([]string{"ELASTICSEARCH_CA_CERT=" + sn.CAFile, "ELASTICSEARCH_API_KEY=" + key}, base...)
	}
	files := replayAll(t, sn.URL, filepath.Join(dir, "replay"), sensor, captures)
	want := ndjsonSources(t, files...)
	checkSameDocs(t, "replay over TLS", node.sources(t, ns), want)
	checkNoLeftovers(t, state)

	// Without the CA: the node's certificate is not trusted. A wrong key:
	// non-zero exit and an error that says the credentials were rejected;
	// the key nowhere. Both wait out the sink's drain timeout, so at once.
	noCA := filepath.Join(dir, "noca")
	waitNoCA := startTlsentry(t, []string{"STATE_DIRECTORY=" + noCA, "ELASTICSEARCH_USERNAME=elastic", "ELASTICSEARCH_PASSWORD=" + sn.Password},
		"-r", captures[0], "--es", sn.URL, "-progress", "never")
	wrong := base64.StdEncoding.EncodeToString([]byte("tlsentry-wrong-id:tlsentry-wrong-secret"))
	secrets = append(secrets, wrong, "tlsentry-wrong-secret")
	wrongDir := filepath.Join(dir, "wrong")
	os.MkdirAll(wrongDir, 0o755)
	waitWrong := startTlsentry(t, []string{"STATE_DIRECTORY=" + wrongDir, "ELASTICSEARCH_CA_CERT=" + sn.CAFile, "ELASTICSEARCH_API_KEY=" + wrong, "TLSENTRY_ES_NAMESPACE=" + ns},
		"-r", captures[0], "-w", filepath.Join(wrongDir, "out.ndjson"), "--es", sn.URL, "-progress", "never")
	r = waitNoCA()
	outs["no CA stdout"], outs["no CA stderr"] = r.stdout, r.stderr
	if r.code == 0 {
		t.Errorf("replay without the CA: exit 0\n%s", r.stderr)
	}
	r = waitWrong()
	outs["wrong key stdout"], outs["wrong key stderr"] = r.stdout, r.stderr
	if r.code == 0 {
		t.Errorf("replay with a wrong API key: exit 0\n%s", r.stderr)
	}
	checkRejectedMessage(t, r.stderr)
	secretsAbsent(t, secrets, outs, state, noCA, wrongDir, filepath.Join(dir, "replay"))
}

// checkRejectedMessage: the sensor says Elasticsearch rejected its
// credentials (status 401), not only that documents stay in the spool.
func checkRejectedMessage(t *testing.T, stderr string) {
	t.Helper()
	if !strings.Contains(stderr, "401") && !strings.Contains(strings.ToLower(stderr), "authenticat") {
		t.Errorf("wrong credentials: stderr does not say Elasticsearch rejected them (401) [needs the sink to report 401/403 as such: issue 14]:\n%s", stderr)
	}
}

// fakeSecureES is an HTTPS Elasticsearch that knows the elastic user, makes
// one API key and accepts bulk requests with that key only.
type fakeSecureES struct {
	password string
	t        *testing.T

	mu       sync.Mutex
	key      string // encoded
	keyBody  map[string]any
	sensor   []string // requests made with the key
	docs     int
	rejected int
}

func (f *fakeSecureES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	u, p, basic := r.BasicAuth()
	isAdmin := basic && u == "elastic" && p == f.password
	// The scheme is case-insensitive (go-elasticsearch sends "APIKey").
	scheme, cred, _ := strings.Cut(auth, " ")
	isSensor := f.key != "" && strings.EqualFold(scheme, "ApiKey") && cred == f.key
	if !isAdmin && !isSensor {
		f.rejected++
		w.WriteHeader(401)
		w.Write([]byte(`{"error":{"type":"security_exception","reason":"unable to authenticate with provided credentials and anonymous access is not allowed for this request"},"status":401}`))
		return
	}
	if isSensor {
		f.sensor = append(f.sensor, r.Method+" "+r.URL.Path)
	}
	switch {
	case isAdmin && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		w.Write([]byte(`{"acknowledged":true}`))
	case isAdmin && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_data_stream/"):
		w.WriteHeader(400)
		w.Write([]byte(`{"error":"no handler found for uri [` + r.URL.Path + `] and method [PUT]"}`))
	case isAdmin && r.Method == http.MethodPost && r.URL.Path == "/_security/api_key":
		json.Unmarshal(body, &f.keyBody)
		f.key = base64.StdEncoding.EncodeToString([]byte("fakekeyid:fakekeysecret0123456789"))
		fmt.Fprintf(w, `{"id":"fakekeyid","name":%q,"api_key":"fakekeysecret0123456789","encoded":%q}`, f.keyBody["name"], f.key)
	case isSensor && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
		var items []string
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for i := 0; sc.Scan(); i++ {
			if i%2 == 0 {
				items = append(items, `{"create":{"status":201}}`)
			}
		}
		f.docs += len(items)
		fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(items, ","))
	default:
		w.WriteHeader(403)
		w.Write([]byte(`{"error":{"type":"security_exception","reason":"action is unauthorized"},"status":403}`))
	}
}

// TestSetupAPIKeyFake: request shapes only (a fake; see above). setup
// --create-api-key sends exactly the least-privilege role (create_doc and
// auto_configure on logs-tlsentry.*, no cluster privilege) and prints the
// encoded key once; the sensor, given only that key and the CA, sends only
// bulk requests with it; a wrong key makes it exit non-zero with a clear
// error; no secret in any output or file.
func TestSetupAPIKeyFake(t *testing.T) {
	f := &fakeSecureES{password: "fake-elastic-password-42", t: t}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{}
	r := runTlsentry(t, []string{"ELASTICSEARCH_CA_CERT=" + ca, "ELASTICSEARCH_USERNAME=elastic", "ELASTICSEARCH_PASSWORD=" + f.password},
		"setup", "--es", srv.URL, "--namespace", "fake", "--create-api-key", "sensor-1")
	if r.code != 0 {
		t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
	}
	outs["setup stderr"] = r.stderr
	wantBody := map[string]any{
		"name": "sensor-1",
		"role_descriptors": map[string]any{"tlsentry_sensor": map[string]any{
			"cluster": []any{},
			"indices": []any{map[string]any{"names": []any{"logs-tlsentry.*"}, "privileges": []any{"create_doc", "auto_configure"}}},
		}},
		"metadata": map[string]any{"application": "tlsentry"},
	}
	if !reflect.DeepEqual(f.keyBody, wantBody) {
		got, _ := json.Marshal(f.keyBody)
		t.Errorf("api key request %s", got)
	}
	if strings.Count(r.stdout, f.key) != 1 || !strings.HasSuffix(strings.TrimSpace(r.stdout), "\n"+f.key) {
		t.Errorf("the encoded key is not printed once, last:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "fakekeysecret") || strings.Contains(r.stdout+r.stderr, f.password) {
		t.Errorf("setup prints the raw key or the password:\n%s", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	key := lines[len(lines)-1]

	state := filepath.Join(dir, "state")
	env := []string{"ELASTICSEARCH_CA_CERT=" + ca, "ELASTICSEARCH_API_KEY=" + key, "STATE_DIRECTORY=" + state, "TLSENTRY_ES_NAMESPACE=fake"}
	out := filepath.Join(dir, "out.ndjson")
	r = runTlsentry(t, env, "-r", "../../testdata/tls12-ecdsa.pcap", "-w", out, "--es", srv.URL, "-progress", "never")
	outs["sensor stdout"], outs["sensor stderr"] = r.stdout, r.stderr
	if r.code != 0 {
		f.mu.Lock()
		t.Fatalf("sensor with the key: exit %d (requests with the key %v, %d rejected)\n%s", r.code, f.sensor, f.rejected, r.stderr)
	}
	f.mu.Lock()
	docs, sensorReqs := f.docs, append([]string(nil), f.sensor...)
	f.mu.Unlock()
	if want := len(readNDJSONDocs(t, out)); docs != want || want == 0 {
		t.Errorf("fake got %d documents, NDJSON has %d", docs, want)
	}
	for _, req := range sensorReqs {
		if req != "POST /_bulk" {
			t.Errorf("the sensor's key was used for %s (only POST /_bulk needed)", req)
		}
	}

	wrongDir := filepath.Join(dir, "wrong")
	os.MkdirAll(wrongDir, 0o755)
	wrong := base64.StdEncoding.EncodeToString([]byte("fakekeyid:not-the-secret-77"))
	r = runTlsentry(t, []string{"ELASTICSEARCH_CA_CERT=" + ca, "ELASTICSEARCH_API_KEY=" + wrong, "STATE_DIRECTORY=" + wrongDir},
		"-r", "../../testdata/tls12-ecdsa.pcap", "-w", filepath.Join(wrongDir, "out.ndjson"), "--es", srv.URL, "-progress", "never")
	outs["wrong key stdout"], outs["wrong key stderr"] = r.stdout, r.stderr
	if r.code == 0 {
		t.Errorf("wrong key: exit 0\n%s", r.stderr)
	}
	checkRejectedMessage(t, r.stderr)
	secretsAbsent(t, []string{key, "fakekeysecret0123456789", wrong, "not-the-secret-77", f.password}, outs, state, wrongDir)
}
