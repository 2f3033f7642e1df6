package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/schema"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

var update = flag.Bool("update", false, "rewrite golden files and generated templates/FIELDS.md")

var goldenCases = []struct {
	name    string
	session func() *session.Session
	verdict detect.Verdict
}{
	{"tls12", sessionTLS12, detect.Verdict{Validation: detect.ValidationTrusted}},
	{"tls13", sessionTLS13, detect.Verdict{Validation: detect.ValidationNotChecked}},
	{"ssh443", sessionSSH443, detect.Verdict{}},
	{"alerts", sessionLegacy, verdictLegacy()},
	{"mtls", sessionMTLS, verdictMTLS()},
}

// TestGolden encodes hand-built sessions and compares them with
// testdata/<name>.golden.ndjson; -update rewrites the files.
func TestGolden(t *testing.T) {
	enc := NewEncoder(testObserver)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			var got bytes.Buffer
			for _, d := range enc.Encode(c.session(), c.verdict) {
				got.Write(d.Body)
				got.WriteByte('\n')
			}
			path := filepath.Join("testdata", c.name+".golden.ndjson")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./output -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s differs from the encoder output (go test ./output -run TestGolden -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
			}
		})
	}
}

func TestEncodeDocuments(t *testing.T) {
	enc := NewEncoder(testObserver)
	docs := enc.Encode(sessionLegacy(), verdictLegacy())
	// one session + three alerts (the alert without a rule is skipped)
	if len(docs) != 4 {
		t.Fatalf("got %d documents, want 4", len(docs))
	}
	wantKinds := []struct{ dataset, kind, rule string }{
		{DatasetTLS, "event", ""},
		{DatasetAlert, "alert", "tls.deprecated_version"},
		{DatasetAlert, "alert", "intel.ja3"},
		{DatasetAlert, "alert", "tls.heartbleed"},
	}
	ids := map[string]bool{}
	for i, d := range docs {
		m := decode(t, d.Body)
		w := wantKinds[i]
		if d.Dataset != w.dataset || get(m, "event.dataset") != w.dataset || get(m, "data_stream.dataset") != w.dataset || get(m, "event.kind") != w.kind {
			t.Errorf("doc %d: dataset %q/%v kind %v, want %s/%s", i, d.Dataset, get(m, "event.dataset"), get(m, "event.kind"), w.dataset, w.kind)
		}
		if get(m, "event.id") != d.ID || len(d.ID) != 22 {
			t.Errorf("doc %d: Document.ID %q, event.id %v", i, d.ID, get(m, "event.id"))
		}
		if ids[d.ID] {
			t.Errorf("doc %d: duplicate id %s", i, d.ID)
		}
		ids[d.ID] = true
		if !d.Timestamp.Equal(sessionLegacy().Start) {
			t.Errorf("doc %d: Timestamp %v", i, d.Timestamp)
		}
		if w.rule != "" {
			if got := get(m, "rule.id"); got != w.rule {
				t.Errorf("doc %d: rule.id %v, want %s", i, got, w.rule)
			}
			// Alerts repeat the session fields.
			for _, p := range []string{"tls.client.server_name", "source.ip", "network.community_id", "tlsentry.server.chain"} {
				if get(m, p) == nil {
					t.Errorf("alert %d lacks session field %s", i, p)
				}
			}
		} else if get(m, "rule") != nil || get(m, "message") != nil || get(m, "event.severity") != nil {
			t.Errorf("session document carries alert fields: %s", d.Body)
		}
	}
	a := decode(t, docs[1].Body)
	if get(a, "event.severity") != 47.0 || get(a, "event.risk_score") != 47.0 {
		t.Errorf("severity/risk: %v %v", get(a, "event.severity"), get(a, "event.risk_score"))
	}
	if get(a, "threat") != nil {
		t.Error("threat on a non-intel alert of a rule without techniques")
	}
	// Kibana Security names alerts by message: the rule's name; the text
	// for this session is event.reason.
	if get(a, "message") != "Deprecated TLS version" || get(a, "event.reason") != "TLS 1.0 negotiated with legacy.example.test (198.51.100.7:443)" {
		t.Errorf("message %v, reason %v", get(a, "message"), get(a, "event.reason"))
	}
	if !jsonEqual(get(a, "event.category"), []string{"network", "intrusion_detection"}) || !jsonEqual(get(a, "event.type"), []string{"info"}) ||
		get(a, "tlsentry.alert.count") != 1.0 || get(a, "tlsentry.alert.first") != nil {
		t.Errorf("category %v, type %v, count %v, first %v", get(a, "event.category"), get(a, "event.type"),
			get(a, "tlsentry.alert.count"), get(a, "tlsentry.alert.first"))
	}
	i := decode(t, docs[2].Body)
	wantThreat := `{"framework":"MITRE ATT&CK","technique":{"id":["T1573","T1071"],"name":["Encrypted Channel","Application Layer Protocol"],` +
		`"reference":["https://attack.mitre.org/techniques/T1573/","https://attack.mitre.org/techniques/T1071/"],` +
		`"subtechnique":{"id":["T1071.001","T1573.002"],"name":["Web Protocols","Asymmetric Cryptography"],` +
		`"reference":["https://attack.mitre.org/techniques/T1071/001/","https://attack.mitre.org/techniques/T1573/002/"]}},` +
		`"feed":{"name":"abuse-ch-ja3"},"enrichments":[{"indicator":{"type":"software","name":"e7d705a3286e19ea42f587b344ee6865","description":"Dridex"},` +
		`"feed":{"name":"abuse-ch-ja3"},"matched":{"atomic":"e7d705a3286e19ea42f587b344ee6865","field":"tls.client.ja3","type":"indicator_match_rule"}}]}`
	var want any
	if err := json.Unmarshal([]byte(wantThreat), &want); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(get(i, "threat"), want) {
		t.Errorf("threat: %v\nwant %v", get(i, "threat"), want)
	}
	if get(i, "tlsentry.intel") != nil {
		t.Error("tlsentry.intel is gone: threat.enrichments replaces it")
	}
	h := decode(t, docs[3].Body)
	if get(h, "event.risk_score") != 0.0 || get(h, "event.severity") != 99.0 {
		t.Errorf("risk score 0 must be written: %v %v", get(h, "event.risk_score"), get(h, "event.severity"))
	}
	if get(h, "message") != "Heartbleed attempt" || get(h, "event.reason") != "Heartbleed attempt (and 41 more matches in the last 1h)" {
		t.Errorf("empty message falls back to the rule name, got %v / %v", get(h, "message"), get(h, "event.reason"))
	}
	if get(h, "tlsentry.alert.count") != 42.0 || get(h, "tlsentry.alert.first") != "2024-05-01T10:20:00.000000Z" {
		t.Errorf("count %v, first %v", get(h, "tlsentry.alert.count"), get(h, "tlsentry.alert.first"))
	}
	// Session fields ECS asks for.
	sd := decode(t, docs[0].Body)
	for p, want := range map[string]any{
		"destination.domain": "legacy.example.test", "data_stream.namespace": "dmz",
		"observer.vendor": "tlsentry", "observer.product": "tlsentry", "observer.version": "1.2.3-test",
		"related.ip": []string{"192.0.2.77", "198.51.100.7"}, "related.hosts": []string{"legacy.example.test"},
	} {
		if !jsonEqual(get(sd, p), want) {
			t.Errorf("%s = %v, want %v", p, get(sd, p), want)
		}
	}
	if get(sd, "event.ingested") != nil {
		t.Error("the encoder writes event.ingested: that is Elasticsearch's or the sink's")
	}
}

// A client certificate (mutual TLS) is described under tls.client.
func TestEncodeClientCertificate(t *testing.T) {
	docs := NewEncoder(testObserver).Encode(sessionMTLS(), verdictMTLS())
	m := decode(t, docs[0].Body)
	sum := tlsparse.SummarizeCertificate(clientCertDER())
	for p, want := range map[string]any{
		"tls.client.hash.sha256":               sum.SHA256,
		"tls.client.hash.sha1":                 sum.SHA1,
		"tls.client.x509.subject.common_name":  "device-17.corp.example.test",
		"tls.client.x509.alternative_names":    []string{"device-17.corp.example.test"},
		"tls.client.x509.not_after":            "2025-01-01T00:00:00.000000Z",
		"tls.client.x509.public_key_algorithm": "Ed25519",
		"tlsentry.client.certificates":         1.0,
	} {
		if !jsonEqual(get(m, p), want) {
			t.Errorf("%s = %v, want %v", p, get(m, p), want)
		}
	}
	if h, _ := get(m, "related.hash").([]any); len(h) != 5 || h[4] != sum.SHA256 {
		t.Errorf("related.hash %v: want the client certificate's SHA-256 last", h)
	}
	a := decode(t, docs[1].Body)
	if get(a, "threat.enrichments") == nil || !jsonEqual(get(a, "threat.enrichments"), []map[string]any{{
		"indicator": map[string]any{"type": "ipv4-addr", "name": "198.51.100.0/24", "description": "Dridex C&C"},
		"feed":      map[string]any{"name": "feodo"},
		"matched":   map[string]any{"atomic": "198.51.100.7", "field": "destination.ip", "type": "indicator_match_rule"},
	}}) {
		t.Errorf("enrichments %v", get(a, "threat.enrichments"))
	}
}

func TestEncodeIDsDeterministic(t *testing.T) {
	a := NewEncoder(testObserver).Encode(sessionLegacy(), verdictLegacy())
	b := NewEncoder(Observer{Name: "other"}).Encode(sessionLegacy(), verdictLegacy())
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("doc %d: id %s then %s", i, a[i].ID, b[i].ID)
		}
	}
	base := sessionTLS12()
	baseID := NewEncoder(testObserver).Encode(base, detect.Verdict{})[0].ID
	for name, mod := range map[string]func(*session.Session){
		"first packet": func(s *session.Session) { s.FirstPacket++ },
		"start":        func(s *session.Session) { s.Start = s.Start.Add(1) },
		"client port":  func(s *session.Session) { s.Client = netipPort(s.Client, 1) },
		"server port":  func(s *session.Session) { s.Server = netipPort(s.Server, 1) },
		"transport":    func(s *session.Session) { s.Transport = session.UDP },
	} {
		s := sessionTLS12()
		mod(s)
		if id := NewEncoder(testObserver).Encode(s, detect.Verdict{})[0].ID; id == baseID {
			t.Errorf("changing %s keeps the id %s", name, id)
		}
	}
	// Fields that do not identify the session do not change the id.
	s := sessionTLS12()
	s.End = s.End.Add(1e9)
	s.ClientBytes++
	if id := NewEncoder(testObserver).Encode(s, detect.Verdict{})[0].ID; id != baseID {
		t.Errorf("end/bytes changed the id")
	}
}

// TestEncodeNoEmptyValues: absent values are left out, never "" / [] / {},
// and numeric zeros appear only where zero is a measurement.
func TestEncodeNoEmptyValues(t *testing.T) {
	zeroOK := map[string]bool{
		"source.bytes": true, "source.packets": true, "destination.bytes": true, "destination.packets": true,
		"event.duration": true, "event.risk_score": true,
		"tlsentry.heartbeats.declared_length": true, "tlsentry.heartbeats.record_length": true,
	}
	enc := NewEncoder(Observer{})
	sessions := []*session.Session{sessionTLS12(), sessionTLS13(), sessionSSH443(), sessionLegacy(), {}, {TLS: &tlsparse.Handshake{}}}
	for i, s := range sessions {
		for _, d := range enc.Encode(s, verdictLegacy()) {
			walk(decode(t, d.Body), "", func(path string, v any) {
				switch v := v.(type) {
				case string:
					if v == "" {
						t.Errorf("session %d: %s is an empty string", i, path)
					}
				case float64:
					if v == 0 && !zeroOK[path] {
						t.Errorf("session %d: %s is 0", i, path)
					}
				case []any:
					if len(v) == 0 {
						t.Errorf("session %d: %s is an empty array", i, path)
					}
				case map[string]any:
					if len(v) == 0 {
						t.Errorf("session %d: %s is an empty object", i, path)
					}
				case nil:
					t.Errorf("session %d: %s is null", i, path)
				}
			})
		}
	}
}

func TestEncodeBooleans(t *testing.T) {
	enc := NewEncoder(testObserver)
	// Only a ClientHello: TLS seen, not established, not resumed: false is written.
	s := sessionTLS12()
	s.TLS.ServerHello = nil
	s.TLS.Established = false
	s.Certificates = nil
	m := decode(t, enc.Encode(s, detect.Verdict{})[0].Body)
	for _, p := range []string{"tls.established", "tls.resumed", "tlsentry.client.ech"} {
		if get(m, p) != false {
			t.Errorf("%s = %v, want false", p, get(m, p))
		}
	}
	for _, p := range []string{"tls.version", "tls.cipher", "tlsentry.server.hello_retry_request", "tlsentry.server.ocsp_stapled", "tlsentry.server.validation"} {
		if get(m, p) != nil {
			t.Errorf("%s = %v, want absent (no ServerHello/certificates)", p, get(m, p))
		}
	}
	// Not TLS: no tls.* at all, tlsentry.incomplete still written.
	m = decode(t, enc.Encode(sessionSSH443(), detect.Verdict{Validation: detect.ValidationNotChecked})[0].Body)
	if get(m, "tls") != nil || get(m, "tlsentry.client") != nil || get(m, "tlsentry.server") != nil {
		t.Errorf("non-TLS session has TLS fields: %v %v", get(m, "tls"), get(m, "tlsentry"))
	}
	if get(m, "tlsentry.incomplete") != true || get(m, "network.protocol") != "ssh" {
		t.Errorf("incomplete %v protocol %v", get(m, "tlsentry.incomplete"), get(m, "network.protocol"))
	}
	m = decode(t, enc.Encode(sessionTLS13(), detect.Verdict{})[0].Body)
	if get(m, "tlsentry.incomplete") != false || get(m, "tls.resumed") != true || get(m, "tlsentry.client.hello_count") != 2.0 {
		t.Errorf("tls13: incomplete %v resumed %v hello_count %v", get(m, "tlsentry.incomplete"), get(m, "tls.resumed"), get(m, "tlsentry.client.hello_count"))
	}
	// TLS 1.3 staples OCSP inside the encrypted Certificate message: not
	// seen, so not written. Lean leaves the HelloRetryRequest to hello_count.
	for _, p := range []string{"tlsentry.server.ocsp_stapled", "tlsentry.server.hello_retry_request"} {
		if get(m, p) != nil {
			t.Errorf("tls13: %s = %v, want absent", p, get(m, p))
		}
	}
	full := NewEncoder(testObserver)
	full.SetDetail(DetailFull)
	m = decode(t, full.Encode(sessionTLS13(), detect.Verdict{})[0].Body)
	if get(m, "tlsentry.server.hello_retry_request") != true || get(m, "tlsentry.server.ocsp_stapled") != nil {
		t.Errorf("tls13 full: hrr %v ocsp_stapled %v, want true and absent", get(m, "tlsentry.server.hello_retry_request"), get(m, "tlsentry.server.ocsp_stapled"))
	}
	m = decode(t, enc.Encode(sessionTLS12(), detect.Verdict{})[0].Body)
	if get(m, "tlsentry.server.ocsp_stapled") != true {
		t.Errorf("tls12: ocsp_stapled %v, want true", get(m, "tlsentry.server.ocsp_stapled"))
	}
}

func TestEncodeValues(t *testing.T) {
	enc := NewEncoder(testObserver)
	enc.SetDetail(DetailFull) // every list, to check them all
	m := decode(t, enc.Encode(sessionTLS12(), detect.Verdict{Validation: detect.ValidationTrusted})[0].Body)
	want := map[string]any{
		"@timestamp":                          "2024-05-01T10:00:00.123456Z",
		"event.start":                         "2024-05-01T10:00:00.123456Z",
		"event.end":                           "2024-05-01T10:00:02.500000Z",
		"event.duration":                      2376543211.0,
		"source.ip":                           "192.0.2.55",
		"source.port":                         51234.0,
		"destination.ip":                      "198.51.100.7",
		"destination.packets":                 10.0,
		"network.type":                        "ipv4",
		"network.transport":                   "tcp",
		"network.vlan.id":                     "100",
		"network.inner.vlan.id":               "20",
		"network.community_id":                CommunityID(sessionTLS12().Client, sessionTLS12().Server, ProtoTCP, 0),
		"tls.next_protocol":                   "h2",
		"tls.server.hash.sha1":                leafCert.SHA1,
		"tls.server.not_after":                "2024-07-15T23:59:59.000000Z",
		"tls.server.x509.version_number":      "3",
		"tls.server.x509.subject.common_name": "www.example.test",
		"tlsentry.server.validation":          "trusted",
		"tlsentry.client.alpn":                []any{"h2", "http/1.1"},
		"observer.type":                       "ids",
		"observer.hostname":                   "ids-dmz-01",
		"ecs.version":                         ECSVersion,
	}
	for p, w := range want {
		if g := get(m, p); !jsonEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", p, g, w)
		}
	}
	// GREASE is left out of every list.
	for _, p := range []string{"tls.client.supported_ciphers", "tlsentry.client.extensions", "tlsentry.client.groups", "tlsentry.client.versions", "tlsentry.client.key_share_groups"} {
		for _, v := range get(m, p).([]any) {
			if s := v.(string); strings.Contains(strings.ToLower(s), "grease") || strings.HasSuffix(s, "a2a") || strings.HasSuffix(s, "a4a") || strings.HasSuffix(s, "a5a") {
				t.Errorf("%s contains GREASE %q", p, s)
			}
		}
	}
	if n := len(get(m, "tls.client.supported_ciphers").([]any)); n != 15 {
		t.Errorf("supported_ciphers has %d entries, want 15", n)
	}
	if got := get(m, "tlsentry.server.chain").([]any); len(got) != 2 {
		t.Errorf("chain has %d entries", len(got))
	}

	// Anomalies from capture and tlsparse, merged, sorted, deduplicated.
	s := sessionTLS13()
	s.Anomalies = anomalies(tlsparse.AnomalyTCPOverlap, tlsparse.AnomalyMidstream, tlsparse.AnomalyFragmentedHello)
	m = decode(t, enc.Encode(s, detect.Verdict{})[0].Body)
	if g := get(m, "tlsentry.anomalies"); !jsonEqual(g, []any{"fragmented_hello", "midstream", "tcp_overlap"}) {
		t.Errorf("anomalies = %v", g)
	}
	if get(m, "network.type") != "ipv6" || get(m, "source.ip") != "2001:db8::10" {
		t.Errorf("ipv6: %v %v", get(m, "network.type"), get(m, "source.ip"))
	}

	// Legacy: alerts, heartbeats, broken chain certificate, parse error.
	m = decode(t, enc.Encode(sessionLegacy(), detect.Verdict{})[0].Body)
	if g := get(m, "tlsentry.alerts"); !jsonEqual(g, []any{
		map[string]any{"direction": "server", "level": "fatal", "description": "handshake_failure", "encrypted": false},
		map[string]any{"direction": "client", "encrypted": true},
	}) {
		t.Errorf("alerts = %v", g)
	}
	if g := get(m, "tlsentry.heartbeats"); !jsonEqual(g, []any{
		map[string]any{"direction": "client", "type": "request", "declared_length": 16384.0, "record_length": 3.0},
	}) {
		t.Errorf("heartbeats = %v", g)
	}
	chain := get(m, "tlsentry.server.chain").([]any)
	if len(chain) != 2 || chain[1].(map[string]any)["error"] != "x509: malformed certificate" {
		t.Errorf("chain = %v", chain)
	}
	if get(m, "tlsentry.server.dh_prime_bits") != 1024.0 || get(m, "tlsentry.client.certificates") != 1.0 {
		t.Errorf("dh %v client certs %v", get(m, "tlsentry.server.dh_prime_bits"), get(m, "tlsentry.client.certificates"))
	}
	if !strings.Contains(get(m, "tlsentry.parse_error").(string), "certificate list length") {
		t.Errorf("parse_error = %v", get(m, "tlsentry.parse_error"))
	}
}

// TestEncodeHostile: nil pieces and odd values never panic.
func TestEncodeHostile(t *testing.T) {
	enc := NewEncoder(Observer{})
	if enc.Encode(nil, detect.Verdict{}) != nil {
		t.Error("nil session gave documents")
	}
	sessions := []*session.Session{
		{},
		{TLS: &tlsparse.Handshake{Protocol: tlsparse.ProtocolTLS}},
		{TLS: &tlsparse.Handshake{ServerHello: &tlsparse.ServerHello{SSLv2: true, LegacyVersion: 2}}, Certificates: []*tlsparse.CertSummary{nil, brokenCert}},
		{TLS: &tlsparse.Handshake{ClientHello: &tlsparse.ClientHello{}, Alerts: []tlsparse.Alert{{Level: 9, Description: 255}}, Heartbeats: []tlsparse.Heartbeat{{Type: 7}}}},
		{Start: mustTime("2024-01-01T00:00:01Z"), End: mustTime("2024-01-01T00:00:00Z"), Transport: session.Transport(132), Client: netipPort(sessionTLS12().Client, 0), Server: sessionTLS13().Server},
	}
	for i, s := range sessions {
		for _, d := range enc.Encode(s, detect.Verdict{Alerts: []detect.Alert{{Rule: &detect.Rule{}}}}) {
			if !json.Valid(d.Body) {
				t.Errorf("session %d: invalid JSON %s", i, d.Body)
			}
		}
	}
	m := decode(t, enc.Encode(sessions[4], detect.Verdict{})[0].Body)
	if get(m, "event.duration") != nil {
		t.Error("negative duration written")
	}
	if get(m, "network.community_id") != nil {
		t.Error("community id for mixed address families")
	}
}

func TestEncodeConcurrent(t *testing.T) {
	enc := NewEncoder(testObserver)
	want := map[string]string{}
	for _, c := range goldenCases {
		want[c.name] = string(enc.Encode(c.session(), c.verdict)[0].Body)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				c := goldenCases[(g+i)%len(goldenCases)]
				if got := string(enc.Encode(c.session(), c.verdict)[0].Body); got != want[c.name] {
					t.Errorf("%s: concurrent output differs", c.name)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range []struct {
		name string
		s    *session.Session
		v    detect.Verdict
	}{
		{"tls12-certs", sessionTLS12(), detect.Verdict{Validation: detect.ValidationTrusted}},
		{"tls13", sessionTLS13(), detect.Verdict{}},
		{"non-tls", sessionSSH443(), detect.Verdict{}},
		{"legacy-3-alerts", sessionLegacy(), verdictLegacy()},
	} {
		b.Run(c.name, func(b *testing.B) {
			enc := NewEncoder(testObserver)
			b.ReportAllocs()
			var n int
			for b.Loop() {
				for _, d := range enc.Encode(c.s, c.v) {
					n += len(d.Body)
				}
			}
			b.ReportMetric(float64(n)/float64(b.N), "bytes/op")
		})
		b.Run(c.name+"/scratch", func(b *testing.B) {
			enc, sc := NewEncoder(testObserver), new(Scratch)
			b.ReportAllocs()
			for b.Loop() {
				enc.EncodeScratch(sc, c.s, c.v)
			}
		})
	}
}

// --- helpers ---

func decode(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, body)
	}
	return m
}

// get returns the value at a dotted path, or nil.
func get(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// walk calls fn for every value (objects and arrays included) with its
// dotted path; array elements share the array's path.
func walk(v any, path string, fn func(path string, v any)) {
	fn(path, v)
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(c, p, fn)
		}
	case []any:
		for _, c := range v {
			if _, isMap := c.(map[string]any); isMap {
				walk(c, path, fn)
			}
		}
	}
}

// leaves returns the dotted paths of all non-object values in a document
// with their values (arrays of scalars flattened into one path).
func leaves(doc map[string]any) map[string][]any {
	out := map[string][]any{}
	walk(doc, "", func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
		case []any:
			for _, c := range v {
				if _, isMap := c.(map[string]any); !isMap {
					out[path] = append(out[path], c)
				}
			}
		default:
			out[path] = append(out[path], v)
		}
	})
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestEncodeVersions checks how tls.version and tls.version_protocol are
// written (FIELDS.md), end to end
// (through tlsparse.VersionName): SSL 3.0 is 3.0 + ssl, SSLv2 2.0 + ssl.
func TestEncodeVersions(t *testing.T) {
	enc := NewEncoder(testObserver)
	for _, c := range []struct {
		sh            tlsparse.ServerHello
		ver, protocol string
	}{
		{tlsparse.ServerHello{LegacyVersion: 0x0303, SupportedVersion: 0x0304, CipherSuite: 0x1301}, "1.3", "tls"},
		{tlsparse.ServerHello{LegacyVersion: 0x0303, CipherSuite: 0xc02f}, "1.2", "tls"},
		{tlsparse.ServerHello{LegacyVersion: 0x0300, CipherSuite: 0x0005}, "3.0", "ssl"},
		{tlsparse.ServerHello{SSLv2: true, LegacyVersion: 0x0002}, "2.0", "ssl"},
	} {
		s := sessionTLS12()
		sh := c.sh
		s.TLS.ServerHello = &sh
		m := decode(t, enc.Encode(s, detect.Verdict{})[0].Body)
		if get(m, "tls.version") != c.ver || get(m, "tls.version_protocol") != c.protocol {
			t.Errorf("version %#04x: tls.version %v, version_protocol %v; want %s, %s", sh.Version(), get(m, "tls.version"), get(m, "tls.version_protocol"), c.ver, c.protocol)
		}
		if sh.SSLv2 && get(m, "tls.cipher") != nil {
			t.Errorf("SSLv2 without a cipher: tls.cipher = %v", get(m, "tls.cipher"))
		}
	}
}

// oddSession carries str in every string field that comes from the wire or
// from rules, and sets the fields the golden sessions leave unset.
func oddSession(str string) (*session.Session, detect.Verdict) {
	s := sessionTLS12()
	s.TLS.ClientHello.ServerName = str
	s.TLS.ClientHello.ALPN = []string{str, ""}
	s.TLS.ServerHello.ALPN = str
	s.TLS.Err = errors.New(str)
	s.QUICVersion = 0xff00001d
	s.Client = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(str), 1)
	leaf := *leafCert
	leaf.Subject, leaf.IssuerCommonName, leaf.AlternativeNames = str, str, []string{str}
	s.Certificates = []*tlsparse.CertSummary{&leaf, nil, {}, {Err: errors.New(str)}}
	v := detect.Verdict{Validation: str, Alerts: []detect.Alert{
		{Rule: &detect.Rule{ID: str, Name: str, References: []string{str}, Severity: "low", RiskScore: -1}, Message: str,
			Intel: &detect.IntelMatch{List: str, Entry: str, Field: str}},
		{Rule: &detect.Rule{}, Intel: &detect.IntelMatch{}},
	}}
	return s, v
}

// TestEncodeMatchesOracle: Encode writes the bytes the reflection encoder
// (json_oracle_test.go) wrote, ids and all.
func TestEncodeMatchesOracle(t *testing.T) {
	type tc struct {
		name string
		s    *session.Session
		v    detect.Verdict
	}
	var cases []tc
	for _, c := range goldenCases {
		cases = append(cases, tc{c.name, c.session(), c.verdict})
	}
	for i, str := range oddStrings {
		s, v := oddSession(str)
		cases = append(cases, tc{fmt.Sprintf("odd%d", i), s, v})
	}
	for i, s := range []*session.Session{
		{},
		{TLS: &tlsparse.Handshake{}},
		{TLS: &tlsparse.Handshake{Protocol: tlsparse.ProtocolTLS}, Certificates: []*tlsparse.CertSummary{{}}},
		{TLS: &tlsparse.Handshake{ServerHello: &tlsparse.ServerHello{SSLv2: true, LegacyVersion: 2}}, Certificates: []*tlsparse.CertSummary{nil, brokenCert}},
		{TLS: &tlsparse.Handshake{ServerHello: &tlsparse.ServerHello{LegacyVersion: 0x7f1c, CipherSuite: 0xeeee, KeyShareGroup: 0xeeee}}},
		{TLS: &tlsparse.Handshake{ClientHello: &tlsparse.ClientHello{LegacyVersion: 0x7f1c}, HelloRetryRequest: &tlsparse.ServerHello{}, KeyExchange: &tlsparse.ServerKeyExchange{NamedCurve: 0xeeee}}},
		{TLS: &tlsparse.Handshake{ClientHello: &tlsparse.ClientHello{}, Alerts: []tlsparse.Alert{{Level: 9, Description: 255}}, Heartbeats: []tlsparse.Heartbeat{{Type: 7}}}},
		{Start: mustTime("2024-01-01T00:00:01Z"), End: mustTime("2024-01-01T00:00:00Z"), Transport: session.Transport(132), Client: netipPort(sessionTLS12().Client, 0), Server: sessionTLS13().Server},
		{End: mustTime("2024-01-01T00:00:00.5Z"), ServerBytes: 1, Transport: session.UDP, Protocol: session.Protocol(200)},
	} {
		cases = append(cases, tc{fmt.Sprintf("hostile%d", i), s, verdictLegacy()})
	}
	for _, obs := range []Observer{testObserver, {}, {Name: oddStrings[0], Hostname: oddStrings[1]}} {
		enc, full := NewEncoder(obs), NewEncoder(obs)
		full.SetDetail(DetailFull)
		for _, c := range cases {
			compareWithOracle(t, c.name, oracleEncode(obs, c.s, c.v), enc.Encode(c.s, c.v))
			compareWithOracle(t, c.name+" full", oracleEncodeDetail(obs, c.s, c.v, true), full.Encode(c.s, c.v))
		}
	}
}

// compareWithOracle requires got to be want: same ids, datasets,
// timestamps and body bytes. On a difference it says which values differ
// once both are parsed.
func compareWithOracle(t testing.TB, name string, want, got []Document) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d documents, the oracle %d", name, len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.Dataset != w.Dataset || !g.Timestamp.Equal(w.Timestamp) {
			t.Errorf("%s doc %d: id/dataset/timestamp %s %s %v, oracle %s %s %v", name, i, g.ID, g.Dataset, g.Timestamp, w.ID, w.Dataset, w.Timestamp)
		}
		if bytes.Equal(g.Body, w.Body) {
			continue
		}
		var gv, wv any
		if err := json.Unmarshal(g.Body, &gv); err != nil {
			t.Errorf("%s doc %d: invalid JSON: %v\n%s", name, i, err, g.Body)
			continue
		}
		if err := json.Unmarshal(w.Body, &wv); err != nil {
			t.Fatalf("%s doc %d: the oracle wrote invalid JSON: %v", name, i, err)
		}
		t.Errorf("%s doc %d: body differs from the oracle's (same values once parsed: %v)\ngot:  %s\nwant: %s", name, i, reflect.DeepEqual(gv, wv), g.Body, w.Body)
	}
}

// TestEncodeBodiesIndependent: bodies and ids of one call share an
// allocation; appending to one body must not change another.
func TestEncodeBodiesIndependent(t *testing.T) {
	docs := NewEncoder(testObserver).Encode(sessionLegacy(), verdictLegacy())
	want := oracleEncode(testObserver, sessionLegacy(), verdictLegacy())
	for i := range docs {
		_ = append(docs[i].Body, "garbage"...)
	}
	compareWithOracle(t, "after appends", want, docs)
}

// TestEncodeScratch: EncodeScratch writes the same documents as Encode,
// whatever the scratch held before (a bigger session, more alerts, the
// other detail), and allocates nothing once warm.
func TestEncodeScratch(t *testing.T) {
	for _, detail := range []Detail{DetailLean, DetailFull} {
		enc := NewEncoder(testObserver)
		enc.SetDetail(detail)
		var sc Scratch
		for round := range 2 { // the second round reuses buffers sized by every case
			for _, c := range goldenCases {
				want := enc.Encode(c.session(), c.verdict)
				got := enc.EncodeScratch(&sc, c.session(), c.verdict)
				if len(got) != len(want) {
					t.Fatalf("%s/%v round %d: %d documents, Encode gives %d", c.name, detail, round, len(got), len(want))
				}
				for i := range got {
					if got[i].ID != want[i].ID || got[i].Dataset != want[i].Dataset ||
						!got[i].Timestamp.Equal(want[i].Timestamp) || !bytes.Equal(got[i].Body, want[i].Body) {
						t.Errorf("%s/%v round %d doc %d differs from Encode's:\n got %s %s\nwant %s %s",
							c.name, detail, round, i, got[i].ID, got[i].Body, want[i].ID, want[i].Body)
					}
				}
			}
		}
	}
	if testing.CoverMode() != "" || raceEnabled {
		return
	}
	enc, sc := NewEncoder(testObserver), new(Scratch)
	for _, c := range goldenCases {
		s, v := c.session(), c.verdict
		enc.EncodeScratch(sc, s, v)
		if n := testing.AllocsPerRun(100, func() { enc.EncodeScratch(sc, s, v) }); n > 0 {
			t.Errorf("%s: %v allocations per EncodeScratch, want 0", c.name, n)
		}
	}
}

func TestEncodeAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts differ under -cover and -race")
	}
	enc := NewEncoder(testObserver)
	for _, c := range goldenCases {
		s, v := c.session(), c.verdict
		enc.Encode(s, v) // warm the pool
		n := testing.AllocsPerRun(100, func() { enc.Encode(s, v) })
		if n > 2 {
			t.Errorf("%s: %v allocations per Encode, want at most 2", c.name, n)
		}
	}
}

// TestEncodeDetail: a lean document is the full one without the fields
// schema marks Full and without the chain's leaf (tls.server.* has it),
// unless the leaf did not parse; nothing else differs.
func TestEncodeDetail(t *testing.T) {
	lean, full := NewEncoder(testObserver), NewEncoder(testObserver)
	full.SetDetail(DetailFull)
	fullOnly := map[string]bool{}
	for _, f := range schema.All() {
		if f.Full {
			fullOnly[f.Path] = true
		}
	}
	if len(fullOnly) == 0 {
		t.Fatal("schema marks no field Full")
	}
	alerts := 0
	for _, c := range goldenCases {
		ld, fd := lean.Encode(c.session(), c.verdict), full.Encode(c.session(), c.verdict)
		if len(ld) != len(fd) {
			t.Fatalf("%s: %d lean documents, %d full", c.name, len(ld), len(fd))
		}
		for i := range ld {
			if ld[i].ID != fd[i].ID || len(ld[i].Body) > len(fd[i].Body) {
				t.Errorf("%s doc %d: ids %s/%s, %d bytes lean, %d full", c.name, i, ld[i].ID, fd[i].ID, len(ld[i].Body), len(fd[i].Body))
			}
			lm, fm := decode(t, ld[i].Body), decode(t, fd[i].Body)
			sawFull := false
			for p := range fullOnly {
				if get(lm, p) != nil {
					t.Errorf("%s doc %d: lean document has %s", c.name, i, p)
				}
				sawFull = sawFull || get(fm, p) != nil
			}
			if i == 0 && c.session().TLS != nil && c.session().TLS.ClientHello != nil && !sawFull {
				t.Errorf("%s: the full document has none of the full-only fields", c.name)
			}
			// Drop what lean leaves out from the full document: the rest is equal.
			for p := range fullOnly {
				deletePath(fm, p)
			}
			if te, ok := fm["tlsentry"].(map[string]any); ok {
				if sv, ok := te["server"].(map[string]any); ok {
					if chain, ok := sv["chain"].([]any); ok && len(chain) > 0 && len(c.session().Certificates) > 0 {
						if leaf := c.session().Certificates[0]; leaf != nil && leaf.Err == nil {
							if chain = chain[1:]; len(chain) == 0 {
								delete(sv, "chain")
							} else {
								sv["chain"] = chain
							}
						}
					}
				}
			}
			if fm["event"].(map[string]any)["kind"] == "alert" {
				// A lean alert: the full one restricted to the triage
				// session fields and the alert's own, linked to its session.
				if got := get(lm, "tlsentry.session.id"); got != ld[0].ID || get(fm, "tlsentry.session.id") != fd[0].ID {
					t.Errorf("%s doc %d: tlsentry.session.id %v (full %v), want the session's event.id %s", c.name, i, got, get(fm, "tlsentry.session.id"), ld[0].ID)
				}
				fm = restrictLean(fm, "")
				alerts++
			}
			if !jsonEqual(lm, fm) {
				t.Errorf("%s doc %d: lean differs from full beyond the full-only fields and, for alerts, the triage fields:\nlean %s\nfull %s", c.name, i, ld[i].Body, fd[i].Body)
			}
		}
	}
	if alerts == 0 {
		t.Error("no golden case has an alert")
	}
	for _, in := range []string{"", "lean", "full"} {
		if _, err := ParseDetail(in); err != nil {
			t.Errorf("ParseDetail(%q): %v", in, err)
		}
	}
	if _, err := ParseDetail("verbose"); err == nil {
		t.Error("ParseDetail(verbose): no error")
	}
}

// restrictLean keeps of a decoded document the fields lean alerts carry
// (schema InLeanAlerts), dropping objects and lists it leaves empty.
func restrictLean(m map[string]any, prefix string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		p := prefix + k
		if f, ok := schema.Lookup(p); ok && f.InLeanAlerts() {
			out[k] = v
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				out[k] = v // empty as written
			} else if r := restrictLean(v, p+"."); len(r) > 0 {
				out[k] = r
			}
		case []any:
			var l []any
			for _, e := range v {
				if o, ok := e.(map[string]any); ok {
					if r := restrictLean(o, p+"."); len(r) > 0 {
						l = append(l, r)
					}
				}
			}
			if len(l) > 0 {
				out[k] = l
			}
		}
	}
	return out
}

// TestLeanAlertsCarryIntelFields: every field an intel match can name in
// threat.enrichments.matched.field (detect/intel.go sets them) is in lean
// alerts, so the analyst sees the value that matched.
func TestLeanAlertsCarryIntelFields(t *testing.T) {
	src, err := os.ReadFile("../detect/intel.go")
	if err != nil {
		t.Fatal(err)
	}
	path := regexp.MustCompile(`"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"`)
	n := 0
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.Contains(line, "DocField") {
			continue
		}
		for _, m := range path.FindAllStringSubmatch(line, -1) {
			n++
			if f, ok := schema.Lookup(m[1]); !ok || !f.InLeanAlerts() {
				t.Errorf("intel matches name %s, which lean alerts do not carry (mark it Triage in schema/fields.go)", m[1])
			}
		}
	}
	if n < 9 {
		t.Fatalf("found %d field names beside DocField in detect/intel.go, want the 9 it had", n)
	}
}

// deletePath deletes the field at dotted path from m, if there.
// deletePath deletes path from m, and the objects it leaves empty (the
// encoder leaves those out).
func deletePath(m map[string]any, path string) {
	k, rest, nested := strings.Cut(path, ".")
	if !nested {
		delete(m, k)
		return
	}
	if o, ok := m[k].(map[string]any); ok {
		if deletePath(o, rest); len(o) == 0 {
			delete(m, k)
		}
	}
}

// TestAppendID: appendID writes base64.RawURLEncoding of the first 16
// bytes, for hashes whose bytes take every value at every position.
func TestAppendID(t *testing.T) {
	var h [sha256.Size]byte
	for i := range 256 * 16 {
		for j := range h {
			h[j] = byte(i*7 + j*i/16*31 + j)
		}
		h[i%16] = byte(i / 16)
		want := base64.RawURLEncoding.EncodeToString(h[:16])
		if got := appendID([]byte("x"), h); string(got) != "x"+want {
			t.Fatalf("% x: %s, want %s", h[:16], got[1:], want)
		}
	}
}

// TestNegotiatedKept: sessions whose version, cipher or SSLv2 flag differ
// from the one before, written with one Scratch, encode as a fresh Encoder
// encodes each alone.
func TestNegotiatedKept(t *testing.T) {
	variant := func(s *session.Session, cipher uint16, sslv2 bool) *session.Session {
		sh := *s.TLS.ServerHello
		sh.CipherSuite, sh.SSLv2 = cipher, sslv2
		hs := *s.TLS
		hs.ServerHello = &sh
		s.TLS = &hs
		return s
	}
	sessions := []*session.Session{
		sessionTLS12(), sessionTLS12(), variant(sessionTLS12(), 0x1301, false), sessionTLS13(),
		variant(sessionTLS12(), 0, true), variant(sessionTLS12(), 0, false), sessionLegacy(), sessionTLS12(),
	}
	enc, sc := NewEncoder(testObserver), new(Scratch)
	for i, s := range sessions {
		v := verdictLegacy()
		want := NewEncoder(testObserver).Encode(s, v)
		got := enc.EncodeScratch(sc, s, v)
		for j := range want {
			if !bytes.Equal(got[j].Body, want[j].Body) {
				t.Errorf("session %d, document %d:\n got %s\nwant %s", i, j, got[j].Body, want[j].Body)
			}
		}
	}
}

// TestNoCommunityID: a session whose addresses have no Community ID
// (missing, or of two families) has no network.community_id, in lean and
// full documents with alerts, as the oracle writes them.
func TestNoCommunityID(t *testing.T) {
	for _, addrs := range [][2]netip.AddrPort{
		{netip.MustParseAddrPort("10.1.2.3:60000"), netip.MustParseAddrPort("[2001:db8::9]:443")},
		{{}, netip.MustParseAddrPort("203.0.113.9:443")},
		{{}, {}},
	} {
		s, v := sessionTLS12(), verdictLegacy()
		s.Client, s.Server = addrs[0], addrs[1]
		compareWithOracle(t, "no community id", oracleEncode(testObserver, s, v), NewEncoder(testObserver).Encode(s, v))
		full := NewEncoder(testObserver)
		full.SetDetail(DetailFull)
		compareWithOracle(t, "no community id, full", oracleEncodeDetail(testObserver, s, v, true), full.Encode(s, v))
		if d := NewEncoder(testObserver).Encode(s, v)[0]; bytes.Contains(d.Body, []byte("community_id")) {
			t.Errorf("%v: %s", addrs, d.Body)
		}
	}
}

// TestAlertIDInput holds alertID to the bytes it has always hashed: the
// session id, the rule id and, for intel matches, NUL, list, NUL, field,
// NUL, entry (long ones too, past alertID's stack buffer).
func TestAlertIDInput(t *testing.T) {
	sid := sha256.Sum256([]byte("session"))
	long := strings.Repeat("x", 200)
	for _, a := range []detect.Alert{
		{Rule: &detect.Rule{ID: "r1"}},
		{Rule: &detect.Rule{}},
		{Rule: &detect.Rule{ID: "r2"}, Intel: &detect.IntelMatch{List: "l", Field: "ja3", Entry: "e"}},
		{Rule: &detect.Rule{ID: long}, Intel: &detect.IntelMatch{List: long, Field: "sni", Entry: long}},
	} {
		in := append(sid[:], a.Rule.ID...)
		if a.Intel != nil {
			in = append(in, 0)
			in = append(in, a.Intel.List...)
			in = append(in, 0)
			in = append(in, a.Intel.Field...)
			in = append(in, 0)
			in = append(in, a.Intel.Entry...)
		}
		if got, want := alertID(sid, &a), sha256.Sum256(in); got != want {
			t.Errorf("alertID(%q, %+v) = %x, want %x", sid, a.Intel, got, want)
		}
	}
}
