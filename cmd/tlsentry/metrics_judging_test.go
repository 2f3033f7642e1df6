package main

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/sensor"
)

// TestJudgingMetrics: the collector exports suppressed matches per rule of
// the judge's engine and the judging stage's counters.
func TestJudgingMetrics(t *testing.T) {
	j, err := newDetectJudge("", &Config{})
	if err != nil {
		t.Fatal(err)
	}
	col := newSensorCollector(func() capture.Snapshot { return capture.Snapshot{} }, nil, nil, j)
	col.order = func() sensor.OrderStats {
		return sensor.OrderStats{Held: 3, HeldBytes: 4096, ReleasedEarly: 5, ArrivedLate: 7}
	}
	got, rules := gatherMetrics(t, col)
	if want := len(j.Engine().Rules()); rules != want || rules == 0 {
		t.Errorf("%d tlsentry_rule_suppressed_total series, want one per rule (%d)", rules, want)
	}
	for name, want := range map[string]float64{"tlsentry_judging_held_sessions": 3, "tlsentry_judging_held_bytes": 4096,
		"tlsentry_judging_released_early_total": 5, "tlsentry_judging_arrived_late_total": 7} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}

// TestReplayMetrics: after a replay, the collector exports the pipeline's
// server certificate cache and the rules' suppress and threshold state.
// The two captures reach the same server with the same chain (leaf and
// intermediate): four lookups, two misses at least; cert.untrusted and
// cert.name_mismatch each hold a key.
func TestReplayMetrics(t *testing.T) {
	j, err := newDetectJudge("", &Config{})
	if err != nil {
		t.Fatal(err)
	}
	var srcs []capture.Source
	for _, p := range []string{"../../testdata/tls12-ecdsa.pcap", "../../testdata/rules/cert.name_mismatch-fire.pcap"} {
		src, err := capture.OpenFile(p)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	sn := sensor.New(sensor.Config{Capture: capture.Config{Workers: 1}, Judge: j})
	if _, err := sn.Run(context.Background(), srcs); err != nil {
		t.Fatal(err)
	}
	col := newSensorCollector(func() capture.Snapshot { return sn.Stats().Snapshot() }, nil, nil, j)
	col.certs = sn.CertStats
	got, _ := gatherMetrics(t, col)
	for name, want := range map[string]float64{
		"tlsentry_sessions_total":                2,
		"tlsentry_cert_cache_entries":            2,
		"tlsentry_cert_cache_capacity":           4096,
		"tlsentry_cert_cache_evictions_total":    0,
		"tlsentry_rules_limiter_keys":            2,
		"tlsentry_rules_limiter_limit_bytes":     detect.DefaultSuppressMemory,
		"tlsentry_rules_limiter_evictions_total": 0,
		"tlsentry_rules_limiter_lost_total":      0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	// The captures are replayed at once (a worker each): a certificate both
	// workers miss before either has stored it is two misses (CertCache
	// parses outside its lock), so the split depends on timing; the sum
	// does not.
	if h, m := got["tlsentry_cert_cache_hits_total"], got["tlsentry_cert_cache_misses_total"]; h+m != 4 || m < 2 {
		t.Errorf("certificate cache hits %v, misses %v: want 4 lookups, 2 misses at least", h, m)
	}
	// Sizes: a certificate of the test PKI is 300-700 bytes of DER; a
	// limiter key is charged a flat ~137 bytes (its hash, not its text).
	for _, r := range []struct {
		name     string
		min, max float64
	}{
		{"tlsentry_cert_cache_der_bytes", 2 * 300, 2 * 700},
		{"tlsentry_rules_limiter_bytes", 2 * 100, 2 * 200},
	} {
		if v, ok := got[r.name]; !ok || v < r.min || v > r.max {
			t.Errorf("%s = %v (present %v), want %v to %v", r.name, v, ok, r.min, r.max)
		}
	}
}

// gatherMetrics scrapes col: the value of every series without labels by
// name, and the number of tlsentry_rule_suppressed_total series (one per
// rule, labelled rule). A _total is a counter, anything else a gauge.
func gatherMetrics(t *testing.T, col prometheus.Collector) (map[string]float64, int) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	rules := 0
	for _, f := range fams {
		if counter := f.GetType().String() == "COUNTER"; counter != strings.HasSuffix(f.GetName(), "_total") {
			t.Errorf("%s is a %v", f.GetName(), f.GetType())
		}
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			if f.GetName() == "tlsentry_rule_suppressed_total" {
				rules++
				if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "rule" {
					t.Errorf("suppressed series labels %v", m.GetLabel())
				}
				continue
			}
			got[f.GetName()] = v
		}
	}
	return got, rules
}
