package capture

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refChecksum is RFC 1071 over the pseudo-header and seg, 16 bits at a time.
func refChecksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	var b []byte
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	if src.Is4() {
		b = append(b, 0, proto, byte(len(seg)>>8), byte(len(seg)))
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(len(seg)))
		b = append(b, 0, 0, 0, proto)
	}
	b = append(b, seg...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestL4Checksum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addrs := [][2]netip.Addr{
		{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")},
		{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:ffff::abcd")},
	}
	for n := 8; n < 300; n++ {
		for _, a := range addrs {
			for _, proto := range []uint8{6, 17, 6 | 0x80} {
				seg := make([]byte, n)
				for i := range seg {
					seg[i] = byte(r.Uint32())
					if proto&0x80 != 0 {
						seg[i] = 0xff // a carry out of every word
					}
				}
				proto &^= 0x80
				off := 16 // TCP checksum field
				if proto == 17 {
					off = 6
				}
				if off+2 > n {
					continue
				}
				seg[off], seg[off+1] = 0, 0
				binary.BigEndian.PutUint16(seg[off:], refChecksum(a[0], a[1], proto, seg))
				if !l4Checksum(a[0], a[1], proto, seg) {
					t.Fatalf("n=%d %v proto %d: good checksum rejected", n, a[0], proto)
				}
				seg[n-1] ^= 0x40
				if l4Checksum(a[0], a[1], proto, seg) {
					t.Fatalf("n=%d %v proto %d: bad checksum accepted", n, a[0], proto)
				}
			}
		}
	}
}

func TestChecksumAutoDirection(t *testing.T) {
	// a direction with good packets stays validated
	var dc dirChecksums
	dc.accept(true)
	dc.accept(true)
	if use, _ := dc.accept(false); use {
		t.Fatal("decoy in a direction with good packets used")
	}
	// an offloaded direction: every packet bad
	var o dirChecksums
	reported := 0
	for i := range 20 {
		use, first := o.accept(false)
		if !use {
			t.Fatalf("packet %d of an offloaded direction dropped", i)
		}
		if first {
			reported++
		}
	}
	if reported != 1 {
		t.Fatalf("offload reported %d times, want 1", reported)
	}
}

func BenchmarkL4Checksum(b *testing.B) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	seg := make([]byte, 1460)
	for i := range seg {
		seg[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		l4Checksum(src, dst, 6, seg)
	}
}
