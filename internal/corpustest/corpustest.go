// Package corpustest is test support for the tests that read the shared
// corpus (../shared/corpus). Import it only from _test.go files.
package corpustest

import (
	"bufio"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// OpenPcap opens a pcap or pcapng capture (told apart by its magic number)
// and returns its packet source, its link type and a function that closes
// the file. It fails the test on any error.
func OpenPcap(tb testing.TB, path string) (gopacket.PacketDataSource, layers.LinkType, func()) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	closeFile := func() { f.Close() }
	if binary.BigEndian.Uint32(magic[:]) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			f.Close()
			tb.Fatal(err)
		}
		return r, r.LinkType(), closeFile
	}
	r, err := pcapgo.NewReader(f)
	if err != nil {
		f.Close()
		tb.Fatal(err)
	}
	return r, r.LinkType(), closeFile
}

// Dir returns the shared corpus directory, ../shared/corpus relative to the
// repository root (found by walking up from the working directory to
// go.mod), and skips the test when the corpus is absent.
func Dir(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			tb.Skipf("shared corpus not found: no go.mod above %s", wd)
		}
		root = parent
	}
	dir := filepath.Join(root, "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(dir, "expected", "tshark-visible.tsv")); err != nil {
		tb.Skipf("shared corpus not found at %s", dir)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		return dir
	}
	return rel
}

// ReadTSV reads a corpus TSV file into maps by header name, cells as stored.
func ReadTSV(tb testing.TB, path string) []map[string]string {
	tb.Helper()
	return readTSV(tb, path, nil)
}

// ReadTSVUnescaped is ReadTSV undoing the corpus' escapes (\\ \t \n \r).
func ReadTSVUnescaped(tb testing.TB, path string) []map[string]string {
	tb.Helper()
	return readTSV(tb, path, strings.NewReplacer(`\\`, `\`, `\t`, "\t", `\n`, "\n", `\r`, "\r"))
}

func readTSV(tb testing.TB, path string, unesc *strings.Replacer) []map[string]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var header []string
	var rows []map[string]string
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = cols
			continue
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			if i < len(cols) {
				if unesc != nil {
					row[h] = unesc.Replace(cols[i])
				} else {
					row[h] = cols[i]
				}
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return rows
}
