//go:build linux

package capture

// AFPacketFilterInKernel reports whether OpenAFPacketSources attaches the filter
// expression to its sockets in the kernel. When it does not (the expression
// looks at VLAN or MPLS tags, which the kernel strips before its filter
// runs), the caller applies it in user space with NewFilter, where the tags
// are back in the frames.
func AFPacketFilterInKernel(expr string) bool { return !filterNeedsTags(expr) }
