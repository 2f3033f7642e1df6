//go:build linux

package sensor

import "github.com/tlsentry/tlsentry/capture"

// openAFPacket opens o.Sockets AF_PACKET sockets in one fanout group.
// inKernel says whether the filter runs in the kernel; when not, the
// pipeline filters.
func openAFPacket(o LiveOptions) (srcs []LiveSource, inKernel bool, err error) {
	block, blocks := ringGeometry(o.RingSizeMB)
	afs, err := capture.OpenAFPacketSources(capture.AFPacketOptions{
		Interface:   o.Interface,
		Sockets:     o.Sockets,
		Snaplen:     o.Snaplen,
		BlockSize:   block,
		NumBlocks:   blocks,
		Promiscuous: o.Promiscuous,
		Filter:      o.Filter,
	})
	if err != nil {
		return nil, false, err
	}
	for _, s := range afs {
		srcs = append(srcs, s)
	}
	return srcs, o.Filter == "" || capture.AFPacketFilterInKernel(o.Filter), nil
}
