package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
)

// TestTemplatesInElasticsearch installs the index templates (under test
// names, so it does not disturb other tests sharing the node) in the
// Elasticsearch at $ELASTICSEARCH_URL, indexes encoded documents into data
// streams and checks that Elasticsearch accepts every one, maps fields as the
// template says, rejects replays (deterministic _id) and rejects a document
// that contradicts a mapping. Skipped when no Elasticsearch is configured, failed under CI=true (estest.URL).
func TestTemplatesInElasticsearch(t *testing.T) {
	url := estest.URL(t)
	es := &esClient{t: t, url: url, hc: &http.Client{Timeout: 30 * time.Second}}
	prefix := fmt.Sprintf("tlsentry-tpltest%d", time.Now().UnixNano()%1_000_000_000)

	// Encode: golden sessions plus the session that fills every field.
	enc := NewEncoder(testObserver)
	var docs []Document
	for _, c := range goldenCases {
		docs = append(docs, enc.Encode(c.session(), c.verdict)...)
	}
	docs = append(docs, enc.Encode(fullSession(), verdictLegacy())...)

	// The integ-test-zip distribution CI runs creates data streams (that is
	// core) but lacks the module with the _data_stream API, so they cannot be
	// deleted there: on such a node the test uses plain indices, which it
	// can clean up, and checks the data stream part of the templates only
	// by shape (TestIndexTemplates).
	dataStreams := false
	if code, _ := es.do("GET", "/_data_stream/_all", nil, nil); code == 200 {
		dataStreams = true
	} else {
		t.Log("no _data_stream API on this node: testing the templates on plain indices")
	}

	streams := map[string]string{} // dataset -> data stream
	for _, tpl := range IndexTemplates() {
		ds := strings.TrimPrefix(tpl.Name, "logs-")
		name := prefix + "-" + ds
		var body map[string]any
		if err := json.Unmarshal(tpl.Body, &body); err != nil {
			t.Fatal(err)
		}
		body["index_patterns"] = []string{name + "-*"}
		if !dataStreams {
			delete(body, "data_stream")
		}
		b, _ := json.Marshal(body)
		t.Cleanup(func() {
			if dataStreams {
				es.do("DELETE", "/_data_stream/"+name+"-*", nil, nil)
			} else {
				es.do("DELETE", "/"+name+"-*", nil, nil)
			}
			es.do("DELETE", "/_index_template/"+name, nil, nil)
		})
		if code, resp := es.do("PUT", "/_index_template/"+name, b, nil); code != 200 {
			t.Fatalf("PUT template %s: %d %s", tpl.Name, code, resp)
		}
		streams[ds] = name + "-default"
	}

	bulk := func(docs []Document) []map[string]any {
		var b bytes.Buffer
		for _, d := range docs {
			fmt.Fprintf(&b, `{"create":{"_index":%q,"_id":%q}}`+"\n", streams[d.Dataset], d.ID)
			b.Write(d.Body)
			b.WriteByte('\n')
		}
		var resp struct {
			Items []map[string]map[string]any `json:"items"`
		}
		if code, raw := es.do("POST", "/_bulk?refresh=true", b.Bytes(), &resp); code != 200 {
			t.Fatalf("bulk: %d %s", code, raw)
		}
		var out []map[string]any
		for _, it := range resp.Items {
			out = append(out, it["create"])
		}
		return out
	}

	for i, it := range bulk(docs) {
		if it["status"].(float64) != 201 {
			t.Errorf("doc %d (%s) rejected: %v", i, docs[i].Dataset, it["error"])
		}
	}
	// Replays are rejected as duplicates: ids are deterministic.
	for i, it := range bulk(docs) {
		if it["status"].(float64) != 409 {
			t.Errorf("replayed doc %d: status %v, want 409", i, it["status"])
		}
	}
	// A value contradicting a mapping is rejected (what the dead-letter
	// queue catches), with dynamic false as with strict.
	bad := []Document{
		{ID: "bad-long", Dataset: DatasetTLS, Body: []byte(`{"@timestamp":"2024-05-01T10:00:00Z","source":{"bytes":"lots"}}`)},
		{ID: "bad-ip", Dataset: DatasetTLS, Body: []byte(`{"@timestamp":"2024-05-01T10:00:00Z","source":{"ip":"not-an-ip"}}`)},
		{ID: "bad-date", Dataset: DatasetAlert, Body: []byte(`{"@timestamp":"2024-05-01T10:00:00Z","tls":{"server":{"not_after":"soon"}}}`)},
	}
	for i, it := range bulk(bad) {
		if it["status"].(float64) != 400 {
			t.Errorf("%s: status %v, want 400", bad[i].ID, it["status"])
		}
	}
	// Unknown fields are kept in _source but not mapped.
	unknown := []Document{{ID: "unknown", Dataset: DatasetTLS, Body: []byte(`{"@timestamp":"2024-05-01T10:00:00Z","future":{"field":"x"}}`)}}
	if it := bulk(unknown)[0]; it["status"].(float64) != 201 {
		t.Errorf("unknown field: %v", it)
	}

	// The mapping is exactly the template's: nothing was added dynamically,
	// and typed queries work.
	var mapping map[string]struct {
		Mappings struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"mappings"`
	}
	es.do("GET", "/"+streams[DatasetTLS]+"/_mapping", nil, &mapping)
	for idx, m := range mapping {
		if _, ok := m.Mappings.Properties["future"]; ok {
			t.Errorf("%s: unknown field was mapped dynamically", idx)
		}
	}
	count := func(stream, query string) int {
		var r struct {
			Count int `json:"count"`
		}
		if code, raw := es.do("POST", "/"+stream+"/_count", []byte(query), &r); code != 200 {
			t.Fatalf("count: %d %s", code, raw)
		}
		return r.Count
	}
	// The expected counts are the documents' own values, read back with
	// encoding/json: Elasticsearch must find what the documents say.
	parsed := map[string][]map[string]any{}
	for _, d := range docs {
		var m map[string]any
		if err := json.Unmarshal(d.Body, &m); err != nil {
			t.Fatal(err)
		}
		parsed[d.Dataset] = append(parsed[d.Dataset], m)
	}
	where := func(dataset string, keep func(m map[string]any) bool) int {
		n := 0
		for _, m := range parsed[dataset] {
			if keep(m) {
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no %s fixture document for a query: the check would show nothing", dataset)
		}
		return n
	}
	str := func(m map[string]any, path string) string { s, _ := docValue(m, path).(string); return s }
	num := func(m map[string]any, path string) float64 { f, _ := docValue(m, path).(float64); return f }
	doc6 := netip.MustParsePrefix("2001:db8::/32")
	soon := time.Now().Add(30 * 24 * time.Hour)
	for _, c := range []struct {
		stream, query string
		want          int
	}{
		{streams[DatasetTLS], `{"query":{"term":{"event.kind":"event"}}}`, where(DatasetTLS, func(m map[string]any) bool { return str(m, "event.kind") == "event" })},
		{streams[DatasetTLS], `{"query":{"term":{"tls.client.server_name":"www.example.test"}}}`,
			where(DatasetTLS, func(m map[string]any) bool { return str(m, "tls.client.server_name") == "www.example.test" })},
		{streams[DatasetTLS], `{"query":{"term":{"source.ip":"2001:db8::/32"}}}`, where(DatasetTLS, func(m map[string]any) bool {
			a, err := netip.ParseAddr(str(m, "source.ip"))
			return err == nil && doc6.Contains(a)
		})},
		{streams[DatasetTLS], `{"query":{"range":{"tls.server.not_after":{"lt":"now+30d"}}}}`, where(DatasetTLS, func(m map[string]any) bool {
			na, err := time.Parse(time.RFC3339Nano, str(m, "tls.server.not_after"))
			return err == nil && na.Before(soon)
		})},
		{streams[DatasetTLS], `{"query":{"range":{"destination.bytes":{"gte":6000}}}}`, where(DatasetTLS, func(m map[string]any) bool { return num(m, "destination.bytes") >= 6000 })},
		{streams[DatasetTLS], `{"query":{"term":{"tls.established":false}}}`, where(DatasetTLS, func(m map[string]any) bool { return docValue(m, "tls.established") == false })},
		{streams[DatasetAlert], `{"query":{"term":{"rule.id":"tls.deprecated_version"}}}`, where(DatasetAlert, func(m map[string]any) bool { return str(m, "rule.id") == "tls.deprecated_version" })},
		// message is text (the rule's name): a word of it matches
		{streams[DatasetAlert], `{"query":{"match":{"message":"deprecated"}}}`, where(DatasetAlert, func(m map[string]any) bool {
			return slices.Contains(strings.Fields(strings.ToLower(str(m, "message"))), "deprecated")
		})},
		{streams[DatasetAlert], `{"query":{"range":{"event.severity":{"gte":73}}}}`, where(DatasetAlert, func(m map[string]any) bool { return num(m, "event.severity") >= 73 })},
	} {
		if got := count(c.stream, c.query); got != c.want {
			t.Errorf("%s %s: %d hits, want %d", c.stream, c.query, got, c.want)
		}
	}
}

type esClient struct {
	t   *testing.T
	url string
	hc  *http.Client
}

func (c *esClient) do(method, path string, body []byte, out any) (int, string) {
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(raw, out)
	}
	return resp.StatusCode, string(raw)
}

// docValue is the value at a dotted path of a parsed document (nil when
// absent).
func docValue(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}
