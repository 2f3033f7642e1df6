package output

import (
	"crypto/sha1"
	"net/netip"
)

// IP protocol numbers that carry ports in the Community ID hash.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// communityIDLen is len("1:") plus base64 of a 20-byte SHA-1.
const communityIDLen = 2 + 28

// CommunityID returns the Community ID v1 flow hash
// (https://github.com/corelight/community-id-spec) of a flow between src and
// dst over IP protocol proto, hashed with seed (0 is the usual choice).
//
// The hash does not depend on direction: the endpoints are ordered so that
// the smaller address (and, for equal addresses, the smaller port) comes
// first. Ports are hashed for TCP, UDP and SCTP, and for ICMP/ICMPv6 where
// the caller passes the type/code already mapped to ports the way Zeek does
// (one-way ICMP messages are ordered like the rest, which differs from the
// spec when src > dst; tlsentry only hashes TCP and UDP flows); other
// protocols hash addresses only. IPv4-mapped IPv6 addresses are hashed
// as IPv4. It returns "" when the addresses are invalid or of different
// families, since the spec has no value for that.
func CommunityID(src, dst netip.AddrPort, proto uint8, seed uint16) string {
	var out [communityIDLen]byte
	n := AppendCommunityID(out[:0], src, dst, proto, seed)
	if len(n) == 0 {
		return ""
	}
	return string(n)
}

// AppendCommunityID appends the Community ID of the flow to b, or nothing
// when CommunityID would return "". It does not allocate when b has room.
func AppendCommunityID(b []byte, src, dst netip.AddrPort, proto uint8, seed uint16) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.IsValid() || !da.IsValid() || sa.Is4() != da.Is4() {
		return b
	}
	sp, dp := src.Port(), dst.Port()
	// Order the endpoints: smaller IP first; equal IPs, smaller port first.
	if c := sa.Compare(da); c > 0 || (c == 0 && sp > dp) {
		sa, da = da, sa
		sp, dp = dp, sp
	}

	// seed(2) saddr(4|16) daddr(4|16) proto(1) pad(1) sport(2) dport(2)
	var buf [2 + 16 + 16 + 2 + 4]byte
	buf[0], buf[1] = byte(seed>>8), byte(seed)
	n := 2
	if sa.Is4() {
		s4, d4 := sa.As4(), da.As4()
		n += copy(buf[n:], s4[:])
		n += copy(buf[n:], d4[:])
	} else {
		s16, d16 := sa.As16(), da.As16()
		n += copy(buf[n:], s16[:])
		n += copy(buf[n:], d16[:])
	}
	buf[n], buf[n+1] = proto, 0
	n += 2
	switch proto {
	case ProtoICMP, ProtoTCP, ProtoUDP, ProtoICMPv6, ProtoSCTP:
		buf[n], buf[n+1], buf[n+2], buf[n+3] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp)
		n += 4
	}
	sum := sha1.Sum(buf[:n])
	return appendSHA1Base64(append(b, '1', ':'), sum)
}

// appendSHA1Base64 appends base64.StdEncoding's encoding of a SHA-1 sum,
// written with fixed offsets (AppendEncode's general loop cost more).
func appendSHA1Base64(dst []byte, h [sha1.Size]byte) []byte {
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [28]byte
	for i := range 6 {
		v := uint(h[3*i])<<16 | uint(h[3*i+1])<<8 | uint(h[3*i+2])
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = std[v>>18], std[v>>12&63], std[v>>6&63], std[v&63]
	}
	v := uint(h[18])<<8 | uint(h[19])
	b[24], b[25], b[26], b[27] = std[v>>10], std[v>>4&63], std[v<<2&63], '='
	return append(dst, b[:]...)
}
