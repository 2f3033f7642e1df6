package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/estest"
	"github.com/tlsentry/tlsentry/output"
)

// TestESCorpusReplay replays every corpus capture with tlsentry -r into
// NDJSON, installs the templates with tlsentry setup, ships the NDJSON
// documents through the Elasticsearch sink, and checks that Elasticsearch
// holds exactly those documents by _id, none dead-lettered (the template
// accepts every document the program emits), and that shipping them again
// adds none.
func TestESCorpusReplay(t *testing.T) {
	url := estest.URL(t)
	pcaps, _ := filepath.Glob("../../../shared/corpus/pcaps/*/*.pcap*")
	if len(pcaps) == 0 {
		t.Skip("no corpus at ../shared/corpus")
	}
	ns := fmt.Sprintf("corpus%d", time.Now().UnixNano()%1e12)
	if code := run([]string{"setup", "--es", url, "--namespace", ns}); code != 0 {
		t.Fatalf("tlsentry setup exited %d", code)
	}
	dir := t.TempDir()
	var docs []output.Document
	for i, p := range pcaps {
		out := filepath.Join(dir, fmt.Sprintf("%03d.ndjson", i))
		run([]string{"-r", p, "-w", out}) // bad captures exit 2; their documents so far still count
		docs = append(docs, readNDJSONDocs(t, out)...)
	}
	if len(docs) < 100 {
		t.Fatalf("only %d documents from %d captures", len(docs), len(pcaps))
	}
	want := map[string]bool{}
	for _, d := range docs {
		want[d.Dataset+"/"+d.ID] = true
	}
	// Some corpus captures are edited copies of one connection (suricata-verify
	// tls-issuer-zero and tls-subject-zero, say): same flow and time, so the
	// same event.id; the second is a duplicate for Elasticsearch, as intended.
	t.Logf("%d documents from %d captures, %d distinct ids", len(docs), len(pcaps), len(want))
	for round := 0; round < 2; round++ {
		opt, err := esOptions(&Config{}, url, false)
		if err != nil {
			t.Fatal(err)
		}
		opt.Namespace = ns
		opt.SpoolDir = filepath.Join(dir, "spool")
		opt.DeadLetter = filepath.Join(dir, "dead.ndjson")
		s, err := output.NewElasticsearch(opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(context.Background(), docs...); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.DeadLettered != 0 {
			dl, _ := os.ReadFile(opt.DeadLetter)
			t.Fatalf("round %d: %d documents rejected by the template:\n%s", round, st.DeadLettered, output.Truncate(dl, 3000))
		}
		wantIdx, wantDup := uint64(len(want)), uint64(len(docs)-len(want))
		if round == 1 {
			wantIdx, wantDup = 0, uint64(len(docs))
		}
		if st.Indexed != wantIdx || st.Duplicates != wantDup {
			t.Errorf("round %d: stats %+v, want indexed %d duplicates %d", round, st, wantIdx, wantDup)
		}
		got := esIDs(t, url, ns)
		if len(got) != len(want) {
			t.Errorf("round %d: %d documents in Elasticsearch, want %d", round, len(got), len(want))
		}
		for _, id := range got {
			if !want[id] {
				t.Errorf("round %d: unexpected document %s", round, id)
			}
		}
	}
}

func readNDJSONDocs(t *testing.T, path string) []output.Document {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []output.Document
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var d struct {
			Timestamp time.Time `json:"@timestamp"`
			Event     struct{ ID, Dataset string }
		}
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, output.Document{ID: d.Event.ID, Dataset: d.Event.Dataset, Timestamp: d.Timestamp, Body: append([]byte(nil), line...)})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}

// esIDs returns "<dataset>/<_id>" of every document in the namespace.
func esIDs(t *testing.T, url, ns string) []string {
	t.Helper()
	target := url + "/logs-tlsentry.*-" + ns
	if res, err := http.Post(target+"/_refresh", "application/json", nil); err == nil {
		res.Body.Close()
	}
	body := `{"size":10000,"_source":false,"fields":["event.dataset"],"query":{"match_all":{}}}`
	res, err := http.Post(target+"/_search", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var r struct {
		Hits struct {
			Hits []struct {
				Index  string              `json:"_index"`
				ID     string              `json:"_id"`
				Fields map[string][]string `json:"fields"`
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil || res.StatusCode != 200 {
		t.Fatalf("search: %d %s", res.StatusCode, output.Truncate(data, 500))
	}
	var out []string
	for _, h := range r.Hits.Hits {
		ds := output.DatasetTLS
		if strings.Contains(h.Index, output.DatasetAlert) {
			ds = output.DatasetAlert
		}
		out = append(out, ds+"/"+h.ID)
	}
	sort.Strings(out)
	return out
}
