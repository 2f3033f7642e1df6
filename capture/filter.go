//go:build cgo

package capture

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"golang.org/x/net/bpf"
)

// filterSnaplen is the capture length filters are compiled for (libpcap's
// MAXIMUM_SNAPLEN).
const filterSnaplen = 262144

// Filter is a BPF filter in tcpdump's syntax (pcap-filter(7)). It is compiled
// with libpcap once per link type, lazily, and run in user space with the
// golang.org/x/net/bpf virtual machine. A Filter is safe for concurrent use.
//
// Unlike libpcap, the "len" primitive (less/greater) sees the captured
// length, not the length on the wire.
type Filter struct {
	expr string
	mu   sync.Mutex                   // serialises compiling for a new link type
	vms  atomic.Pointer[filterByLink] // copy-on-write
	// unmatchable counts packets of link types the expression does not
	// compile for (for example "vlan" on raw IP); they do not match.
	unmatchable atomic.Uint64
}

// filterByLink maps a link type to its program; nil: the expression does not
// compile for that link type.
type filterByLink map[layers.LinkType]*bpf.VM

// NewFilter compiles expr (checked against Ethernet). An empty expression
// gives a nil *Filter, which matches everything.
func NewFilter(expr string) (*Filter, error) {
	if expr == "" {
		return nil, nil
	}
	vm, err := compileVM(layers.LinkTypeEthernet, expr)
	if err != nil {
		return nil, err
	}
	f := &Filter{expr: expr}
	f.vms.Store(&filterByLink{layers.LinkTypeEthernet: vm})
	return f, nil
}

// compileBPF compiles expr for link type lt into classic BPF instructions,
// as the kernel takes them (SO_ATTACH_FILTER).
func compileBPF(lt layers.LinkType, snaplen int, expr string) ([]bpf.RawInstruction, error) {
	ins, err := pcap.CompileBPFFilter(linkTypeToDLT(lt), snaplen, expr)
	if err != nil {
		return nil, fmt.Errorf("capture: filter %q: %v", expr, err)
	}
	raw := make([]bpf.RawInstruction, len(ins))
	for i, in := range ins {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return raw, nil
}

// linkTypeToDLT maps a file link type (LINKTYPE_*) to the DLT_* value
// pcap_open_dead expects where they differ: LINKTYPE_RAW (101) and the BSD
// DLT_RAW values are DLT_RAW (12) in libpcap on Linux.
func linkTypeToDLT(lt layers.LinkType) layers.LinkType {
	switch lt {
	case layers.LinkTypeRaw, linkTypeDLTRaw14:
		return linkTypeDLTRaw12
	}
	return lt
}

func compileVM(lt layers.LinkType, expr string) (*bpf.VM, error) {
	raw, err := compileBPF(lt, filterSnaplen, expr)
	if err != nil {
		return nil, err
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, fmt.Errorf("capture: filter %q: libpcap produced an instruction the BPF VM does not know", expr)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return nil, fmt.Errorf("capture: filter %q: %v", expr, err)
	}
	return vm, nil
}

// Match reports whether a packet of link type lt passes the filter. A nil
// Filter matches everything.
func (f *Filter) Match(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) bool {
	if f == nil {
		return true
	}
	vm, ok := (*f.vms.Load())[lt]
	if !ok {
		vm = f.compileFor(lt)
	}
	if vm == nil {
		f.unmatchable.Add(1)
		return false
	}
	n, err := vm.Run(data)
	return err == nil && n > 0
}

// compileFor compiles the expression for a link type not seen before and
// publishes a new table with it.
func (f *Filter) compileFor(lt layers.LinkType) *bpf.VM {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.vms.Load()
	if vm, ok := old[lt]; ok {
		return vm
	}
	vm, _ := compileVM(lt, f.expr) // nil when it does not compile for lt
	m := make(filterByLink, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[lt] = vm
	f.vms.Store(&m)
	return vm
}
