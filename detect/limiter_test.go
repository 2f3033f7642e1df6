package detect

import (
	"container/list"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
)

// refLimiter is the limiter as first written (container/list LRU), with
// its shard chosen by a bitwise CRC-32C: the model the limiter must agree with, decision for
// decision and eviction for eviction.
type refLimiter struct {
	shards          [limiterShards]refShard
	maxBytes        int64
	evictions, lost uint64
}

type refShard struct {
	m     map[string]*refEntry
	lru   list.List
	bytes int64
}

type refEntry struct {
	key            string
	elem           *list.Element
	windowStart    int64
	window         time.Duration
	count, pending uint64
	since          int64
}

func newRefLimiter(maxBytes int64) *refLimiter {
	l := &refLimiter{maxBytes: maxBytes}
	for i := range l.shards {
		l.shards[i].m = map[string]*refEntry{}
	}
	return l
}

// refCRC32C is CRC-32C (Castagnoli, reflected polynomial 0x82f63b78)
// bit by bit, as RFC 3720 defines it.
func refCRC32C(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82f63b78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func (l *refLimiter) decide(r *limitRule, key []byte, now int64) (bool, uint64, int64) {
	sh := &l.shards[refCRC32C(key)%limiterShards]
	e := sh.m[string(key)]
	if e == nil {
		e = &refEntry{key: string(key), windowStart: now, window: r.window}
		sh.m[e.key] = e
		e.elem = sh.lru.PushBack(e)
		sh.bytes += entryOverhead
		l.trim(sh, now, e)
	} else {
		sh.lru.MoveToBack(e.elem)
		e.window = r.window
		if now-e.windowStart >= int64(r.window) {
			e.windowStart, e.count = now, 0
		}
	}
	e.count++
	var alert bool
	switch r.typ {
	case limitLimit:
		alert = e.count <= r.count
	case limitThreshold:
		alert = e.count >= r.count
		if alert {
			e.count = 0
		}
	case limitBoth:
		alert = e.count == r.count
	case limitAfter:
		alert = e.count > r.count
	}
	if !alert {
		if e.pending == 0 || now < e.since {
			e.since = now
		}
		e.pending++
		return false, 0, 0
	}
	n, since := e.pending+1, now
	if e.pending > 0 && e.since < now {
		since = e.since
	}
	e.pending = 0
	return true, n, since
}

func (l *refLimiter) trim(sh *refShard, now int64, keep *refEntry) {
	share := l.maxBytes / limiterShards
	oldest := func() *refEntry {
		if f := sh.lru.Front(); f != nil && f.Value != keep {
			return f.Value.(*refEntry)
		}
		return nil
	}
	remove := func(e *refEntry) {
		sh.lru.Remove(e.elem)
		delete(sh.m, e.key)
		sh.bytes -= entryOverhead
	}
	for i := 0; i < 2; i++ {
		h := oldest()
		if h == nil || h.pending != 0 || now-h.windowStart < int64(h.window) {
			break
		}
		remove(h)
	}
	for sh.bytes > share {
		h := oldest()
		if h == nil {
			break
		}
		l.evictions++
		l.lost += h.pending
		remove(h)
	}
}

func (l *refLimiter) stats() LimiterStats {
	st := LimiterStats{Limit: l.maxBytes, Evictions: l.evictions, Lost: l.lost}
	for i := range l.shards {
		st.Keys += len(l.shards[i].m)
		st.Bytes += l.shards[i].bytes
	}
	return st
}

// order lists each shard's keys, least recently matched first, as the
// hashes of l holds them.
func (l *refLimiter) order(h *limiter) [limiterShards][]limKey {
	var o [limiterShards][]limKey
	for i := range l.shards {
		for f := l.shards[i].lru.Front(); f != nil; f = f.Next() {
			k, _ := h.hash([]byte(f.Value.(*refEntry).key))
			o[i] = append(o[i], k)
		}
	}
	return o
}

// shardOf is CRC-32C modulo the shard count, whatever the bytes.
func TestShardOfIsCRC32C(t *testing.T) {
	if got := refCRC32C([]byte("123456789")); got != 0xe3069283 { // the check value
		t.Fatalf("refCRC32C(123456789) = %#x, want 0xe3069283", got)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	b := make([]byte, 300)
	for i := 0; i < 20_000; i++ {
		key := b[:rng.IntN(len(b))]
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		if got, want := shardOf(crc32.Checksum(key, castagnoli)), refCRC32C(key)%limiterShards; uint32(got) != want {
			t.Fatalf("shardOf(%x) = %d, crc32c %% %d = %d", key, got, limiterShards, want)
		}
	}
}

// Keys of one length and CRC-32C (one shard) are two keys: the limiter
// tells them apart by their seeded hash.
func TestLimiterKeysOfOneCRC(t *testing.T) {
	key := func(i int) []byte { return fmt.Appendf(nil, "x.a\x00%08d", i) }
	seen := map[uint32]int{}
	var a, b []byte
	for i := 0; a == nil; i++ {
		c := crc32.Checksum(key(i), castagnoli)
		if j, ok := seen[c]; ok {
			a, b = key(j), key(i)
		}
		seen[c] = i
	}
	r := &limitRule{typ: limitLimit, count: 1, window: time.Hour}
	l := newLimiter(0)
	for i, k := range [][]byte{a, b, a, b} {
		if alert, _, _ := l.decide(r, k, int64(i)); alert != (i < 2) {
			t.Errorf("match %d (%q): alert %v, want %v", i, k, alert, i < 2)
		}
	}
	if st := l.stats(); st.Keys != 2 || st.Bytes != 2*entryOverhead {
		t.Errorf("stats %+v, want 2 keys of %d bytes", st, entryOverhead)
	}
}

// limiterKey is key i of a workload: a rule id and tracked values of
// lengths that vary with i, as appendKey writes them.
func limiterKey(buf []byte, i int) []byte {
	buf = append(buf, "cert.untrusted"...)
	buf = append(buf, "198.51."...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, 0, 0, 0, 12)
	for j := 0; j < i%5; j++ {
		buf = append(buf, "0123456789abcdef"...)
	}
	return append(buf, 0, 0, 0, byte(16*(i%5)))
}

// The limiter agrees with the model on every decision, on its stats after
// each match and on the LRU order at the end, under rules of each type,
// packet times that sometimes run backwards and budgets that force
// evictions and spent-key drops.
func TestLimiterMatchesModel(t *testing.T) {
	rules := []*limitRule{
		{typ: limitLimit, count: 1, window: time.Minute},
		{typ: limitLimit, count: 3, window: time.Hour},
		{typ: limitThreshold, count: 4, window: 10 * time.Second},
		{typ: limitBoth, count: 2, window: time.Minute},
		{typ: limitAfter, count: 2, window: 30 * time.Second},
	}
	for _, c := range []struct {
		name   string
		budget int64
		keys   int
	}{
		{"tight", 16 * 1024, 2000},
		{"roomy", 1 << 20, 2000},
		{"few keys", 4 * 1024, 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(c.budget)))
			got, want := newLimiter(c.budget), newRefLimiter(c.budget)
			now := int64(0)
			var buf []byte
			for step := 0; step < 50_000; step++ {
				now += rng.Int64N(int64(200 * time.Millisecond))
				at := now
				if rng.IntN(20) == 0 {
					at -= rng.Int64N(int64(time.Minute)) // another worker's older session
				}
				k := rng.IntN(c.keys)
				if rng.IntN(3) == 0 {
					k = rng.IntN(10) // hot keys
				}
				r := rules[k%len(rules)]
				buf = limiterKey(buf[:0], k)
				ga, gn, gs := got.decide(r, buf, at)
				wa, wn, ws := want.decide(r, buf, at)
				if ga != wa || gn != wn || gs != ws {
					t.Fatalf("step %d key %d: decide = %v %d %d, model %v %d %d", step, k, ga, gn, gs, wa, wn, ws)
				}
				if g, w := got.stats(), want.stats(); g != w {
					t.Fatalf("step %d: stats %+v, model %+v", step, g, w)
				}
			}
			st := got.stats()
			if c.budget < 1<<20 && st.Evictions == 0 {
				t.Errorf("no evictions: the case does not test them (%+v)", st)
			}
			if g, w := limiterOrder(got), want.order(got); g == nil || !reflect.DeepEqual(*g, w) {
				t.Errorf("LRU order differs from the model or the list is broken")
			}
		})
	}
}

// BenchmarkLimiterDecide measures decide on new keys (the insert path:
// allocation, map growth, eviction once the budget is full) and on keys
// already held (the hit path: lookup, LRU move).
func BenchmarkLimiterDecide(b *testing.B) {
	r := &limitRule{typ: limitLimit, count: 1, window: time.Hour}
	for _, c := range []struct {
		name   string
		keys   int   // distinct keys cycled through
		budget int64 // 0: the default
		fresh  int   // a new limiter every fresh matches (a short run)
	}{
		{"insert", 1 << 30, 0, 0},
		{"fill-4k", 1 << 30, 0, 4096},
		{"fill-32k", 1 << 30, 0, 32768},
		{"insert-evict", 1 << 30, 1 << 20, 0},
		{"hit-100", 100, 0, 0},
		{"hit-50k", 50_000, 0, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			l := newLimiter(c.budget)
			keys := make([][]byte, min(c.keys, 1<<16))
			for i := range keys {
				keys[i] = limiterKey(nil, i)
			}
			if c.keys <= len(keys) {
				keys = keys[:c.keys]
				for i, k := range keys {
					l.decide(r, k, int64(i))
				}
			}
			var buf []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := keys[i%len(keys)]
				if c.keys > len(keys) {
					buf = limiterKey(buf[:0], i)
					k = buf
				}
				if c.fresh > 0 && i%c.fresh == 0 {
					l = newLimiter(c.budget)
				}
				l.decide(r, k, int64(i))
			}
		})
	}
}

// BenchmarkLimiterLiveBytes reports the heap a held key costs (B/key,
// after a GC) next to what the budget charges for it (charged-B/key), at
// a few counts of keys: the maps' load, and so their cost per key, varies.
func BenchmarkLimiterLiveBytes(b *testing.B) {
	r := &limitRule{typ: limitLimit, count: 1, window: time.Hour}
	for _, n := range []int{3000, 20_000, 60_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = limiterKey(nil, i)
			}
			var live, charged float64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				l := newLimiter(1 << 30)
				for j, k := range keys {
					l.decide(r, k, int64(j))
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				live += float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
				charged += float64(l.stats().Bytes) / float64(n)
				runtime.KeepAlive(l)
			}
			b.ReportMetric(live/float64(b.N), "B/key")
			b.ReportMetric(charged/float64(b.N), "charged-B/key")
		})
	}
}

// limiterOrder lists each shard's keys, least recently matched first, or
// nil when a list's back links or length disagree with its forward links.
func limiterOrder(l *limiter) *[limiterShards][]limKey {
	var o [limiterShards][]limKey
	for i := range l.shards {
		sh := &l.shards[i]
		var prev *limEntry
		for e := sh.lru.front; e != nil; e = e.next {
			if e.prev != prev || sh.m[e.key] != e {
				return nil
			}
			o[i], prev = append(o[i], e.key), e
		}
		if sh.lru.back != prev || len(o[i]) != len(sh.m) {
			return nil
		}
	}
	return &o
}

// Limiter keys of two sessions are equal exactly when the tracked values'
// text is (addresses and ports are written as bytes): over IPv4, IPv6,
// zoned, IPv4-in-IPv6 and zero addresses and ports.
func TestLimiterKeysTellValuesApart(t *testing.T) {
	e := testEngine(t)
	var track []int
	for _, name := range []string{"source.ip", "source.port", "destination.ip", "destination.port"} {
		track = append(track, variableIndex[name])
	}
	l := &limitRule{track: track}
	var keys, texts []string
	for _, c := range []string{"10.0.0.1:0", "10.0.0.1:1", "10.0.0.2:256", "[::ffff:10.0.0.1]:1", "[fe80::1]:1", "[fe80::1%eth0]:1",
		"[fe80::1%eth1]:1", "[fe80::100]:1", "[::]:0", ""} {
		for _, srv := range []string{"198.51.100.7:443", "[2001:db8::7]:443", "198.51.100.7:1"} {
			s := testSession(t, func(s *session.Session) {
				s.Client, s.Server = netip.AddrPort{}, netip.MustParseAddrPort(srv)
				if c != "" {
					s.Client = netip.MustParseAddrPort(c)
				}
			})
			var a activation
			a.reset(e, s)
			keys = append(keys, string(l.appendKey(nil, "x.a", &a)))
			var text []byte
			for _, i := range track {
				text = fmt.Appendf(appendValue(text, a.value(i)), "|")
			}
			texts = append(texts, string(text))
		}
	}
	for i := range keys {
		for j := range keys {
			if (keys[i] == keys[j]) != (texts[i] == texts[j]) {
				t.Errorf("%s and %s: keys equal %v", texts[i], texts[j], keys[i] == keys[j])
			}
		}
	}
}
