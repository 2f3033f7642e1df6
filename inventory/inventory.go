// Package inventory keeps what the sensor has seen: client fingerprints
// (JA4, JA3), server certificates, and which certificate each (server, SNI)
// showed, each with first and last seen (packet time) and a count. It tells
// what a session saw first, and whether a server's new certificate looks
// like a renewal or a change.
//
// Items live in memory, bounded per kind (the oldest last seen is evicted
// first). A background goroutine commits to a Store (by default bbolt in
// the state directory), so Record never waits on the disk: new items and
// evictions every Options.FlushInterval (500 ms), the counts and last-seen
// times of known items every Options.UpdateInterval (30 s). A kill -9 thus
// loses at most the new items of the last FlushInterval plus the commit in
// progress (they would be reported new again after the restart), and the
// counts and last seen of the last UpdateInterval; it never leaves a
// half-written batch.
//
// All times are packet times; the wall clock only paces the flushes, so a
// replay gives the same answers. The learning period starts at the first
// session handed to Record; with several capture workers, which of two
// sessions carrying the same new item reports it depends on their order.
//
// Memory: some 270 bytes an item besides the strings it shares with the
// sessions (fingerprints, certificate fields; a pair shares its
// certificate's): at the default bound, 50,000 a kind, in the order of
// 100 MB with large certificates, far less in practice.
//
// Several sensors shipping to one cluster share one inventory index with
// ESStore (inventory.shared): each item is created once, by the sensor that
// saw it first (deterministic _id); a sensor's alerts still follow its own
// local inventory (see ESStore).
package inventory

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/tlsentry/tlsentry/session"
)

// Defaults for Options.
const (
	DefaultLearningPeriod = 24 * time.Hour
	DefaultMaxItems       = 50000
	DefaultFlushInterval  = 500 * time.Millisecond
	DefaultUpdateInterval = 30 * time.Second
	DefaultRenewalWindow  = 30 * 24 * time.Hour
)

// Options configure an Inventory. Zero values take the defaults.
type Options struct {
	// LearningPeriod starts at the first session an empty inventory sees
	// (packet time, kept across restarts). Items first seen before it ends
	// are recorded but not reported as new. Negative: no learning period.
	LearningPeriod time.Duration
	// MaxItems bounds each kind (so at most 4×MaxItems items in all); past
	// it the item seen longest ago is evicted.
	MaxItems int
	// FlushInterval is how often new items and evictions are committed to
	// the store: the bound on the new items a kill -9 loses.
	FlushInterval time.Duration
	// UpdateInterval is how often the counts and last-seen times of known
	// items are (rounded up to a FlushInterval). Every active item is
	// rewritten then: 100,000 take some 0.7 s of bbolt here.
	UpdateInterval time.Duration
	// RenewalWindow: a certificate replaced within this time of its
	// not_after may be renewed by one with the same not_before.
	RenewalWindow time.Duration
	// Store replaces the embedded store in dir (which is then unused).
	Store Store
}

func (o *Options) defaults() {
	if o.LearningPeriod == 0 {
		o.LearningPeriod = DefaultLearningPeriod
	}
	if o.MaxItems <= 0 {
		o.MaxItems = DefaultMaxItems
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = DefaultUpdateInterval
	}
	if o.RenewalWindow <= 0 {
		o.RenewalWindow = DefaultRenewalWindow
	}
}

// Observation is what a session added to the inventory.
type Observation struct {
	// Learning: the session fell in the learning period, so nothing below
	// is reported new (Items still lists what it saw first).
	Learning bool
	// NewClientFingerprint: the client's JA4 or JA3 was first seen.
	NewClientFingerprint bool
	// NewCertificate: the server's leaf certificate was first seen.
	NewCertificate bool
	// ServerCertificate is set when the (server, SNI) → leaf certificate
	// pair was first seen, with the server's previous certificate if any.
	ServerCertificate *CertificateChange
	// Items are the items this session saw first, during learning too: one
	// tlsentry.inventory document each. Nil when nothing was new.
	Items []Item
}

// Stats are the inventory's counters.
type Stats struct {
	Items        [numKinds]int    // held now, by Kind
	New          [numKinds]uint64 // first seen and reported, by Kind
	Learned      [numKinds]uint64 // first seen during the learning period, by Kind
	Evicted      [numKinds]uint64 // evicted for the size bound, by Kind
	Sessions     uint64           // sessions observed
	Learning     bool             // the learning period has not ended (or not started)
	LearningEnds time.Time        // zero until the first session
	Pending      int              // new, changed and evicted items not yet committed
	Flushes      uint64
	FlushErrors  uint64
	LastFlush    time.Duration // duration of the last commit
	LastError    error
}

type endKey struct {
	server netip.AddrPort
	sni    string
}

// endpoint is a (server, SNI): its pairs, and the one seen last.
type endpoint struct {
	cur   *entry
	pairs []*entry
}

const (
	notQueued = iota
	inFresh   // new, not committed yet
	inDirty   // committed, seen again since
)

type entry struct {
	item       Item
	prev, next *entry // per-kind list, most recently seen first
	queued     uint8  // notQueued, or the list it waits in: inFresh, inDirty
	gone       bool   // evicted
	stored     bool   // in the store, or in a batch on its way there
}

// Inventory is safe for concurrent use.
type Inventory struct {
	opt   Options
	store Store

	mu sync.Mutex
	// byValue indexes JA4, JA3 and certificates by Key.Value (a map keyed
	// by string hashes faster than one keyed by Key); ends indexes the
	// pairs by (server, SNI).
	byValue   [Certificate + 1]map[string]*entry
	ends      map[endKey]*endpoint
	heads     [numKinds]*entry // most recently seen
	tails     [numKinds]*entry // evicted first
	started   bool             // the learning period has started (or there is none: the inventory was not empty)
	learnFrom time.Time        // packet time of the first session of an empty inventory
	learnEnd  time.Time
	lastT     time.Time // latest packet time observed
	fresh     []*entry  // new items, committed every FlushInterval
	dirty     []*entry  // items seen again, committed every UpdateInterval
	deleted   []Key
	stateDirt bool
	closed    bool
	st        Stats

	flushMu   sync.Mutex
	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	done      chan struct{}
}

// Open loads the inventory kept in dir (created if need be) and starts its
// flusher.
func Open(dir string, opt Options) (*Inventory, error) {
	opt.defaults()
	st := opt.Store
	if st == nil {
		var err error
		if st, err = OpenBolt(dir); err != nil {
			return nil, err
		}
	}
	inv := &Inventory{
		byValue: [Certificate + 1]map[string]*entry{ClientJA4: {}, ClientJA3: {}, Certificate: {}},
		opt:     opt,
		store:   st,
		ends:    make(map[endKey]*endpoint),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	var loaded []*entry
	state, err := st.Load(func(it Item) error {
		loaded = append(loaded, &entry{item: it, stored: true})
		return nil
	})
	if err != nil {
		if opt.Store == nil {
			st.Close()
		}
		return nil, err
	}
	inv.started = !state.LearningStart.IsZero() || len(loaded) > 0
	inv.setLearning(state.LearningStart)
	// Oldest last seen first, so that each push to the front leaves the
	// lists in last-seen order.
	slices.SortFunc(loaded, func(a, b *entry) int { return a.item.LastSeen.Compare(b.item.LastSeen) })
	for _, e := range loaded {
		if e.item.Kind == 0 || int(e.item.Kind) >= numKinds || inv.lookup(e.item.Key) != nil {
			continue // from a Store that is not ours
		}
		inv.lastT = e.item.LastSeen
		inv.insert(e)
		inv.bound(e.item.Kind)
	}
	// A pair stored with its certificate shares the certificate item's.
	for e := inv.heads[ServerCertificate]; e != nil; e = e.next {
		if c := inv.byValue[Certificate][e.item.Value]; c != nil && c.item.Certificate != nil {
			e.item.Certificate = c.item.Certificate
		}
	}
	go inv.flusher()
	return inv, nil
}

func (inv *Inventory) setLearning(t time.Time) {
	inv.learnFrom = t
	if inv.opt.LearningPeriod > 0 {
		inv.learnEnd = t.Add(inv.opt.LearningPeriod)
	} else {
		inv.learnEnd = t
	}
}

func (inv *Inventory) lookup(k Key) *entry {
	if k.Kind != ServerCertificate {
		if int(k.Kind) < len(inv.byValue) && inv.byValue[k.Kind] != nil {
			return inv.byValue[k.Kind][k.Value]
		}
		return nil
	}
	if ep := inv.ends[endKey{k.Server, k.SNI}]; ep != nil {
		return ep.find(k.Value)
	}
	return nil
}

func (ep *endpoint) find(sha string) *entry {
	for _, p := range ep.pairs {
		if p.item.Value == sha {
			return p
		}
	}
	return nil
}

// insert indexes a new entry and puts it at the front of its list.
func (inv *Inventory) insert(e *entry) {
	k := e.item.Key
	if k.Kind != ServerCertificate {
		inv.byValue[k.Kind][k.Value] = e
	} else {
		ek := endKey{k.Server, k.SNI}
		ep := inv.ends[ek]
		if ep == nil {
			ep = &endpoint{}
			inv.ends[ek] = ep
		}
		ep.pairs = append(ep.pairs, e)
		if ep.cur == nil || !e.item.LastSeen.Before(ep.cur.item.LastSeen) {
			ep.cur = e
		}
	}
	inv.pushFront(e)
}

// remove drops an entry from the index and its list.
func (inv *Inventory) remove(e *entry) {
	inv.unlink(e)
	k := e.item.Key
	if k.Kind != ServerCertificate {
		delete(inv.byValue[k.Kind], k.Value)
		return
	}
	ek := endKey{k.Server, k.SNI}
	ep := inv.ends[ek]
	if ep == nil {
		return
	}
	if i := slices.Index(ep.pairs, e); i >= 0 {
		ep.pairs = slices.Delete(ep.pairs, i, i+1)
	}
	if len(ep.pairs) == 0 {
		delete(inv.ends, ek)
		return
	}
	if ep.cur == e {
		ep.cur = ep.pairs[0]
		for _, p := range ep.pairs[1:] {
			if !p.item.LastSeen.Before(ep.cur.item.LastSeen) {
				ep.cur = p
			}
		}
	}
}

func (inv *Inventory) pushFront(e *entry) {
	k := e.item.Kind
	e.prev, e.next = nil, inv.heads[k]
	if e.next != nil {
		e.next.prev = e
	} else {
		inv.tails[k] = e
	}
	inv.heads[k] = e
	inv.st.Items[k]++
}

func (inv *Inventory) unlink(e *entry) {
	k := e.item.Kind
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		inv.heads[k] = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		inv.tails[k] = e.prev
	}
	e.prev, e.next = nil, nil
	inv.st.Items[k]--
}

// bound evicts the least recently seen items of kind k past MaxItems.
func (inv *Inventory) bound(k Kind) {
	for inv.st.Items[k] > inv.opt.MaxItems {
		e := inv.tails[k]
		inv.remove(e)
		e.gone = true
		if e.stored {
			inv.deleted = append(inv.deleted, e.item.Key)
		}
		inv.st.Evicted[k]++
	}
}

// markDirty queues a seen-again item for the next update commit (a new
// one is in the fresh list already).
func (inv *Inventory) markDirty(e *entry) {
	if e.queued == notQueued {
		e.queued = inDirty
		inv.dirty = inv.queue(inv.dirty, e, inDirty)
	}
}

// markFresh queues a new item for the next commit.
func (inv *Inventory) markFresh(e *entry) {
	e.queued = inFresh
	inv.fresh = inv.queue(inv.fresh, e, inFresh)
}

// queue appends e to list. Under a flood most queued entries are evicted
// before the flusher gets to them: those are dropped, so that a list stays
// within twice the items held however slow the store is.
func (inv *Inventory) queue(list []*entry, e *entry, q uint8) []*entry {
	if len(list) >= 1024 && len(list) >= 2*inv.held() {
		list = slices.DeleteFunc(list, func(e *entry) bool { return e.gone || e.queued != q })
	}
	return append(list, e)
}

func (inv *Inventory) held() int {
	n := 0
	for _, c := range inv.st.Items {
		n += c
	}
	return n
}

// seen records e seen again from t to last.
func (inv *Inventory) seen(e *entry, t, last time.Time) {
	e.item.Count++
	if t.Before(e.item.FirstSeen) {
		e.item.FirstSeen = t
	}
	if last.After(e.item.LastSeen) {
		e.item.LastSeen = last
	}
	if inv.heads[e.item.Kind] != e {
		inv.unlink(e)
		inv.pushFront(e)
	}
	inv.markDirty(e)
}

// add records a new item seen from t to last.
func (inv *Inventory) add(k Key, t, last time.Time, c *CertInfo) *entry {
	e := &entry{item: Item{Key: k, Certificate: c, FirstSeen: t, LastSeen: last, Count: 1}}
	inv.insert(e)
	inv.markFresh(e)
	inv.bound(k.Kind)
	return e
}

// touch records the string-keyed item k; it returns the entry and whether
// it is new.
func (inv *Inventory) touch(k Kind, v string, t, last time.Time, c func() *CertInfo) (*entry, bool) {
	if e := inv.byValue[k][v]; e != nil {
		inv.seen(e, t, last)
		return e, false
	}
	var ci *CertInfo
	if c != nil {
		ci = c()
	}
	return inv.add(Key{Kind: k, Value: v}, t, last, ci), true
}

// Observe is the sensor stage: it records s and sets s.Inventory to what
// s saw first. It is called before s is judged.
func (inv *Inventory) Observe(s *session.Session) {
	obs := inv.Record(s)
	s.Inventory = obs.Facts()
}

// Record adds a session to the inventory and tells what it saw first.
func (inv *Inventory) Record(s *session.Session) Observation {
	var obs Observation
	t, last := s.Start, s.End
	if t.IsZero() {
		t = last
	}
	if last.Before(t) {
		last = t
	}
	ja4, ja3 := s.Fingerprints.JA4, s.Fingerprints.JA3
	var leaf *CertInfo
	var leafSHA, sni string
	if len(s.Certificates) > 0 && s.Certificates[0] != nil {
		leafSHA = s.Certificates[0].SHA256
	}
	if s.TLS != nil && s.TLS.ClientHello != nil {
		sni = s.TLS.ClientHello.ServerName
	}
	certFn := func() *CertInfo {
		if leaf == nil {
			leaf = certInfo(s.Certificates[0])
		}
		return leaf
	}

	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.closed {
		return obs
	}
	inv.st.Sessions++
	if !inv.started {
		inv.started = true
		inv.setLearning(t)
		inv.stateDirt = true
	}
	if last.After(inv.lastT) {
		inv.lastT = last
	}
	// Without a learning period nothing is learning, not even a session
	// that started before the first one seen (workers hand sessions over
	// out of order in live capture).
	obs.Learning = inv.opt.LearningPeriod > 0 && t.Before(inv.learnEnd)
	report := func(e *entry) {
		obs.Items = append(obs.Items, e.item)
		if obs.Learning {
			inv.st.Learned[e.item.Kind]++
		} else {
			inv.st.New[e.item.Kind]++
		}
	}
	if ja4 != "" {
		if e, isNew := inv.touch(ClientJA4, ja4, t, last, nil); isNew {
			report(e)
			obs.NewClientFingerprint = !obs.Learning
		}
	}
	if ja3 != "" {
		if e, isNew := inv.touch(ClientJA3, ja3, t, last, nil); isNew {
			report(e)
			obs.NewClientFingerprint = !obs.Learning
		}
	}
	if leafSHA != "" {
		ce, isNew := inv.touch(Certificate, leafSHA, t, last, certFn)
		if isNew {
			report(ce)
			obs.NewCertificate = !obs.Learning
		}
		leaf = ce.item.Certificate
		ep := inv.ends[endKey{s.Server, sni}]
		var pe, prev *entry
		if ep != nil {
			pe, prev = ep.find(leafSHA), ep.cur
		}
		if pe != nil {
			inv.seen(pe, t, last)
			if ep.cur != pe && !pe.item.LastSeen.Before(ep.cur.item.LastSeen) {
				ep.cur = pe
			}
		} else {
			pe = inv.add(Key{Kind: ServerCertificate, Value: leafSHA, Server: s.Server, SNI: sni}, t, last, leaf)
			report(pe)
			if !obs.Learning {
				ch := &CertificateChange{Server: s.Server, SNI: sni, Certificate: leaf}
				if prev != nil {
					ch.Previous = prev.item.Certificate
				}
				ch.Change, ch.Reasons = classify(ch.Previous, leaf, t, inv.opt.RenewalWindow)
				obs.ServerCertificate = ch
			}
		}
	}
	return obs
}

// Len is the number of items held of kind k.
func (inv *Inventory) Len(k Kind) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if int(k) >= numKinds {
		return 0
	}
	return inv.st.Items[k]
}

// Lookup returns the item with key k.
func (inv *Inventory) Lookup(k Key) (Item, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if e := inv.lookup(k); e != nil {
		return e.item, true
	}
	return Item{}, false
}

// Snapshot returns a copy of every item, most recently seen first within
// each kind (for periodic inventory documents).
func (inv *Inventory) Snapshot() []Item {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make([]Item, 0, inv.held())
	for k := range numKinds {
		for e := inv.heads[k]; e != nil; e = e.next {
			out = append(out, e.item)
		}
	}
	return out
}

// Stats returns the counters.
func (inv *Inventory) Stats() Stats {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	st := inv.st
	st.Pending = len(inv.fresh) + len(inv.dirty) + len(inv.deleted)
	st.Learning = !inv.started || inv.learnEnd.After(inv.lastT)
	if inv.started {
		st.LearningEnds = inv.learnEnd
	}
	return st
}

func (inv *Inventory) flusher() {
	defer close(inv.done)
	tk := time.NewTicker(inv.opt.FlushInterval)
	defer tk.Stop()
	lastUpdate := time.Now()
	for {
		select {
		case <-inv.stop:
			return
		case now := <-tk.C:
			updates := now.Sub(lastUpdate) >= inv.opt.UpdateInterval
			if updates {
				lastUpdate = now
			}
			inv.flush(updates)
		}
	}
}

// Flush commits everything pending now: new items, evictions, counts and
// last seen. The flusher does it on its own; Observe never does.
func (inv *Inventory) Flush() error { return inv.flush(true) }

// flush commits the new items and evictions, and with updates the items
// seen again.
func (inv *Inventory) flush(updates bool) error {
	inv.flushMu.Lock()
	defer inv.flushMu.Unlock()

	inv.mu.Lock()
	if len(inv.fresh) == 0 && len(inv.deleted) == 0 && !inv.stateDirt && (!updates || len(inv.dirty) == 0) {
		inv.mu.Unlock()
		return nil
	}
	b := Batch{Delete: inv.deleted, State: State{LearningStart: inv.learnFrom}}
	n := len(inv.fresh)
	if updates {
		n += len(inv.dirty)
	}
	b.Put = make([]Item, 0, n)
	for _, e := range inv.fresh {
		if e.queued == inFresh && !e.gone {
			e.stored = true
			e.queued = notQueued
			b.Put = append(b.Put, e.item)
		}
	}
	inv.fresh = inv.fresh[:0:0]
	if updates {
		for _, e := range inv.dirty {
			if e.queued == inDirty && !e.gone {
				e.queued = notQueued
				b.Put = append(b.Put, e.item)
			}
		}
		inv.dirty = inv.dirty[:0:0]
	}
	inv.deleted, inv.stateDirt = nil, false
	inv.mu.Unlock()

	t0 := time.Now()
	err := inv.store.Commit(b)
	d := time.Since(t0)

	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.st.Flushes++
	inv.st.LastFlush = d
	if err != nil {
		err = fmt.Errorf("inventory: commit: %w", err)
		inv.st.FlushErrors++
		inv.st.LastError = err
		// Keep what was not written for the next try, first in line.
		inv.stateDirt = true
		for _, k := range b.Delete {
			if inv.lookup(k) == nil {
				inv.deleted = append(inv.deleted, k)
			}
		}
		for i := range b.Put {
			if e := inv.lookup(b.Put[i].Key); e != nil && e.queued != inFresh {
				inv.markFresh(e)
			}
		}
	}
	return err
}

// Close stops the flusher, commits what is left and closes the store.
// Observe after Close records nothing.
func (inv *Inventory) Close() error {
	inv.closeOnce.Do(func() {
		close(inv.stop)
		<-inv.done
		inv.mu.Lock()
		inv.closed = true
		inv.mu.Unlock()
		err := inv.Flush()
		inv.closeErr = errors.Join(err, inv.store.Close())
	})
	return inv.closeErr
}
