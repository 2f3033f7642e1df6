package detect

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.yaml.in/yaml/v3"
)

// Rule-file suppress and threshold blocks, and the limiter that applies
// them. Windows run in packet time (the session's End, else its Start),
// never the wall clock, so a replay gives the same alerts as the live run.
//
//	suppress:                       # one alert per key per window
//	  track: [destination.ip, destination.port, tls.server.hash.sha256]
//	  for: 1h
//	threshold:                      # Suricata's threshold keyword
//	  type: both                    # limit, threshold or both
//	  track: [source.ip]
//	  count: 10
//	  within: 1m
//
// suppress is threshold type limit, count 1. A rule has one or the other.

// limitType is Suricata's threshold type.
type limitType uint8

const (
	limitLimit     limitType = iota // the first count matches of a window alert
	limitThreshold                  // every count-th match of a window alerts
	limitBoth                       // the count-th match of a window alerts, once
	limitAfter                      // every match after the count-th of a window alerts (detection_filter)
)

func (t limitType) String() string {
	return [...]string{"limit", "threshold", "both", "after"}[t]
}

// limitSpec is a suppress or threshold block as written, with its lines.
type limitSpec struct {
	what     string // "suppress" or "threshold"
	line     int
	typ      srcText
	track    []srcText
	trackSet bool
	count    int
	countSet bool
	window   srcText
}

type suppressSpec struct{ limitSpec }
type thresholdSpec struct{ limitSpec }

func (s *suppressSpec) UnmarshalYAML(n *yaml.Node) error {
	return s.decode(n, "suppress", map[string]bool{"track": true, "for": true})
}

func (s *thresholdSpec) UnmarshalYAML(n *yaml.Node) error {
	return s.decode(n, "threshold", map[string]bool{"type": true, "track": true, "count": true, "within": true})
}

func (s *limitSpec) decode(n *yaml.Node, what string, keys map[string]bool) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s must be a mapping (%s)", n.Line, what, keyList(keys))
	}
	*s = limitSpec{what: what, line: n.Line}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !keys[k.Value] {
			return fmt.Errorf("line %d: %s: unknown key %q (%s)", k.Line, what, k.Value, keyList(keys))
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: %s: duplicate key %q", k.Line, what, k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "type":
			if err := s.typ.UnmarshalYAML(v); err != nil {
				return fmt.Errorf("line %d: %s: type: expected limit, threshold or both", v.Line, what)
			}
		case "for", "within":
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: %s: %s: expected a duration such as 1h or 30m", v.Line, what, k.Value)
			}
			s.window = srcText{Value: v.Value, Line: v.Line, Set: true}
		case "count":
			c, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil {
				return fmt.Errorf("line %d: %s: count: %q is not a whole number", v.Line, what, v.Value)
			}
			s.count, s.countSet = c, true
		case "track":
			if v.Kind != yaml.SequenceNode {
				return fmt.Errorf("line %d: %s: track: expected a list of field names ([] for one key per rule)", v.Line, what)
			}
			s.trackSet = true
			for _, el := range v.Content {
				if el.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: %s: track: expected a field name", el.Line, what)
				}
				s.track = append(s.track, srcText{Value: el.Value, Line: el.Line, Set: true})
			}
		}
	}
	return nil
}

func keyList(keys map[string]bool) string {
	order := []string{"type", "track", "count", "for", "within"}
	var l []string
	for _, k := range order {
		if keys[k] {
			l = append(l, k)
		}
	}
	return "keys: " + strings.Join(l, ", ")
}

// maxWindow bounds windows (90 days: a certificate's renewal cycle, the
// longest period a built-in rule needs, cert.expiring_soon's): a longer
// one is a typo or a wish to disable the rule (disable_ids does that).
const maxWindow = 90 * 24 * time.Hour

// parseWindow parses a duration strictly: Go syntax with a unit ("1h",
// "90s", "1h30m"), or whole days ("1d"), positive, at most 90 days.
func parseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		days, err := strconv.Atoi(n)
		if err != nil || days > 90 {
			return 0, fmt.Errorf("duration %q is over the limit of 90d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("duration %q has no unit (write 1h, 30m, 90s or 1d)", s)
		}
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("duration %q: write 1h, 30m, 90s or 1d", s)
		}
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("duration %q is not positive", s)
	case d < time.Second:
		return 0, fmt.Errorf("duration %q is under a second", s)
	case d > maxWindow:
		return 0, fmt.Errorf("duration %q is over the limit of 90d", s)
	}
	return d, nil
}

// limitRule is a compiled suppress or threshold block.
type limitRule struct {
	typ    limitType
	count  uint64
	window time.Duration
	track  []int // variable indices
}

// String says what the block does, for Rule.Limit.
func (l *limitRule) String() string {
	names := make([]string, len(l.track))
	for i, v := range l.track {
		names[i] = variables[v].name
	}
	per := "per rule"
	if len(names) > 0 {
		per = "per (" + strings.Join(names, ", ") + ")"
	}
	w := shortDuration(l.window)
	switch {
	case l.typ == limitLimit && l.count == 1:
		return "one alert per " + w + " " + per
	case l.typ == limitLimit:
		return fmt.Sprintf("the first %d matches per %s %s", l.count, w, per)
	case l.typ == limitThreshold:
		return fmt.Sprintf("every %d-th match within %s %s", l.count, w, per)
	case l.typ == limitAfter:
		return fmt.Sprintf("every match after the first %d within %s %s", l.count, w, per)
	}
	return fmt.Sprintf("one alert per %s once %d matches within it %s", w, l.count, per)
}

// checkLimit validates a block of rule id in file and compiles it.
func checkLimit(file, id string, s *limitSpec) (*limitRule, error) {
	at := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: rule %s: %s: %s", file, line, id, s.what, fmt.Sprintf(format, args...))
	}
	l := &limitRule{typ: limitLimit, count: 1}
	if s.what == "threshold" {
		switch s.typ.Value {
		case "limit":
			l.typ = limitLimit
		case "threshold":
			l.typ = limitThreshold
		case "both":
			l.typ = limitBoth
		case "":
			return nil, at(s.line, "no type (limit, threshold or both)")
		default:
			return nil, at(s.typ.Line, "type %q is not limit, threshold or both", s.typ.Value)
		}
		if !s.countSet {
			return nil, at(s.line, "no count")
		}
		if s.count < 1 || s.count > 1_000_000 {
			return nil, at(s.line, "count %d is outside 1-1000000", s.count)
		}
		l.count = uint64(s.count)
	}
	win := "for"
	if s.what == "threshold" {
		win = "within"
	}
	if !s.window.Set {
		return nil, at(s.line, "no %s (a duration such as 1h)", win)
	}
	d, err := parseWindow(s.window.Value)
	if err != nil {
		return nil, at(s.window.Line, "%s: %v", win, err)
	}
	l.window = d
	if !s.trackSet {
		return nil, at(s.line, "no track (a list of field names; [] for one key per rule)")
	}
	seen := map[string]bool{}
	for _, f := range s.track {
		i, ok := variableIndex[f.Value]
		if !ok {
			return nil, at(f.Line, "track: unknown field %q%s", f.Value, suggestField(f.Value))
		}
		if seen[f.Value] {
			return nil, at(f.Line, "track: %s is listed twice", f.Value)
		}
		seen[f.Value] = true
		l.track = append(l.track, i)
	}
	return l, nil
}

// suggestField returns ` (did you mean "x"?)` with the rule-readable field
// closest to s, or the new name of an old one.
func suggestField(s string) string {
	if now, ok := renamed[s]; ok {
		return fmt.Sprintf(" (renamed: did you mean %q?)", now)
	}
	best, bestD := "", -1
	for _, v := range variables {
		if d := editDistance(s, v.name); bestD < 0 || d < bestD {
			best, bestD = v.name, d
		}
	}
	if best == "" || bestD > max(3, len(s)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// appendKey appends the rule id and the tracked values of the session to
// buf: the limiter's key. Each value is followed by its length, so that no
// value (an SNI can hold any byte) can pass for two. A key is hashed,
// never shown: a value need only be told apart from the variable's other
// values, so addresses and ports are written as bytes (keyBytes), the
// rest as text.
func (l *limitRule) appendKey(buf []byte, id string, a *activation) []byte {
	buf = append(buf, id...)
	for _, i := range l.track {
		n := len(buf)
		var ok bool
		if f := keyBytes[i]; f != nil {
			buf = f(a, buf)
		} else if buf, ok = a.appendUnboxed(buf, i); !ok {
			buf = appendValue(buf, a.value(i))
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(buf)-n))
	}
	return buf
}

// keyBytes, by variable index, appends an address or a port to a limiter
// key as bytes: formatting them was most of what building a key cost.
var keyBytes = func() (k [len0]func(a *activation, b []byte) []byte) {
	set := func(name string, f func(a *activation, b []byte) []byte) {
		i, ok := variableIndex[name]
		if !ok {
			panic("detect: key bytes of unknown variable " + name)
		}
		k[i] = f
	}
	set("source.ip", func(a *activation, b []byte) []byte { return appendAddrBytes(b, a.s.Client.Addr()) })
	set("destination.ip", func(a *activation, b []byte) []byte { return appendAddrBytes(b, a.s.Server.Addr()) })
	set("source.port", func(a *activation, b []byte) []byte { return binary.BigEndian.AppendUint16(b, a.s.Client.Port()) })
	set("destination.port", func(a *activation, b []byte) []byte { return binary.BigEndian.AppendUint16(b, a.s.Server.Port()) })
	return k
}()

// appendAddrBytes appends addr as 4 bytes (IPv4), 16 and the zone (IPv6,
// IPv4 in IPv6 among them), or none (the zero Addr): as many values as
// its text has.
func appendAddrBytes(b []byte, addr netip.Addr) []byte {
	switch {
	case addr.Is4():
		a4 := addr.As4()
		return append(b, a4[:]...)
	case addr.Is6():
		a16 := addr.As16()
		return append(append(b, a16[:]...), addr.Zone()...)
	}
	return b
}

// packetTime is the time windows run on: the session's last packet (when
// it was judged), else its first.
func packetTime(end, start time.Time) int64 {
	if !end.IsZero() {
		return end.UnixNano()
	}
	if !start.IsZero() {
		return start.UnixNano()
	}
	return 0
}

// limiter holds the state of every (rule, key) of suppress and threshold
// blocks, in shards each with its own lock and an LRU list, within a
// memory budget: when a shard is over its share, the keys matched least
// recently are evicted (counted; matches they held back and had not yet
// reported are counted as lost). A key whose window has passed and that
// holds nothing back is dropped freely: a new one would behave the same.
// For one worker the outcome depends only on the order of sessions and
// their packet times.
type limiter struct {
	shards    [limiterShards]limShard
	seed      maphash.Seed // of limKey
	maxBytes  int64        // the whole budget
	evictions atomic.Uint64
	lost      atomic.Uint64
}

const (
	limiterShards = 16 // a power of 2 (see shardOf)
	// shardMapHint pre-sizes each shard's map: 224 keys before the first
	// growth (3,584 in all, a short replay's worth), 106 KB for the 16 maps;
	// less when fewer keys fit in the budget.
	shardMapHint = 128
	// entryOverhead estimates the bytes a key costs: the entry (72 bytes,
	// its limKey in it), 8 for the allocator's rounding to the 80-byte size
	// class, and the map slot (limKey, value pointer, control byte: 25
	// bytes) at the lowest load a map has, 7/16 right after it grows: 137
	// in all. BenchmarkLimiterLiveBytes measures 115-136.
	entryOverhead = int64(unsafe.Sizeof(limEntry{})) + 8 + (16+8+1)*16/7
	// DefaultSuppressMemory is the default budget of the limiter.
	DefaultSuppressMemory = 16 << 20
)

type limShard struct {
	mu    sync.Mutex
	m     map[limKey]*limEntry
	lru   limList
	bytes int64
	_     [64]byte // keep shards on separate cache lines
}

// limKey stands for a key in the map, which neither keeps nor compares
// the key's text: its seeded 64-bit hash (hash/maphash), then its length
// and CRC-32C. Two keys of a run share one with a chance of 2^-92 a pair
// (the shard's 4 bits of the CRC are common to its keys).
type limKey [2]uint64

type limEntry struct {
	key         limKey
	prev, next  *limEntry // in the shard's LRU list
	windowStart int64     // packet time (ns) the current window opened
	window      time.Duration
	count       uint64 // matches in the current window (since the last reset for threshold)
	pending     uint64 // matches held back since the last alert of the key
	since       int64  // packet time of the first of them
}

// entryOverhead assumes 72-byte entries: this fails to compile otherwise.
var _ [unsafe.Sizeof(limEntry{}) - 72]struct{}
var _ [72 - unsafe.Sizeof(limEntry{})]struct{}

// limList is an intrusive doubly linked list of entries; front: matched
// least recently.
type limList struct{ front, back *limEntry }

func (q *limList) pushBack(e *limEntry) {
	e.prev, e.next = q.back, nil
	if q.back != nil {
		q.back.next = e
	} else {
		q.front = e
	}
	q.back = e
}

func (q *limList) remove(e *limEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.front = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.back = e.prev
	}
	e.prev, e.next = nil, nil
}

func (q *limList) moveToBack(e *limEntry) {
	if q.back != e {
		q.remove(e)
		q.pushBack(e)
	}
}

func newLimiter(maxBytes int64) *limiter {
	if maxBytes <= 0 {
		maxBytes = DefaultSuppressMemory
	}
	l := &limiter{maxBytes: maxBytes, seed: maphash.MakeSeed()}
	hint := min(shardMapHint, maxBytes/limiterShards/entryOverhead)
	for i := range l.shards {
		l.shards[i].m = make(map[limKey]*limEntry, hint)
	}
	return l
}

// shardOf is the shard of a key whose CRC-32C is crc: the CRC modulo
// the shard count, a fixed hash so that shard choice (and so eviction)
// does not change between runs, and one the CPU computes 8 bytes at a
// time (SSE4.2, ARMv8 CRC32): 17 ns for a 110-byte key where a byte
// loop took 60. Picking keys of one shard only narrows what
// they may hold to the shard's share of the budget, as with any fixed
// hash; the key's limKey within the shard is seeded.
func shardOf(crc uint32) uint {
	return uint(crc) & (limiterShards - 1)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hash is key's limKey and its CRC-32C.
func (l *limiter) hash(key []byte) (limKey, uint32) {
	crc := crc32.Checksum(key, castagnoli)
	return limKey{maphash.Bytes(l.seed, key), uint64(len(key))<<32 | uint64(crc)}, crc
}

// decide records a match of key at packet time now under rule r and says
// whether it alerts; when it does, n is how many matches the alert stands
// for (itself and those held back since the key's previous alert) and since
// the packet time of the first of them.
func (l *limiter) decide(r *limitRule, key []byte, now int64) (alert bool, n uint64, since int64) {
	k, crc := l.hash(key)
	sh := &l.shards[shardOf(crc)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[k]
	if e == nil {
		e = &limEntry{key: k, windowStart: now, window: r.window}
		sh.m[k] = e
		sh.lru.pushBack(e)
		sh.bytes += entryOverhead
		sh.trim(l, now, e)
	} else {
		sh.lru.moveToBack(e)
		e.window = r.window
		// A match from before the window opened (another worker's older
		// session) counts in the current window.
		if now-e.windowStart >= int64(r.window) {
			e.windowStart, e.count = now, 0
		}
	}
	e.count++
	switch r.typ {
	case limitLimit:
		alert = e.count <= r.count
	case limitThreshold:
		alert = e.count >= r.count
		if alert {
			e.count = 0 // the window stays: Suricata counts the next count matches in it
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
	n, since = e.pending+1, now
	if e.pending > 0 && e.since < now {
		since = e.since
	}
	e.pending = 0
	return true, n, since
}

// trim evicts least recently matched keys (not keep) while the shard is
// over its share of the budget, and drops a spent key or two from the head.
func (sh *limShard) trim(l *limiter, now int64, keep *limEntry) {
	share := l.maxBytes / limiterShards
	oldest := func() *limEntry {
		if f := sh.lru.front; f != keep {
			return f
		}
		return nil
	}
	for i := 0; i < 2; i++ {
		h := oldest()
		if h == nil || h.pending != 0 || now-h.windowStart < int64(h.window) {
			break
		}
		sh.remove(h)
	}
	for sh.bytes > share {
		h := oldest()
		if h == nil {
			break
		}
		l.evictions.Add(1)
		l.lost.Add(h.pending)
		sh.remove(h)
	}
}

func (sh *limShard) remove(e *limEntry) {
	sh.lru.remove(e)
	delete(sh.m, e.key)
	sh.bytes -= entryOverhead
}

// LimiterStats describe the state of suppress and threshold blocks.
//
// Bytes is the estimated memory of the keys held (entryOverhead each: a
// key is held as its hash, not its text), the figure Limit bounds. It leaves out the fixed
// cost of the shard maps newLimiter pre-sizes (shardMapHint): about 106 KB
// from the start whatever the keys, less for budgets under 274 KB (31 KB at
// 64 KB), measured with Go 1.26's maps. Keys beyond the pre-sized room are
// counted in Bytes through their map slot share in entryOverhead.
type LimiterStats struct {
	Keys      int    // (rule, key) pairs held
	Bytes     int64  // their estimated memory (not the pre-sized maps)
	Limit     int64  // the budget (Config.SuppressMemory)
	Evictions uint64 // keys evicted to stay within the budget
	// Lost counts held-back matches of evicted keys: no later alert will
	// carry them (they stay counted in Stats.Suppressed).
	Lost uint64
}

func (l *limiter) stats() LimiterStats {
	st := LimiterStats{Limit: l.maxBytes, Evictions: l.evictions.Load(), Lost: l.lost.Load()}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		st.Keys += len(sh.m)
		st.Bytes += sh.bytes
		sh.mu.Unlock()
	}
	return st
}

// countText is the words event.reason carries for an alert standing for n
// matches, the first at since, the last at now (packet times, ns).
func countText(n uint64, since, now int64) string {
	if n <= 1 {
		return ""
	}
	more := "matches"
	if n == 2 {
		more = "match"
	}
	d := time.Duration(now - since).Round(time.Second)
	if d < time.Second {
		return fmt.Sprintf("(and %d more %s)", n-1, more)
	}
	return fmt.Sprintf("(and %d more %s in the last %s)", n-1, more, shortDuration(d))
}

// shortDuration writes 1h, 1h5m, 2m30s, 3d4h: no zero parts.
func shortDuration(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}
