package capture

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// ChecksumMode says whether TCP and UDP checksums are validated
// (Config.Checksums).
//
// A segment with a bad checksum was never accepted by its receiver, so an
// attacker can put one on the wire that the sensor sees and the server does
// not (a decoy ClientHello with another SNI, Ptacek-Newsham insertion). A
// validated bad segment is therefore not reassembled, a bad UDP datagram is
// not used for QUIC, and both are counted (CChecksumBad).
//
// Checksums cannot be validated on packets cut by the snap length
// (Packet.Truncated) or on UDP datagrams with checksum 0 (none sent); those
// are used as they are.
type ChecksumMode uint8

const (
	// ChecksumAuto (the default) validates, except for senders whose
	// packets look offloaded, as Suricata's "checksum-validation: auto"
	// does (ChecksumAutoModeCheck). A capture taken on a host whose NIC
	// computes checksums (TX offload) shows that host's packets with
	// unfinished checksums: nearly all of one sender's packets are bad.
	//
	// Granularity: per flow direction (one sender's packets of one flow).
	// Suricata decides once per capture (after 1000 packets, more than 10%
	// bad, validation is switched off for the rest of the run); offload is
	// a property of the capturing host's own sends, so a per-capture switch
	// would stop validating every other sender's packets too, and decides
	// too late for the first sessions. A per-sender table would make the
	// result depend on how flows are sharded over workers; a flow's packets
	// all go to one worker, so per direction the result is the same with
	// any number of workers, and the state is two counters in the flow.
	// A direction whose checked packets are more than 16 bad to one good
	// (bad > 16*good: an offloaded sender's packets are all bad, the first
	// one included) is treated as offloaded: its bad packets are used,
	// counted in CChecksumOffloaded. A direction that also carries good
	// packets, as an attacker's must for its real segments (its SYN and
	// ACK at least), stays validated unless it sends 16 decoys per real
	// packet. A direction reaching 8 bad packets while offloaded is counted
	// once in CChecksumOffloadDirections: non-zero, the CLI logs once that
	// checksum offload was seen and validation skipped for those senders.
	//
	// A bad segment larger than an Ethernet MTU (1500 bytes of IP) that is
	// not a reassembled datagram is taken as coalesced by the capturing
	// host's NIC (GRO/LRO hands such segments up with the checksum of the
	// first packet, or none) and used, whatever the sender's record: it
	// cannot have crossed a standard Ethernet link as one packet. Use ChecksumOn where captures are known to carry
	// correct checksums: auto mode can be fooled by an attacker whose
	// decoy is the first packet of its flow.
	ChecksumAuto ChecksumMode = iota
	// ChecksumOn validates every packet.
	ChecksumOn
	// ChecksumOff validates nothing.
	ChecksumOff
)

// String is the mode's configuration name: "auto", "on" or "off".
func (m ChecksumMode) String() string {
	switch m {
	case ChecksumAuto:
		return "auto"
	case ChecksumOn:
		return "on"
	case ChecksumOff:
		return "off"
	}
	return "unknown"
}

// ParseChecksumMode parses "auto", "on" or "off" ("" is auto).
func ParseChecksumMode(s string) (ChecksumMode, bool) {
	switch s {
	case "", "auto":
		return ChecksumAuto, true
	case "on":
		return ChecksumOn, true
	case "off":
		return ChecksumOff, true
	}
	return ChecksumAuto, false
}

// Packet.Checksum values.
const (
	csUnchecked uint8 = iota // not validated: mode off, truncated, UDP checksum 0
	csGood
	csBad
	csBadCoalesced // bad, and larger than ethernetMTU: coalesced by the capturing host's NIC (GRO/LRO)
)

// ethernetMTU is the largest IP packet on a standard Ethernet link.
const ethernetMTU = 1500

// l4Checksum reports whether the TCP or UDP segment seg (header and
// payload, complete) between src and dst carries a correct checksum: the
// one's complement sum over the pseudo-header (RFC 793, RFC 768, RFC 8200
// 8.1) and the segment folds to 0xffff.
//
// The sum is taken over little-endian 64-bit words with carries: the one's
// complement sum is byte-order independent up to a final byte swap, which
// does not change 0xffff.
func l4Checksum(src, dst netip.Addr, proto uint8, seg []byte) bool {
	var sum uint64
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		sum = uint64(binary.LittleEndian.Uint32(a[:])) + uint64(binary.LittleEndian.Uint32(b[:]))
	} else {
		a, b := src.As16(), dst.As16()
		var c uint64
		sum, c = bits.Add64(binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:]), 0)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[:8]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[8:]), c)
		sum += c
	}
	// zero, protocol and length, as big-endian 16-bit words
	n := uint64(len(seg))
	sum2 := uint64(bits.ReverseBytes16(uint16(proto))) + uint64(bits.ReverseBytes16(uint16(n))) + uint64(bits.ReverseBytes16(uint16(n>>16)))
	var c uint64
	sum, c = bits.Add64(sum, sum2, 0)
	sum += c
	return fold64(sumWords(seg, sum)) == 0xffff
}

// sumWords adds b to the one's complement accumulator sum, eight bytes at
// a time (little-endian words). The carry stays in the flags through 64
// bytes of add-with-carry at a time: the chain of additions, not the
// loads, bounds its speed.
func sumWords(b []byte, sum uint64) uint64 {
	var c uint64
	for len(b) >= 64 {
		sum, c = sum32(b[:32], sum, c)
		sum, c = sum32(b[32:64], sum, c)
		b = b[64:]
	}
	if len(b) >= 32 {
		sum, c = sum32(b[:32], sum, c)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[:8]), c)
		b = b[8:]
	}
	var t [8]byte
	copy(t[:], b) // an odd last byte is the high byte of a word padded with zero
	tail := binary.LittleEndian.Uint64(t[:])
	sum, c = bits.Add64(sum, tail, c)
	return sum + c
}

// sum32 adds the four words of b[:32] and the carry c to sum.
func sum32(b []byte, sum, c uint64) (uint64, uint64) {
	b = b[:32]
	sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[0:8]), c)
	sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[8:16]), c)
	sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[16:24]), c)
	return bits.Add64(sum, binary.LittleEndian.Uint64(b[24:32]), c)
}

// fold64 folds a 64-bit one's complement sum to 16 bits.
func fold64(s uint64) uint16 {
	s = s&0xffffffff + s>>32
	s = s&0xffffffff + s>>32
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// dirChecksums is one flow direction's checked packets (auto mode).
type dirChecksums struct {
	good, bad uint32
	reported  bool
}

// accept records a checked packet (good or bad) and reports whether it is
// used: good packets always, bad ones while the direction looks offloaded
// (bad > 16*good). first reports that the direction just reached the count
// at which offload is reported.
func (dc *dirChecksums) accept(good bool) (use, first bool) {
	if good {
		if dc.good < 1<<31 {
			dc.good++
		}
		return true, false
	}
	if dc.bad < 1<<31 {
		dc.bad++
	}
	if uint64(dc.bad) <= 16*uint64(dc.good) {
		return false, false
	}
	if dc.bad >= 8 && !dc.reported {
		dc.reported = true
		return true, true
	}
	return true, false
}
