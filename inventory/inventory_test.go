package inventory

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

type want struct {
	fp, cert, pair bool
	change         ChangeKind
	items          []Kind
}

func kinds(obs Observation) []Kind {
	var k []Kind
	for _, it := range obs.Items {
		k = append(k, it.Kind)
	}
	return k
}

func check(t *testing.T, name string, obs Observation, w want) {
	t.Helper()
	if obs.NewClientFingerprint != w.fp || obs.NewCertificate != w.cert || (obs.ServerCertificate != nil) != w.pair {
		t.Errorf("%s: fp %v cert %v pair %v, want %v %v %v", name,
			obs.NewClientFingerprint, obs.NewCertificate, obs.ServerCertificate != nil, w.fp, w.cert, w.pair)
	}
	if w.pair && obs.ServerCertificate != nil && obs.ServerCertificate.Change != w.change {
		t.Errorf("%s: change %v, want %v", name, obs.ServerCertificate.Change, w.change)
	}
	if got := kinds(obs); !slices.Equal(got, w.items) {
		t.Errorf("%s: items %v, want %v", name, got, w.items)
	}
}

func TestFirstSeen(t *testing.T) {
	ca := newCA(t, "CA 1")
	a := leaf(t, ca, "a.example", []string{"a.example"}, t0.AddDate(0, -1, 0), 90)
	b := leaf(t, ca, "b.example", []string{"b.example"}, t0.AddDate(0, -1, 0), 90)
	inv := open(t, t.TempDir(), noLearning)
	defer closeInv(t, inv)

	steps := []struct {
		name string
		s    *session.Session
		w    want
	}{
		{"first session", sess(t0, "198.51.100.1:443", "a.example", "ja4a", "ja3a", a),
			want{true, true, true, First, []Kind{ClientJA4, ClientJA3, Certificate, ServerCertificate}}},
		{"same again", sess(t0.Add(time.Minute), "198.51.100.1:443", "a.example", "ja4a", "ja3a", a), want{}},
		{"new ja3 only", sess(t0.Add(2*time.Minute), "198.51.100.1:443", "a.example", "ja4a", "ja3b", a),
			want{fp: true, items: []Kind{ClientJA3}}},
		{"same cert, other port", sess(t0.Add(3*time.Minute), "198.51.100.1:8443", "a.example", "ja4a", "ja3a", a),
			want{pair: true, change: First, items: []Kind{ServerCertificate}}},
		{"same cert, other SNI", sess(t0.Add(4*time.Minute), "198.51.100.1:443", "www.a.example", "ja4a", "ja3a", a),
			want{pair: true, change: First, items: []Kind{ServerCertificate}}},
		{"other cert on known server", sess(t0.Add(5*time.Minute), "198.51.100.1:443", "a.example", "ja4a", "ja3a", b),
			want{cert: true, pair: true, change: Change, items: []Kind{Certificate, ServerCertificate}}},
		{"back to the first (known pair)", sess(t0.Add(6*time.Minute), "198.51.100.1:443", "a.example", "ja4a", "ja3a", a), want{}},
		{"no TLS fingerprints, no certs", &session.Session{Start: t0.Add(7 * time.Minute), Server: netip.MustParseAddrPort("198.51.100.1:443")}, want{}},
		{"TLS 1.3 (no certificate)", sess(t0.Add(8*time.Minute), "198.51.100.2:443", "c.example", "ja4c", "", nil...),
			want{fp: true, items: []Kind{ClientJA4}}},
	}
	for _, st := range steps {
		check(t, st.name, inv.Record(st.s), st.w)
	}

	it, ok := inv.Lookup(Key{Kind: ClientJA4, Value: "ja4a"})
	if !ok || it.Count != 7 || !it.FirstSeen.Equal(t0) || !it.LastSeen.Equal(t0.Add(6*time.Minute+time.Second)) {
		t.Errorf("ja4a: %+v", it)
	}
	ci, ok := inv.Lookup(Key{Kind: Certificate, Value: a.SHA256})
	if !ok || ci.Certificate.Subject != a.Subject || ci.Certificate.Issuer != a.Issuer ||
		!ci.Certificate.NotAfter.Equal(a.NotAfter) || !slices.Equal(ci.Certificate.AlternativeNames, a.AlternativeNames) || ci.Count != 6 {
		t.Errorf("certificate: %+v %+v", ci, ci.Certificate)
	}
	st := inv.Stats()
	if st.Sessions != uint64(len(steps)) || st.Items[ClientJA4] != 2 || st.Items[ClientJA3] != 2 ||
		st.Items[Certificate] != 2 || st.Items[ServerCertificate] != 4 || st.New[ServerCertificate] != 4 || st.Learning {
		t.Errorf("stats %+v", st)
	}
}

// Items first seen during the learning period are known afterwards, the
// period's start survives a restart, and it is packet time.
func TestLearningPeriod(t *testing.T) {
	ca := newCA(t, "CA 1")
	a := leaf(t, ca, "a.example", []string{"a.example"}, t0.AddDate(0, -1, 0), 90)
	b := leaf(t, ca, "b.example", []string{"b.example"}, t0.AddDate(0, -1, 0), 90)
	dir := t.TempDir()
	opt := Options{LearningPeriod: time.Hour}

	inv := open(t, dir, opt)
	obs := inv.Record(sess(t0, "198.51.100.1:443", "a.example", "ja4a", "ja3a", a))
	if !obs.Learning || obs.NewClientFingerprint || obs.NewCertificate || obs.ServerCertificate != nil || len(obs.Items) != 4 {
		t.Fatalf("during learning: %+v", obs)
	}
	if st := inv.Stats(); !st.Learning || !st.LearningEnds.Equal(t0.Add(time.Hour)) || st.Learned[ClientJA4] != 1 || st.New[ClientJA4] != 0 {
		t.Fatalf("stats %+v", st)
	}
	closeInv(t, inv)

	// Restart within the period: still learning, counted from t0.
	inv = open(t, dir, opt)
	obs = inv.Record(sess(t0.Add(30*time.Minute), "198.51.100.2:443", "b.example", "ja4b", "ja3b", b))
	if !obs.Learning || obs.NewClientFingerprint || len(obs.Items) != 4 {
		t.Fatalf("after restart, during learning: %+v", obs)
	}
	closeInv(t, inv)

	// After it: what was learned is known, anything else is new.
	inv = open(t, dir, opt)
	defer closeInv(t, inv)
	for i, s := range []*session.Session{
		sess(t0.Add(time.Hour), "198.51.100.1:443", "a.example", "ja4a", "ja3a", a),
		sess(t0.Add(2*time.Hour), "198.51.100.2:443", "b.example", "ja4b", "ja3b", b),
	} {
		if obs := inv.Record(s); obs.Learning || len(obs.Items) != 0 || obs.NewClientFingerprint {
			t.Errorf("%d: learned item reported: %+v", i, obs)
		}
	}
	obs = inv.Record(sess(t0.Add(3*time.Hour), "198.51.100.2:443", "b.example", "ja4c", "ja3b", b))
	if obs.Learning || !obs.NewClientFingerprint || len(obs.Items) != 1 {
		t.Errorf("after learning: %+v", obs)
	}
	if st := inv.Stats(); st.Learning {
		t.Errorf("stats %+v", st)
	}
}

// The learning start is the first session's packet time even when the
// inventory was run without a period; a period configured later counts
// from it, not from the restart.
func TestLearningStartKept(t *testing.T) {
	dir := t.TempDir()
	inv := open(t, dir, noLearning)
	inv.Record(sess(t0, "198.51.100.1:443", "", "ja4a", "", nil...))
	closeInv(t, inv)
	// The first session set the start even without learning; with a
	// period now configured it counts from that start.
	inv = open(t, dir, Options{LearningPeriod: time.Hour})
	defer closeInv(t, inv)
	if obs := inv.Record(sess(t0.Add(2*time.Hour), "198.51.100.1:443", "", "ja4b", "", nil...)); obs.Learning || !obs.NewClientFingerprint {
		t.Errorf("%+v", obs)
	}
}

// Without a learning period a session that started before the first one
// seen (live workers hand sessions over out of order) is not learning.
func TestNoLearningEarlierSession(t *testing.T) {
	inv := open(t, t.TempDir(), noLearning)
	defer closeInv(t, inv)
	inv.Record(sess(t0.Add(time.Second), "198.51.100.1:443", "", "ja4a", "", nil...))
	if obs := inv.Record(sess(t0, "198.51.100.1:443", "", "ja4b", "", nil...)); obs.Learning || !obs.NewClientFingerprint {
		t.Errorf("earlier session: %+v, want a new fingerprint outside learning", obs)
	}
}

func TestCertificateChange(t *testing.T) {
	ca1, ca2 := newCA(t, "CA 1"), newCA(t, "CA 2")
	now := t0
	nb := now.AddDate(0, -2, 0) // the old certificate: 2 months into 90 days
	old := leaf(t, ca1, "shop.example", []string{"shop.example", "www.shop.example"}, nb, 180)
	nearExpiry := leaf(t, ca1, "shop.example", []string{"shop.example", "www.shop.example"}, now.AddDate(0, 0, -80), 90)

	cases := []struct {
		name    string
		prev    *tlsparse.CertSummary
		cur     *tlsparse.CertSummary
		change  ChangeKind
		reasons Reason
	}{
		{"renewal: same issuer and names, newer", old,
			leaf(t, ca1, "shop.example", []string{"www.shop.example", "shop.example"}, now.AddDate(0, 0, -1), 90), Renewal, 0},
		{"renewal: near expiry, same not_before", nearExpiry,
			leaf(t, ca1, "shop.example", []string{"shop.example", "www.shop.example"}, now.AddDate(0, 0, -80), 180), Renewal, 0},
		{"new issuer", old,
			leaf(t, ca2, "shop.example", []string{"shop.example", "www.shop.example"}, now.AddDate(0, 0, -1), 90), Change, IssuerChanged},
		{"self-signed where CA-signed was", old,
			leaf(t, nil, "shop.example", []string{"shop.example", "www.shop.example"}, now.AddDate(0, 0, -1), 90), Change, IssuerChanged | BecameSelfSigned},
		{"subject change", old,
			leaf(t, ca1, "pay.example", []string{"shop.example", "www.shop.example"}, now.AddDate(0, 0, -1), 90), Change, SubjectChanged},
		{"names change", old,
			leaf(t, ca1, "shop.example", []string{"shop.example", "evil.example"}, now.AddDate(0, 0, -1), 90), Change, NamesChanged},
		{"older certificate back, not near expiry", old,
			leaf(t, ca1, "shop.example", []string{"shop.example", "www.shop.example"}, nb.AddDate(0, 0, -30), 365), Change, NotNewer},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, restart := range []bool{false, true} {
				dir := t.TempDir()
				server := fmt.Sprintf("198.51.100.%d:443", i+1)
				inv := open(t, dir, noLearning)
				inv.Record(sess(now.Add(-time.Hour), server, "shop.example", "ja4", "ja3", c.prev))
				if restart {
					closeInv(t, inv)
					inv = open(t, dir, noLearning)
				}
				obs := inv.Record(sess(now, server, "shop.example", "ja4", "ja3", c.cur))
				closeInv(t, inv)
				ch := obs.ServerCertificate
				if ch == nil || ch.Previous == nil || ch.Previous.SHA256 != c.prev.SHA256 || ch.Certificate.SHA256 != c.cur.SHA256 {
					t.Fatalf("restart %v: %+v", restart, ch)
				}
				if ch.Change != c.change || ch.Reasons != c.reasons {
					t.Errorf("restart %v: %v %v, want %v %v", restart, ch.Change, ch.Reasons.Strings(), c.change, c.reasons.Strings())
				}
			}
		})
	}
}

func TestSurvivesRestart(t *testing.T) {
	ca := newCA(t, "CA 1")
	a := leaf(t, ca, "a.example", []string{"a.example", "192.0.2.1"}, t0.AddDate(0, -1, 0), 90)
	dir := t.TempDir()
	inv := open(t, dir, noLearning)
	for i := range 5 {
		inv.Record(sess(t0.Add(time.Duration(i)*time.Minute), "[2001:db8::1]:443", "a.example", "ja4a", "ja3a", a))
	}
	before := inv.Snapshot()
	closeInv(t, inv)

	inv = open(t, dir, noLearning)
	defer closeInv(t, inv)
	after := inv.Snapshot()
	if len(after) != len(before) || len(after) != 4 {
		t.Fatalf("%d items after, %d before", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if b.Key != a.Key || !b.FirstSeen.Equal(a.FirstSeen) || !b.LastSeen.Equal(a.LastSeen) || b.Count != a.Count || b.Count != 5 {
			t.Errorf("%d: %+v, want %+v", i, a, b)
		}
		if (b.Certificate == nil) != (a.Certificate == nil) || b.Certificate != nil &&
			(b.Certificate.SHA256 != a.Certificate.SHA256 || b.Certificate.Issuer != a.Certificate.Issuer ||
				!slices.Equal(b.Certificate.AlternativeNames, a.Certificate.AlternativeNames) ||
				!b.Certificate.NotBefore.Equal(a.Certificate.NotBefore) || b.Certificate.SelfSigned != a.Certificate.SelfSigned) {
			t.Errorf("%d: certificate %+v, want %+v", i, a.Certificate, b.Certificate)
		}
	}
	if obs := inv.Record(sess(t0.Add(time.Hour), "[2001:db8::1]:443", "a.example", "ja4a", "ja3a", a)); len(obs.Items) != 0 {
		t.Errorf("known after restart: %+v", obs)
	}
}

// A flood of distinct fingerprints keeps the inventory within its bound,
// evicting the oldest last seen first, in memory and on disk.
func TestFloodBound(t *testing.T) {
	const max = 500
	dir := t.TempDir()
	opt := Options{LearningPeriod: -1, MaxItems: max}
	inv := open(t, dir, opt)
	keep := sess(t0, "198.51.100.1:443", "", "ja4-keep", "", nil...)
	for i := range 10 * max {
		at := t0.Add(time.Duration(i) * time.Second)
		inv.Record(sess(at, "198.51.100.1:443", "", fmt.Sprintf("ja4-%06d", i), fmt.Sprintf("ja3-%06d", i), nil...))
		if i%100 == 0 {
			keep.Start, keep.End = at, at
			inv.Record(keep) // seen often: never the oldest
		}
		if i%(2*max) == 0 {
			inv.Flush()
		}
	}
	st := inv.Stats()
	if st.Items[ClientJA4] != max || st.Items[ClientJA3] != max || st.Evicted[ClientJA3] != 9*max || st.Evicted[ClientJA4] != 9*max+1 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := inv.Lookup(Key{Kind: ClientJA4, Value: "ja4-keep"}); !ok {
		t.Error("the often seen item was evicted")
	}
	if _, ok := inv.Lookup(Key{Kind: ClientJA4, Value: fmt.Sprintf("ja4-%06d", 9*max)}); ok {
		t.Error("an old item was kept")
	}
	closeInv(t, inv)

	inv = open(t, dir, opt)
	if n := inv.Len(ClientJA4); n != max {
		t.Errorf("%d JA4 after reopen, want %d", n, max)
	}
	var stored int
	inv.store.(*boltStore).db.View(func(tx *bolt.Tx) error {
		stored = tx.Bucket(bucketItems).Stats().KeyN
		return nil
	})
	if stored != 2*max {
		t.Errorf("%d items stored, want %d", stored, 2*max)
	}
	// A smaller bound at open trims what was stored.
	closeInv(t, inv)
	inv = open(t, dir, Options{LearningPeriod: -1, MaxItems: 10})
	defer closeInv(t, inv)
	if n := inv.Len(ClientJA3); n != 10 {
		t.Errorf("%d after a smaller bound", n)
	}
	if _, ok := inv.Lookup(Key{Kind: ClientJA3, Value: fmt.Sprintf("ja3-%06d", 10*max-1)}); !ok {
		t.Error("the newest was trimmed")
	}
}

func TestConcurrent(t *testing.T) {
	ca := newCA(t, "CA 1")
	certs := make([]*tlsparse.CertSummary, 8)
	for i := range certs {
		certs[i] = leaf(t, ca, fmt.Sprintf("h%d.example", i), nil, t0.AddDate(0, -1, 0), 90)
	}
	inv := open(t, t.TempDir(), Options{LearningPeriod: -1, FlushInterval: time.Millisecond})
	const workers, per = 4, 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	newItems := map[Key]int{}
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				c := certs[(i+w)%len(certs)]
				obs := inv.Record(sess(t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("198.51.100.%d:443", i%16), "", fmt.Sprintf("ja4-%d", i%100), "", c))
				mu.Lock()
				for _, it := range obs.Items {
					newItems[it.Key]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, n := range newItems {
		if n != 1 {
			t.Errorf("%v reported new %d times", k, n)
		}
	}
	var total uint64
	for _, it := range inv.Snapshot() {
		if it.Kind == ClientJA4 {
			total += it.Count
		}
	}
	if total != workers*per || inv.Stats().Sessions != workers*per {
		t.Errorf("counted %d, want %d", total, workers*per)
	}
	closeInv(t, inv)
	inv.Record(sess(t0, "198.51.100.1:443", "", "late", "", nil...)) // after Close: ignored
}

func TestEncoding(t *testing.T) {
	items := []Item{
		{Key: Key{Kind: ClientJA4, Value: "t13d1516h2_8daaf6152771_02713d6af862"}, FirstSeen: t0, LastSeen: t0.Add(time.Hour), Count: 3},
		{Key: Key{Kind: ServerCertificate, Value: "AB", Server: netip.MustParseAddrPort("[2001:db8::1%eth0]:443"), SNI: "x"},
			Certificate: &CertInfo{SHA256: "AB", Subject: "CN=x", Issuer: "CN=x", SelfSigned: true, NotBefore: t0, NotAfter: t0.Add(time.Hour), AlternativeNames: []string{"x", "y"}},
			FirstSeen:   t0, LastSeen: t0, Count: 1 << 40},
	}
	for _, it := range items {
		got, err := decodeItem(encodeKey(nil, it.Key), encodeValue(nil, &it))
		if err != nil || got.Key != it.Key || got.Count != it.Count || !got.LastSeen.Equal(it.LastSeen) ||
			(it.Certificate != nil && (got.Certificate.SHA256 != "AB" || !got.Certificate.SelfSigned || len(got.Certificate.AlternativeNames) != 2)) {
			t.Errorf("%+v: %+v %v", it, got, err)
		}
		v := encodeValue(nil, &it)
		for n := range len(v) - 1 {
			if _, err := decodeItem(encodeKey(nil, it.Key), v[:n]); err == nil {
				t.Errorf("truncated at %d: no error", n)
			}
		}
	}
	if _, err := decodeKey([]byte{9, 0}); err == nil {
		t.Error("unknown kind accepted")
	}
	id := DocumentID(items[0].Key)
	if len(id) != 43 || id != DocumentID(items[0].Key) || id == DocumentID(Key{Kind: ClientJA3, Value: items[0].Value}) {
		t.Errorf("document id %q", id)
	}
}

// memStore is a Store in memory whose commits take delay.
type memStore struct {
	mu    sync.Mutex
	items map[Key]Item
	state State
	delay time.Duration
}

func (m *memStore) Load(fn func(Item) error) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, it := range m.items {
		if err := fn(it); err != nil {
			return m.state, err
		}
	}
	return m.state, nil
}

func (m *memStore) Commit(b Batch) error {
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range b.Delete {
		delete(m.items, k)
	}
	for _, it := range b.Put {
		m.items[it.Key] = it
	}
	m.state = b.State
	return nil
}

func (m *memStore) Close() error { return nil }

// A flood against a slow store: what waits for the store stays bounded,
// and the store ends up with exactly the items held.
func TestFloodSlowStore(t *testing.T) {
	const bound = 1000
	ms := &memStore{items: map[Key]Item{}, delay: 20 * time.Millisecond}
	inv := open(t, "", Options{LearningPeriod: -1, MaxItems: bound, FlushInterval: time.Millisecond, Store: ms})
	worst := 0
	for i := range 100 * bound {
		inv.Record(sess(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.1:443", "", fmt.Sprintf("ja4-%07d", i), "", nil...))
		if i%97 == 0 {
			worst = max(worst, inv.Stats().Pending)
		}
	}
	if worst > 4*bound {
		t.Errorf("up to %d pending for %d items held", worst, bound)
	}
	held := inv.Snapshot()
	closeInv(t, inv)
	if len(ms.items) != bound || len(held) != bound {
		t.Fatalf("%d stored, %d held", len(ms.items), len(held))
	}
	for _, it := range held {
		if st, ok := ms.items[it.Key]; !ok || st.Count != it.Count {
			t.Errorf("%v: stored %+v", it.Key, st)
		}
	}
	t.Logf("worst pending %d", worst)
}

// New items are committed every flush, counts and last seen of known items
// only with updates.
func TestUpdateInterval(t *testing.T) {
	ms := &memStore{items: map[Key]Item{}}
	inv := open(t, "", Options{LearningPeriod: -1, FlushInterval: time.Hour, Store: ms})
	defer closeInv(t, inv)
	inv.Record(sess(t0, "198.51.100.1:443", "", "ja4a", "", nil...))
	inv.flush(false)
	inv.Record(sess(t0.Add(time.Minute), "198.51.100.1:443", "", "ja4a", "", nil...))
	inv.Record(sess(t0.Add(time.Minute), "198.51.100.1:443", "", "ja4b", "", nil...))
	inv.flush(false)
	a, b := ms.items[Key{Kind: ClientJA4, Value: "ja4a"}], ms.items[Key{Kind: ClientJA4, Value: "ja4b"}]
	if a.Count != 1 || b.Count != 1 {
		t.Fatalf("without updates: %+v %+v", a, b)
	}
	if st := inv.Stats(); st.Pending != 1 {
		t.Errorf("pending %d", st.Pending)
	}
	inv.flush(true)
	if a := ms.items[Key{Kind: ClientJA4, Value: "ja4a"}]; a.Count != 2 || !a.LastSeen.Equal(t0.Add(time.Minute+time.Second)) {
		t.Errorf("with updates: %+v", a)
	}
}

// failStore fails its commits while fail is set.
type failStore struct {
	memStore
	fail bool
}

func (f *failStore) Commit(b Batch) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("disk full")
	}
	return f.memStore.Commit(b)
}

// A failed commit keeps its items (and evictions) for the next one.
func TestCommitFailure(t *testing.T) {
	fs := &failStore{memStore: memStore{items: map[Key]Item{}}}
	inv := open(t, "", Options{LearningPeriod: -1, MaxItems: 2, FlushInterval: time.Hour, Store: fs})
	inv.Record(sess(t0, "198.51.100.1:443", "", "ja4a", "", nil...))
	inv.Record(sess(t0.Add(time.Second), "198.51.100.1:443", "", "ja4b", "", nil...))
	if err := inv.Flush(); err != nil {
		t.Fatal(err)
	}
	fs.fail = true
	inv.Record(sess(t0.Add(2*time.Second), "198.51.100.1:443", "", "ja4c", "", nil...)) // evicts ja4a
	inv.Record(sess(t0.Add(3*time.Second), "198.51.100.1:443", "", "ja4b", "", nil...))
	if err := inv.Flush(); err == nil {
		t.Fatal("no error")
	}
	if st := inv.Stats(); st.FlushErrors != 1 || st.LastError == nil || st.Pending != 3 {
		t.Errorf("stats %+v", st)
	}
	fs.fail = false
	closeInv(t, inv)
	if len(fs.items) != 2 || fs.items[Key{Kind: ClientJA4, Value: "ja4b"}].Count != 2 {
		t.Errorf("stored %+v", fs.items)
	}
	if _, ok := fs.items[Key{Kind: ClientJA4, Value: "ja4c"}]; !ok {
		t.Error("ja4c lost")
	}
}

// The bbolt file does not shrink, but reuses its pages: under a long
// flood it stays near the size it reached for the first bound's worth.
func TestFloodFileSize(t *testing.T) {
	const bound = 8000
	dir := t.TempDir()
	inv := open(t, dir, Options{LearningPeriod: -1, MaxItems: bound, FlushInterval: time.Hour})
	defer closeInv(t, inv)
	var sizes []int64
	i := 0
	for range 5 {
		for range 3 * bound {
			inv.Record(sess(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.1:443", "", fmt.Sprintf("t13d1516h2_flood_%012d", i), fmt.Sprintf("%032d", i), nil...))
			if i++; i%2000 == 0 {
				inv.Flush()
			}
		}
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	t.Logf("file sizes: %v", sizes)
	if last := sizes[len(sizes)-1]; last > 2*sizes[0] {
		t.Errorf("file grew from %d to %d bytes", sizes[0], last)
	}
}

func TestObserveSetsFacts(t *testing.T) {
	ca := newCA(t, "CA 1")
	ca2 := newCA(t, "CA 2")
	a := leaf(t, ca, "a.example", []string{"a.example"}, t0.AddDate(0, -1, 0), 90)
	b := leaf(t, ca2, "a.example", []string{"a.example"}, t0.AddDate(0, -1, 0), 90)
	inv := open(t, t.TempDir(), noLearning)
	defer closeInv(t, inv)

	s := sess(t0, "198.51.100.1:443", "a.example", "ja4a", "ja3a", a)
	inv.Observe(s)
	f := s.Inventory
	if f == nil || f.Learning || !f.NewClientJA4 || !f.NewClientJA3 || !f.NewCertificate || !f.NewServerCertificate || f.Change != "first" || len(f.Items) != 4 {
		t.Fatalf("first: %+v", f)
	}
	if it := f.Items[3]; it.Kind != "server_certificate" || it.SNI != "a.example" || it.Certificate == nil || it.Certificate.Issuer == "" || it.Count != 1 {
		t.Errorf("pair item: %+v", it)
	}
	s = sess(t0.Add(time.Minute), "198.51.100.1:443", "a.example", "ja4a", "ja3a", b)
	inv.Observe(s)
	f = s.Inventory
	if f.NewClientJA4 || f.NewClientJA3 || !f.NewServerCertificate || f.Change != "change" ||
		!slices.Contains(f.ChangeReasons, "issuer_changed") || f.PreviousIssuer == "" || f.PreviousSHA256 != a.SHA256 {
		t.Fatalf("changed: %+v", f)
	}
	s = sess(t0.Add(2*time.Minute), "198.51.100.1:443", "a.example", "ja4a", "ja3a", b)
	inv.Observe(s)
	if f = s.Inventory; f == nil || f.NewServerCertificate || f.NewCertificate || f.Items != nil {
		t.Fatalf("seen: %+v", f)
	}
}
