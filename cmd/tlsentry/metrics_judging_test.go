package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsentry/tlsentry/capture"
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	rules := 0
	for _, f := range fams {
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
