package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// peekTCPKey reads the flow key of the commonest frame straight from its
// headers: Ethernet without tags, then IPv4 without options or
// fragmentation, or IPv6 whose next header is TCP, then TCP. It reports
// false for anything else (tags, tunnels, fragments, options, UDP and QUIC,
// other link types), which the reader decodes in full. For a frame it
// accepts, Decode either drops the frame or gives it this key, so a flow
// goes to one worker whichever path its packets take (TestPeekTCPKey). It
// lets the sharded reader leave decoding and checksums to the workers.
func peekTCPKey(data []byte, lt layers.LinkType) (flowKey, bool) {
	if lt != layers.LinkTypeEthernet || len(data) < 14 {
		return flowKey{}, false
	}
	var src, dst [16]byte
	var tcp []byte
	v4 := false
	switch binary.BigEndian.Uint16(data[12:14]) {
	case 0x0800: // IPv4
		ip := data[14:]
		if len(ip) < 24 || ip[0] != 0x45 || ip[9] != 6 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
			return flowKey{}, false
		}
		src, dst = v4Mapped, v4Mapped // netip.Addr.As16 of an IPv4 address
		copy(src[12:], ip[12:16])
		copy(dst[12:], ip[16:20])
		tcp, v4 = ip[20:], true
	case 0x86dd: // IPv6
		ip := data[14:]
		if len(ip) < 44 || ip[0]>>4 != 6 || ip[6] != 6 {
			return flowKey{}, false
		}
		src, dst = [16]byte(ip[8:24]), [16]byte(ip[24:40])
		tcp = ip[40:]
	default:
		return flowKey{}, false
	}
	sp, dp := binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	return orderedKey(src, dst, sp, dp, 6, v4), true
}

// v4Mapped is the IPv4-mapped IPv6 prefix, ::ffff:0:0/96.
var v4Mapped = [16]byte{10: 0xff, 11: 0xff}
