package detect

import (
	"sync"
	"sync/atomic"

	"github.com/tlsentry/tlsentry/session"
)

// Reloader holds the current Engine and swaps it on Reload (SIGHUP). A
// reload that fails keeps the engine in use; Evaluate never waits for a
// reload. Safe for concurrent use.
type Reloader struct {
	cfg     func() (Config, error) // the configuration to build from, read at each reload
	cur     atomic.Pointer[Engine]
	mu      sync.Mutex // serialises reloads
	reloads atomic.Uint64
	failed  atomic.Uint64
}

// NewReloader builds the first engine; cfg is called again at each Reload,
// so a reload can pick up changed file lists as well as changed files.
func NewReloader(cfg func() (Config, error)) (*Reloader, error) {
	c, err := cfg()
	if err != nil {
		return nil, err
	}
	e, err := New(c)
	if err != nil {
		return nil, err
	}
	r := &Reloader{cfg: cfg}
	r.cur.Store(e)
	return r, nil
}

// Engine returns the engine in use.
func (r *Reloader) Engine() *Engine { return r.cur.Load() }

// Evaluate judges a session with the engine in use.
func (r *Reloader) Evaluate(s *session.Session) Verdict { return r.cur.Load().Evaluate(s) }

// Reload rebuilds the engine from the configuration (rule files, lists,
// trust store). On error the old engine stays in use and the error says why.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.cfg()
	if err != nil {
		r.failed.Add(1)
		return err
	}
	e, err := New(c)
	if err != nil {
		r.failed.Add(1)
		return err
	}
	e.adopt(r.cur.Load())
	r.cur.Store(e)
	r.reloads.Add(1)
	return nil
}

// ReloadStats counts successful and failed reloads.
func (r *Reloader) ReloadStats() (ok, failed uint64) { return r.reloads.Load(), r.failed.Load() }
