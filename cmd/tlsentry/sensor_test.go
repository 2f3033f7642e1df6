package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/internal/pcapgen"
)

// genCapture writes n closed connections to port 443, each carrying a
// ClientHello-shaped first record, and returns the path.
func genCapture(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	w, err := pcapgen.Create(path, pcapgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := pcapgen.NewClock(pcapgen.DefaultBase, time.Millisecond)
	hello := append([]byte{0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c, 0x03, 0x03}, make([]byte, 1500)...)
	for i := range n {
		c, err := w.NewConv(pcapgen.ConvConfig{
			Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(40000+i)),
			Server: netip.MustParseAddrPort("192.0.2.1:443"), Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{c.Handshake(), c.Send(pcapgen.ClientToServer, hello),
			c.Send(pcapgen.ServerToClient, []byte("SSH-2.0-x\r\n")), c.Close(pcapgen.ClientToServer)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = sensorMain(append([]string{"-progress", "never"}, args...), &o, &e)
	return o.String(), e.String(), err
}

func sortedLines(s string) []string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) == 1 && ls[0] == "" {
		return nil
	}
	slices.Sort(ls)
	return ls
}

// sessionDocs returns the session documents of out (alerts left out), sorted.
func sessionDocs(out string) []string {
	var docs []string
	for _, l := range sortedLines(out) {
		if strings.Contains(l, `"kind":"event"`) {
			docs = append(docs, l)
		}
	}
	return docs
}

func TestSensorReplay(t *testing.T) {
	path := genCapture(t, 20)
	out, errOut, err := runCLI(t, "-r", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	docs := sessionDocs(out)
	if len(docs) != 20 {
		t.Fatalf("%d documents, want 20:\n%s", len(docs), out)
	}
	for _, want := range []string{"packets", "flows", "TLS sessions", "non-TLS on 443", "parse errors"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q: %s", want, errOut)
		}
	}
	// -w FILE gives the same documents
	file := filepath.Join(t.TempDir(), "out.ndjson")
	if _, errOut, err := runCLI(t, "-r", path, "-w", file); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sortedLines(string(data)), sortedLines(out)) {
		t.Error("-w FILE wrote different documents than stdout")
	}
}

// TestSensorWorkers: the same documents (ids included) with 1 and 4 workers,
// and on a second replay.
func TestSensorWorkers(t *testing.T) {
	paths := []string{genCapture(t, 200)}
	corpus, _ := filepath.Glob("../../../shared/corpus/pcaps/*/*")
	paths = append(paths, corpus...)
	for _, path := range paths {
		var base []string
		for i, workers := range []string{"1", "4", "4"} {
			out, errOut, err := runCLI(t, "-r", path, "--workers", workers)
			if err != nil && !errors.Is(err, errUsage) {
				t.Fatalf("%s: %v\n%s", path, err, errOut)
			}
			got := sortedLines(out)
			if i == 0 {
				base = got
				continue
			}
			if !slices.Equal(base, got) {
				t.Errorf("%s: documents with --workers %s differ from --workers 1 (%d vs %d)", path, workers, len(got), len(base))
			}
		}
	}
}

func TestSensorFilter(t *testing.T) {
	path := genCapture(t, 20)
	out, errOut, err := runCLI(t, "-r", path, "host", "10.1.0.3", "and", "tcp")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	docs := sessionDocs(out)
	if len(docs) != 1 || !strings.Contains(docs[0], `"ip":"10.1.0.3"`) {
		t.Fatalf("filter kept %d documents: %q", len(docs), docs)
	}
	if !strings.Contains(errOut, "filtered") {
		t.Errorf("summary does not count filtered packets: %s", errOut)
	}
	if _, _, err := runCLI(t, "-r", path, "host", "and", "and"); !errors.Is(err, errUsage) {
		t.Errorf("bad filter: %v, want a usage error", err)
	}
}

func TestSensorBadInput(t *testing.T) {
	dir := t.TempDir()
	good := genCapture(t, 10)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// cut in the middle of the last packet (past the last connection's close)
	truncated := write("truncated.pcap", data[:len(data)-20])
	tests := []struct {
		name, path string
		wantDocs   int
	}{
		{"missing", filepath.Join(dir, "missing.pcap"), 0},
		{"unreadable (a directory)", dir, 0},
		{"empty", write("empty.pcap", nil), 0},
		{"garbage", write("garbage.pcap", bytes.Repeat([]byte("garbage!"), 100)), 0},
		{"truncated header", write("short.pcap", data[:10]), 0},
		{"truncated", truncated, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCLI(t, "-r", tc.path)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, errUsage) {
				t.Errorf("error %v does not mean exit status 2", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, filepath.Base(tc.path)) {
				t.Errorf("error %q: want one line naming %s", msg, filepath.Base(tc.path))
			}
			if n := len(sessionDocs(out)); n != tc.wantDocs {
				t.Errorf("%d documents before the error, want %d", n, tc.wantDocs)
			}
		})
	}
	// exit status through run()
	if code := run([]string{"-progress", "never", "-r", filepath.Join(dir, "missing.pcap")}); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
}

func TestSensorUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-workers", "-1", "-r", "x"}, {"-nosuchflag"}, {"-progress", "sometimes", "-r", "x"}} {
		_, _, err := runCLI(t, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: error %v, want a usage error", args, err)
		}
	}
}

func TestProgressLine(t *testing.T) {
	line := progressLine(50, 100, capture.Snapshot{}, 10*time.Second)
	for _, want := range []string{"[===============>", " 50%", "Mpkt/s", "MB/s", "ETA 0:10"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if line := progressLine(0, -1, capture.Snapshot{}, time.Second); strings.Contains(line, "ETA") || strings.Contains(line, "[") {
		t.Errorf("unknown size: %q", line)
	}
}

func Example_humanBytes() {
	fmt.Println(humanBytes(512), humanBytes(3<<20))
	// Output: 512 B 3.0 MiB
}

// ruleIDs returns the rule ids of the alert documents in out, sorted.
func ruleIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for _, l := range sortedLines(out) {
		var d struct {
			Rule struct{ ID string } `json:"rule"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		if d.Rule.ID != "" {
			ids = append(ids, d.Rule.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestSensorRuleFlags: --rules adds a rule file, --disable and
// --disable-category switch rules off, --ca-bundle replaces the roots.
func TestSensorRuleFlags(t *testing.T) {
	capFile := "../../testdata/tls12-ecdsa.pcap" // test PKI: untrusted by the system roots
	local := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(local, []byte(`rules:
  - id: local.tls12
    name: TLS 1.2 seen
    category: policy
    severity: low
    description: test rule
    condition: tls.version == "1.2"
    message: "TLS 1.2 to ${tlsentry.server.display}"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"builtin", nil, []string{"cert.untrusted"}},
		{"user rules", []string{"--rules", local}, []string{"cert.untrusted", "local.tls12"}},
		{"disable id", []string{"--rules", local, "--disable", "cert.untrusted"}, []string{"local.tls12"}},
		{"disable category", []string{"--rules", local, "--disable-category", "policy"}, []string{"cert.untrusted"}},
		{"ca bundle", []string{"--ca-bundle", "../../testdata/certs/ca-root.crt"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCLI(t, append(tc.args, "-r", capFile)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if got := ruleIDs(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("alerts %v, want %v", got, tc.want)
			}
		})
	}
	// An intel list that loads nothing is a warning, naming it.
	dir := t.TempDir()
	empty := filepath.Join(dir, "ja3.csv")
	cfgFile := filepath.Join(dir, "tlsentry.yaml")
	os.WriteFile(empty, []byte("# ja3_md5,Firstseen,Lastseen,Listingreason\n"), 0o644)
	os.WriteFile(cfgFile, []byte("rules:\n  intel:\n    - {type: ja3, file: "+empty+"}\n"), 0o644)
	if _, errOut, err := runCLI(t, "--config", cfgFile, "-r", capFile); err != nil || !strings.Contains(errOut, "warning: intel list "+empty) {
		t.Errorf("empty intel list: err %v, stderr %q", err, errOut)
	}
	// A rule file with a mistake fails start-up, naming the file; the
	// replay, which began reading while the rules compiled, writes nothing.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: x.y\n    condition: tls.nonexistent\n"), 0o644)
	out, errOut, err := runCLI(t, "--rules", bad, "-r", capFile)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("bad rule file: err %v, want one naming bad.yaml", err)
	}
	if out != "" || strings.Contains(errOut, "packets") {
		t.Errorf("bad rule file: documents or a summary written:\nstdout %q\nstderr %q", out, errOut)
	}
}
