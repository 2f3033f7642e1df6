package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfileFlags(t *testing.T) {
	path := genCapture(t, 20)
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	out, errOut, err := runCLI(t, "-r", path, "--cpuprofile", cpu, "--memprofile", mem)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if n := len(sessionDocs(out)); n != 20 {
		t.Errorf("%d documents with profiling on, want 20", n)
	}
	for _, f := range []string{cpu, mem} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) { // pprof files are gzipped protobuf
			t.Errorf("%s: not a pprof file (%d bytes)", f, len(data))
		}
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		top, err := exec.Command(goBin, "tool", "pprof", "-top", "-sample_index=alloc_space", mem).CombinedOutput()
		if err != nil || !strings.Contains(string(top), "flat") {
			t.Errorf("go tool pprof cannot read the memory profile: %v\n%s", err, top)
		}
	}

	// A path that cannot be created fails before the replay, naming the flag.
	_, _, err = runCLI(t, "-r", path, "--cpuprofile", filepath.Join(dir, "no", "such", "dir", "cpu.pprof"))
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Errorf("unwritable --cpuprofile: err %v, want one naming the flag", err)
	}
}
