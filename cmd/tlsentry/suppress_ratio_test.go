package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/alertgen"
)

// TestSuppressRatio is the figure of issue #11: on the synthetic handshake
// workload (internal/alertgen: 3,000 connections to 30 servers over 3
// hours, most certificates reported by a built-in rule whose suppress
// block allows one alert per hour and certificate), suppression on
// (the default) cuts alert documents at least 20-fold against
// --no-suppress, while every (rule.id, destination.ip,
// tls.server.hash.sha256) that alerted without suppression still has an
// alert; and the documents of --workers 1 and --workers 2 are the same.
//
//	go test ./cmd/tlsentry -run TestSuppressRatio -v
func TestSuppressRatio(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "workload.pcap")
	gen, err := alertgen.Write(in, alertgen.Config{Span: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var summary string
	var counted int // the matches the alerts of the last replay stand for (tlsentry.alert.count)
	replay := func(workers int, args ...string) (raw []byte, alerts int, combos map[string]int) {
		t.Helper()
		out := filepath.Join(dir, fmt.Sprintf("out-%d-%d.ndjson", workers, len(args)))
		var stderr bytes.Buffer
		if err := sensorMain(append([]string{"-r", in, "-w", out, "-progress", "never", "-workers", fmt.Sprint(workers)}, args...), io.Discard, &stderr); err != nil {
			t.Fatalf("tlsentry -r %s %v: %v\n%s", in, args, err, stderr.String())
		}
		summary = stderr.String()
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		combos = map[string]int{}
		counted = 0
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatal(err)
			}
			if lookup(m, "event.kind") != "alert" {
				continue
			}
			alerts++
			n, _ := lookup(m, "tlsentry.alert.count").(float64)
			counted += int(n)
			if n > 1 && (lookup(m, "tlsentry.alert.first") == nil || !strings.Contains(fmt.Sprint(lookup(m, "event.reason")), fmt.Sprint(int(n)-1))) {
				t.Errorf("an alert for %d matches: tlsentry.alert.first %v, event.reason %q", int(n), lookup(m, "tlsentry.alert.first"), lookup(m, "event.reason"))
			}
			combos[fmt.Sprintf("%v %v %v", lookup(m, "rule.id"), lookup(m, "destination.ip"), lookup(m, "tls.server.hash.sha256"))]++
		}
		return raw, alerts, combos
	}
	start := time.Now()
	_, all, allCombos := replay(2, "--no-suppress")
	if counted != all {
		t.Errorf("--no-suppress: the alerts stand for %d matches, want one each (%d)", counted, all)
	}
	one, sup, supCombos := replay(1)
	// each alert stands for itself and the matches held back before it:
	// all of them but those of windows still open at the end
	if counted <= sup || counted > all {
		t.Errorf("the %d alerts stand for %d matches, want more than %d and at most %d", sup, counted, sup, all)
	}
	t.Logf("the %d alerts stand for %d of the %d matches (tlsentry.alert.count); the rest were held back in windows open at the end", sup, counted, all)
	// the summary counts per rule the matches that gave no alert
	i := strings.Index(summary, "tlsentry: suppressed ")
	if i < 0 {
		t.Fatalf("no suppressed line in the summary:\n%s", summary)
	}
	line, _, _ := strings.Cut(summary[i:], "\n")
	var total uint64
	if _, err := fmt.Sscanf(line, "tlsentry: suppressed %d matches", &total); err != nil || int(total) != all-sup {
		t.Errorf("summary %q: want %d - %d matches suppressed", line, all, sup)
	}
	t.Log(line)
	two, _, _ := replay(2)
	el := time.Since(start)

	if all == 0 || sup == 0 {
		t.Fatalf("%d alerts without suppression, %d with", all, sup)
	}
	ratio := float64(all) / float64(sup)
	t.Logf("%d connections to %d servers: %d alert documents with --no-suppress, %d with suppression (%.1f-fold), %d (rule, destination.ip, certificate) combinations; 3 replays in %s",
		gen.Sessions, len(gen.PerServer), all, sup, ratio, len(allCombos), el.Round(time.Millisecond))
	var ids []string
	for k, n := range allCombos {
		ids = append(ids, fmt.Sprintf("%-60s %5d -> %d", k, n, supCombos[k]))
	}
	sort.Strings(ids)
	for _, l := range ids {
		t.Log(l)
	}
	if ratio < 20 {
		t.Errorf("suppression cut alerts %.1f-fold, want >= 20", ratio)
	}
	for k := range allCombos {
		if supCombos[k] == 0 {
			t.Errorf("%s alerted without suppression, not with it", k)
		}
	}
	for k := range supCombos {
		if allCombos[k] == 0 {
			t.Errorf("%s alerted with suppression only", k)
		}
	}
	if !bytes.Equal(one, two) {
		a, _ := normalize(one)
		b, _ := normalize(two)
		t.Fatalf("--workers 1 and --workers 2 write different documents with suppression:\n%s", firstDiff(a, b))
	}
}

// TestSuricataThresholdDefault: a Suricata rule's threshold applies in a
// plain replay (suppression is on by default): "type limit, track by_dst,
// count 1, seconds 3600" gives one alert per server and hour of packet
// time; --no-suppress gives one per connection.
func TestSuricataThresholdDefault(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "workload.pcap")
	gen, err := alertgen.Write(in, alertgen.Config{Sessions: 600, Servers: 5, Span: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "corp.rules")
	if err := os.WriteFile(rules, []byte(`alert tls any any -> any any (msg:"corp service"; tls.sni; content:".corp.test"; endswith; threshold: type limit, track by_dst, count 1, seconds 3600; sid:9000001; rev:1;)`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func(args ...string) (alerts int, perServerHour map[string]int) {
		t.Helper()
		out := filepath.Join(dir, fmt.Sprintf("out%d.ndjson", len(args)))
		var stderr bytes.Buffer
		if err := sensorMain(append([]string{"-r", in, "-w", out, "-progress", "never", "--rules", rules}, args...), io.Discard, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		perServerHour = map[string]int{}
		for _, d := range readNDJSONDocs(t, out) {
			if d.Dataset != "tlsentry.alert" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(d.Body, &m); err != nil {
				t.Fatal(err)
			}
			if lookup(m, "rule.id") != "9000001" {
				continue // a built-in rule
			}
			alerts++
			perServerHour[fmt.Sprint(lookup(m, "destination.ip"))]++
		}
		return alerts, perServerHour
	}
	all, _ := count("--no-suppress")
	sup, per := count()
	if all != gen.Sessions {
		t.Errorf("--no-suppress: %d alerts, want one per connection (%d)", all, gen.Sessions)
	}
	// 5 servers, 3 hours: one alert per server and window, 3 or 4 windows
	// (the first opens at the server's first connection).
	if len(per) != 5 || sup < 15 || sup > 20 {
		t.Errorf("with the threshold: %d alerts over %d servers (%v), want 3-4 per server", sup, len(per), per)
	}
	t.Logf("sid 9000001 with threshold limit by_dst 1/3600s: %d alerts, %d with --no-suppress", sup, all)
}
