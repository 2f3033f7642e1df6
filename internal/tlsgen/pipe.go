package tlsgen

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Side names one end of a connection. The values match pcapgen.Dir:
// Client is the sender of pcapgen.ClientToServer data.
type Side int

const (
	Client Side = 0
	Server Side = 1
)

func (s Side) String() string {
	if s == Client {
		return "client"
	}
	return "server"
}

// Event is one thing a side did to the wire: a Write (Data) or closing its
// sending direction (Close, which becomes a TCP FIN).
type Event struct {
	From  Side
	Data  []byte
	Close bool
}

// ErrStalled is returned by a Read when both sides wait for each other.
var ErrStalled = errors.New("tlsgen: both sides are waiting to read")

// sched runs the two sides of a connection in lock-step: exactly one side runs
// at a time, and control passes to the peer only when the running side waits
// for data it does not have yet (or finishes). The interleaving of writes, and
// hence the transcript, therefore depends only on what the two programs do,
// never on goroutine scheduling.
type sched struct {
	mu       sync.Mutex
	cond     *sync.Cond
	turn     Side
	buf      [2][]byte // bytes waiting to be read by side i
	wclosed  [2]bool   // side i closed its sending direction
	finished [2]bool   // side i's goroutine returned
	writes   int       // number of writes so far, to detect stalls
	events   []Event
}

func newSched() *sched {
	s := &sched{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// wait blocks until it is side's turn. s.mu must be held.
func (s *sched) wait(side Side) {
	for s.turn != side {
		s.cond.Wait()
	}
}

// yield hands control to the peer (unless it has finished) and waits to get
// it back. s.mu must be held.
func (s *sched) yield(side Side) {
	peer := 1 - side
	if s.finished[peer] {
		return
	}
	s.turn = peer
	s.cond.Broadcast()
	s.wait(side)
}

// start waits for side's first turn.
func (s *sched) start(side Side) {
	s.mu.Lock()
	s.wait(side)
	s.mu.Unlock()
}

// finish marks side's goroutine as done and hands control to the peer.
func (s *sched) finish(side Side) {
	s.mu.Lock()
	s.finished[side] = true
	s.turn = 1 - side
	s.cond.Broadcast()
	s.mu.Unlock()
}

// pipeConn is one end of the in-memory connection.
type pipeConn struct {
	s    *sched
	side Side
}

var _ net.Conn = (*pipeConn)(nil)

func (c *pipeConn) Read(p []byte) (int, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	peer := 1 - c.side
	for {
		if len(p) == 0 {
			return 0, nil
		}
		if b := s.buf[c.side]; len(b) > 0 {
			n := copy(p, b)
			s.buf[c.side] = b[n:]
			return n, nil
		}
		if s.wclosed[peer] || s.finished[peer] {
			return 0, io.EOF
		}
		if s.wclosed[c.side] {
			return 0, net.ErrClosed
		}
		before := s.writes
		s.yield(c.side)
		if s.writes == before && len(s.buf[c.side]) == 0 && !s.wclosed[peer] && !s.finished[peer] {
			return 0, ErrStalled
		}
	}
}

func (c *pipeConn) Write(p []byte) (int, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wclosed[c.side] {
		return 0, net.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	d := append([]byte(nil), p...)
	s.events = append(s.events, Event{From: c.side, Data: d})
	s.buf[1-c.side] = append(s.buf[1-c.side], d...)
	s.writes++
	return len(p), nil
}

// Close ends this side's sending direction (a FIN); it may still read.
func (c *pipeConn) Close() error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.wclosed[c.side] {
		s.wclosed[c.side] = true
		s.events = append(s.events, Event{From: c.side, Close: true})
		s.writes++
	}
	return nil
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

func (c *pipeConn) LocalAddr() net.Addr {
	return pipeAddr(c.side.String())
}
func (c *pipeConn) RemoteAddr() net.Addr             { return pipeAddr((1 - c.side).String()) }
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }
