package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"golang.org/x/term"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/sensor"
	"github.com/tlsentry/tlsentry/session"
)

// newJudge builds the judge from the configuration: the rule engine, which
// re-reads the configuration file (and environment) on Reload.
var newJudge = func(cfg *Config) (sensor.Judge, error) { return newDetectJudge(cfg.path, cfg) }

// lateJudge is a replay's judge while it is built: its rules compile
// (tens of milliseconds of CPU for the built-in set) while the first
// packets are read and reassembled, and the first session to be judged
// waits for them (sensor.Config.JudgeReady).
type lateJudge struct {
	done  chan struct{}
	j     sensor.Judge // set before done closes
	err   error
	warn  sync.Once
	wlogs io.Writer
}

// buildJudge starts building the judge of cfg (newJudge) on its own
// goroutine, from a copy of cfg, which the caller goes on setting up with.
func buildJudge(cfg *Config, stderr io.Writer) *lateJudge {
	l := &lateJudge{done: make(chan struct{}), wlogs: stderr}
	c := *cfg
	go func() {
		defer close(l.done)
		l.j, l.err = newJudge(&c)
	}()
	return l
}

// wait returns the judge once it is built, having logged its warnings.
func (l *lateJudge) wait() (sensor.Judge, error) {
	<-l.done
	if l.err == nil {
		l.warn.Do(func() {
			for _, w := range judgeWarnings(l.j) {
				fmt.Fprintln(l.wlogs, "tlsentry: warning:", w)
			}
		})
	}
	return l.j, l.err
}

// ready is wait for sensor.Config.JudgeReady.
func (l *lateJudge) ready() error {
	_, err := l.wait()
	return err
}

// Evaluate judges s; the sensor calls it only after ready returned nil.
func (l *lateJudge) Evaluate(s *session.Session) detect.Verdict { return l.j.Evaluate(s) }

// newFilter compiles a BPF filter (tcpdump syntax).
var newFilter = func(expr string) (capture.PacketFilter, error) {
	f, err := capture.NewFilter(expr)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// inputError is a problem with the input (a file that is missing, empty,
// garbage, truncated ...): exit status 2. Its message names the file.
type inputError struct{ err error }

func (e *inputError) Error() string        { return e.err.Error() }
func (e *inputError) Unwrap() error        { return e.err }
func (e *inputError) Is(target error) bool { return target == errUsage }

// sensorOptions are the command line of the sensor.
type sensorOptions struct {
	read       string
	write      string
	workers    int
	configPath string
	observer   string
	decodeOnly bool // hidden: read and decode only (the benchmark baseline)
	progress   string
	filter     string
	set        map[string]bool // flags given on the command line
	live       liveFlags       // -i and the live sensor's flags (live.go)
	es         string          // --es URL[,URL...]
	appendTo   bool            // --append: -w appends instead of emptying the file
	flushTime  time.Duration   // --flush-timeout: final flush after the first signal
	rules      ruleFlags       // --rules, --disable, --disable-category, --ca-bundle
	profile    profileFlags    // --cpuprofile, --memprofile (replays)
	detail     string          // --detail lean|full
}

// ruleFlags are the sensor's rule flags; they add to (files, disabled rules)
// or replace (CA bundle) the configuration's rules section.
type ruleFlags struct {
	files, disableIDs, disableCats stringsFlag
	caBundle                       string
	suppress                       *bool // --suppress / --no-suppress; nil: as configured
}

func (r *ruleFlags) register(fs *flag.FlagSet) {
	fs.Var(&r.files, "rules", "also load rule `FILE` (repeatable)")
	fs.Var(&r.disableIDs, "disable", "switch off rule `ID` (repeatable)")
	fs.Var(&r.disableCats, "disable-category", "switch off the rules of `CATEGORY` (repeatable)")
	fs.StringVar(&r.caBundle, "ca-bundle", "", "PEM `FILE` of trusted roots, replacing the system roots")
	fs.BoolFunc("suppress", "apply the rules' suppress and threshold blocks and the suppressions (rules.suppress; the default)", func(string) error {
		r.suppress = ptr(true)
		return nil
	})
	fs.BoolFunc("no-suppress", "every match is an alert (forensics): suppress and threshold blocks and suppressions are off; wins over rules.suppress", func(string) error {
		r.suppress = ptr(false)
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

func (r ruleFlags) apply(rc *RulesConfig) {
	rc.Files = append(rc.Files, r.files...)
	rc.DisableIDs = append(rc.DisableIDs, r.disableIDs...)
	rc.DisableCategories = append(rc.DisableCategories, r.disableCats...)
	if r.caBundle != "" {
		rc.CABundle = r.caBundle
	}
	if r.suppress != nil {
		rc.Suppress = ptr(*r.suppress)
	}
}

func parseSensorFlags(args []string, stderr io.Writer) (*sensorOptions, error) {
	o := &sensorOptions{set: map[string]bool{}}
	fs := flag.NewFlagSet("tlsentry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.read, "r", "", "read packets from `FILE` (pcap or pcapng, optionally gzip-compressed)")
	fs.StringVar(&o.write, "w", "", "write NDJSON documents to `FILE` (default stdout); a replay empties it first unless --append")
	fs.BoolVar(&o.appendTo, "append", false, "-w appends to the file instead of emptying it (the live sensor always appends)")
	fs.DurationVar(&o.flushTime, "flush-timeout", defaultFlushTimeout, "after SIGINT/SIGTERM, deliver what is queued for at most `DURATION`, then spool the rest (a second signal: at once)")
	fs.IntVar(&o.workers, "workers", 0, "worker goroutines (default: number of cores)")
	fs.StringVar(&o.configPath, "config", "", "YAML configuration `FILE`")
	fs.StringVar(&o.observer, "observer-name", "", "observer.name in documents")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal), always, never")
	fs.BoolVar(&o.decodeOnly, "decode-only", false, "benchmark baseline: read and decode packets, nothing else")
	fs.StringVar(&o.detail, "detail", "", "documents: `lean` (default: no field that repeats what others carry) or full (output.detail)")
	fs.StringVar(&o.es, "es", "", "also ship documents to Elasticsearch at `URL[,URL...]` (credentials only in the config file or ELASTICSEARCH_* environment)")
	o.rules.register(fs)
	o.live.register(fs)
	o.profile.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tlsentry -r FILE [-w FILE] [--workers N] [--config FILE] [--observer-name NAME] [BPF filter ...]")
		fmt.Fprintln(stderr, "       tlsentry -i IFACE [-w FILE] [--workers N] [--metrics-addr ADDR] [--user NAME] [--config FILE] [BPF filter ...]")
		fmt.Fprintln(stderr, "settings: --config file < TLSENTRY_* environment < flags")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name == "decode-only" {
				return
			}
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(stderr, "  -%s %s\n    \t%s\n", f.Name, name, usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	o.filter = strings.Join(fs.Args(), " ")
	switch o.progress {
	case "auto", "always", "never":
	default:
		return nil, fmt.Errorf("%w: -progress must be auto, always or never", errUsage)
	}
	if o.workers < 0 {
		return nil, fmt.Errorf("%w: --workers must be >= 0", errUsage)
	}
	if o.flushTime <= 0 {
		return nil, fmt.Errorf("%w: --flush-timeout must be > 0", errUsage)
	}
	return o, nil
}

// runSensor replays a file (-r). A live source (-i) plugs in at openSource.
func runSensor(args []string) error {
	return sensorMain(args, os.Stdout, os.Stderr)
}

func sensorMain(args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseSensorFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	cfg, err := loadConfig(o.configPath)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := applyEnv(cfg, os.Environ()); err != nil { // the environment wins over the file
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// flags win over the file and the environment
	if err := o.live.apply(cfg); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.ruleFlags = o.rules.apply
	cfg.ruleFlags(&cfg.Rules)
	if o.set["observer-name"] {
		cfg.Observer.Name = o.observer
	}
	if o.set["workers"] {
		cfg.Capture.Workers = o.workers
	}
	if o.set["w"] {
		cfg.Output.File = o.write
	}
	if o.set["detail"] {
		cfg.Output.Detail = o.detail
	}
	if _, err := output.ParseDetail(cfg.Output.Detail); err != nil {
		return fmt.Errorf("%w: output.detail %q: want lean or full", errUsage, cfg.Output.Detail)
	}
	if v := cfg.Output.FlushTimeout; v != "" && !o.set["flush-timeout"] {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: output.flush_timeout %q is not a positive duration", errUsage, v)
		}
		o.flushTime = d
	}
	if o.filter != "" {
		cfg.Capture.Filter = o.filter
	}
	if o.read != "" && o.live.vals["capture.interface"] != "" {
		return fmt.Errorf("%w: give -r FILE or -i IFACE, not both", errUsage)
	}
	if o.read == "" && cfg.Capture.Interface != "" {
		return liveMain(o, cfg, stdout, stderr)
	}
	if o.read == "" {
		return fmt.Errorf("%w: nothing to read: give -r FILE or -i IFACE", errUsage)
	}

	// The first SIGINT/SIGTERM stops reading and bounds the final flush;
	// a second one ends the flush at once (see stopper).
	ctx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	stop := newStopper(o.flushTime, stderr, func(os.Signal) { stopRun() })
	defer stop.close()

	src, err := openSource(o.read)
	if err != nil {
		return &inputError{err}
	}
	defer src.Close()

	var filter capture.PacketFilter
	if cfg.Capture.Filter != "" {
		f, err := newFilter(cfg.Capture.Filter)
		if err != nil {
			return fmt.Errorf("%w: filter %q: %v", errUsage, cfg.Capture.Filter, err)
		}
		filter = f
	}

	stopProfile, err := o.profile.start()
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); perr != nil && err == nil {
			err = perr
		}
	}()

	showProgress := o.progress == "always" ||
		(o.progress == "auto" && isTerminal(stderr))
	started := time.Now()

	if o.decodeOnly {
		n, bytes, failed, err := sensor.DecodeOnly(src, filter)
		el := time.Since(started)
		fmt.Fprintf(stderr, "tlsentry: decode only: %d packets, %s, %d not decoded, %s (%s)\n",
			n, humanBytes(bytes), failed, el.Round(time.Millisecond), rates(n, bytes, el))
		if err != nil {
			return &inputError{err}
		}
		return nil
	}

	lj := buildJudge(cfg, stderr)
	pcfg, err := cfg.Capture.pipeline(cfg.Capture.Workers, filter)
	if err != nil {
		return err
	}
	esLog := log.New(stderr, "tlsentry: ", 0) // the sink's messages start with "elasticsearch: "
	sinks, err := openSinks(cfg, o.es, false, o.appendTo, stdout, esLog.Printf)
	if err != nil {
		return err
	}
	if cfg.Rules.OrderMemoryMB < 0 {
		sinks.Close(ctx)
		return fmt.Errorf("%w: rules.order_memory_mb %d is negative", errUsage, cfg.Rules.OrderMemoryMB)
	}
	inv, err := openInventory(cfg, o.es)
	if err != nil {
		sinks.Close(ctx)
		return err
	}
	var bar *progressBar
	scfg := sensor.Config{
		Capture:      pcfg,
		Judge:        lj,
		JudgeReady:   lj.ready,
		ObserverName: cfg.Observer.Name,
		Version:      version,
		Namespace:    esNamespace(cfg),
		Detail:       output.Detail(cfg.Output.Detail),
		Sinks:        sinks,
		FlushCtx:     stop.Flush(),
		// a replay judges in packet-time order: its documents do not
		// depend on the number of workers, suppression included
		Ordered:     true,
		OrderMemory: int64(cfg.Rules.OrderMemoryMB) << 20,
		CaptureDone: func() {
			if bar != nil {
				bar.stop()
			}
		},
	}
	if inv != nil {
		scfg.Stages = []sensor.Stage{inv}
	}
	sn := sensor.New(scfg)
	if showProgress {
		bar = startProgress(stderr, src, sn.Stats())
	}
	snap, err := sn.Run(ctx, []capture.Source{src})
	j, jerr := lj.wait()
	if jerr != nil { // the rules did not compile: nothing was judged or written
		closeInventory(inv, stderr)
		return jerr
	}
	printSummary(stderr, snap, time.Since(started))
	printJudging(stderr, j, sn.OrderStats())
	printDelivery(stderr, sinks.Delivery())
	if ierr := closeInventory(inv, stderr); ierr != nil && err == nil {
		err = ierr
	}
	// Interrupted: the signal came before the end of the input (not
	// during the final flush).
	interrupted := stop.Signal() != nil && !src.eof.Load()
	if stop.Signal() != nil && errors.Is(err, context.Canceled) {
		err = nil // the pipeline's answer to the stop
	}
	if interrupted {
		fmt.Fprintf(stderr, "tlsentry: interrupted (%v) before the end of %s\n", stop.Signal(), o.read)
	}
	return finish(stderr, err, sinks.Delivery(), interrupted, false, func(err error) error { return &inputError{err} })
}

// source is what the sensor reads: a capture.Source that can tell progress.
type source interface {
	capture.Source
	Size() int64   // total bytes, or -1 when unknown (live)
	Offset() int64 // bytes read so far
}

// openSource opens -r FILE. A live interface plugs in here too.
func openSource(path string) (*progressSource, error) {
	fs, err := capture.OpenFile(path)
	if err != nil {
		return nil, err
	}
	return &progressSource{source: fs}, nil
}

// progressSource publishes the read offset for the progress bar (read from
// another goroutine) without racing with the reader.
type progressSource struct {
	source
	n   uint32
	off atomic.Int64
	eof atomic.Bool // the input was read to its end
}

func (s *progressSource) ReadPacket() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.source.ReadPacket()
	if s.n++; s.n%256 == 0 || err != nil {
		if errors.Is(err, io.EOF) {
			s.eof.Store(true)
		}
		s.off.Store(s.source.Offset())
	}
	return data, ci, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar redraws one line on stderr while a file is read.
type progressBar struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, src *progressSource, st *capture.Stats) *progressBar {
	b := &progressBar{done: make(chan struct{})}
	start := time.Now()
	size := src.Size()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r"+progressLine(src.off.Load(), size, st.Snapshot(), time.Since(start))+"\033[K")
			}
		}
	}()
	return b
}

func (b *progressBar) stop() {
	close(b.done)
	b.wg.Wait()
}

// progressLine renders "[=====>     ]  45%  1.2 Mpkt/s  110 MB/s  ETA 0:12".
func progressLine(off, size int64, s capture.Snapshot, el time.Duration) string {
	const width = 30
	var sb strings.Builder
	frac := -1.0
	if size > 0 {
		frac = float64(off) / float64(size)
		if frac > 1 {
			frac = 1
		}
	}
	if frac >= 0 {
		fill := int(frac * width)
		sb.WriteByte('[')
		for i := range width {
			switch {
			case i < fill:
				sb.WriteByte('=')
			case i == fill:
				sb.WriteByte('>')
			default:
				sb.WriteByte(' ')
			}
		}
		fmt.Fprintf(&sb, "] %3.0f%%  ", frac*100)
	}
	sb.WriteString(rates(s.Get(capture.CPackets), s.Get(capture.CBytes), el))
	fmt.Fprintf(&sb, "  %d sessions", s.Get(capture.CSessions))
	if frac > 0.001 && el > 0 {
		eta := time.Duration(float64(el) * (1 - frac) / frac)
		fmt.Fprintf(&sb, "  ETA %s", fmtDuration(eta))
	}
	return sb.String()
}

func fmtDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func rates(packets, bytes uint64, el time.Duration) string {
	sec := el.Seconds()
	if sec <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f Mpkt/s, %.1f MB/s", float64(packets)/sec/1e6, float64(bytes)/sec/1e6)
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// printJudging writes what the rules held back, per rule, and what the
// judging stage could not keep in order.
func printJudging(w io.Writer, j sensor.Judge, st sensor.OrderStats) {
	if line := suppressedLine(j); line != "" {
		fmt.Fprintf(w, "tlsentry: %s\n", line)
	}
	if st.ReleasedEarly > 0 || st.ArrivedLate > 0 {
		fmt.Fprintf(w, "tlsentry: judging order not kept for %d sessions: %d judged early (rules.order_memory_mb %d MiB full), %d arrived late\n",
			st.ReleasedEarly+st.ArrivedLate, st.ReleasedEarly, st.Limit>>20, st.ArrivedLate)
	}
}

// suppressedLine is "suppressed 1234 matches: cert.untrusted 1200, ..."
// (rules by count, then id), or "" when nothing was suppressed.
func suppressedLine(j sensor.Judge) string {
	e, ok := j.(interface{ Engine() *detect.Engine })
	if !ok {
		return ""
	}
	m := e.Engine().SuppressedCounts()
	var total uint64
	ids := make([]string, 0, len(m))
	for id, n := range m {
		if n > 0 {
			ids = append(ids, id)
			total += n
		}
	}
	if total == 0 {
		return ""
	}
	sort.Slice(ids, func(a, b int) bool {
		if m[ids[a]] != m[ids[b]] {
			return m[ids[a]] > m[ids[b]]
		}
		return ids[a] < ids[b]
	})
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s %d", id, m[id])
	}
	return fmt.Sprintf("suppressed %d matches (--no-suppress: every match alerts): %s", total, strings.Join(parts, ", "))
}

// printSummary writes the end-of-run line(s) on stderr.
func printSummary(w io.Writer, s capture.Snapshot, el time.Duration) {
	fmt.Fprintf(w, "tlsentry: %d packets, %s, %d flows, %d TLS sessions, %d QUIC sessions, %d non-TLS on 443, %d parse errors, %s (%s)\n",
		s.Get(capture.CPackets), humanBytes(s.Get(capture.CBytes)), s.Get(capture.CFlowsCreated),
		s.Get(capture.CSessionsTLS), s.Get(capture.CSessionsQUIC), s.Get(capture.CSessionsNonTLS443), s.Get(capture.CParseErrors),
		el.Round(time.Millisecond), rates(s.Get(capture.CPackets), s.Get(capture.CBytes), el))
	var extra []string
	for _, c := range []capture.Counter{capture.CDecodeFailed, capture.CFiltered, capture.CReasmGaps,
		capture.CReasmOverlaps, capture.CFlowsEvicted, capture.CReasmOOODropped} {
		if v := s.Get(c); v > 0 {
			extra = append(extra, fmt.Sprintf("%s %d", c.Name(), v))
		}
	}
	if len(extra) > 0 {
		fmt.Fprintf(w, "tlsentry: %s\n", strings.Join(extra, ", "))
	}
	if line := captureSummary(s); line != "" {
		fmt.Fprintf(w, "tlsentry: %s\n", line)
	}
}
