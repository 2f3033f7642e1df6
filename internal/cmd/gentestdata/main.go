//go:debug cryptocustomrand=1

// Command gentestdata writes the project's own test captures under testdata/:
// TLS conversations made by crypto/tls in memory and framed as pcap by
// internal/pcapgen. Run it from the repository root:
//
//	go run ./internal/cmd/gentestdata
//
// Certificates and keys live in testdata/certs as PEM. They are generated
// only when missing (delete a pair to remake it) and otherwise loaded, since
// key generation changes between Go releases. With the certificates fixed the
// captures are byte-for-byte reproducible with one Go release (the
// //go:debug line above makes crypto/tls use the seeded random source; see
// internal/tlsgen). The test in this directory checks that.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

func main() {
	dir := flag.String("o", "testdata", "output directory (the repository's testdata)")
	list := flag.Bool("list", false, "print the captures and what each holds, then exit")
	flag.Parse()
	if *list {
		for _, c := range captures() {
			fmt.Printf("%-45s %s\n", c.path, c.desc)
		}
		return
	}
	if !tlsgen.Deterministic() {
		fmt.Fprintln(os.Stderr, "gentestdata: crypto ignores the seeded random source; output would not be reproducible")
		os.Exit(1)
	}
	n, err := generate(*dir, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata:", err)
		os.Exit(1)
	}
	fmt.Printf("gentestdata: wrote %d captures and README.md under %s\n", n, *dir)
}
