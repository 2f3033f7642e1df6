package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
	"github.com/tlsentry/tlsentry/output"
)

// The Kibana Security prebuilt rule "External Alerts" (elastic/detection-rules,
// rules/promotions/external_alerts.toml): its index patterns, its KQL query,
// and its look-back: from now-2m, every 1m, with timestamp_override
// event.ingested. Here the KQL is written as the query_string Kibana's
// translation amounts to.
var (
	externalAlertsIndex = []string{"apm-*-transaction*", "traces-apm*", "auditbeat-*", "filebeat-*", "logs-*", "packetbeat-*", "winlogbeat-*"}
	externalAlertsQuery = "event.kind:alert AND NOT event.module:(endgame OR endpoint OR cloud_defend) AND " +
		"NOT data_stream.dataset:(m365_defender.alert OR m365_defender.incident)"
)

const externalAlertsLookBack = 2 * time.Minute

// externalAlerts runs the rule's query through _search with a look-back of
// lookBack on timeField (event.ingested, as the rule; @timestamp to show
// what the rule would miss without it) and returns the ids of the hits in
// namespace ns. The namespace is a post_filter: it narrows the hits returned,
// not what the rule's query matches.
func externalAlerts(t *testing.T, n esNode, ns, timeField string, lookBack time.Duration) map[string]bool {
	t.Helper()
	n.call(t, http.MethodPost, "/logs-*/_refresh?allow_no_indices=true&ignore_unavailable=true", nil)
	body, err := json.Marshal(map[string]any{
		"size": 10000,
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"query_string": map[string]any{"query": externalAlertsQuery}},
			map[string]any{"range": map[string]any{timeField: map[string]any{
				"gte": fmt.Sprintf("now-%ds", int(lookBack.Seconds())), "lte": "now"}}},
		}}},
		"post_filter": map[string]any{"term": map[string]any{"data_stream.namespace": ns}},
		"_source":     []string{"event.ingested", "message", "rule.name"},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := "/" + strings.Join(externalAlertsIndex, ",") + "/_search?allow_no_indices=true&ignore_unavailable=true"
	st, data := n.call(t, http.MethodPost, path, body)
	if st != 200 {
		t.Fatalf("External Alerts query: %d %s", st, output.Truncate(data, 500))
	}
	var r struct {
		Hits struct {
			Hits []struct {
				ID     string `json:"_id"`
				Source struct {
					Message string `json:"message"`
					Rule    struct {
						Name string `json:"name"`
					} `json:"rule"`
				} `json:"_source"`
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, h := range r.Hits.Hits {
		out[h.ID] = true
		// rule_name_override is message: it must be the rule's name.
		if h.Source.Message == "" || h.Source.Message != h.Source.Rule.Name {
			t.Errorf("alert %s: message %q, rule.name %q: Security would name it by message", h.ID, h.Source.Message, h.Source.Rule.Name)
		}
	}
	return out
}

// alertIDs are the ids of the alert documents in NDJSON files.
func alertIDs(t *testing.T, files []string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range files {
		for _, d := range readNDJSONDocs(t, f) {
			if d.Dataset == output.DatasetAlert {
				out[d.ID] = true
			}
		}
	}
	return out
}

// mostAlerts returns the n captures whose replays (outs, in the same
// order) wrote the most alerts.
func mostAlerts(t *testing.T, captures, outs []string, n int) []string {
	t.Helper()
	idx := make([]int, len(captures))
	count := make([]int, len(captures))
	for i := range captures {
		idx[i] = i
		count[i] = len(alertIDs(t, outs[i:i+1]))
	}
	sort.SliceStable(idx, func(a, b int) bool { return count[idx[a]] > count[idx[b]] })
	var out []string
	for _, i := range idx[:min(n, len(idx))] {
		out = append(out, captures[i])
	}
	return out
}

func checkFound(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	missing := 0
	for id := range want {
		if !got[id] {
			missing++
		}
	}
	if missing > 0 || len(got) != len(want) {
		t.Errorf("%s: the External Alerts query finds %d of %d alerts (%d missing, %d hits)", what, len(want)-missing, len(want), missing, len(got))
	}
}

// TestESExternalAlerts, on 8.19 and 9.x: the captures of testdata (packet
// times from 2024: "old") replayed with --es, then Kibana's External Alerts
// rule's own query run through _search: it finds every alert, on
// event.ingested, although @timestamp lies outside its look-back; and the
// same for alerts that waited in the spool while Elasticsearch was
// unreachable and were drained later. The integ-test nodes have no ingest
// pipeline (setup warns): event.ingested is the sensor's stamp there.
func TestESExternalAlerts(t *testing.T) {
	captures := testCaptures(t)
	for _, v := range estest.Versions() {
		t.Run(v.Name, func(t *testing.T) {
			url := v.Resolve(t)
			n := plainNode(url)
			dir := t.TempDir()

			// Replay, straight to Elasticsearch.
			ns := fmt.Sprintf("extalerts%d", time.Now().UnixNano()%1e12)
			env := []string{"TLSENTRY_ES_NAMESPACE=" + ns, "STATE_DIRECTORY=" + filepath.Join(dir, "state")}
			if r := runTlsentry(t, env, "setup", "--es", url); r.code != 0 {
				t.Fatalf("setup: exit %d\n%s", r.code, r.stderr)
			}
			start := time.Now()
			replayed := replayAll(t, url, filepath.Join(dir, "replay"), env, captures)
			want := alertIDs(t, replayed)
			if len(want) < 3 {
				t.Fatalf("only %d alerts from %d captures", len(want), len(captures))
			}
			lookBack := max(externalAlertsLookBack, time.Since(start)+30*time.Second) // a slow machine
			checkFound(t, "replay", externalAlerts(t, n, ns, "event.ingested", lookBack), want)
			if old := externalAlerts(t, n, ns, "@timestamp", lookBack); len(old) != 0 {
				t.Errorf("%d alerts have a recent @timestamp: the captures are not old, the test shows nothing", len(old))
			}

			// Elasticsearch unreachable: the documents stay in the spool
			// (exit 5); the next run drains it. Each run waits the sink's
			// drain timeout (30 s) for a node, so only the two captures
			// with the most alerts are replayed.
			spooled := mostAlerts(t, captures, replayed, 2)
			ns2 := ns + "spool"
			env2 := []string{"TLSENTRY_ES_NAMESPACE=" + ns2, "STATE_DIRECTORY=" + filepath.Join(dir, "state2")}
			var files []string
			for i, p := range spooled {
				out := filepath.Join(dir, fmt.Sprintf("spooled%02d.ndjson", i))
				r := runTlsentry(t, env2, "-r", p, "-w", out, "--es", "http://127.0.0.1:1", "--flush-timeout", "1s", "-progress", "never")
				if r.code != 0 && r.code != 5 {
					t.Fatalf("replay with Elasticsearch down: exit %d\n%s", r.code, r.stderr)
				}
				files = append(files, out)
			}
			want2 := alertIDs(t, files)
			if got := externalAlerts(t, n, ns2, "event.ingested", 24*time.Hour); len(got) != 0 {
				t.Fatalf("%d alerts indexed while Elasticsearch was unreachable", len(got))
			}
			time.Sleep(time.Second) // spooled at least a second before the drain
			drainStart := time.Now()
			r := runTlsentry(t, env2, "-r", spooled[0], "-w", filepath.Join(dir, "drain.ndjson"), "--es", url, "-progress", "never")
			if r.code != 0 {
				t.Fatalf("drain: exit %d\n%s", r.code, r.stderr)
			}
			lookBack = max(externalAlertsLookBack, time.Since(drainStart)+30*time.Second)
			checkFound(t, "spool drain", externalAlerts(t, n, ns2, "event.ingested", lookBack), want2)
			checkNoLeftovers(t, filepath.Join(dir, "state2"))
			t.Logf("%s: %d alerts after a replay, %d after a spool drain, found by the External Alerts query", url, len(want), len(want2))
		})
	}
}
