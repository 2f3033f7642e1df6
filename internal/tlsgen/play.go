package tlsgen

import (
	"encoding/binary"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
)

// Dir is the direction of the packets that carry e.
func (e Event) Dir() pcapgen.Dir {
	if e.From == Server {
		return pcapgen.ServerToClient
	}
	return pcapgen.ClientToServer
}

// PlayOptions tune how Play frames a transcript.
type PlayOptions struct {
	// NoHandshake starts the capture mid-connection (no SYN exchange).
	NoHandshake bool
	// SegmentSize returns the largest segment for event i (0: the MSS).
	SegmentSize func(i int, e Event) int
	// Mangle, when set, may rewrite the segments of event i before they
	// are written (reorder, duplicate, drop, fragment...).
	Mangle func(i int, segs []pcapgen.Segment) []pcapgen.Segment
}

// Play writes events as the packets of TCP connection c: a three-way
// handshake, each write as MSS-sized segments from its side, ACKs where the
// peer has nothing to send, FINs where a side closed.
func Play(c *pcapgen.Conv, events []Event, o PlayOptions) error {
	p := NewPlayer(c, events, o)
	for {
		more, err := p.Step()
		if err != nil || !more {
			return err
		}
	}
}

// Player writes a transcript one event at a time, so that several
// connections can be interleaved in one capture.
type Player struct {
	c       *pcapgen.Conv
	events  []Event
	o       PlayOptions
	i       int
	started bool
}

// NewPlayer returns a Player for events on c.
func NewPlayer(c *pcapgen.Conv, events []Event, o PlayOptions) *Player {
	return &Player{c: c, events: events, o: o}
}

// Conv returns the connection the player writes to.
func (p *Player) Conv() *pcapgen.Conv { return p.c }

// Step writes the next event (the first call also writes the TCP
// handshake) and reports whether events remain.
func (p *Player) Step() (bool, error) {
	c := p.c
	if !p.started {
		p.started = true
		if !p.o.NoHandshake {
			if err := c.Handshake(); err != nil {
				return false, err
			}
		}
	}
	if p.i >= len(p.events) {
		return false, nil
	}
	i, e := p.i, p.events[p.i]
	p.i++
	d := pcapgen.Dir(e.From)
	if e.Close {
		if err := c.Fin(d); err != nil {
			return false, err
		}
	} else {
		size := 0
		if p.o.SegmentSize != nil {
			size = p.o.SegmentSize(i, e)
		}
		segs := c.Segments(d, e.Data, size)
		if p.o.Mangle != nil {
			segs = p.o.Mangle(i, segs)
		}
		if err := c.Emit(segs...); err != nil {
			return false, err
		}
	}
	// The peer acknowledges unless its own next packet will.
	if peerNext := p.i < len(p.events) && p.events[p.i].From != e.From; !peerNext {
		if err := c.Ack(1 - d); err != nil {
			return false, err
		}
	}
	return p.i < len(p.events), nil
}

// SplitRecord rewrites the first TLS record in data as two records, the
// first carrying at bytes of the payload. The handshake messages are
// unchanged, so a transcript stays valid for both peers. It returns data
// unchanged when it does not start with a complete record longer than at.
func SplitRecord(data []byte, at int) []byte {
	if len(data) < 5 || at <= 0 {
		return data
	}
	n := int(binary.BigEndian.Uint16(data[3:5]))
	if len(data) < 5+n || at >= n {
		return data
	}
	out := make([]byte, 0, len(data)+5)
	out = append(out, data[0], data[1], data[2], byte(at>>8), byte(at))
	out = append(out, data[5:5+at]...)
	out = append(out, data[0], data[1], data[2], byte((n-at)>>8), byte(n-at))
	out = append(out, data[5+at:]...)
	return out
}
