package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/sensor"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// The Prometheus collector reads the counters the sensor keeps anyway
// (capture.Stats, the sockets' kernel statistics, the sinks' counts, the
// certificate cache's and the rule engine's) when it is scraped: nothing is
// counted twice and the hot path does no extra work for metrics.

// metricName is the Prometheus name of a capture counter:
// tlsentry_packets_total, tlsentry_flows_evicted_total, ...
func metricName(c capture.Counter) string {
	if c.Gauge() {
		return "tlsentry_" + c.Name()
	}
	return "tlsentry_" + c.Name() + "_total"
}

// liveStats reads the kernel counters of the live sources; after freeze
// (before the sources close) it keeps answering the last values.
type liveStats struct {
	mu     sync.Mutex
	srcs   []sensor.LiveSource
	last   []capture.LiveStats
	frozen bool
}

func newLiveStats(srcs []sensor.LiveSource) *liveStats {
	return &liveStats{srcs: srcs, last: make([]capture.LiveStats, len(srcs))}
}

// read returns the per-socket counters (the last good ones on error).
func (l *liveStats) read() []capture.LiveStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.frozen {
		for i, s := range l.srcs {
			if st, err := s.Stats(); err == nil {
				l.last[i] = st
			}
		}
	}
	return append([]capture.LiveStats(nil), l.last...)
}

// freeze reads once more and stops reading the sources.
func (l *liveStats) freeze() []capture.LiveStats {
	st := l.read()
	l.mu.Lock()
	l.frozen = true
	l.mu.Unlock()
	return st
}

func sumLive(st []capture.LiveStats) (t capture.LiveStats) {
	for _, s := range st {
		t.Packets += s.Packets
		t.Drops += s.Drops
		t.QueueFreezes += s.QueueFreezes
	}
	return t
}

// esStatser is the Elasticsearch sink's counters.
type esStatser interface{ Stats() output.ESStats }

// reloadStatser is a judge that reloads its rules (detect.Reloader).
type reloadStatser interface{ ReloadStats() (ok, failed uint64) }

// sensorCollector is the prometheus.Collector of a running sensor.
type sensorCollector struct {
	pipeline func() capture.Snapshot
	live     *liveStats // nil when not live
	sinks    sensor.Sinks
	judge    sensor.Judge
	order    func() sensor.OrderStats       // the judging stage; nil: none
	certs    func() tlsparse.CertCacheStats // the pipeline's server certificate cache; nil: none
	info     string                         // version string

	counters   [len(capture.Snapshot{})]*prometheus.Desc
	flowsAct   *prometheus.Desc
	kPackets   *prometheus.Desc
	kDrops     *prometheus.Desc
	kFreezes   *prometheus.Desc
	sinkDocs   *prometheus.Desc
	sinkQueue  *prometheus.Desc
	esDocs     *prometheus.Desc
	esSpool    *prometheus.Desc
	reloads    *prometheus.Desc
	buildInfo  *prometheus.Desc
	liveSocket *prometheus.Desc
	suppressed *prometheus.Desc
	jHeld      *prometheus.Desc
	jHeldBytes *prometheus.Desc
	jEarly     *prometheus.Desc
	jLate      *prometheus.Desc
	certEnt    *prometheus.Desc
	certCap    *prometheus.Desc
	certBytes  *prometheus.Desc
	certHits   *prometheus.Desc
	certMisses *prometheus.Desc
	certEvict  *prometheus.Desc
	limKeys    *prometheus.Desc
	limBytes   *prometheus.Desc
	limLimit   *prometheus.Desc
	limEvict   *prometheus.Desc
	limLost    *prometheus.Desc
	extra      prometheus.Collector // the inventory's, when there is one
}

func newSensorCollector(pipeline func() capture.Snapshot, live *liveStats, sinks sensor.Sinks, j sensor.Judge) *sensorCollector {
	c := &sensorCollector{pipeline: pipeline, live: live, sinks: sinks, judge: j, info: version}
	for _, k := range capture.Counters() {
		help := "capture counter " + k.Name() + " (see capture/stats.go)"
		c.counters[k] = prometheus.NewDesc(metricName(k), help, nil, nil)
	}
	c.flowsAct = prometheus.NewDesc("tlsentry_flows_active", "flows in the flow tables now", nil, nil)
	c.kPackets = prometheus.NewDesc("tlsentry_kernel_packets_total", "packets the kernel saw for the capture sockets, dropped ones included", []string{"socket"}, nil)
	c.kDrops = prometheus.NewDesc("tlsentry_kernel_drops_total", "packets the kernel dropped because a capture ring or buffer was full", []string{"socket"}, nil)
	c.kFreezes = prometheus.NewDesc("tlsentry_kernel_queue_freezes_total", "TPACKET_V3 ring freezes (AF_PACKET)", []string{"socket"}, nil)
	c.sinkDocs = prometheus.NewDesc("tlsentry_sink_documents_total", "documents handed to each sink, by result", []string{"sink", "result"}, nil)
	c.sinkQueue = prometheus.NewDesc("tlsentry_sink_queue_depth", "documents queued in a sink now", []string{"sink"}, nil)
	c.esDocs = prometheus.NewDesc("tlsentry_elasticsearch_documents_total", "what the Elasticsearch sink did with documents", []string{"outcome"}, nil)
	c.esSpool = prometheus.NewDesc("tlsentry_elasticsearch_spool_bytes", "bytes in the Elasticsearch spool now", nil, nil)
	c.reloads = prometheus.NewDesc("tlsentry_rules_reloads_total", "rule reloads (SIGHUP), by result", []string{"result"}, nil)
	c.buildInfo = prometheus.NewDesc("tlsentry_build_info", "the build, as a label", []string{"version"}, nil)
	c.suppressed = prometheus.NewDesc("tlsentry_rule_suppressed_total", "matches that gave no alert of their own (suppress/threshold blocks, suppressions), by rule", []string{"rule"}, nil)
	c.jHeld = prometheus.NewDesc("tlsentry_judging_held_sessions", "sessions the judging stage holds now, waiting for their turn", nil, nil)
	c.jHeldBytes = prometheus.NewDesc("tlsentry_judging_held_bytes", "estimated memory of the sessions the judging stage holds (rules.order_memory_mb bounds it)", nil, nil)
	c.jEarly = prometheus.NewDesc("tlsentry_judging_released_early_total", "sessions judged before their turn because the judging stage was full", nil, nil)
	c.jLate = prometheus.NewDesc("tlsentry_judging_arrived_late_total", "sessions that reached the judging stage after a later one was judged", nil, nil)
	c.certEnt = prometheus.NewDesc("tlsentry_cert_cache_entries", "server certificate summaries in the pipeline's cache now", nil, nil)
	c.certCap = prometheus.NewDesc("tlsentry_cert_cache_capacity", "the most summaries the server certificate cache holds (its bound)", nil, nil)
	c.certBytes = prometheus.NewDesc("tlsentry_cert_cache_der_bytes", "DER bytes of the certificates the server certificate cache keeps (their summaries not counted)", nil, nil)
	c.certHits = prometheus.NewDesc("tlsentry_cert_cache_hits_total", "server certificates summarised from the cache", nil, nil)
	c.certMisses = prometheus.NewDesc("tlsentry_cert_cache_misses_total", "server certificates parsed because the cache did not hold them", nil, nil)
	c.certEvict = prometheus.NewDesc("tlsentry_cert_cache_evictions_total", "summaries evicted from the server certificate cache for its bound (least recently used first)", nil, nil)
	c.limKeys = prometheus.NewDesc("tlsentry_rules_limiter_keys", "(rule, key) pairs the suppress and threshold blocks hold now", nil, nil)
	c.limBytes = prometheus.NewDesc("tlsentry_rules_limiter_bytes", "estimated memory of the suppress and threshold keys (bounded by tlsentry_rules_limiter_limit_bytes; the pre-sized maps, about 106 KB, not counted)", nil, nil)
	c.limLimit = prometheus.NewDesc("tlsentry_rules_limiter_limit_bytes", "memory budget of the suppress and threshold keys", nil, nil)
	c.limEvict = prometheus.NewDesc("tlsentry_rules_limiter_evictions_total", "suppress and threshold keys evicted for the budget (least recently matched first)", nil, nil)
	c.limLost = prometheus.NewDesc("tlsentry_rules_limiter_lost_total", "held-back matches of evicted keys: no later alert carries them", nil, nil)
	c.liveSocket = prometheus.NewDesc("tlsentry_capture_sockets", "live capture sockets (AF_PACKET fanout members or one libpcap handle)", nil, nil)
	return c
}

func (c *sensorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.flowsAct, c.kPackets, c.kDrops, c.kFreezes, c.sinkDocs,
		c.sinkQueue, c.esDocs, c.esSpool, c.reloads, c.buildInfo, c.liveSocket, c.suppressed,
		c.jHeld, c.jHeldBytes, c.jEarly, c.jLate, c.certEnt, c.certCap, c.certBytes, c.certHits,
		c.certMisses, c.certEvict, c.limKeys, c.limBytes, c.limLimit, c.limEvict, c.limLost} {
		ch <- d
	}
	if c.extra != nil {
		c.extra.Describe(ch)
	}
}

func (c *sensorCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.pipeline()
	for _, k := range capture.Counters() {
		typ := prometheus.CounterValue
		if k.Gauge() {
			typ = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(c.counters[k], typ, float64(snap.Get(k)))
	}
	ch <- prometheus.MustNewConstMetric(c.flowsAct, prometheus.GaugeValue, float64(snap.ActiveFlows()))
	if c.live != nil {
		st := c.live.read()
		ch <- prometheus.MustNewConstMetric(c.liveSocket, prometheus.GaugeValue, float64(len(st)))
		for i, s := range st {
			id := strconv.Itoa(i)
			ch <- prometheus.MustNewConstMetric(c.kPackets, prometheus.CounterValue, float64(s.Packets), id)
			ch <- prometheus.MustNewConstMetric(c.kDrops, prometheus.CounterValue, float64(s.Drops), id)
			ch <- prometheus.MustNewConstMetric(c.kFreezes, prometheus.CounterValue, float64(s.QueueFreezes), id)
		}
	}
	for _, s := range c.sinks {
		okN, failed := s.Docs()
		ch <- prometheus.MustNewConstMetric(c.sinkDocs, prometheus.CounterValue, float64(okN), s.Name(), "ok")
		ch <- prometheus.MustNewConstMetric(c.sinkDocs, prometheus.CounterValue, float64(failed), s.Name(), "error")
		if es, ok := s.Unwrap().(esStatser); ok {
			st := es.Stats()
			ch <- prometheus.MustNewConstMetric(c.sinkQueue, prometheus.GaugeValue, float64(st.QueueDepth), s.Name())
			for _, o := range []struct {
				name string
				v    uint64
			}{{"written", st.Written}, {"indexed", st.Indexed}, {"duplicate", st.Duplicates}, {"retried", st.Retried},
				{"dead_lettered", st.DeadLettered}, {"spooled", st.Spooled}, {"spool_corrupt", st.SpoolCorrupt},
				{"dropped", st.Dropped}, {"shed", st.Shed}} {
				ch <- prometheus.MustNewConstMetric(c.esDocs, prometheus.CounterValue, float64(o.v), o.name)
			}
			ch <- prometheus.MustNewConstMetric(c.esSpool, prometheus.GaugeValue, float64(st.SpoolBytes))
		}
	}
	if r, ok := c.judge.(reloadStatser); ok {
		okN, failed := r.ReloadStats()
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(okN), "ok")
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(failed), "error")
	}
	if e, ok := c.judge.(interface{ Engine() *detect.Engine }); ok {
		for id, n := range e.Engine().SuppressedCounts() {
			ch <- prometheus.MustNewConstMetric(c.suppressed, prometheus.CounterValue, float64(n), id)
		}
		if st, ok := e.Engine().LimiterStats(); ok {
			ch <- prometheus.MustNewConstMetric(c.limKeys, prometheus.GaugeValue, float64(st.Keys))
			ch <- prometheus.MustNewConstMetric(c.limBytes, prometheus.GaugeValue, float64(st.Bytes))
			ch <- prometheus.MustNewConstMetric(c.limLimit, prometheus.GaugeValue, float64(st.Limit))
			ch <- prometheus.MustNewConstMetric(c.limEvict, prometheus.CounterValue, float64(st.Evictions))
			ch <- prometheus.MustNewConstMetric(c.limLost, prometheus.CounterValue, float64(st.Lost))
		}
	}
	if c.order != nil {
		st := c.order()
		ch <- prometheus.MustNewConstMetric(c.jHeld, prometheus.GaugeValue, float64(st.Held))
		ch <- prometheus.MustNewConstMetric(c.jHeldBytes, prometheus.GaugeValue, float64(st.HeldBytes))
		ch <- prometheus.MustNewConstMetric(c.jEarly, prometheus.CounterValue, float64(st.ReleasedEarly))
		ch <- prometheus.MustNewConstMetric(c.jLate, prometheus.CounterValue, float64(st.ArrivedLate))
	}
	if c.certs != nil {
		st := c.certs()
		ch <- prometheus.MustNewConstMetric(c.certEnt, prometheus.GaugeValue, float64(st.Entries))
		ch <- prometheus.MustNewConstMetric(c.certCap, prometheus.GaugeValue, float64(st.Capacity))
		ch <- prometheus.MustNewConstMetric(c.certBytes, prometheus.GaugeValue, float64(st.DERBytes))
		ch <- prometheus.MustNewConstMetric(c.certHits, prometheus.CounterValue, float64(st.Hits))
		ch <- prometheus.MustNewConstMetric(c.certMisses, prometheus.CounterValue, float64(st.Misses))
		ch <- prometheus.MustNewConstMetric(c.certEvict, prometheus.CounterValue, float64(st.Evictions))
	}
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.info)
	if c.extra != nil {
		c.extra.Collect(ch)
	}
}

// metricsServer serves /metrics on a listener opened early (before the
// privileges are dropped) and started later (after).
type metricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// listenMetrics listens on addr for the collector's /metrics.
func listenMetrics(addr string, col prometheus.Collector, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(col)
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	log.Info("metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return &metricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// serve starts answering.
func (m *metricsServer) serve() {
	m.done = make(chan error, 1)
	go func() { m.done <- m.srv.Serve(m.ln) }()
}

// close stops a server that was not started.
func (m *metricsServer) close() { m.ln.Close() }

// shutdown stops the server, letting scrapes in flight finish (2s at most).
func (m *metricsServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.srv.Shutdown(ctx)
	<-m.done
}
