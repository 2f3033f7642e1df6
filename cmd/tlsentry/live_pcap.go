//go:build cgo

package main

import "github.com/tlsentry/tlsentry/capture"

// openPcap opens the interface with libpcap, which compiles the filter for
// the live handle and attaches it in the kernel.
func openPcap(c *CaptureConfig) (liveSource, error) {
	promisc := c.Promiscuous == nil || *c.Promiscuous
	s, err := capture.OpenPcapLiveSource(c.Interface, c.Snaplen, promisc, c.Filter)
	if err != nil {
		return nil, err
	}
	return s, nil
}
