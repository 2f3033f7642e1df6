package capture

import (
	"testing"

	"github.com/tlsentry/tlsentry/session"
)

func TestSizeProfile(t *testing.T) {
	var p sizeProfile
	p.note(0, 0) // a bare ACK counts nothing
	p.note(0, 300)
	p.note(1, 1200)
	p.note(1, 40000) // past int16: kept as 32767
	p.note(0, 80)
	for range 20 {
		p.note(1, 100)
	}
	for _, c := range []struct {
		cs         int8
		first      []int16
		payloads   [2]uint32
		small      [2]uint32
		clientByte uint64
	}{
		{0, []int16{300, -1200, -32767, 80, -100}, [2]uint32{2, 22}, [2]uint32{1, 20}, 380},
		{1, []int16{-300, 1200, 32767, -80, 100}, [2]uint32{22, 2}, [2]uint32{20, 1}, 1200 + 40000 + 2000},
	} {
		got := p.profile(c.cs)
		if got.N != session.ProfileLen || got.Payloads != c.payloads || got.Small != c.small || got.Bytes[0] != c.clientByte {
			t.Errorf("cs %d: %+v", c.cs, got)
		}
		for i, v := range c.first {
			if got.First[i] != v {
				t.Errorf("cs %d: First[%d] = %d, want %d", c.cs, i, got.First[i], v)
			}
		}
	}
}
