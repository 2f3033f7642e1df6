package inventory

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	inv := open(t, t.TempDir(), Options{LearningPeriod: -1, MaxItems: 2})
	defer closeInv(t, inv)
	for i, fp := range []string{"a", "b", "c"} {
		inv.Record(sess(t0.Add(time.Duration(i)*time.Minute), "198.51.100.1:443", "", "ja4"+fp, "", nil...))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(inv.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			got[name] = v
		}
	}
	for name, want := range map[string]float64{
		"tlsentry_inventory_items/client_ja4":         2,
		"tlsentry_inventory_evicted_total/client_ja4": 1,
		"tlsentry_inventory_new_total/client_ja4":     3,
		"tlsentry_inventory_items/certificate":        0,
		"tlsentry_inventory_learning":                 0,
		"tlsentry_inventory_flushes_total/error":      0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
	if len(got) != 4*4+1+2+1 {
		t.Errorf("%d metrics: %v", len(got), got)
	}
}
