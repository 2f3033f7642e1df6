package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/sensor"
	"github.com/tlsentry/tlsentry/session"
)

// The test binary doubles as the tlsentry binary (and as a tiny /metrics
// client), so the live tests run the real command in a network namespace
// with "ip netns exec" without building anything.
const roleEnv = "TLSENTRY_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "sensor":
		if f := os.Getenv(judgeEnv); f != "" {
			j := &fileJudge{path: f}
			newJudge = func(*Config) (sensor.Judge, error) { return j, nil }
		}
		os.Exit(run(os.Args[1:]))
	case "scrape":
		resp, err := http.Get(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// --- configuration: file, environment, flags -------------------------------

func TestConfigUnknownKeyNamesKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, key, line string }{
		{"capture:\n  interface: eth1\n  ring_size: 64\n", "ring_size", "line 3"},
		{"observer:\n  name: a\nmetrics:\n  adr: :9100\n", "adr", "line 4"},
		{"capturee:\n  interface: eth1\n", "capturee", "line 1"},
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(p)
		if err == nil {
			t.Fatalf("%q: unknown key accepted", tc.yaml)
		}
		for _, want := range []string{tc.key, tc.line, p} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q does not name %q", tc.yaml, err, want)
			}
		}
		// and the command fails with a usage error
		if code := run([]string{"--config", p, "-r", "x.pcap"}); code != 2 {
			t.Errorf("%q: exit %d, want 2", tc.yaml, code)
		}
	}
}

func TestConfigKeysEnvAndFlagsAgree(t *testing.T) {
	keys := configKeys()
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
		if _, err := field(&Config{}, k); err != nil {
			t.Errorf("key %s: %v", k, err)
		}
	}
	for _, want := range []string{"capture.interface", "capture.source", "capture.ring_size_mb", "capture.user",
		"capture.promiscuous", "metrics.addr", "metrics.log_interval", "elasticsearch.urls", "output.file", "observer.name"} {
		if !seen[want] {
			t.Errorf("key %s missing from configKeys", want)
		}
	}
	for _, f := range liveFlagKeys {
		if !seen[f.key] {
			t.Errorf("flag -%s sets %s, which is not a configuration key", f.flag, f.key)
		}
	}
	if got := envName("capture.ring_size_mb"); got != "TLSENTRY_CAPTURE_RING_SIZE_MB" {
		t.Errorf("envName = %s", got)
	}
}

func TestConfigPrecedence(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("capture:\n  snaplen: 100\n  source: pcap\n  promiscuous: true\nelasticsearch:\n  urls: [http://a:9200]\n"), 0o600)
	load := func(env []string, args ...string) *Config {
		t.Helper()
		o, err := parseSensorFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := applyEnv(cfg, env); err != nil {
			t.Fatal(err)
		}
		if err := o.live.apply(cfg); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	env := []string{"TLSENTRY_CAPTURE_SNAPLEN=200", "TLSENTRY_ELASTICSEARCH_URLS=http://b:9200, http://c:9200",
		"TLSENTRY_CAPTURE_PROMISCUOUS=false", "TLSENTRY_SKIP_ES=1", "PATH=/bin"}
	if c := load(nil); c.Capture.Snaplen != 100 || c.Capture.Source != "pcap" || !*c.Capture.Promiscuous {
		t.Errorf("file: %+v", c.Capture)
	}
	c := load(env)
	if c.Capture.Snaplen != 200 || c.Capture.Source != "pcap" || *c.Capture.Promiscuous {
		t.Errorf("file+env: %+v", c.Capture)
	}
	if fmt.Sprint(c.ES.URLs) != "[http://b:9200 http://c:9200]" {
		t.Errorf("env list: %q", c.ES.URLs)
	}
	c = load(env, "-snaplen", "300", "-promisc", "-i", "eth9", "-metrics-addr", ":9100")
	if c.Capture.Snaplen != 300 || !*c.Capture.Promiscuous || c.Capture.Interface != "eth9" || c.Metrics.Addr != ":9100" {
		t.Errorf("file+env+flags: %+v %+v", c.Capture, c.Metrics)
	}
	c = load(env, "-promisc=false")
	if *c.Capture.Promiscuous {
		t.Error("-promisc=false ignored")
	}

	err := applyEnv(&Config{}, []string{"TLSENTRY_CAPTURE_WORKERS=many"})
	if err == nil || !strings.Contains(err.Error(), "TLSENTRY_CAPTURE_WORKERS") {
		t.Errorf("bad env value: %v", err)
	}
	if code := run([]string{"-snaplen", "x", "-i", "lo"}); code != 2 {
		t.Errorf("bad flag value: exit %d, want 2", code)
	}
	if code := run([]string{"-r", "x.pcap", "-i", "lo"}); code != 2 {
		t.Errorf("-r and -i: exit %d, want 2", code)
	}
	if code := run([]string{"-i", "lo", "-source", "dpdk"}); code != 2 {
		t.Errorf("bad source: exit %d, want 2", code)
	}
}

// --- live: a network namespace, a veth pair, tcpreplay ---------------------

// needLive skips unless the test can make namespaces and replay (root,
// iproute2, tcpreplay). Under CI (CI=true) it fails instead: CI runs it.
func needLive(t *testing.T) {
	t.Helper()
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if os.Geteuid() != 0 {
		skip("live test: needs root (network namespace, AF_PACKET)")
	}
	for _, tool := range []string{"ip", "tcpreplay"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("live test: %s not installed", tool)
		}
	}
	if testing.Short() {
		t.Skip("live test: -short")
	}
}

var nsSeq atomic.Int32

// netns is a network namespace with a veth pair: packets replayed out of
// "va" arrive on "vb", where the sensor captures.
type netns struct{ name string }

func newNetns(t *testing.T) *netns {
	t.Helper()
	n := &netns{name: fmt.Sprintf("tlsentry-live-%d-%d", os.Getpid(), nsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.name).Run() })
	n.ip(t, "link", "add", "va", "type", "veth", "peer", "name", "vb")
	for _, dev := range []string{"va", "vb"} {
		n.ip(t, "link", "set", dev, "mtu", "9000")
		// no IPv6 router solicitations or MLD reports: only replayed packets on the wire
		n.exec(t, "sysctl", "-qw", "net.ipv6.conf."+dev+".disable_ipv6=1")
	}
	for _, dev := range []string{"lo", "va", "vb"} {
		n.ip(t, "link", "set", dev, "up")
	}
	return n
}

func (n *netns) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

func (n *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

func (n *netns) exec(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := n.command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
	return string(out)
}

// sensor is a running "tlsentry -i vb" in a namespace.
type liveSensor struct {
	ns      *netns
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	out     string // NDJSON output file
	metrics string // http://.../metrics inside the namespace
	done    chan error
}

const metricsAddr = "127.0.0.1:9464" // inside the test's own namespace: always free

func startSensor(t *testing.T, n *netns, args ...string) *liveSensor {
	t.Helper()
	return startSensorEnv(t, n, nil, args...)
}

func startSensorEnv(t *testing.T, n *netns, env []string, args ...string) *liveSensor {
	t.Helper()
	s := &liveSensor{ns: n, out: filepath.Join(t.TempDir(), "live.ndjson"), metrics: "http://" + metricsAddr + "/metrics", done: make(chan error, 1)}
	os.Chmod(filepath.Dir(s.out), 0o777) // the sensor may run as nobody; it opens the file before dropping privileges anyway
	args = append([]string{"-i", "vb", "-w", s.out, "-metrics-addr", metricsAddr, "-stats-interval", "0"}, args...)
	s.cmd = n.command(os.Args[0], args...)
	s.cmd.Env = append(append(os.Environ(), roleEnv+"=sensor"), env...)
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.scrapeErr(); err == nil {
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("sensor exited before serving metrics: %v\n%s", err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sensor serves no metrics after 10s\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// scrapeErr reads /metrics (from inside the namespace): every sample, with
// the samples of one name summed over their labels under the bare name too.
func (s *liveSensor) scrapeErr() (map[string]float64, error) {
	cmd := s.ns.command(os.Args[0], s.metrics)
	cmd.Env = append(os.Environ(), roleEnv+"=scrape")
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		g := sampleRE.FindStringSubmatch(line)
		if g == nil {
			return nil, fmt.Errorf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q", line)
		}
		if g[2] != "" {
			m[g[1]+g[2]] = v
			m[g[1]] += v
		} else {
			m[g[1]] = v
		}
	}
	return m, nil
}

func (s *liveSensor) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	m, err := s.scrapeErr()
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, s.stderr.String())
	}
	return m
}

// waitRead waits until the sensor has read every packet the kernel gave
// its sockets, and at least min of them.
func (s *liveSensor) waitRead(t *testing.T, min float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := s.scrape(t)
		k := m["tlsentry_kernel_packets_total"] - m["tlsentry_kernel_drops_total"]
		if k >= min && m["tlsentry_packets_total"] == k {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("sensor read %v packets, kernel delivered %v, want >= %v\n%s", m["tlsentry_packets_total"], k, min, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *liveSensor) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("sensor exit after SIGTERM: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("sensor still running 15s after SIGTERM\n%s", s.stderr.String())
	}
}

var (
	tcpreplayOK   = regexp.MustCompile(`Successful packets:\s+(\d+)`)
	tcpreplayFail = regexp.MustCompile(`Failed packets:\s+(\d+)`)
)

// replay sends a capture out of va with tcpreplay and returns how many
// packets went out.
func replay(t *testing.T, n *netns, file string, rate ...string) int {
	t.Helper()
	out := n.exec(t, "tcpreplay", append(append([]string{"-i", "va"}, rate...), file)...)
	ok, fail := tcpreplayOK.FindStringSubmatch(out), tcpreplayFail.FindStringSubmatch(out)
	if ok == nil || fail == nil {
		t.Fatalf("tcpreplay output not understood:\n%s", out)
	}
	if fail[1] != "0" {
		t.Fatalf("tcpreplay %s: %s packets failed:\n%s", file, fail[1], out)
	}
	sent, _ := strconv.Atoi(ok[1])
	return sent
}

// liveNormalize is normalize without what replay changes: packet times
// (tcpreplay sends at its own rate, stamped now), the event.id that hashes
// them (and an alert's tlsentry.session.id, its session's event.id), and the alerts of certificate rules, which are judged at packet time
// (a certificate valid in 2024, when the capture was made, has expired by
// the time it is replayed), like tlsentry.server.validation. Lines are sorted.
func liveNormalize(t *testing.T, raw []byte) []string {
	t.Helper()
	var lines []string
	for i, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", i+1, err)
		}
		if lookup(m, "event.dataset") == "tlsentry.alert" && lookup(m, "rule.category") == "certificate" {
			continue
		}
		for _, p := range []string{"@timestamp", "event.id", "tlsentry.session.id", "event.start", "event.end", "event.duration", "event.created", "observer.hostname", "tlsentry.server.validation"} {
			deletePath(m, p)
		}
		b, _ := json.Marshal(m)
		lines = append(lines, string(b))
	}
	sort.Strings(lines)
	return lines
}

func deletePath(m map[string]any, path string) {
	delete(m, path)
	parts := strings.Split(path, ".")
	cur := m
	for _, p := range parts[:len(parts)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
	delete(cur, parts[len(parts)-1])
}

// offlineDocs runs tlsentry -r over the capture.
func offlineDocs(t *testing.T, file string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "offline.ndjson")
	if code := run([]string{"-r", file, "-w", out, "-progress", "never", "-workers", "1"}); code != 0 {
		t.Fatalf("tlsentry -r %s exited %d", file, code)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return liveNormalize(t, raw)
}

// liveCaptures are the captures replayed live: every Ethernet capture in
// testdata (generated by the project) and a few from the shared corpus.
func liveCaptures(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/*.pcap")
	for _, f := range []string{"zeek/tls__ssl-v2.pcap", "flowtest/tls_ssl30.pcap", "zeek/tls__tls1.2.pcap",
		"suricata-verify/tls__tls13-draft28__tls13_draft28.pcap", "suricata-verify/tls__tls-certs-alert__input.pcap"} {
		p := filepath.Join("../../../shared/corpus/pcaps", f)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	var out []string
	for _, f := range files {
		src, err := capture.OpenFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		lt := src.LinkType()
		src.Close()
		if lt == layers.LinkTypeEthernet { // what tcpreplay can put on a veth unchanged
			out = append(out, f)
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d captures to replay", len(out))
	}
	return out
}

// TestLiveReplayMatchesOffline captures with tlsentry -i on a veth end while
// tcpreplay sends each capture into the other end at a set rate, stops the
// sensor with SIGTERM, and compares its documents with tlsentry -r over the
// same capture. Workers alternate between 1 (one socket) and 2 (AF_PACKET
// fanout); the sensor drops privileges to nobody.
func TestLiveReplayMatchesOffline(t *testing.T) {
	needLive(t)
	n := newNetns(t)
	for i, file := range liveCaptures(t) {
		workers := 1 + i%2
		t.Run(fmt.Sprintf("%s/workers=%d", filepath.Base(file), workers), func(t *testing.T) {
			want := offlineDocs(t, file)
			s := startSensor(t, n, "-workers", strconv.Itoa(workers), "-user", "nobody")
			if i == 0 {
				checkUnprivileged(t, s.cmd.Process.Pid)
			}
			before := s.scrape(t)
			if before["tlsentry_packets_total"] != 0 || before["tlsentry_capture_sockets"] != float64(workers) {
				t.Fatalf("fresh sensor: packets %v, sockets %v", before["tlsentry_packets_total"], before["tlsentry_capture_sockets"])
			}
			sent := replay(t, n, file, "--pps=2000")
			min := float64(sent)
			if workers > 1 && strings.Contains(file, "fragments") {
				min = 1 // fanout reassembles IPv4 fragments in the kernel: fewer, larger packets
			}
			m := s.waitRead(t, min)
			if workers == 1 && m["tlsentry_packets_total"] != float64(sent) {
				t.Errorf("read %v packets, sent %d", m["tlsentry_packets_total"], sent)
			}
			if m["tlsentry_kernel_drops_total"] != 0 {
				t.Errorf("%v kernel drops at 2000 pps", m["tlsentry_kernel_drops_total"])
			}
			s.stop(t)
			raw, err := os.ReadFile(s.out)
			if err != nil {
				t.Fatal(err)
			}
			got := liveNormalize(t, raw)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("live documents differ from offline ones\nlive (%d):\n%s\noffline (%d):\n%s\nstderr:\n%s",
					len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"), s.stderr.String())
			}
			checkEncapsulation(t, file, got)
		})
	}
}

// checkEncapsulation: mirrored traffic wrapped in a tunnel or tagged yields
// the inner session (the inner addresses) and network.vlan.id.
func checkEncapsulation(t *testing.T, file string, docs []string) {
	t.Helper()
	base := filepath.Base(file)
	var wantVLAN string
	switch {
	case strings.Contains(base, "gre-vxlan-vlan"):
		wantVLAN = "42" // the tag inside the VXLAN payload (internal/cmd/gentestdata)
	case strings.Contains(base, "vlan"):
		wantVLAN = "100"
	case strings.Contains(base, "qinq"):
		wantVLAN = "200"
	case strings.Contains(base, "erspan"), strings.Contains(base, "geneve"), strings.Contains(base, "vxlan"):
	default:
		return
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no session", base)
	}
	var m map[string]any
	json.Unmarshal([]byte(docs[0]), &m)
	if src, dst := lookup(m, "source.ip"), lookup(m, "destination.ip"); src != "192.0.2.10" || dst != "198.51.100.20" {
		t.Errorf("%s: session %v -> %v, want the inner 192.0.2.10 -> 198.51.100.20", base, src, dst)
	}
	if got := lookup(m, "network.vlan.id"); wantVLAN != "" && got != wantVLAN {
		t.Errorf("%s: network.vlan.id = %v, want %s", base, got, wantVLAN)
	}
	if lookup(m, "tls.version") == nil && lookup(m, "network.protocol") != "tls" {
		t.Errorf("%s: inner session is not TLS: %s", base, docs[0])
	}
}

// checkUnprivileged checks that every thread of the sensor runs as nobody.
func checkUnprivileged(t *testing.T, pid int) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	for _, st := range tasks {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // thread gone
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:") {
				for _, id := range strings.Fields(line)[1:] {
					if id != "65534" {
						t.Errorf("%s: %s (want every id 65534, nobody)", st, line)
					}
				}
			}
		}
	}
}

// TestLiveMetrics scrapes /metrics while traffic flows: counters move by
// exactly what was sent, sessions appear once flushed, and a deliberately
// tiny ring under tcpreplay --topspeed shows kernel drops.
func TestLiveMetrics(t *testing.T) {
	needLive(t)
	n := newNetns(t)
	file := "../../testdata/tls12-resumption-ticket.pcap"
	t.Run("counters", func(t *testing.T) {
		s := startSensor(t, n, "-workers", "1", "-stats-interval", "100ms")
		m0 := s.scrape(t)
		for _, name := range []string{"tlsentry_packets_total", "tlsentry_bytes_total", "tlsentry_kernel_drops_total",
			"tlsentry_kernel_packets_total", "tlsentry_flows_active", "tlsentry_flows_evicted_total", "tlsentry_sessions_total",
			"tlsentry_parse_errors_total", `tlsentry_sink_documents_total{result="ok",sink="ndjson"}`, "tlsentry_build_info",
			"tlsentry_cert_cache_entries", "tlsentry_cert_cache_capacity", "tlsentry_cert_cache_der_bytes", "tlsentry_cert_cache_hits_total",
			"tlsentry_cert_cache_misses_total", "tlsentry_cert_cache_evictions_total", "tlsentry_rules_limiter_keys",
			"tlsentry_rules_limiter_bytes", "tlsentry_rules_limiter_limit_bytes", "tlsentry_rules_limiter_evictions_total",
			"tlsentry_rules_limiter_lost_total"} {
			if _, ok := m0[name]; !ok {
				t.Errorf("metric %s missing", name)
			}
		}
		sent := replay(t, n, file, "--pps=1000")
		m1 := s.waitRead(t, float64(sent))
		src, _ := capture.OpenFile(file)
		var wire float64
		for {
			_, ci, err := src.ReadPacket()
			if err != nil {
				break
			}
			wire += float64(ci.Length)
		}
		src.Close()
		if d := m1["tlsentry_packets_total"] - m0["tlsentry_packets_total"]; d != float64(sent) {
			t.Errorf("packets moved by %v, sent %d", d, sent)
		}
		if d := m1["tlsentry_bytes_total"] - m0["tlsentry_bytes_total"]; d != wire {
			t.Errorf("bytes moved by %v, sent %v", d, wire)
		}
		if m1["tlsentry_kernel_packets_total"] != float64(sent) || m1["tlsentry_kernel_drops_total"] != 0 {
			t.Errorf("kernel: %v packets, %v drops; sent %d", m1["tlsentry_kernel_packets_total"], m1["tlsentry_kernel_drops_total"], sent)
		}
		if m1["tlsentry_flows_created_total"] < 1 {
			t.Errorf("no flow created")
		}
		// second round: the same capture again, counters double
		sent2 := replay(t, n, file, "--pps=1000")
		m2 := s.waitRead(t, float64(sent+sent2))
		if m2["tlsentry_packets_total"] != float64(sent+sent2) || m2["tlsentry_bytes_total"] != 2*wire {
			t.Errorf("after two replays: %v packets, %v bytes; want %d, %v", m2["tlsentry_packets_total"], m2["tlsentry_bytes_total"], sent+sent2, 2*wire)
		}
		// sessions are emitted when flows end: both connections closed (FIN), so by now
		if m2["tlsentry_sessions_total"] < 2 || m2[`tlsentry_sink_documents_total{result="ok",sink="ndjson"}`] < m2["tlsentry_sessions_total"] {
			t.Errorf("sessions %v, documents %v", m2["tlsentry_sessions_total"], m2[`tlsentry_sink_documents_total{result="ok",sink="ndjson"}`])
		}
		// the server certificate cache: one chain, parsed once; the second
		// round's full handshake (a fourth session) finds it cached
		if m2["tlsentry_cert_cache_capacity"] != 4096 || m2["tlsentry_cert_cache_entries"] < 1 ||
			m2["tlsentry_cert_cache_entries"] != m2["tlsentry_cert_cache_misses_total"]-m2["tlsentry_cert_cache_evictions_total"] ||
			m2["tlsentry_cert_cache_der_bytes"] < 100*m2["tlsentry_cert_cache_entries"] ||
			m2["tlsentry_cert_cache_der_bytes"] > (64<<10)*m2["tlsentry_cert_cache_entries"] ||
			(m2["tlsentry_sessions_total"] >= 4 && m2["tlsentry_cert_cache_hits_total"] < 1) {
			t.Errorf("cert cache: capacity %v, entries %v, DER bytes %v, hits %v, misses %v, evictions %v (%v sessions)",
				m2["tlsentry_cert_cache_capacity"], m2["tlsentry_cert_cache_entries"], m2["tlsentry_cert_cache_der_bytes"],
				m2["tlsentry_cert_cache_hits_total"], m2["tlsentry_cert_cache_misses_total"], m2["tlsentry_cert_cache_evictions_total"],
				m2["tlsentry_sessions_total"])
		}
		// the suppress and threshold state: the default budget, a few keys
		if keys, b := m2["tlsentry_rules_limiter_keys"], m2["tlsentry_rules_limiter_bytes"]; m2["tlsentry_rules_limiter_limit_bytes"] != detect.DefaultSuppressMemory ||
			(keys == 0) != (b == 0) || b > 1024*keys || m2["tlsentry_rules_limiter_evictions_total"] != 0 || m2["tlsentry_rules_limiter_lost_total"] != 0 {
			t.Errorf("limiter: %v keys, %v bytes, limit %v, evictions %v, lost %v", keys, b, m2["tlsentry_rules_limiter_limit_bytes"],
				m2["tlsentry_rules_limiter_evictions_total"], m2["tlsentry_rules_limiter_lost_total"])
		}
		s.stop(t)
		if !strings.Contains(s.stderr.String(), "msg=final") {
			t.Errorf("no final stats line:\n%s", s.stderr.String())
		}
		if want := fmt.Sprintf("msg=stats packets=%d ", sent+sent2); !strings.Contains(s.stderr.String(), want) {
			t.Errorf("no periodic stats line with %q:\n%s", want, s.stderr.String())
		}
	})
	t.Run("kernel-drops", func(t *testing.T) {
		// One socket with a 1 MiB ring (8 blocks of 128 KiB, some 3000 of
		// these packets), tcpreplay at top speed, and the sensor paused
		// (SIGSTOP) while it runs, so that the outcome does not depend on
		// how fast this machine is: the ring must overflow.
		big := filepath.Join(t.TempDir(), "big.pcap")
		writeLoop(t, file, big, 400)
		s := startSensor(t, n, "-workers", "1", "-ring-size-mb", "1")
		s.cmd.Process.Signal(syscall.SIGSTOP)
		sent := replay(t, n, big, "--topspeed")
		s.cmd.Process.Signal(syscall.SIGCONT)
		m := s.waitRead(t, 1)
		drops := m["tlsentry_kernel_drops_total"]
		if drops == 0 {
			t.Fatalf("no kernel drops with a 1 MiB ring at top speed (%d packets sent, %v read)", sent, m["tlsentry_packets_total"])
		}
		if got := m["tlsentry_kernel_packets_total"]; got != float64(sent) {
			t.Errorf("kernel saw %v packets (drops included), sent %d", got, sent)
		}
		if m["tlsentry_packets_total"]+drops != float64(sent) {
			t.Errorf("read %v + dropped %v != sent %d", m["tlsentry_packets_total"], drops, sent)
		}
		s.stop(t)
		if !strings.Contains(s.stderr.String(), "kernel dropped") {
			t.Errorf("drops not reported on exit:\n%s", s.stderr.String())
		}
		t.Logf("%d sent, %v dropped", sent, drops)
	})
}

// writeLoop writes the packets of in n times over (with tcpreplay's own
// --loop the count would depend on timing; a file does not).
func writeLoop(t *testing.T, in, out string, n int) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for range n {
		src, err := capture.OpenFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := src.ReadPacket()
			if err != nil {
				break
			}
			if err := w.WritePacket(ci, data); err != nil {
				t.Fatal(err)
			}
		}
		src.Close()
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig("../../deploy/tlsentry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Capture.Interface != "eth1" || cfg.Metrics.Addr == "" || cfg.Capture.RingSizeMB != 64 {
		t.Errorf("example config: %+v %+v", cfg.Capture, cfg.Metrics)
	}
}

// judgeEnv names a file that stands for the rules in the SIGHUP test:
// reloading fails while it says "bad".
const judgeEnv = "TLSENTRY_TEST_JUDGE"

type fileJudge struct {
	path       string
	ok, failed atomic.Uint64
}

func (*fileJudge) Evaluate(*session.Session) detect.Verdict {
	return detect.Verdict{Validation: detect.ValidationNotChecked}
}

func (j *fileJudge) Reload() error {
	b, err := os.ReadFile(j.path)
	if err == nil && strings.TrimSpace(string(b)) == "bad" {
		err = errors.New("rules file says bad")
	}
	if err != nil {
		j.failed.Add(1)
		return err
	}
	j.ok.Add(1)
	return nil
}

func (j *fileJudge) ReloadStats() (ok, failed uint64) { return j.ok.Load(), j.failed.Load() }

// TestLiveSIGHUP: SIGHUP reloads the rules; a failed reload is logged, the
// sensor goes on (with the old rules) and still captures.
func TestLiveSIGHUP(t *testing.T) {
	needLive(t)
	n := newNetns(t)
	rules := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(rules, []byte("good"), 0o644)
	s := startSensorEnv(t, n, []string{judgeEnv + "=" + rules}, "-workers", "1")
	waitMetric := func(name string, want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.scrape(t)[name] != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v, want %v\n%s", name, s.scrape(t)[name], want, s.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(`tlsentry_rules_reloads_total{result="ok"}`, 1)
	os.WriteFile(rules, []byte("bad"), 0o644)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(`tlsentry_rules_reloads_total{result="error"}`, 1)
	file := "../../testdata/tls13-ecdsa-p384.pcap"
	want := offlineDocs(t, file)
	s.waitRead(t, float64(replay(t, n, file, "--pps=1000")))
	s.stop(t)
	raw, _ := os.ReadFile(s.out)
	if got := liveNormalize(t, raw); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after a failed reload: %d documents, want %d", len(got), len(want))
	}
	for _, msg := range []string{"SIGHUP: rules reloaded", "rules file says bad", "old rules stay in use"} {
		if !strings.Contains(s.stderr.String(), msg) {
			t.Errorf("log lacks %q:\n%s", msg, s.stderr.String())
		}
	}
}

// TestLivePcapSource: the libpcap source (--source pcap) gives the same
// documents as offline replay too.
func TestLivePcapSource(t *testing.T) {
	needLive(t)
	n := newNetns(t)
	for _, file := range []string{"../../testdata/tls12-vlan-ns.pcap", "../../testdata/tls13-hrr.pcap"} {
		want := offlineDocs(t, file)
		s := startSensor(t, n, "-source", "pcap", "-workers", "2")
		if m := s.scrape(t); m["tlsentry_capture_sockets"] != 1 {
			t.Fatalf("libpcap: %v sockets", m["tlsentry_capture_sockets"])
		}
		s.waitRead(t, float64(replay(t, n, file, "--pps=1000")))
		s.stop(t)
		if !strings.Contains(s.stderr.String(), "source=pcap") {
			t.Errorf("not libpcap:\n%s", s.stderr.String())
		}
		raw, _ := os.ReadFile(s.out)
		if got := liveNormalize(t, raw); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: live (libpcap) documents differ:\n%s\nwant:\n%s", file, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
