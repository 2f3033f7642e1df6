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
	// Granularity: per sender address, per worker. Suricata decides once
	// per capture (after 1000 packets, more than 10% bad); offload is a
	// property of the capturing host's own sends, so a per-capture switch
	// would stop validating every other sender's packets too, and would
	// decide too late for the first sessions. Here a sender (source
	// address) whose checked packets are more than 16 bad to one good
	// (bad > 16*good; a first bad packet of a sender not seen before counts)
	// is treated as offloaded: its bad packets are used, counted in
	// CChecksumOffloaded. A sender that also sends good packets, as an
	// attacker must for its real segments, stays validated unless it sends
	// 16 decoys per real packet. A sender reaching 8 bad packets while
	// offloaded is counted once in CChecksumOffloadSenders: the CLI logs
	// that validation was switched off for some senders. Each worker keeps
	// at most checksumSenders senders (a fixed table, replaced on hash
	// collision); a sender's flows may be spread over workers, and each
	// decides on its own. Use ChecksumOn where captures are known to carry
	// correct checksums: auto mode can be fooled by an attacker that sends
	// only bad packets from an address before its real ones.
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
)

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
// a time (little-endian words).
func sumWords(b []byte, sum uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[0:8]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[8:16]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[16:24]), c)
		sum, c = bits.Add64(sum, binary.LittleEndian.Uint64(b[24:32]), c)
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

// fold64 folds a 64-bit one's complement sum to 16 bits.
func fold64(s uint64) uint16 {
	s = s&0xffffffff + s>>32
	s = s&0xffffffff + s>>32
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// checksumSenders is the size of a worker's table of senders (auto mode).
const checksumSenders = 1024

// senderChecksums is one sender's checked packets in auto mode.
type senderChecksums struct {
	addr      netip.Addr
	good, bad uint32
	reported  bool
}

// checksumTable is a worker's per-sender record for auto mode: a fixed,
// direct-mapped table (no allocation after the first use).
type checksumTable struct {
	t []senderChecksums
}

// accept records a checked packet of src (good or bad) and reports whether
// it is used: good packets always, bad ones when src looks offloaded.
// first reports that src just reached the count at which offload is
// reported.
func (ct *checksumTable) accept(src netip.Addr, good bool) (use, first bool) {
	if ct.t == nil {
		ct.t = make([]senderChecksums, checksumSenders)
	}
	a := src.As16()
	h := mix(binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:]))
	e := &ct.t[h%checksumSenders]
	if e.addr != src {
		*e = senderChecksums{addr: src}
	}
	if good {
		if e.good < 1<<31 {
			e.good++
		}
		return true, false
	}
	if e.bad < 1<<31 {
		e.bad++
	}
	if uint64(e.bad) <= 16*uint64(e.good) {
		return false, false
	}
	if e.bad >= 8 && !e.reported {
		e.reported = true
		return true, true
	}
	return true, false
}
