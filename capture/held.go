package capture

// Bytes held back from the parser while the peer is silent.
//
// A flow whose one side sends data before the other side has sent any
// packet (a SYN flood with data, a client talking to a dead server, a
// capture that starts mid-connection) gets no tlsparse.Conn yet: its
// in-order bytes stay only in the direction's reassembly history
// (halfStream.hist), which keeps them anyway for overlap checks, and the
// segment sizes are noted so that the Conn later sees the same pieces
// (segment counts feed tls.fragmented_hello). The Conn is made and fed
// when the peer sends its first packet, when the bytes no longer fit the
// history (a segment of histKeep bytes or more, more than segBufSize in
// all, or more than maxHeld segments), on a gap, or when the flow ends.
// A half-open flow then holds about 600 bytes instead of 1.4 KB
// (TestHalfOpenFlowBytes). A flow evicted for memory while holding is
// never parsed: it gives no document, as any flow evicted before a hello.

const maxHeld = 4

// heldSegments are the sizes of the segments one side delivered that no
// Conn has seen yet.
type heldSegments struct {
	n    uint8
	side uint8
	lens [maxHeld]uint16
}

// add holds data, delivered in order by side of f, if it may: the other
// side has sent nothing and the history will still hold every byte of
// the stream. It is called before the history takes data.
func (hd *heldSegments) add(f *flow, side uint8, data []byte) bool {
	if f.pkts[1-side] != 0 || hd.n == maxHeld || hd.n > 0 && hd.side != side ||
		len(data) >= histKeep || f.half[side].delivered > segBufSize {
		return false
	}
	hd.side = side
	hd.lens[hd.n] = uint16(len(data))
	hd.n++
	return true
}

// unhold gives f a Conn, if it has none, and feeds it the held bytes. It
// reports whether the Conn still wants bytes.
func (w *worker) unhold(f *flow) bool {
	if f.conn == nil && f.state == stParsing {
		f.conn = w.getConn()
	}
	hd := f.held
	if hd.n == 0 {
		return f.conn != nil
	}
	f.held = heldSegments{}
	b := f.half[hd.side].hist // exactly the held bytes: nothing was delivered after them
	dir := w.tdir(f, hd.side)
	for _, n := range hd.lens[:hd.n] {
		if !f.conn.Feed(dir, b[:n]) {
			w.stopParsing(f)
			return false
		}
		b = b[n:]
	}
	return true
}
