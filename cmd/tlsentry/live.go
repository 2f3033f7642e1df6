package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/sensor"
)

// liveFlagKeys are the live sensor's flags and the configuration key each
// sets (see configkeys.go for the file and environment side).
var liveFlagKeys = []struct {
	flag, key, arg, usage string
}{
	{"i", "capture.interface", "IFACE", "capture live on `IFACE` (a span or mirror port)"},
	{"source", "capture.source", "KIND", "live `SOURCE`: auto (AF_PACKET, libpcap if that fails), afpacket, pcap"},
	{"snaplen", "capture.snaplen", "BYTES", "`BYTES` kept per packet (default 65535)"},
	{"ring-size-mb", "capture.ring_size_mb", "MB", "AF_PACKET ring per worker socket in `MiB` (default 32)"},
	{"promisc", "capture.promiscuous", "", "promiscuous mode (default true; -promisc=false to turn off)"},
	{"user", "capture.user", "NAME", "drop privileges to user `NAME` after opening the sockets"},
	{"checksums", "capture.checksums", "MODE", "TCP/UDP checksum validation `MODE`: auto (default; stops for a sender direction whose checksums show offload), on, off"},
	{"memory-limit-mb", "capture.memory_limit_mb", "MiB", "memory budget for flows, reassembly, defragmentation and parser state in `MiB` (default 96; -1: none)"},
	{"metrics-addr", "metrics.addr", "ADDR", "serve Prometheus metrics on `ADDR` (host:port), at /metrics"},
	{"stats-interval", "metrics.log_interval", "DURATION", "log counters every `DURATION` (live default 1m; 0: never)"},
	{"state-dir", "inventory.state_dir", "DIR", "keep the TLS inventory (first-seen fingerprints and certificates) in `DIR` (turns it on; default when inventory.enabled: " + DefaultStateDir + ")"},
}

// liveFlags holds the live flags given on the command line, as text, until
// the file and the environment are read (flags win over both).
type liveFlags struct {
	vals map[string]string // config key -> value
}

func (l *liveFlags) register(fs *flag.FlagSet) {
	l.vals = map[string]string{}
	for _, f := range liveFlagKeys {
		key := f.key
		set := func(v string) error { l.vals[key] = v; return nil }
		if f.arg == "" {
			fs.BoolFunc(f.flag, f.usage, set)
		} else {
			fs.Func(f.flag, f.usage, set)
		}
	}
}

// apply sets the keys given as flags.
func (l *liveFlags) apply(cfg *Config) error {
	for _, f := range liveFlagKeys {
		if v, ok := l.vals[f.key]; ok {
			if err := setKey(cfg, f.key, v); err != nil {
				return fmt.Errorf("-%s: %v", f.flag, err)
			}
		}
	}
	return nil
}

// drainQuiet and drainMax bound how long a stopping sensor keeps reading
// what the kernel has queued: until no packet came for drainQuiet (longer
// than the 64 ms block timeout), at most drainMax.
const (
	drainQuiet = 150 * time.Millisecond
	drainMax   = 2 * time.Second
)

// liveMain runs the sensor on a live interface until SIGINT or SIGTERM.
// SIGHUP reloads the rules.
func liveMain(o *sensorOptions, cfg *Config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	c := &cfg.Capture
	interval, err := checkLive(cfg)
	if err != nil {
		return err
	}
	workers := c.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}

	live, err := sensor.OpenLive(sensor.LiveOptions{
		Interface: c.Interface, Source: c.Source, Sockets: workers, Snaplen: c.Snaplen,
		RingSizeMB: c.RingSizeMB, Promiscuous: c.Promiscuous == nil || *c.Promiscuous, Filter: c.Filter,
		Warn: log.Warn,
	})
	if err != nil {
		return err
	}
	srcs := live.Sources
	ls := newLiveStats(srcs)
	closeSrcs := live.Close
	var filter capture.PacketFilter
	if live.FilterInPipeline {
		if filter, err = newFilter(c.Filter); err != nil {
			closeSrcs()
			return fmt.Errorf("%w: filter %q: %v", errUsage, c.Filter, err)
		}
	}

	// Elasticsearch in live mode sheds documents and counts them rather
	// than stall capture when the cluster cannot keep up.
	sinks, err := openSinks(cfg, o.es, true, true, stdout, func(format string, args ...any) {
		log.Warn(fmt.Sprintf(format, args...)) // "elasticsearch: ..."
	})
	if err != nil {
		closeSrcs()
		return err
	}
	abort := func() {
		closeSrcs()
		sinks.Close(context.Background())
	}
	j, err := newJudge(cfg)
	if err != nil {
		abort()
		return err
	}
	for _, w := range judgeWarnings(j) {
		log.Warn("rules: " + w)
	}
	pcfg, err := c.pipeline(workers, filter)
	if err != nil {
		abort()
		return err
	}
	inv, err := openInventory(cfg, o.es) // before the privileges are dropped
	if err != nil {
		abort()
		return err
	}
	if inv != nil {
		abort0 := abort
		abort = func() { abort0(); inv.Close() }
	}
	if len(srcs) > 1 {
		pcfg.Workers = len(srcs) // the kernel shards by flow: one worker per socket
	}
	var bg sync.WaitGroup
	bgDone := make(chan struct{})
	var final []capture.LiveStats
	// Stop: on a signal, read what the kernel still holds, then stop the
	// sources; the pipeline then flushes every flow, and the sinks deliver
	// within the flush deadline (a second signal: at once). A failing sink
	// stops the sources from within the sensor.
	var sn *sensor.Sensor
	ready := make(chan struct{}) // sn is set
	var stopMu sync.Mutex
	captureOver := false
	stop := newStopper(o.flushTime, stderr, func(os.Signal) {
		<-ready
		stopMu.Lock()
		defer stopMu.Unlock()
		if captureOver {
			return
		}
		log.Info("stopping: draining the capture rings", "flush_timeout", o.flushTime)
		drain(sn.Stats())
		for _, s := range srcs {
			s.Stop()
		}
	})
	defer stop.close()
	scfg := sensor.Config{Capture: pcfg, Judge: j, ObserverName: cfg.Observer.Name, Detail: output.Detail(cfg.Output.Detail), Sinks: sinks,
		Version: version, Namespace: esNamespace(cfg),
		FlushCtx: stop.Flush(),
		CaptureDone: func() {
			stopMu.Lock()
			captureOver = true
			stopMu.Unlock()
			close(bgDone)
			bg.Wait()
			final = ls.freeze()
			closeSrcs()
		}}
	if inv != nil {
		scfg.Stages = []sensor.Stage{inv}
	}
	sn = sensor.New(scfg)

	close(ready)

	col := newSensorCollector(func() capture.Snapshot { return sn.Stats().Snapshot() }, ls, sinks, j)
	col.order = sn.OrderStats
	col.certs = sn.CertStats
	if inv != nil {
		col.extra = inv.Collector()
	}
	ms, err := serveUnprivileged(cfg, col, log)
	if err != nil {
		abort()
		return err
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log.Info("capturing", "interface", c.Interface, "source", live.Kind, "sockets", len(srcs), "workers", pcfg.Workers,
		"filter", c.Filter, "version", version)
	started := time.Now()
	bg.Add(1)
	go reloadOnHUP(&bg, bgDone, hup, j, log)
	bg.Add(1)
	go watchCapture(&bg, bgDone, sn, log)
	if interval > 0 {
		bg.Add(1)
		go logPeriodic(&bg, bgDone, interval, started, sn, ls, log)
	}

	snap, err := sn.Run(context.Background(), live.CaptureSources())
	if ms != nil {
		ms.shutdown()
	}
	el := time.Since(started)
	logStats(log, "final", snap, sumLive(final), capture.Snapshot{}, capture.LiveStats{}, el, sinks)
	printSummary(stderr, snap, el)
	printJudging(stderr, j, sn.OrderStats())
	if d := sumLive(final).Drops; d > 0 {
		fmt.Fprintf(stderr, "tlsentry: kernel dropped %d packets (ring full): raise --ring-size-mb or --workers\n", d)
	}
	printDelivery(stderr, sinks.Delivery())
	if ierr := closeInventory(inv, stderr); ierr != nil && err == nil {
		err = ierr
	}
	return finish(stderr, err, sinks.Delivery(), false, true, func(err error) error { return err })
}

// checkLive checks the live settings and returns the stats log interval.
func checkLive(cfg *Config) (time.Duration, error) {
	c := &cfg.Capture
	switch c.Source {
	case "", "auto", "afpacket", "pcap":
	default:
		return 0, fmt.Errorf("%w: capture.source must be auto, afpacket or pcap, not %q", errUsage, c.Source)
	}
	if c.Snaplen < 0 || c.RingSizeMB < 0 {
		return 0, fmt.Errorf("%w: snaplen and ring size must be >= 0", errUsage)
	}
	interval := time.Minute
	if s := cfg.Metrics.LogInterval; s != "" {
		d, err := time.ParseDuration(s)
		if s == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%w: metrics.log_interval %q is not a duration", errUsage, s)
		}
		interval = d
	}
	return interval, nil
}

// reloadOnHUP reloads the rules on SIGHUP, keeping the old ones on error,
// until done is closed.
func reloadOnHUP(wg *sync.WaitGroup, done <-chan struct{}, hup <-chan os.Signal, j sensor.Judge, log *slog.Logger) {
	defer wg.Done()
	for {
		select {
		case <-done:
			return
		case <-hup:
			r, ok := j.(interface{ Reload() error })
			if !ok {
				log.Warn("SIGHUP: no rules to reload")
				continue
			}
			if err := r.Reload(); err != nil {
				log.Error("SIGHUP: rules not reloaded, the old rules stay in use", "err", err)
			} else {
				log.Info("SIGHUP: rules reloaded")
				for _, w := range judgeWarnings(j) {
					log.Warn("rules: " + w)
				}
			}
		}
	}
}

// serveUnprivileged listens for metrics (when configured) before dropping
// privileges, since the port may be below 1024, and serves them after:
// nothing is answered while the sensor still runs as root.
func serveUnprivileged(cfg *Config, col *sensorCollector, log *slog.Logger) (*metricsServer, error) {
	var ms *metricsServer
	if cfg.Metrics.Addr != "" {
		var err error
		if ms, err = listenMetrics(cfg.Metrics.Addr, col, log); err != nil {
			return nil, fmt.Errorf("metrics: %v", err)
		}
	}
	if u := cfg.Capture.User; u != "" {
		if err := dropPrivileges(u); err != nil {
			if ms != nil {
				ms.close()
			}
			return nil, fmt.Errorf("dropping privileges: %v", err)
		}
		log.Info("privileges dropped", "user", u, "uid", os.Getuid(), "gid", os.Getgid())
	}
	if ms != nil {
		ms.serve()
	}
	return ms, nil
}

// logPeriodic logs the counters every interval until done is closed.
func logPeriodic(wg *sync.WaitGroup, done <-chan struct{}, interval time.Duration, started time.Time, sn *sensor.Sensor, ls *liveStats, log *slog.Logger) {
	defer wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	prev, prevLive, prevT := capture.Snapshot{}, capture.LiveStats{}, started
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s, l := sn.Stats().Snapshot(), sumLive(ls.read())
			logStats(log, "stats", s, l, prev, prevLive, now.Sub(prevT), sn.Sinks())
			prev, prevLive, prevT = s, l, now
		}
	}
}

// drain waits until no packet was read for drainQuiet, at most drainMax.
func drain(st *capture.Stats) {
	deadline := time.Now().Add(drainMax)
	last := st.Snapshot().Get(capture.CPackets)
	quietSince := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
		n := st.Snapshot().Get(capture.CPackets)
		if n != last {
			last, quietSince = n, time.Now()
		} else if time.Since(quietSince) >= drainQuiet {
			return
		}
	}
}

// logStats logs the counters (and rates over el since prev).
func logStats(log *slog.Logger, msg string, s capture.Snapshot, l capture.LiveStats, prev capture.Snapshot, prevLive capture.LiveStats, el time.Duration, sinks sensor.Sinks) {
	pk := s.Get(capture.CPackets) - prev.Get(capture.CPackets)
	by := s.Get(capture.CBytes) - prev.Get(capture.CBytes)
	attrs := []any{
		"packets", s.Get(capture.CPackets),
		"bytes", s.Get(capture.CBytes),
		"kernel_packets", l.Packets,
		"kernel_drops", l.Drops,
		"flows_active", s.ActiveFlows(),
		"flows_evicted", s.Get(capture.CFlowsEvicted),
		"sessions", s.Get(capture.CSessions),
		"parse_errors", s.Get(capture.CParseErrors),
		"decode_failed", s.Get(capture.CDecodeFailed),
	}
	if sec := el.Seconds(); sec > 0 {
		attrs = append(attrs, "pps", int64(float64(pk)/sec), "bps", int64(float64(by)*8/sec),
			"drops_in_interval", l.Drops-prevLive.Drops)
	}
	for _, sk := range sinks {
		ok, failed := sk.Docs()
		attrs = append(attrs, "sink_"+sk.Name()+"_docs", ok, "sink_"+sk.Name()+"_errors", failed)
	}
	log.Info(msg, attrs...)
}
