//go:build cgo

package sensor

import "github.com/tlsentry/tlsentry/capture"

// openPcap opens the interface with libpcap, which compiles the filter for
// the live handle and attaches it in the kernel.
func openPcap(o LiveOptions) (LiveSource, error) {
	s, err := capture.OpenPcapLiveSource(o.Interface, o.Snaplen, o.Promiscuous, o.Filter)
	if err != nil {
		return nil, err
	}
	return s, nil
}
