package capture

import (
	"encoding/binary"
	"time"
)

// defragmenter reassembles IPv4 fragments (RFC 791), and IPv6 fragments
// (RFC 8200) whose Fragment header directly follows the IPv6 header, within
// fixed bounds.
//
// Policy:
//   - Datagrams are keyed by (source, destination, protocol, IP ID) for IPv4
//     and (source, destination, identification) for IPv6.
//   - At most MaxDatagrams are in reassembly at once and at most MaxBytes of
//     fragment payload are buffered across them. A new datagram beyond either
//     bound evicts the oldest ones (Evicted); a datagram that cannot fit on
//     its own is dropped.
//   - A datagram not completed within Timeout of its first fragment, in
//     packet time, is dropped (TimedOut). Expiry runs as packets arrive.
//   - At most MaxFragments fragments per datagram (TooManyFragments); the
//     reassembled datagram may not exceed 65,535 bytes (IPv6: payload; no
//     jumbograms) (TooBig).
//   - Overlapping fragments: first wins. Bytes already received are kept and
//     the overlapping bytes of later fragments are ignored (Overlaps counts
//     fragments that overlapped), so a later fragment cannot rewrite data
//     that was already seen (the evasion trick of RFC 1858 / Ptacek-Newsham).
//     An overlap whose bytes differ is counted in OverlapsDifferent, and the
//     completed datagram reports its first one (offset and length in the
//     payload) in lastOverlap: capture gives the flow anomaly
//     "ip_fragment_overlap" (rule ip.fragment_overlap). Retransmitted
//     fragments with the same bytes are not an anomaly.
//   - Inconsistent fragments (a non-last fragment not a multiple of 8 bytes,
//     two different ends, data past the end, an empty fragment) drop the
//     whole datagram (Invalid).
//
// The reassembled datagram carries the header of the first fragment (offset
// 0) with the fragment fields cleared and the length and checksum fixed.
// A defragmenter is not safe for concurrent use; each Decoder has its own.
type defragmenter struct {
	cfg   defragConfig
	m     map[fragKey]*fragDatagram
	free  freeList[*fragDatagram]
	bytes int // payload bytes buffered in m
	out   []byte
	sweep time.Time // packet time of the last expiry pass
	stats defragStats
	// lastOverlap is the first overlap with different bytes of the datagram
	// add just completed (len 0: none).
	lastOverlap fragRange
}

// defragConfig bounds a defragmenter. Zero fields take the defaults.
type defragConfig struct {
	MaxDatagrams int           // datagrams in reassembly at once (default 1024)
	MaxBytes     int           // fragment payload bytes buffered in all (default 4 MiB)
	MaxFragments int           // fragments per datagram (default 64)
	Timeout      time.Duration // packet time from the first fragment (default 30s, as Linux's ipfrag_time)
}

// defaultDefragConfig returns the default bounds.
func defaultDefragConfig() defragConfig {
	return defragConfig{MaxDatagrams: 1024, MaxBytes: 4 << 20, MaxFragments: 64, Timeout: 30 * time.Second}
}

// defragStats counts what a defragmenter did. Every fragment given to addIPv4
// or addIPv6 is counted in Fragments.
type defragStats struct {
	Fragments         uint64 // fragments given to addIPv4 and addIPv6
	Reassembled       uint64 // datagrams completed
	TimedOut          uint64 // datagrams dropped after Timeout
	Evicted           uint64 // datagrams dropped to make room (MaxDatagrams, MaxBytes)
	Overlaps          uint64 // fragments that overlapped data already received (first wins)
	OverlapsDifferent uint64 // ... with different bytes
	TooManyFragments  uint64 // datagrams dropped at MaxFragments
	TooBig            uint64 // datagrams dropped for exceeding 65,535 bytes
	Invalid           uint64 // fragments (and their datagrams) dropped as inconsistent
	Pending           int    // datagrams in reassembly now
	PendingBytes      int    // payload bytes buffered now
}

// defragResult is the outcome of defragmenter.addIPv4 and addIPv6.
type defragResult uint8

const (
	defragPending  defragResult = iota // fragment kept, datagram not complete yet
	defragComplete                     // datagram complete, returned
	defragDropped                      // fragment dropped (see defragStats)
)

// fragKey: (src, dst, protocol, id) for IPv4 (RFC 791), (src, dst, id) for
// IPv6 (RFC 8200 4.5); IPv4 addresses use the first 4 bytes.
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
}

type fragRange struct{ start, end int }

type fragDatagram struct {
	key    fragKey
	first  time.Time
	hdr    [60]byte
	hdrLen int   // 0 until the fragment at offset 0 arrived
	next   uint8 // IPv6: Next Header from the first fragment's Fragment header
	buf    []byte
	ranges []fragRange // received payload ranges, sorted, merged
	total  int         // payload length once the last fragment arrived, else -1
	nfrags int
	diff   fragRange // first overlap with different bytes (empty: none)
}

// maxIPv4Len is the largest IPv4 datagram.
const maxIPv4Len = 65535

// newDefragmenter returns a defragmenter with the given bounds.
func newDefragmenter(cfg defragConfig) *defragmenter {
	def := defaultDefragConfig()
	if cfg.MaxDatagrams <= 0 {
		cfg.MaxDatagrams = def.MaxDatagrams
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = def.MaxBytes
	}
	if cfg.MaxFragments <= 0 {
		cfg.MaxFragments = def.MaxFragments
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	return &defragmenter{cfg: cfg, m: make(map[fragKey]*fragDatagram)}
}

// snapshot returns the counters and the current pending figures.
func (f *defragmenter) snapshot() defragStats {
	s := f.stats
	s.Pending = len(f.m)
	s.PendingBytes = f.bytes
	return s
}

// addIPv4 takes one IPv4 fragment: a whole IPv4 header and the fragment's
// payload, trimmed to the header's total length. When it completes a
// datagram, addIPv4 returns the datagram (header and payload) and defragComplete;
// the slice is valid until the next call to addIPv4 or addIPv6. ts is the packet
// time.
func (f *defragmenter) addIPv4(ip []byte, ts time.Time) ([]byte, defragResult) {
	f.stats.Fragments++
	if len(ip) < 20 {
		f.stats.Invalid++
		return nil, defragDropped
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl {
		f.stats.Invalid++
		return nil, defragDropped
	}
	ff := binary.BigEndian.Uint16(ip[6:8])
	k := fragKey{id: uint32(binary.BigEndian.Uint16(ip[4:6])), proto: ip[9]}
	copy(k.src[:], ip[12:16])
	copy(k.dst[:], ip[16:20])
	return f.add(k, ip[:ihl], 0, int(ff&0x1fff)*8, ff&0x2000 != 0, ip[ihl:], ts, maxIPv4Len-20)
}

// addIPv6 takes one IPv6 fragment (RFC 8200 4.5) whose Fragment header
// directly follows the fixed header: hdr is the 40-byte IPv6 header, frag the
// 8-byte Fragment header and payload the fragment's data. The reassembled
// datagram is the first fragment's IPv6 header, with Next Header taken from
// the Fragment header, and the payload. Otherwise as addIPv4.
func (f *defragmenter) addIPv6(hdr, frag, payload []byte, ts time.Time) ([]byte, defragResult) {
	f.stats.Fragments++
	if len(hdr) < 40 || len(frag) < 8 {
		f.stats.Invalid++
		return nil, defragDropped
	}
	k := fragKey{id: binary.BigEndian.Uint32(frag[4:8]), v6: true}
	copy(k.src[:], hdr[8:24])
	copy(k.dst[:], hdr[24:40])
	fo := binary.BigEndian.Uint16(frag[2:4])
	return f.add(k, hdr[:40], frag[0], int(fo&^7), fo&1 != 0, payload, ts, 65535)
}

// add files one fragment of payload at [off, off+len(payload)); hdr is the
// datagram's header (kept from the fragment at offset 0), next the IPv6
// Next Header of the upper layer, maxPayload the largest datagram payload.
func (f *defragmenter) add(k fragKey, hdr []byte, next uint8, off int, more bool, payload []byte, ts time.Time, maxPayload int) ([]byte, defragResult) {
	end := off + len(payload)
	f.expire(ts)
	dg := f.m[k]
	if len(payload) == 0 || (more && len(payload)%8 != 0) {
		f.stats.Invalid++
		f.drop(dg)
		return nil, defragDropped
	}
	if end > maxPayload {
		f.stats.TooBig++
		f.drop(dg)
		return nil, defragDropped
	}
	if dg == nil {
		for len(f.m) >= f.cfg.MaxDatagrams {
			f.evictOldest(nil)
		}
		dg = f.newDatagram(k, ts)
	}
	if dg.nfrags >= f.cfg.MaxFragments {
		f.stats.TooManyFragments++
		f.drop(dg)
		return nil, defragDropped
	}
	dg.nfrags++
	if !more {
		if (dg.total >= 0 && dg.total != end) || (len(dg.ranges) > 0 && dg.ranges[len(dg.ranges)-1].end > end) {
			f.stats.Invalid++
			f.drop(dg)
			return nil, defragDropped
		}
		dg.total = end
	} else if dg.total >= 0 && end > dg.total {
		f.stats.Invalid++
		f.drop(dg)
		return nil, defragDropped
	}
	if off == 0 && dg.hdrLen == 0 {
		dg.hdrLen = copy(dg.hdr[:], hdr)
		dg.next = next
	}

	// Make room for the buffer to grow to end.
	if grow := end - len(dg.buf); grow > 0 {
		for f.bytes+grow > f.cfg.MaxBytes && len(f.m) > 1 {
			f.evictOldest(dg)
		}
		if f.bytes+grow > f.cfg.MaxBytes {
			f.stats.Evicted++
			f.drop(dg)
			return nil, defragDropped
		}
		f.bytes += grow
		if cap(dg.buf) >= end {
			dg.buf = dg.buf[:end]
		} else {
			nb := make([]byte, end, max(end, 2*cap(dg.buf)))
			copy(nb, dg.buf)
			dg.buf = nb
		}
	}
	if overlap, diff := dg.insert(off, end, payload); overlap {
		f.stats.Overlaps++
		if diff {
			f.stats.OverlapsDifferent++
		}
	}

	if dg.hdrLen == 0 || dg.total < 0 || len(dg.ranges) != 1 || dg.ranges[0].start != 0 || dg.ranges[0].end != dg.total {
		return nil, defragPending
	}

	// Complete: build the datagram.
	f.out = append(f.out[:0], dg.hdr[:dg.hdrLen]...)
	f.out = append(f.out, dg.buf[:dg.total]...)
	if k.v6 {
		binary.BigEndian.PutUint16(f.out[4:6], uint16(dg.total))
		f.out[6] = dg.next
	} else {
		binary.BigEndian.PutUint16(f.out[2:4], uint16(dg.hdrLen+dg.total))
		f.out[6] &= 0x40 // keep DF, clear MF and the offset
		f.out[7] = 0
		f.out[10], f.out[11] = 0, 0
		binary.BigEndian.PutUint16(f.out[10:12], ipv4Checksum(f.out[:dg.hdrLen]))
	}
	f.stats.Reassembled++
	f.lastOverlap = dg.diff
	f.remove(dg)
	return f.out, defragComplete
}

// insert copies the parts of payload (at [off,end)) not received yet and
// records the range. It reports whether the fragment overlapped received
// data, and whether the overlapping bytes differed (the first such range
// goes into dg.diff).
func (dg *fragDatagram) insert(off, end int, payload []byte) (overlap, diff bool) {
	pos := off
	for _, r := range dg.ranges {
		if r.end <= pos {
			continue
		}
		if r.start >= end {
			break
		}
		if r.start > pos {
			copy(dg.buf[pos:r.start], payload[pos-off:r.start-off])
		}
		overlap = true
		os, oe := max(pos, r.start), min(end, r.end)
		if string(dg.buf[os:oe]) != string(payload[os-off:oe-off]) {
			diff = true
			if dg.diff.end == 0 {
				dg.diff = fragRange{os, oe}
			}
		}
		pos = max(pos, r.end)
		if pos >= end {
			break
		}
	}
	if pos < end {
		copy(dg.buf[pos:end], payload[pos-off:])
	}
	// Merge [off,end) into the sorted ranges.
	i := 0
	for i < len(dg.ranges) && dg.ranges[i].end < off {
		i++
	}
	j := i
	start, stop := off, end
	for j < len(dg.ranges) && dg.ranges[j].start <= end {
		start = min(start, dg.ranges[j].start)
		stop = max(stop, dg.ranges[j].end)
		j++
	}
	if i == j {
		dg.ranges = append(dg.ranges, fragRange{})
		copy(dg.ranges[i+1:], dg.ranges[i:])
	} else if j > i+1 {
		dg.ranges = append(dg.ranges[:i+1], dg.ranges[j:]...)
	}
	dg.ranges[i] = fragRange{start, stop}
	return overlap, diff
}

func (f *defragmenter) newDatagram(k fragKey, ts time.Time) *fragDatagram {
	dg, ok := f.free.get()
	if !ok {
		dg = &fragDatagram{}
	}
	dg.key, dg.first, dg.hdrLen, dg.total, dg.nfrags = k, ts, 0, -1, 0
	dg.diff = fragRange{}
	dg.buf = dg.buf[:0]
	dg.ranges = dg.ranges[:0]
	f.m[k] = dg
	return dg
}

// maxFreeDatagrams bounds the free list; buffers above 16 KiB are not kept.
const maxFreeDatagrams = 64

func (f *defragmenter) remove(dg *fragDatagram) {
	delete(f.m, dg.key)
	f.bytes -= len(dg.buf)
	if cap(dg.buf) > 16<<10 {
		dg.buf = nil
	}
	f.free.put(dg, maxFreeDatagrams)
}

func (f *defragmenter) drop(dg *fragDatagram) {
	if dg != nil {
		f.remove(dg)
	}
}

// evictOldest drops the datagram with the oldest first fragment, except keep.
func (f *defragmenter) evictOldest(keep *fragDatagram) {
	var old *fragDatagram
	for _, dg := range f.m {
		if dg != keep && (old == nil || dg.first.Before(old.first)) {
			old = dg
		}
	}
	if old != nil {
		f.stats.Evicted++
		f.remove(old)
	}
}

// expire drops the datagrams whose first fragment is older than the
// timeout at packet time now. It scans at most once per second of packet
// time (and again when packet time goes backwards).
func (f *defragmenter) expire(now time.Time) {
	if len(f.m) == 0 || now.Sub(f.sweep) < time.Second && !now.Before(f.sweep) {
		return
	}
	f.sweep = now
	for _, dg := range f.m {
		if now.Sub(dg.first) > f.cfg.Timeout {
			f.stats.TimedOut++
			f.remove(dg)
		}
	}
}

// ipv4Checksum is the RFC 1071 checksum of an IPv4 header (with the checksum
// field zeroed).
func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
