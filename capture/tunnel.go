package capture

import "golang.org/x/crypto/cryptobyte"

// Tunnels that mirrored traffic arrives in, beyond what gopacket/layers
// decodes for us (GRE, ERSPAN II, VXLAN): ERSPAN type III and GENEVE are
// decoded here by hand, reading through cryptobyte (bounds-checked).

// ethernetTypeERSPAN3 is the GRE protocol type of ERSPAN type III.
const ethernetTypeERSPAN3 = 0x22eb

// UDP ports of the UDP-based tunnels (IANA).
const (
	portVXLAN  = 4789 // RFC 7348
	portGENEVE = 6081 // RFC 8926
)

type tunnelResult uint8

const (
	tunnelNone      tunnelResult = iota // not a tunnel
	tunnelOK                            // decapsulated
	tunnelTruncated                     // header cut short
	tunnelMalformed                     // header does not parse
)

// udpTunnel checks a UDP payload for VXLAN or GENEVE by destination port and
// returns the encapsulated layer.
func udpTunnel(dstPort uint16, payload []byte) (layerKind, []byte, tunnelResult) {
	switch dstPort {
	case portVXLAN:
		return decodeVXLAN(payload)
	case portGENEVE:
		return decodeGENEVE(payload)
	}
	return kNone, nil, tunnelNone
}

// decodeVXLAN: RFC 7348 section 5. 8 bytes: flags (I bit 0x08 must be set),
// 24 reserved bits, VNI, 8 reserved bits; an Ethernet frame follows.
func decodeVXLAN(b []byte) (layerKind, []byte, tunnelResult) {
	s := cryptobyte.String(b)
	var flags uint8
	if len(s) < 8 || !s.ReadUint8(&flags) || !s.Skip(7) {
		return kNone, nil, tunnelTruncated
	}
	if flags&0x08 == 0 {
		return kNone, nil, tunnelMalformed
	}
	return kEthernet, s, tunnelOK
}

// decodeGENEVE: RFC 8926 section 3.4. Version (2 bits, must be 0), option
// length in 4-byte words (6 bits), flags, protocol type, VNI, reserved,
// then the options and the encapsulated frame of the protocol type.
func decodeGENEVE(b []byte) (layerKind, []byte, tunnelResult) {
	s := cryptobyte.String(b)
	var verOpt uint8
	var proto uint16
	if len(s) < 8 || !s.ReadUint8(&verOpt) || !s.Skip(1) || !s.ReadUint16(&proto) || !s.Skip(4) {
		return kNone, nil, tunnelTruncated
	}
	if verOpt>>6 != 0 {
		return kNone, nil, tunnelMalformed
	}
	if !s.Skip(int(verOpt&0x3f) * 4) { // options
		return kNone, nil, tunnelTruncated
	}
	var k layerKind
	switch proto {
	case 0x6558:
		k = kEthernet
	case 0x0800:
		k = kIPv4
	case 0x86dd:
		k = kIPv6
	default:
		return kNone, nil, tunnelMalformed
	}
	return k, s, tunnelOK
}

// decodeERSPAN3 decodes the ERSPAN type III header (draft-foschiano-erspan,
// section 4.3): 12 bytes, Ver = 2 in the top 4 bits; the last 16 bits hold
// P (1) | FT (5) | Hw ID (6) | D (1) | Gra (2) | O (1). With O set an 8-byte
// platform-specific subheader follows. FT 0 is an Ethernet frame, FT 2 an IP
// packet.
func decodeERSPAN3(b []byte) (layerKind, []byte, tunnelResult) {
	s := cryptobyte.String(b)
	var ver uint8
	var last uint16
	if len(s) < 12 || !s.ReadUint8(&ver) || !s.Skip(9) || !s.ReadUint16(&last) {
		return kNone, nil, tunnelTruncated
	}
	if ver>>4 != 2 {
		return kNone, nil, tunnelMalformed
	}
	if last&1 != 0 && !s.Skip(8) { // platform-specific subheader
		return kNone, nil, tunnelTruncated
	}
	switch ft := (last >> 10) & 0x1f; ft {
	case 0:
		return kEthernet, s, tunnelOK
	case 2:
		return kRawIP, s, tunnelOK
	}
	return kNone, nil, tunnelMalformed
}
