package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
)

// FuzzReassembly runs arbitrary segment sequences of a few flows (both
// directions, any flags, sequence numbers near each side's ISN, parts of a
// real ClientHello or random bytes) through a worker with a small budget:
// it never panics, every flow's accounting matches what it holds, the
// total is never negative nor over the limit, and it is zero once every
// flow has ended.
//
// Input: a limit byte (budget in KiB, 1-16), then segments of 5 bytes and
// a payload: flow and direction, flags, sequence offset (2 bytes, from the
// side's ISN), payload length (from the ClientHello when the top bit is
// set, else the next input bytes).
func FuzzReassembly(f *testing.F) {
	hello := testClientHello("fuzz.test")
	syn := []byte{0x00, FlagSYN, 0, 0, 0}
	synAck := []byte{0x80, FlagSYN | FlagACK, 0, 0, 0}
	f.Add(append(append(append([]byte{4}, syn...), synAck...), 0x00, FlagACK|FlagPSH, 0, 1, 0x80|60, 0x00, FlagACK|FlagPSH, 0, 61, 0x80|40))
	f.Add(append(append([]byte{1}, syn...), 0x00, FlagACK, 0, 200, 0x80|100, 0x00, FlagACK, 0, 1, 0x80|120, 0x01, FlagSYN, 0, 0, 0, 0x01, FlagRST, 0, 1, 0))
	f.Add([]byte{16, 0x02, FlagACK, 0x10, 0, 5, 'h', 'e', 'l', 'l', 'o', 0x82, FlagFIN | FlagACK, 0, 0, 0, 0x02, FlagFIN, 0, 5, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		limit := int64(1+int(in[0])%16) << 10
		in = in[1:]
		_, w := memWorker(limit, session.HandlerFunc(func(*session.Session) {}))
		w.cfg.IdleTimeout, w.cfg.CloseLinger = 5*time.Second, time.Second
		ts := pcapgen.DefaultBase
		for len(in) >= 5 {
			fl, flags := in[0], in[1]
			off := uint32(binary.BigEndian.Uint16(in[2:4]))
			n, fromHello := int(in[4]&0x7f), in[4]&0x80 != 0
			var payload []byte
			in = in[5:]
			switch {
			case n == 0:
			case fromHello || n > len(in):
				payload = hello[:min(n, len(hello))]
			default:
				payload, in = in[:n], in[n:]
			}
			isn := [2]uint32{1000 * uint32(fl&3+1), 0xfffff000}
			d := fl >> 7
			pk := Packet{Timestamp: ts, WireLen: 60 + len(payload), Proto: 6, Seq: isn[d] + off, Flags: flags, Payload: payload,
				Src: netip.AddrFrom4([4]byte{10, 0, 0, 1 + fl&3}), Dst: srv.Addr(), SrcPort: 40000, DstPort: 443}
			if d == 1 {
				pk.Src, pk.Dst, pk.SrcPort, pk.DstPort = pk.Dst, pk.Src, pk.DstPort, pk.SrcPort
			}
			if fl&0x40 != 0 {
				ts = ts.Add(3 * time.Second)
			}
			w.advance(ts.UnixNano())
			w.handle(&pk)
			checkMem(t, w)
		}
		w.flushAll()
		if w.mem.used != 0 || w.tab.n != 0 {
			t.Fatalf("%d bytes, %d flows left after the flush", w.mem.used, w.tab.n)
		}
	})
}

// FuzzDefrag runs arbitrary IPv4 and IPv6 fragment sequences through a
// defragmenter with small bounds: it never panics, the bytes it counts are
// what its datagrams buffer, never negative nor over MaxBytes, and it
// never holds more than MaxDatagrams.
//
// Input: fragments of 6 bytes and a payload: flags (bit 0 IPv6, bit 1 more
// fragments, bit 2 a second later), datagram id, offset in 8-byte units
// (2 bytes), payload length (2 bytes, cut to what is left of the input).
func FuzzDefrag(f *testing.F) {
	dg := bigTCP(f, 7, 100)
	fr := fragment(dg, 48)
	seed := func(flags, id byte, off int, payload []byte) []byte {
		return append([]byte{flags, id, byte(off / 8 >> 8), byte(off / 8), byte(len(payload) >> 8), byte(len(payload))}, payload...)
	}
	f.Add(append(seed(2, 7, 0, fr[0][20:]), seed(0, 7, 48, fr[1][20:])...))
	f.Add(append(append(seed(3, 1, 0, make([]byte, 64)), seed(1, 1, 64, make([]byte, 16))...), seed(2, 2, 8, make([]byte, 32))...))
	f.Add(append(append(seed(2, 3, 0, make([]byte, 1000)), seed(6, 4, 1000, make([]byte, 1600))...), seed(0, 3, 16, make([]byte, 8))...))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newDefragmenter(defragConfig{MaxDatagrams: 4, MaxBytes: 3000, MaxFragments: 8, Timeout: 5 * time.Second})
		ts := testTime
		hdr4 := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		hdr6 := make([]byte, 40)
		hdr6[0], hdr6[6] = 0x60, 44
		hdr6[23], hdr6[39] = 1, 2
		for len(in) >= 6 {
			flags, id := in[0], in[1]
			off := int(binary.BigEndian.Uint16(in[2:4])) * 8
			n := min(int(binary.BigEndian.Uint16(in[4:6])), len(in)-6)
			payload := in[6 : 6+n]
			in = in[6+n:]
			if flags&4 != 0 {
				ts = ts.Add(time.Second)
			}
			if flags&1 != 0 {
				fo := uint16(off) &^ 7
				if flags&2 != 0 {
					fo |= 1
				}
				frag := []byte{6, 0, byte(fo >> 8), byte(fo), 0, 0, 0, id}
				d.addIPv6(hdr6, frag, payload, ts)
			} else {
				ip := append([]byte(nil), hdr4...)
				ff := uint16(off/8) & 0x1fff
				if flags&2 != 0 {
					ff |= 0x2000
				}
				binary.BigEndian.PutUint16(ip[6:8], ff)
				ip[5] = id
				ip = append(ip, payload...)
				binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
				d.addIPv4(ip, ts)
			}
			sum := 0
			for _, g := range d.m {
				sum += len(g.buf)
			}
			if d.bytes != sum || d.bytes < 0 || d.bytes > d.cfg.MaxBytes || len(d.m) > d.cfg.MaxDatagrams {
				t.Fatalf("bytes %d (datagrams buffer %d, max %d), %d datagrams", d.bytes, sum, d.cfg.MaxBytes, len(d.m))
			}
		}
	})
}
