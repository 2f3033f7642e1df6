package tlsparse

// Conn parses both directions of one connection as capture reassembles them.
// The zero value is ready to use; Reset makes it reusable for another flow.
type Conn struct {
	hs Handshake
}

// Feed consumes the next in-order bytes of one direction. data is not
// retained after Feed returns. It reports whether the connection still
// wants bytes: false once both directions are encrypted, the handshake has
// failed, or the stream is known not to be TLS; capture then bypasses it.
//
// TODO(tlsparse): placeholder contract; the implementation replaces this body.
func (c *Conn) Feed(dir Direction, data []byte) (wantMore bool) {
	return true
}

// Gap tells the parser that bytes are missing in one direction; parsing of
// that direction stops and the handshake is marked accordingly.
func (c *Conn) Gap(dir Direction) {}

// Handshake returns what has been parsed so far. The result is owned by the
// Conn until Reset; callers that keep it after Reset must Clone it.
func (c *Conn) Handshake() *Handshake { return &c.hs }

// Reset clears the Conn for reuse.
func (c *Conn) Reset() { c.hs = Handshake{} }
