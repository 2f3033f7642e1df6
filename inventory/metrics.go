package inventory

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the inventory's counters as Prometheus metrics:
// tlsentry_inventory_items (gauge), tlsentry_inventory_new_total,
// tlsentry_inventory_learned_total and tlsentry_inventory_evicted_total by
// kind, tlsentry_inventory_pending (gauge), tlsentry_inventory_flushes_total
// by result and tlsentry_inventory_learning (1 during the learning period).
func (inv *Inventory) Collector() prometheus.Collector { return &collector{inv: inv} }

type collector struct{ inv *Inventory }

var (
	mItems    = prometheus.NewDesc("tlsentry_inventory_items", "inventory items held now, by kind (bounded by inventory.max_items a kind)", []string{"kind"}, nil)
	mNew      = prometheus.NewDesc("tlsentry_inventory_new_total", "items first seen after the learning period, by kind", []string{"kind"}, nil)
	mLearned  = prometheus.NewDesc("tlsentry_inventory_learned_total", "items first seen during the learning period, by kind", []string{"kind"}, nil)
	mEvicted  = prometheus.NewDesc("tlsentry_inventory_evicted_total", "items evicted for the size bound (least recently seen first), by kind", []string{"kind"}, nil)
	mPending  = prometheus.NewDesc("tlsentry_inventory_pending", "new, changed and evicted items not yet committed to the state directory", nil, nil)
	mFlushes  = prometheus.NewDesc("tlsentry_inventory_flushes_total", "commits to the store, by result", []string{"result"}, nil)
	mLearning = prometheus.NewDesc("tlsentry_inventory_learning", "1 while the learning period runs (first-seen rules are quiet)", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mItems, mNew, mLearned, mEvicted, mPending, mFlushes, mLearning} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.inv.Stats()
	for k := ClientJA4; int(k) < numKinds; k++ {
		n := k.String()
		ch <- prometheus.MustNewConstMetric(mItems, prometheus.GaugeValue, float64(st.Items[k]), n)
		ch <- prometheus.MustNewConstMetric(mNew, prometheus.CounterValue, float64(st.New[k]), n)
		ch <- prometheus.MustNewConstMetric(mLearned, prometheus.CounterValue, float64(st.Learned[k]), n)
		ch <- prometheus.MustNewConstMetric(mEvicted, prometheus.CounterValue, float64(st.Evicted[k]), n)
	}
	ch <- prometheus.MustNewConstMetric(mPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(mFlushes, prometheus.CounterValue, float64(st.Flushes-st.FlushErrors), "ok")
	ch <- prometheus.MustNewConstMetric(mFlushes, prometheus.CounterValue, float64(st.FlushErrors), "error")
	l := 0.0
	if st.Learning {
		l = 1
	}
	ch <- prometheus.MustNewConstMetric(mLearning, prometheus.GaugeValue, l)
}
