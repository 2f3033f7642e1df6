package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Golden files: the NDJSON the whole pipeline (capture → tlsparse → detect
// → output) writes for every capture in testdata/ (and testdata/rules/),
// normalised and sorted by event.id. After an intended change:
//
//	go test ./cmd/tlsentry -run TestGolden -update
//
// and review the diff of testdata/golden/ like code.
var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.ndjson from the current pipeline")

const (
	testdataDir = "../../testdata"
	goldenDir   = "../../testdata/golden"
)

// goldenInputs lists the captures under testdata that gentestdata wrote.
func goldenInputs(t *testing.T) []string {
	t.Helper()
	var in []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz", "rules/*.pcap"} {
		m, err := filepath.Glob(filepath.Join(testdataDir, pat))
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, m...)
	}
	sort.Strings(in)
	if len(in) == 0 {
		t.Fatalf("no captures under %s: run go run ./internal/cmd/gentestdata", testdataDir)
	}
	return in
}

func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		rel, _ := filepath.Rel(testdataDir, in)
		rel = filepath.ToSlash(rel)
		t.Run(rel, func(t *testing.T) {
			got := pipeline(t, in, 1)
			// event.id must not depend on how packets are spread over
			// workers: a run with several workers gives the same documents.
			if other := pipeline(t, in, 4); !bytes.Equal(got, other) {
				t.Fatalf("1 worker and 4 workers give different documents:\n%s", firstDiff(got, other))
			}
			golden := filepath.Join(goldenDir, filepath.FromSlash(rel)+".ndjson")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden file %s (%v): create it with go test ./cmd/tlsentry -run TestGolden -update, and review it", golden, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s (rerun with -update if the change is intended):\n%s", golden, firstDiff(want, got))
			}
		})
	}
}

// TestGoldenNoStale fails when a golden file has no capture any more.
func TestGoldenNoStale(t *testing.T) {
	have := map[string]bool{}
	for _, in := range goldenInputs(t) {
		rel, _ := filepath.Rel(testdataDir, in)
		have[filepath.ToSlash(rel)+".ndjson"] = true
	}
	err := filepath.WalkDir(goldenDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(goldenDir, p)
		if rel = filepath.ToSlash(rel); !have[rel] {
			if *updateGolden {
				return os.Remove(p)
			}
			t.Errorf("stale golden file %s: its capture is gone (remove it, or run with -update)", rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// pipeline runs tlsentry -r in over the capture and returns its documents,
// normalised: one JSON object per line with sorted keys, fields that depend
// on the machine (observer.hostname) removed, lines sorted by event.id.
func pipeline(t *testing.T, in string, workers int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.ndjson")
	if code := run([]string{"-r", in, "-w", out, "-progress", "never", "-workers", fmt.Sprint(workers)}); code != 0 {
		t.Fatalf("tlsentry -r %s exited %d", in, code)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	n, err := normalize(raw)
	if err != nil {
		t.Fatalf("%s: %v", in, err)
	}
	return n
}

type doc struct {
	id, line string
}

func normalize(raw []byte) ([]byte, error) {
	var docs []doc
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("line %d is not a JSON object: %v", i+1, err)
		}
		unstable(m)
		id, _ := lookup(m, "event.id").(string)
		if id == "" {
			return nil, fmt.Errorf("line %d has no event.id", i+1)
		}
		b, err := json.Marshal(m) // map keys come out sorted
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc{id, string(b)})
	}
	sort.Slice(docs, func(i, j int) bool {
		if docs[i].id != docs[j].id {
			return docs[i].id < docs[j].id
		}
		return docs[i].line < docs[j].line
	})
	var b bytes.Buffer
	for _, d := range docs {
		b.WriteString(d.line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// unstable removes what legitimately differs between machines. Whether the
// document nests objects or uses dotted keys, both are handled.
func unstable(m map[string]any) {
	for _, path := range []string{"observer.hostname"} {
		delete(m, path)
		parts := strings.Split(path, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = next
		}
		if cur != nil {
			delete(cur, parts[len(parts)-1])
		}
	}
}

// lookup finds a dotted field in nested or flat form.
func lookup(m map[string]any, path string) any {
	if v, ok := m[path]; ok {
		return v
	}
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

// firstDiff describes the first line that differs: the fields that
// differ when both lines are JSON, else the lines.
func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a == b {
			continue
		}
		head := fmt.Sprintf("line %d differs (%d lines before, %d now)", i+1, len(w)-1, len(g)-1)
		var ma, mb map[string]any
		if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
			return fmt.Sprintf("%s:\n- %s\n+ %s", head, a, b)
		}
		fa, fb := map[string]string{}, map[string]string{}
		flatten("", ma, fa)
		flatten("", mb, fb)
		keys := map[string]bool{}
		for k := range fa {
			keys[k] = true
		}
		for k := range fb {
			keys[k] = true
		}
		var diffs []string
		for k := range keys {
			if fa[k] != fb[k] {
				diffs = append(diffs, fmt.Sprintf("  %s: %s → %s", k, orNone(fa[k]), orNone(fb[k])))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("  ... and %d more", len(diffs)-20))
		}
		return head + ", fields:\n" + strings.Join(diffs, "\n")
	}
	return "(no difference)"
}

func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

func TestGoldenNormalize(t *testing.T) {
	in := []byte(`{"event":{"id":"b","kind":"event"},"observer":{"hostname":"box1","name":"s"}}
{"event.id":"a","observer.hostname":"box2","z":1.50}

{"event":{"id":"b","kind":"alert"},"rule":{"id":"x"}}
`)
	want := `{"event.id":"a","z":1.50}
{"event":{"id":"b","kind":"alert"},"rule":{"id":"x"}}
{"event":{"id":"b","kind":"event"},"observer":{"name":"s"}}
`
	got, err := normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	d := firstDiff([]byte(want), []byte(strings.Replace(want, `"observer":{"name":"s"}`, `"observer":{}`, 1)))
	if !strings.Contains(d, "line 3 differs") || !strings.Contains(d, `observer.name: "s" → (absent)`) {
		t.Errorf("firstDiff: %s", d)
	}
	for _, bad := range []string{`{"event":{"kind":"event"}}`, `[1]`, `{"event":`} {
		if _, err := normalize([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
