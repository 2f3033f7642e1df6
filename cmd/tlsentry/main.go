// Command tlsentry is a passive TLS traffic inspector and IDS sensor.
//
//	tlsentry -r capture.pcap [BPF filter]     replay a capture file
//	tlsentry -i eth1 [BPF filter]             capture live on an interface
//	tlsentry rules check FILE...              validate rule files
//	tlsentry rules test -r FILE [--rules F]   show which rules fire and why
//	tlsentry setup [--es URL] [--kibana URL]  install templates and Kibana objects
//	tlsentry version                          print the build
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// errUsage marks errors caused by the command line or input: exit status 2.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "rules":
		err = runRules(args[1:])
	case len(args) > 0 && args[0] == "setup":
		err = runSetup(args[1:])
	case len(args) > 0 && args[0] == "version":
		fmt.Println(versionString())
		return 0
	default:
		err = runSensor(args)
	}
	if err == nil {
		return exitOK
	}
	var st *exitStatus
	if errors.As(err, &st) {
		if st.err != nil {
			printError(st.err)
		}
		return st.code
	}
	printError(err)
	if errors.Is(err, errUsage) {
		return exitUsage
	}
	return exitError
}

// printError writes err on stderr, "tlsentry: " before each line (joined
// errors: one a line).
func printError(err error) {
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(os.Stderr, "tlsentry:", l)
	}
}

// version is set with -ldflags "-X main.version=...".
var version = "dev"

func versionString() string {
	s := "tlsentry " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		s += " (" + bi.GoVersion
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				s += ", " + kv.Value
			}
		}
		s += ")"
	}
	return s
}
