// Package tlsgen runs a crypto/tls client and server against each other in
// memory and returns what each side wrote, in the order and chunking it was
// written, so that pcapgen can frame it as TCP segments.
//
// # Determinism
//
// The two sides run in lock-step (one at a time, switching only when a side
// waits for data), so the order of writes never depends on the Go scheduler.
// Randomness comes from Options.Seed through tls.Config.Rand. Since Go 1.26
// crypto primitives (ECDH key generation, ECDSA and RSA-PSS signing, RSA
// encryption) ignore a custom random source unless GODEBUG
// cryptocustomrand=1 is set; programs that need byte-stable transcripts must
// carry the directive
//
//	//go:debug cryptocustomrand=1
//
// in their main package (and tests in a _test.go file). Deterministic
// reports whether it is in effect. Even then, X25519MLKEM768 encapsulation on
// the server always uses the system random source, so byte-stable runs must
// keep hybrid groups out of the server's CurvePreferences (the client may
// still offer them). Certificates and keys should be generated once and
// loaded from PEM, since key generation algorithms change between Go
// releases. Finally, transcripts are only stable for one Go release: a new
// crypto/tls may send different extensions.
//
// This is test tooling: the random source it installs is not secure.
package tlsgen

import (
	"crypto/ecdh"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Options describes one connection.
type Options struct {
	// Client and Server configurations; they are used as given except that
	// Rand and Time are filled in when nil. Share a Config (with a
	// ClientSessionCache) between Runs to resume sessions.
	Client, Server *tls.Config
	// Seed selects the random stream shared by both sides.
	Seed uint64
	// Time is what both sides see as the current time; zero means
	// 2024-01-01T00:00:00Z.
	Time time.Time
	// Request is written by the client after the handshake, Response by the
	// server once it has read the whole Request. Empty Request means the
	// client writes nothing and the server waits for close.
	Request, Response []byte
	// ServerFirst makes the server write Response right after the handshake,
	// without waiting for a request.
	ServerFirst bool
}

// DefaultTime is the clock tlsgen gives both sides unless told otherwise.
var DefaultTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Transcript is what happened on the wire.
type Transcript struct {
	Events    []Event
	ClientErr error // the client's handshake or I/O error, if any
	ServerErr error
	// State is the client's view of the connection when the handshake
	// succeeded.
	State tls.ConnectionState
}

// Bytes returns everything side s wrote, concatenated.
func (t *Transcript) Bytes(s Side) []byte {
	var b []byte
	for _, e := range t.Events {
		if e.From == s {
			b = append(b, e.Data...)
		}
	}
	return b
}

// Run performs one connection and returns its transcript. The error is for
// misuse only; handshake failures are reported in the Transcript.
func Run(opt Options) (*Transcript, error) {
	if opt.Client == nil || opt.Server == nil {
		return nil, errors.New("tlsgen: Client and Server configs are required")
	}
	now := opt.Time
	if now.IsZero() {
		now = DefaultTime
	}
	r := NewRand(opt.Seed)
	ccfg, scfg := opt.Client, opt.Server
	if ccfg.Rand == nil || ccfg.Time == nil || scfg.Rand == nil || scfg.Time == nil {
		ccfg, scfg = ccfg.Clone(), scfg.Clone()
		// Clone drops nothing we need: the session cache is a pointer.
		for _, c := range []*tls.Config{ccfg, scfg} {
			if c.Rand == nil {
				c.Rand = r
			}
			if c.Time == nil {
				c.Time = func() time.Time { return now }
			}
		}
	}
	s := newSched()
	cc, sc := &pipeConn{s: s, side: Client}, &pipeConn{s: s, side: Server}
	tr := &Transcript{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer s.finish(Client)
		s.start(Client)
		tr.ClientErr = runClient(tls.Client(cc, ccfg), cc, opt, &tr.State)
	}()
	go func() {
		defer wg.Done()
		defer s.finish(Server)
		s.start(Server)
		tr.ServerErr = runServer(tls.Server(sc, scfg), sc, opt)
	}()
	wg.Wait()
	tr.Events = s.events
	return tr, nil
}

func runClient(c *tls.Conn, raw *pipeConn, opt Options, st *tls.ConnectionState) error {
	if err := c.Handshake(); err != nil {
		raw.Close()
		return err
	}
	*st = c.ConnectionState()
	if len(opt.Request) > 0 && !opt.ServerFirst {
		if _, err := c.Write(opt.Request); err != nil {
			raw.Close()
			return err
		}
	}
	if len(opt.Response) > 0 {
		buf := make([]byte, len(opt.Response))
		if _, err := io.ReadFull(c, buf); err != nil {
			raw.Close()
			return fmt.Errorf("reading response: %w", err)
		}
	}
	return c.Close()
}

func runServer(c *tls.Conn, raw *pipeConn, opt Options) error {
	if err := c.Handshake(); err != nil {
		raw.Close()
		return err
	}
	if len(opt.Request) > 0 && !opt.ServerFirst {
		buf := make([]byte, len(opt.Request))
		if _, err := io.ReadFull(c, buf); err != nil {
			raw.Close()
			return fmt.Errorf("reading request: %w", err)
		}
	}
	if len(opt.Response) > 0 {
		if _, err := c.Write(opt.Response); err != nil {
			raw.Close()
			return err
		}
	}
	// Wait for the client's close_notify (or FIN), then close.
	var b [1]byte
	_, err := c.Read(b[:])
	cerr := c.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return cerr
}

// Rand is a deterministic random source for tests (ChaCha8). One-byte reads
// return zero without consuming the stream: the standard library reads one
// byte at random (randutil.MaybeReadByte) to stop callers from depending on
// its exact use of the stream, and this undoes that.
type Rand struct {
	mu sync.Mutex
	c  *rand.ChaCha8
}

// NewRand returns a Rand seeded with seed.
func NewRand(seed uint64) *Rand {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	copy(s[8:], "tlsentry tlsgen seed....")
	return &Rand{c: rand.NewChaCha8(s)}
}

func (r *Rand) Read(p []byte) (int, error) {
	if len(p) == 1 {
		p[0] = 0
		return 1, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.Read(p)
}

// Deterministic reports whether the crypto primitives honour a custom random
// source in this program (GODEBUG cryptocustomrand=1), which byte-stable
// transcripts need.
func Deterministic() bool {
	a, err1 := ecdh.X25519().GenerateKey(NewRand(1))
	b, err2 := ecdh.X25519().GenerateKey(NewRand(1))
	return err1 == nil && err2 == nil && a.Equal(b)
}
