//go:build linux

package main

import "github.com/tlsentry/tlsentry/capture"

// openAFPacket opens n AF_PACKET sockets in one fanout group. inKernel
// says whether the filter runs in the kernel; when not, the caller filters.
func openAFPacket(c *CaptureConfig, n int) (srcs []liveSource, inKernel bool, err error) {
	block, blocks := ringGeometry(c.RingSizeMB)
	promisc := c.Promiscuous == nil || *c.Promiscuous
	afs, err := capture.OpenAFPacketSources(capture.AFPacketOptions{
		Interface:   c.Interface,
		Sockets:     n,
		Snaplen:     c.Snaplen,
		BlockSize:   block,
		NumBlocks:   blocks,
		Promiscuous: promisc,
		Filter:      c.Filter,
	})
	if err != nil {
		return nil, false, err
	}
	for _, s := range afs {
		srcs = append(srcs, s)
	}
	return srcs, c.Filter == "" || capture.AFPacketFilterInKernel(c.Filter), nil
}
