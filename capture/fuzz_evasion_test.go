package capture

import (
	"encoding/binary"
	"testing"
)

// FuzzReassemblyEvasion feeds arbitrary segment sequences (overlapping,
// out of order, with different bytes, around sequence number wrap) to one
// direction and checks what was delivered against a model of the
// first-wins policy: byte i of the delivered stream is the byte the first
// segment covering start+i carried (start: the first segment's sequence
// number). It never panics, and whatever is delivered is a prefix of that
// view, whatever the limits cut.
//
// Input: 4 bytes of initial sequence number, 1 byte of limits, then
// records of 4 bytes: offset from the ISN (int16, so segments before the
// start happen), length, fill byte (each segment's bytes are fill+i, so
// different fills overlap with different bytes).
func FuzzReassemblyEvasion(f *testing.F) {
	seed := func(isn uint32, lim byte, recs ...[4]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, isn)
		b = append(b, lim)
		for _, r := range recs {
			b = append(b, r[:]...)
		}
		return b
	}
	f.Add(seed(1000, 0, [4]byte{0, 0, 10, 1}, [4]byte{0, 10, 10, 2}))
	f.Add(seed(0xfffffff0, 1, [4]byte{0, 0, 10, 1}, [4]byte{0, 20, 10, 2}, [4]byte{0, 5, 30, 3}, [4]byte{0, 10, 10, 2}))
	f.Add(seed(7, 2, [4]byte{0, 30, 10, 9}, [4]byte{0, 0, 5, 1}, [4]byte{0xff, 0xf0, 40, 4}, [4]byte{0, 5, 100, 5}))
	f.Add(seed(1, 3, [4]byte{0, 0, 200, 1}, [4]byte{0, 100, 200, 2}, [4]byte{0, 50, 10, 1}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 5 {
			return
		}
		isn := binary.BigEndian.Uint32(in)
		lim := in[4]
		in = in[5:]
		r := &reasm{maxPendingBytes: 64 << (lim & 3), maxPendingSegs: 2 + int(lim>>2&7), maxStream: 1 << 20, st: new(counters)}
		if lim&0x80 != 0 {
			r.maxStream = 1 + int(lim&0x3f)*8
		}
		var h halfStream
		var got []byte
		want := map[int]byte{} // stream offset -> first-arrived byte
		started := false
		var start uint32
		stopAfter := -1
		for n := 0; len(in) >= 4; in, n = in[4:], n+1 {
			off := int16(binary.BigEndian.Uint16(in))
			length, fill := int(in[2]), in[3]
			seq := isn + uint32(int32(off))
			data := make([]byte, length)
			for i := range data {
				data[i] = fill + byte(i)
			}
			if length > 0 && !started {
				started, start = true, seq
			}
			for i := range data {
				p := int(int32(seq + uint32(i) - start))
				if _, ok := want[p]; !ok && p >= 0 {
					want[p] = data[i]
				}
			}
			h.add(r, seq, data, func(b []byte) bool {
				got = append(got, b...)
				return stopAfter < 0 || len(got) < stopAfter
			})
		}
		if len(got) > r.maxStream {
			t.Fatalf("delivered %d bytes past the stream limit %d", len(got), r.maxStream)
		}
		for i, c := range got {
			if w, ok := want[i]; !ok || w != c {
				t.Fatalf("delivered byte %d = %#x, first-arrived %#x (present %v)", i, c, w, ok)
			}
		}
		h.finish(r)
		if h.pending != nil || h.pendBytes != 0 {
			t.Fatal("buffers kept after finish")
		}
	})
}
