// Package corpustest is test support for the tests that read the shared
// corpus (../shared/corpus). Import it only from _test.go files.
package corpustest

import (
	"encoding/binary"
	"io"
	"os"
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
