//go:build !cgo

package capture

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// errNoLibpcap: BPF expressions are compiled by libpcap, which needs cgo.
var errNoLibpcap = errors.New("this build has no libpcap (built with CGO_ENABLED=0)")

// Filter is a BPF filter; this build cannot compile one (no cgo, so no
// libpcap). A nil *Filter matches everything.
type Filter struct{}

// NewFilter fails for any non-empty expression in a build without cgo.
func NewFilter(expr string) (*Filter, error) {
	if expr == "" {
		return nil, nil
	}
	return nil, fmt.Errorf("capture: filter %q: %w", expr, errNoLibpcap)
}

// compileBPF fails in a build without cgo.
func compileBPF(lt layers.LinkType, snaplen int, expr string) ([]bpf.RawInstruction, error) {
	return nil, fmt.Errorf("capture: filter %q: %w", expr, errNoLibpcap)
}

// Match: a nil Filter matches everything.
func (f *Filter) Match(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) bool {
	return f == nil
}
