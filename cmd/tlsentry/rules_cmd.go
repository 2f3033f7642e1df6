package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/sensor"
	"github.com/tlsentry/tlsentry/session"
)

// detectConfig turns the rules section of the configuration into the
// engine's configuration (the sensor and "rules test" share it).
func detectConfig(rc RulesConfig) detect.Config {
	dc := detect.Config{
		RuleFiles:         rc.Files,
		DisableIDs:        rc.DisableIDs,
		DisableCategories: rc.DisableCategories,
		CABundle:          rc.CABundle,
		MaxIntelBytes:     int64(rc.IntelMaxMB) << 20,
		MaxRuleCost:       uint64(max(rc.MaxRuleCost, 0)),
		RuleVars:          rc.Vars,
		Suppress:          rc.suppress(),
		ExpiringWindow:    time.Duration(max(rc.ExpiringDays, 0)) * 24 * time.Hour,
		DoHResolvers:      rc.DoHResolvers,
	}
	for _, l := range rc.Intel {
		dc.Intel = append(dc.Intel, detect.IntelList{Name: l.Name, Type: l.Type, File: l.File})
	}
	return dc
}

// judgeWarnings are the load warnings of a judge's rule engine (intel
// lists that loaded no entry), for the caller to log.
func judgeWarnings(j any) []string {
	if r, ok := j.(interface{ Engine() *detect.Engine }); ok {
		return r.Engine().Warnings()
	}
	return nil
}

// newDetectJudge builds a reloadable engine from the configuration file at
// path (re-read at each Reload, so SIGHUP picks up edited rule files, lists
// and configuration). The sensor calls Reload on SIGHUP and logs its error;
// a bad new set leaves the old one in use.
func newDetectJudge(path string, cfg *Config) (*detect.Reloader, error) {
	first := true
	return detect.NewReloader(func() (detect.Config, error) {
		if !first && path != "" {
			c, err := loadConfig(path)
			if err != nil {
				return detect.Config{}, err
			}
			if err := applyEnv(c, os.Environ()); err != nil {
				return detect.Config{}, err
			}
			if cfg.ruleFlags != nil {
				cfg.ruleFlags(&c.Rules)
				c.ruleFlags = cfg.ruleFlags
			}
			cfg = c
		}
		first = false
		return detectConfig(cfg.Rules), nil
	})
}

// stringsFlag collects a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// runRules implements "tlsentry rules check|test|list".
func runRules(args []string) error { return rulesMain(args, os.Stdout, os.Stderr) }

func rulesMain(args []string, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprint(stderr, `usage:
  tlsentry rules check FILE...                       validate rule files (YAML, or Suricata's format for *.rules)
  tlsentry rules list [--rules FILE]...              list the rules in use
  tlsentry rules test -r CAPTURE [--rules FILE]...   show which rules fire on a capture, and why
        [--no-builtin] [--disable ID]... [--ca-bundle FILE] [--intel TYPE:FILE]... [--config FILE]
`)
		return fmt.Errorf("%w: rules: expected check, list or test", errUsage)
	}
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "check":
		files := args[1:]
		if len(files) == 0 {
			return fmt.Errorf("%w: rules check: no files", errUsage)
		}
		var errs []error
		for _, f := range files {
			if strings.HasSuffix(strings.ToLower(f), ".rules") {
				errs = append(errs, checkSuricata(f, stdout)...)
				continue
			}
			n, err := detect.Check(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintf(stdout, "%s: %d rules OK\n", f, n)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", errUsage, errors.Join(errs...))
		}
		return nil
	case "list", "test":
		return rulesRun(args[0], args[1:], stdout, stderr)
	}
	return usage()
}

// checkSuricata reports a Suricata-format file: the rules loaded, every
// skipped rule (sid, keyword, file:line) on stdout, and every parse error
// as an error (rules check then exits non-zero; the sensor warns and loads
// the others, as Suricata does).
func checkSuricata(f string, stdout io.Writer) []error {
	rep, err := detect.CheckSuricata(nil, f)
	if err != nil {
		return []error{err}
	}
	fmt.Fprintf(stdout, "%s: %d rules OK, %d skipped, %d parse %s\n", f, rep.Loaded, len(rep.Skipped), len(rep.Errors),
		map[bool]string{true: "error", false: "errors"}[len(rep.Errors) == 1])
	for _, s := range rep.Skipped {
		fmt.Fprintln(stdout, "  "+s.String())
	}
	errs := make([]error, len(rep.Errors))
	for i, e := range rep.Errors {
		errs[i] = e
	}
	return errs
}

func rulesRun(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tlsentry rules "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		read, caBundle, configPath string
		noBuiltin                  bool
		ruleFiles, disable, intel  stringsFlag
		workers                    int
	)
	fs.StringVar(&read, "r", "", "capture `FILE` to judge (pcap or pcapng, optionally gzip-compressed)")
	fs.Var(&ruleFiles, "rules", "rule `FILE` (repeatable)")
	fs.BoolVar(&noBuiltin, "no-builtin", false, "leave the built-in rules out")
	fs.Var(&disable, "disable", "switch off a rule `ID` or category (repeatable)")
	fs.StringVar(&caBundle, "ca-bundle", "", "PEM `FILE` of trusted roots (default: the system roots)")
	fs.Var(&intel, "intel", "threat-intel list `TYPE:FILE`, TYPE one of ja3, ja4, cert_sha1, domain, ip (repeatable)")
	fs.StringVar(&configPath, "config", "", "YAML configuration `FILE` (its rules section)")
	fs.IntVar(&workers, "workers", 0, "capture workers (default: number of cores)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	dc := detectConfig(cfg.Rules)
	dc.RuleFiles = append(dc.RuleFiles, ruleFiles...)
	dc.NoBuiltin = noBuiltin
	if caBundle != "" {
		dc.CABundle = caBundle
	}
	for _, l := range intel {
		typ, file, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("%w: --intel %q: want TYPE:FILE", errUsage, l)
		}
		dc.Intel = append(dc.Intel, detect.IntelList{Type: typ, File: file})
	}
	// --disable takes ids and categories alike.
	if len(disable) > 0 {
		probe, err := detect.New(detect.Config{RuleFiles: dc.RuleFiles, NoBuiltin: dc.NoBuiltin, CABundle: dc.CABundle})
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		cats := map[string]bool{}
		for _, r := range probe.Rules() {
			cats[r.Category] = true
		}
		for _, d := range disable {
			if cats[d] {
				dc.DisableCategories = append(dc.DisableCategories, d)
			} else {
				dc.DisableIDs = append(dc.DisableIDs, d)
			}
		}
	}
	e, err := detect.New(dc)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	for _, w := range e.Warnings() {
		fmt.Fprintln(stderr, "tlsentry: warning:", w)
	}
	if cmd == "list" {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCATEGORY\tSEVERITY\tRISK\tRULESET\tNAME")
		for _, r := range e.Rules() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Category, r.Severity, r.RiskScore, r.Ruleset, r.Name)
		}
		return tw.Flush()
	}
	if read == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: rules test: want -r CAPTURE", errUsage)
	}
	return rulesTest(e, read, workers, stdout)
}

type firedAlert struct {
	s *session.Session
	a detect.Alert
}

// rulesTest runs a capture through the sensor (no sinks) and prints every
// alert (in packet-time order) and a count per rule.
func rulesTest(e *detect.Engine, path string, workers int, stdout io.Writer) error {
	src, err := capture.OpenFile(path)
	if err != nil {
		return &inputError{fmt.Errorf("%s: %w", path, err)}
	}
	defer src.Close()
	var (
		mu       sync.Mutex
		alerts   []firedAlert
		sessions int
		valid    = map[string]int{}
	)
	sn := sensor.New(sensor.Config{
		Capture: capture.Config{Workers: workers},
		Judge:   e,
		Ordered: true, // as a replay: suppression does not depend on --workers
		OnVerdict: func(s *session.Session, v detect.Verdict) {
			mu.Lock()
			defer mu.Unlock()
			sessions++
			valid[v.Validation]++
			for _, a := range v.Alerts {
				alerts = append(alerts, firedAlert{s, a})
			}
		},
	})
	if _, err := sn.Run(context.Background(), []capture.Source{src}); err != nil {
		return &inputError{fmt.Errorf("%s: %w", path, err)}
	}
	sort.SliceStable(alerts, func(i, j int) bool {
		a, b := alerts[i], alerts[j]
		if !a.s.Start.Equal(b.s.Start) {
			return a.s.Start.Before(b.s.Start)
		}
		if a.s.Client != b.s.Client {
			return a.s.Client.String() < b.s.Client.String()
		}
		return a.a.Rule.ID < b.a.Rule.ID
	})
	counts := map[string]int{}
	for _, f := range alerts {
		counts[f.a.Rule.ID]++
		line := fmt.Sprintf("%s  %-24s %s %s -> %s  %s", f.s.Start.UTC().Format("2006-01-02T15:04:05.000000Z"),
			f.a.Rule.ID, f.s.Transport, f.s.Client, f.s.Server, f.a.Message)
		if m := f.a.Intel; m != nil {
			line += fmt.Sprintf("  [list %s, entry %s", m.List, m.Entry)
			if m.Reason != "" {
				line += ", " + m.Reason
			}
			line += "]"
		}
		fmt.Fprintln(stdout, line)
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintf(stdout, "\n%d sessions, %d alerts (validation: %d trusted, %d untrusted, %d not checked)\n",
		sessions, len(alerts), valid[detect.ValidationTrusted], valid[detect.ValidationUntrusted], valid[detect.ValidationNotChecked])
	for _, id := range ids {
		fmt.Fprintf(stdout, "  %-24s %d\n", id, counts[id])
	}
	return nil
}
