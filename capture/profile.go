package capture

import "github.com/tlsentry/tlsentry/session"

// sizeProfile is a bypassed flow's payload shape, by side (flow side 0 is
// the sender of the first packet): session.Profile before the client side
// is known. 64 bytes a flow; note is a few increments and no allocation.
type sizeProfile struct {
	payloads, small [2]uint32
	bytes           [2]uint64
	first           [session.ProfileLen]int16 // + side 0, - side 1
	n               uint8
}

// note counts a bypassed packet of n payload bytes from side.
func (p *sizeProfile) note(side uint8, n int) {
	if n == 0 {
		return
	}
	p.payloads[side]++
	p.bytes[side] += uint64(n)
	if n <= session.SmallPayload {
		p.small[side]++
	}
	if int(p.n) < len(p.first) {
		v := int16(min(n, 32767))
		if side == 1 {
			v = -v
		}
		p.first[p.n] = v
		p.n++
	}
}

// profile is p with client side cs first.
func (p *sizeProfile) profile(cs int8) session.Profile {
	out := session.Profile{N: p.n}
	c, s := 0, 1
	if cs == 1 {
		c, s = 1, 0
	}
	out.Payloads = [2]uint32{p.payloads[c], p.payloads[s]}
	out.Small = [2]uint32{p.small[c], p.small[s]}
	out.Bytes = [2]uint64{p.bytes[c], p.bytes[s]}
	for i := range p.n {
		v := p.first[i]
		if cs == 1 {
			v = -v
		}
		out.First[i] = v
	}
	return out
}
