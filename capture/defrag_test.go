package capture

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// bigTCP is an IPv4 TCP datagram (no link header) with n payload bytes.
func bigTCP(t testing.TB, id uint16, n int) []byte {
	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	ip.Id = id
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1, ACK: true, PSH: true}
	tcp.SetNetworkLayerForChecksum(ip)
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	return serialize(t, ip, tcp, gopacket.Payload(payload))
}

// fragment splits an IPv4 datagram at the given payload offsets (multiples
// of 8) into fragments, each a whole IPv4 packet.
func fragment(dg []byte, cuts ...int) [][]byte {
	hl := int(dg[0]&0x0f) * 4
	payload := dg[hl:]
	bounds := append(append([]int{0}, cuts...), len(payload))
	var out [][]byte
	for i := 0; i+1 < len(bounds); i++ {
		f := append(slices.Clone(dg[:hl]), payload[bounds[i]:bounds[i+1]]...)
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		ff := uint16(bounds[i] / 8)
		if i+2 < len(bounds) {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:8], ff)
		f[10], f[11] = 0, 0
		binary.BigEndian.PutUint16(f[10:12], ipv4Checksum(f[:hl]))
		out = append(out, f)
	}
	return out
}

func TestDefragThroughDecoder(t *testing.T) {
	dg := bigTCP(t, 7, 3000)
	frags := fragment(dg, 1480, 2960)
	ref := NewDecoder()
	var want Packet
	if !ref.Decode(dg, gopacket.CaptureInfo{}, layers.LinkTypeRaw, &want) {
		t.Fatal("reference decode failed")
	}
	wantPayload := slices.Clone(want.Payload)
	orders := map[string][]int{"in-order": {0, 1, 2}, "reverse": {2, 1, 0}, "middle-first": {1, 2, 0}, "duplicates": {0, 0, 2, 2, 1}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder()
			var p Packet
			for i, idx := range order {
				ok := d.Decode(frags[idx], gopacket.CaptureInfo{Timestamp: testTime}, layers.LinkTypeRaw, &p)
				last := i == len(order)-1
				if ok != last {
					t.Fatalf("fragment %d (#%d): Decode = %v", i, idx, ok)
				}
			}
			if !bytes.Equal(p.Payload, wantPayload) || p.SrcPort != 40000 || p.DstPort != 443 {
				t.Fatalf("reassembled payload differs (%d bytes, want %d)", len(p.Payload), len(wantPayload))
			}
			if p.firstHash() != want.firstHash() {
				t.Errorf("hash of reassembled datagram %#x, want %#x (the unfragmented datagram's)", p.firstHash(), want.firstHash())
			}
			if d.stats.Reassembled != 1 || d.stats.FragmentsPending != uint64(len(order)-1) || d.stats.Decoded != 1 {
				t.Errorf("decoder stats %+v", d.stats)
			}
			if s := d.defrag.snapshot(); s.Pending != 0 || s.PendingBytes != 0 || s.Reassembled != 1 {
				t.Errorf("defrag stats %+v", s)
			}
		})
	}
}

func TestDefragOverlapFirstWins(t *testing.T) {
	dg := bigTCP(t, 9, 64)
	frags := fragment(dg, 16, 48)
	// A second copy of the middle fragment with other bytes: must be ignored.
	evil := slices.Clone(frags[1])
	for i := 20; i < len(evil); i++ {
		evil[i] ^= 0xff
	}
	f := newDefragmenter(defragConfig{})
	for _, fr := range [][]byte{frags[1], evil, frags[0]} {
		if _, res := f.addIPv4(fr, testTime); res != defragPending {
			t.Fatalf("res %v", res)
		}
	}
	out, res := f.addIPv4(frags[2], testTime)
	if res != defragComplete || !bytes.Equal(out, dg) {
		t.Fatalf("res %v, datagram equal %v", res, bytes.Equal(out, dg))
	}
	if s := f.snapshot(); s.Overlaps != 1 {
		t.Errorf("Overlaps %d", s.Overlaps)
	}
	// Partial overlap: a fragment covering [8,32) over [0,16) and [16,48).
	f = newDefragmenter(defragConfig{})
	part := fragment(dg, 8, 32)[1] // bytes 8..32, MF set
	for i := 20; i < len(part); i++ {
		part[i] ^= 0x55
	}
	f.addIPv4(frags[0], testTime)
	f.addIPv4(part, testTime)
	f.addIPv4(frags[1], testTime)
	if out, res = f.addIPv4(frags[2], testTime); res != defragComplete {
		t.Fatalf("res %v", res)
	}
	hl := 20
	want := slices.Clone(dg)
	for i := hl + 16; i < hl+32; i++ { // bytes 16..32 came from the evil fragment first
		want[i] ^= 0x55
	}
	if !bytes.Equal(out[hl:], want[hl:]) {
		t.Errorf("partial overlap: first-wins bytes not kept")
	}
}

func TestDefragLimits(t *testing.T) {
	t0 := testTime
	t.Run("max-datagrams", func(t *testing.T) {
		f := newDefragmenter(defragConfig{MaxDatagrams: 3})
		for id := range uint16(5) {
			f.addIPv4(fragment(bigTCP(t, id, 100), 48)[0], t0.Add(time.Duration(id)*time.Millisecond))
		}
		s := f.snapshot()
		if s.Pending != 3 || s.Evicted != 2 {
			t.Errorf("stats %+v", s)
		}
		// The oldest (ids 0, 1) were evicted: completing id 4 works, id 0 does not.
		if _, res := f.addIPv4(fragment(bigTCP(t, 4, 100), 48)[1], t0); res != defragComplete {
			t.Errorf("id 4: %v", res)
		}
		if _, res := f.addIPv4(fragment(bigTCP(t, 0, 100), 48)[1], t0); res != defragPending {
			t.Errorf("id 0 (evicted): %v", res)
		}
	})
	t.Run("max-bytes", func(t *testing.T) {
		f := newDefragmenter(defragConfig{MaxBytes: 2000})
		f.addIPv4(fragment(bigTCP(t, 1, 3000), 1480)[0], t0)
		f.addIPv4(fragment(bigTCP(t, 2, 3000), 1480)[0], t0.Add(time.Millisecond))
		s := f.snapshot()
		if s.Pending != 1 || s.Evicted != 1 || s.PendingBytes > 2000 {
			t.Errorf("stats %+v", s)
		}
		// A single datagram larger than the bound is dropped.
		if _, res := f.addIPv4(fragment(bigTCP(t, 3, 3000), 1480)[1], t0); res != defragDropped {
			t.Errorf("oversized: %v", res)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newDefragmenter(defragConfig{Timeout: 5 * time.Second})
		fr := fragment(bigTCP(t, 1, 100), 48)
		f.addIPv4(fr[0], t0)
		f.addIPv4(fragment(bigTCP(t, 2, 100), 48)[0], t0.Add(10*time.Second)) // triggers expiry
		if _, res := f.addIPv4(fr[1], t0.Add(10*time.Second)); res != defragPending {
			t.Errorf("completed after timeout: %v", res)
		}
		if s := f.snapshot(); s.TimedOut != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("too-many-fragments", func(t *testing.T) {
		f := newDefragmenter(defragConfig{MaxFragments: 4})
		var cuts []int
		for c := 8; c < 100; c += 8 {
			cuts = append(cuts, c)
		}
		var last defragResult
		for _, fr := range fragment(bigTCP(t, 1, 100), cuts...) {
			_, last = f.addIPv4(fr, t0)
		}
		if s := f.snapshot(); s.TooManyFragments == 0 || last == defragComplete {
			t.Errorf("stats %+v last %v", s, last)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		f := newDefragmenter(defragConfig{})
		fr := fragment(bigTCP(t, 1, 100), 44) // non-last fragment not a multiple of 8
		if _, res := f.addIPv4(fr[0], t0); res != defragDropped {
			t.Errorf("res %v", res)
		}
		// Two different ends.
		a := fragment(bigTCP(t, 2, 100), 48)
		b := fragment(bigTCP(t, 2, 120), 48)
		f.addIPv4(a[1], t0)
		if _, res := f.addIPv4(b[1], t0); res != defragDropped {
			t.Errorf("conflicting ends: %v", res)
		}
		if s := f.snapshot(); s.Invalid != 2 || s.Pending != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("too-big", func(t *testing.T) {
		f := newDefragmenter(defragConfig{})
		fr := fragment(bigTCP(t, 1, 100), 48)[1]
		binary.BigEndian.PutUint16(fr[6:8], 8189) // offset 65512 + 72 bytes > 65535
		if _, res := f.addIPv4(fr, t0); res != defragDropped || f.snapshot().TooBig != 1 {
			t.Errorf("res %v stats %+v", res, f.snapshot())
		}
	})
}

func TestDefragNoDefragmenter(t *testing.T) {
	d := &Decoder{}
	var p Packet
	if d.Decode(fragment(bigTCP(t, 1, 100), 48)[0], gopacket.CaptureInfo{}, layers.LinkTypeRaw, &p) || d.stats.FragmentsDropped != 1 {
		t.Errorf("stats %+v", d.stats)
	}
}

func BenchmarkDefrag(b *testing.B) {
	frags := fragment(bigTCP(b, 1, 4000), 1480, 2960)
	d := NewDecoder()
	var p Packet
	ci := gopacket.CaptureInfo{Timestamp: testTime}
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range frags {
			d.Decode(f, ci, layers.LinkTypeRaw, &p)
		}
	}
}

// TestDefragOuterTunnel: a VXLAN packet whose outer IPv4 datagram was
// fragmented on the way (mirror traffic over a smaller MTU) decodes to the
// inner TCP packet once both fragments are in.
func TestDefragOuterTunnel(t *testing.T) {
	frame := serialize(t, cat(outerUDP(4789), cat([]gopacket.SerializableLayer{vxlanLayer(), eth(layers.EthernetTypeDot1Q), vlan(33, layers.EthernetTypeIPv4)}, innerTCP()...)...)...)
	frags := fragment(frame[14:], 48)
	d := NewDecoder()
	var p Packet
	for i, f := range frags {
		withEth := append(slices.Clone(frame[:14]), f...)
		if got := d.Decode(withEth, gopacket.CaptureInfo{Timestamp: testTime}, layers.LinkTypeEthernet, &p); got != (i == len(frags)-1) {
			t.Fatalf("fragment %d: Decode = %v (%+v)", i, got, d.stats)
		}
	}
	if p.SrcPort != 40000 || p.DstPort != 443 || string(p.Payload) != "hello" || p.NVLANs != 1 || p.VLANs[0] != 33 {
		t.Errorf("inner packet %v:%d -> %v:%d %q vlans %v", p.Src, p.SrcPort, p.Dst, p.DstPort, p.Payload, p.VLANs[:p.NVLANs])
	}
	if d.stats.Reassembled != 1 || d.stats.Tunneled != 1 {
		t.Errorf("stats %+v", d.stats)
	}
}

// fragment6 splits an IPv6 datagram (fixed header + upper layer, no
// extension headers) into fragments with a Fragment header (RFC 8200 4.5).
func fragment6(dg []byte, id uint32, cuts ...int) [][]byte {
	payload := dg[40:]
	bounds := append(append([]int{0}, cuts...), len(payload))
	var out [][]byte
	for i := 0; i+1 < len(bounds); i++ {
		f := slices.Clone(dg[:40])
		f[6] = 44
		fh := make([]byte, 8)
		fh[0] = dg[6]
		fo := uint16(bounds[i])
		if i+2 < len(bounds) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:4], fo)
		binary.BigEndian.PutUint32(fh[4:8], id)
		f = append(append(f, fh...), payload[bounds[i]:bounds[i+1]]...)
		binary.BigEndian.PutUint16(f[4:6], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

func TestDefragIPv6(t *testing.T) {
	ip := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 50000, DstPort: 443}
	udp.SetNetworkLayerForChecksum(ip)
	payload := make([]byte, 2500)
	for i := range payload {
		payload[i] = byte(i)
	}
	dg := serialize(t, ip, udp, gopacket.Payload(payload))
	ref := NewDecoder()
	var want Packet
	if !ref.Decode(dg, gopacket.CaptureInfo{}, layers.LinkTypeIPv6, &want) {
		t.Fatal("reference decode failed")
	}
	frags := fragment6(dg, 0xabcdef, 1232, 2464)
	d := NewDecoder()
	var p Packet
	for i, idx := range []int{2, 0, 1} {
		if got := d.Decode(frags[idx], gopacket.CaptureInfo{Timestamp: testTime}, layers.LinkTypeIPv6, &p); got != (i == 2) {
			t.Fatalf("fragment %d: Decode = %v (%+v)", idx, got, d.stats)
		}
	}
	if !bytes.Equal(p.Payload, payload) || p.DstPort != 443 || p.Proto != 17 || p.firstHash() != want.firstHash() {
		t.Errorf("reassembled: %d bytes, port %d, proto %d, hash equal %v", len(p.Payload), p.DstPort, p.Proto, p.firstHash() == want.firstHash())
	}
	// Same id from another source is another datagram.
	other := fragment6(dg, 0xabcdef, 1232)
	copy(other[0][8:24], []byte("0123456789abcdef"))
	if _, res := d.defrag.addIPv6(other[0][:40], other[0][40:48], other[0][48:], testTime); res != defragPending {
		t.Errorf("res %v", res)
	}
	if s := d.defrag.snapshot(); s.Pending != 1 || s.Reassembled != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestDefragOverlapDifferent: only overlaps with different bytes are
// counted in OverlapsDifferent and reported on the reassembled packet,
// for IPv4 and IPv6.
func TestDefragOverlapDifferent(t *testing.T) {
	dg := bigTCP(t, 11, 64)
	frags := fragment(dg, 16, 48)
	f := newDefragmenter(defragConfig{})
	for _, fr := range [][]byte{frags[0], frags[1], frags[1]} { // clean resend
		f.addIPv4(fr, testTime)
	}
	if _, res := f.addIPv4(frags[2], testTime); res != defragComplete || f.lastOverlap.end != 0 {
		t.Fatalf("clean resend: res %v, lastOverlap %+v", res, f.lastOverlap)
	}
	if s := f.snapshot(); s.Overlaps != 1 || s.OverlapsDifferent != 0 {
		t.Errorf("clean resend: %+v", s)
	}

	// IPv6: a resend of the middle fragment ([16,48)) with other bytes from payload byte 24 on.
	ip := ip6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 50000, DstPort: 443}
	udp.SetNetworkLayerForChecksum(ip)
	dg6 := serialize(t, ip, udp, gopacket.Payload(make([]byte, 100)))
	fr6 := fragment6(dg6, 7, 16, 48)
	evil := slices.Clone(fr6[1])
	for i := 48 + 8; i < len(evil); i++ {
		evil[i] ^= 0xff
	}
	d := NewDecoder()
	var p Packet
	for _, fr := range [][]byte{fr6[0], fr6[1], evil, fr6[2]} {
		d.Decode(fr, gopacket.CaptureInfo{Timestamp: testTime}, layers.LinkTypeIPv6, &p)
	}
	if p.FragOverlapOffset != 16 || p.FragOverlapLength != 32 || d.stats.FragmentOverlaps != 1 {
		t.Errorf("IPv6 overlap reported at %d+%d, %d counted; want 16+32 (the overlap), 1", p.FragOverlapOffset, p.FragOverlapLength, d.stats.FragmentOverlaps)
	}
}
