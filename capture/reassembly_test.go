package capture

import (
	"bytes"
	"testing"
)

type seg struct {
	seq  uint32
	data string
	syn  bool
}

func newTestReasm() *reasm {
	return &reasm{maxPendingBytes: 64, maxPendingSegs: 4, maxStream: 1 << 20, st: new(counters)}
}

func TestHalfStream(t *testing.T) {
	const isn = 1000
	tests := []struct {
		name     string
		segs     []seg
		finish   bool
		want     string
		gap      bool
		overlap  bool
		counters map[Counter]uint64
	}{
		{name: "in order", segs: []seg{{isn, "", true}, {isn + 1, "hello ", false}, {isn + 7, "world", false}}, want: "hello world"},
		{name: "out of order", segs: []seg{{isn, "", true}, {isn + 7, "world", false}, {isn + 1, "hello ", false}}, want: "hello world",
			counters: map[Counter]uint64{CReasmOutOfOrder: 1}},
		{name: "identical retransmission", segs: []seg{{isn, "", true}, {isn + 1, "hello ", false}, {isn + 1, "hello ", false}, {isn + 7, "world", false}}, want: "hello world",
			counters: map[Counter]uint64{CReasmRetransmits: 1, CReasmOverlaps: 0}},
		{name: "retransmission with different bytes: first wins", segs: []seg{{isn, "", true}, {isn + 1, "hello ", false}, {isn + 1, "HELLO world", false}}, want: "hello world", overlap: true,
			counters: map[Counter]uint64{CReasmOverlaps: 1}},
		{name: "overlap between buffered segments: first wins", segs: []seg{{isn, "", true}, {isn + 5, "o wor", false}, {isn + 3, "LLO WORLD", false}, {isn + 1, "he", false}}, want: "heLLo worLD", overlap: true},
		{name: "in-order segment overlapping buffered one", segs: []seg{{isn, "", true}, {isn + 7, "world", false}, {isn + 1, "hello wORLD!", false}}, want: "hello world!", overlap: true},
		{name: "hole never filled", segs: []seg{{isn, "", true}, {isn + 1, "ab", false}, {isn + 10, "xyz", false}}, finish: true, want: "ab", gap: true,
			counters: map[Counter]uint64{CReasmGaps: 1}},
		{name: "out-of-order bound", segs: []seg{{isn, "", true}, {isn + 100, string(make([]byte, 60)), false}, {isn + 200, string(make([]byte, 10)), false}, {isn + 1, "late", false}}, want: "", gap: true,
			counters: map[Counter]uint64{CReasmOOODropped: 1, CReasmGaps: 1}},
		{name: "midstream: starts at first segment", segs: []seg{{5000, "mid", false}, {5003, "dle", false}}, want: "middle"},
		{name: "fast open: data in SYN", segs: []seg{{isn, "tfo", true}, {isn + 4, "!", false}}, want: "tfo!"},
		{name: "second SYN-ACK rebases before data", segs: []seg{{isn, "", true}, {7000, "", true}, {7001, "ok", false}}, want: "ok"},
		{name: "SYN after data is ignored", segs: []seg{{isn, "", true}, {isn + 1, "ab", false}, {9000, "", true}, {isn + 3, "c", false}}, want: "abc"},
		{name: "sequence wraps", segs: []seg{{0xfffffffd, "", true}, {0xfffffffe, "ab", false}, {0, "cd", false}}, want: "abcd"},
		{name: "far ahead is out of window", segs: []seg{{isn, "", true}, {isn + 1 + 2*maxWindow, "zz", false}, {isn + 1, "ab", false}}, want: "ab",
			counters: map[Counter]uint64{CReasmOOODropped: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestReasm()
			var h halfStream
			var got bytes.Buffer
			deliver := func(b []byte) bool { got.Write(b); return true }
			for _, s := range tc.segs {
				seq := s.seq
				if s.syn {
					h.synAt(seq)
					seq++
				}
				h.add(r, seq, []byte(s.data), deliver)
			}
			if tc.finish {
				h.finish(r)
			}
			if got.String() != tc.want {
				t.Errorf("delivered %q, want %q", got.String(), tc.want)
			}
			if h.gap != tc.gap {
				t.Errorf("gap = %v, want %v", h.gap, tc.gap)
			}
			if h.overlap != tc.overlap {
				t.Errorf("overlap = %v, want %v", h.overlap, tc.overlap)
			}
			for c, n := range tc.counters {
				if v := r.st.v[c].Load(); v != n {
					t.Errorf("%s = %d, want %d", c.Name(), v, n)
				}
			}
		})
	}
}

func TestHalfStreamStopsWhenParserDone(t *testing.T) {
	r := newTestReasm()
	var h halfStream
	calls := 0
	deliver := func([]byte) bool { calls++; return false }
	h.synAt(1)
	h.add(r, 2, []byte("a"), deliver)
	h.add(r, 3, []byte("b"), deliver)
	if calls != 1 || !h.done {
		t.Fatalf("calls=%d done=%v, want 1 true", calls, h.done)
	}
}

func TestHalfStreamLimit(t *testing.T) {
	r := newTestReasm()
	r.maxStream = 5
	var h halfStream
	var got []byte
	h.add(r, 1, []byte("abc"), func(b []byte) bool { got = append(got, b...); return true })
	h.add(r, 4, []byte("defg"), func(b []byte) bool { got = append(got, b...); return true })
	if string(got) != "abcde" || !h.limited || !h.done {
		t.Fatalf("got %q limited=%v", got, h.limited)
	}
}

func TestHalfStreamHistoryWindow(t *testing.T) {
	// a retransmission of bytes long delivered is only compared within the history
	r := newTestReasm()
	var h halfStream
	deliver := func([]byte) bool { return true }
	big := bytes.Repeat([]byte{'x'}, 5000)
	h.add(r, 1, big, deliver)
	h.add(r, 1, bytes.Repeat([]byte{'y'}, 100), deliver) // older than the history: not compared
	if h.overlap {
		t.Fatal("overlap reported for bytes outside the history")
	}
	h.add(r, 4990, bytes.Repeat([]byte{'y'}, 11), deliver) // last bytes: compared
	if !h.overlap {
		t.Fatal("overlap within history not reported")
	}
}

func TestHalfStreamInOrderNoAlloc(t *testing.T) {
	r := newTestReasm()
	var h halfStream
	payload := make([]byte, 1400)
	seq := uint32(1)
	deliver := func([]byte) bool { return true }
	h.add(r, seq, payload, deliver) // warm: history buffer
	seq += 1400
	allocs := testing.AllocsPerRun(1000, func() {
		h.add(r, seq, payload, deliver)
		seq += 1400
	})
	if allocs != 0 {
		t.Fatalf("in-order add: %v allocs/op, want 0", allocs)
	}
}

func FuzzHalfStream(f *testing.F) {
	f.Add([]byte{0, 5, 'a', 'b', 'c', 'd', 'e', 2, 3, 'x', 'y', 'z'})
	f.Fuzz(func(t *testing.T, in []byte) {
		// in: repeated (offset byte, length byte, data...) segments
		r := newTestReasm()
		var h halfStream
		h.synAt(0)
		var got []byte
		deliver := func(b []byte) bool { got = append(got, b...); return true }
		for len(in) >= 2 {
			off, n := int(in[0]), int(in[1]%32)
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			h.add(r, uint32(1+off), in[:n], deliver)
			in = in[n:]
		}
		h.finish(r)
		if len(got) != h.delivered {
			t.Fatalf("delivered %d bytes, counted %d", len(got), h.delivered)
		}
		if h.pending != nil || h.hist != nil {
			t.Fatal("buffers not released")
		}
	})
}
