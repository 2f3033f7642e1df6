package tlsparse

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
)

// FingerprintCache remembers the JA3, JA4 and JA3S of recently seen hellos,
// so that the clients and servers that make most connections (a browser
// build, a library, a beacon) cost one map lookup instead of a JA3 string,
// an MD5, a sort and two SHA-256s, and their sessions share one copy of each
// string. The key is an injective encoding of exactly the hello fields the
// fingerprints read; a hello whose key is over maxFPKey bytes is computed
// and not kept. Entries are evicted least recently used at a byte bound.
// A FingerprintCache is for one goroutine.
type FingerprintCache struct {
	maxBytes int
	bytes    int
	entries  map[string]*fpEntry
	head     fpEntry // sentinel of the LRU list: head.next is the newest
	key      []byte

	hits, misses, evictions uint64
}

type fpEntry struct {
	key             string
	full, hash, ja4 string // client: JA3 string, JA3, JA4; server: JA3S string, JA3S, ""
	prev, next      *fpEntry
}

// maxFPKey is the longest key kept: 1 KiB holds a hello with about 500
// list entries (browsers send about 60).
const maxFPKey = 1024

// fpEntryOverhead approximates an entry's bytes besides its strings: the
// struct, its map slot and the string headers.
const fpEntryOverhead = 160

// FingerprintCacheStats describe a FingerprintCache.
type FingerprintCacheStats struct {
	Entries                 int
	Bytes, Limit            int // bytes held (strings and per-entry overhead), and the bound
	Hits, Misses, Evictions uint64
}

// NewFingerprintCache returns a cache that holds at most maxBytes.
func NewFingerprintCache(maxBytes int) *FingerprintCache {
	c := &FingerprintCache{maxBytes: maxBytes, entries: make(map[string]*fpEntry)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// Stats returns the cache's size and counters.
func (c *FingerprintCache) Stats() FingerprintCacheStats {
	return FingerprintCacheStats{Entries: len(c.entries), Bytes: c.bytes, Limit: c.maxBytes,
		Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}

// Client returns JA3 (string and MD5) and JA4 of ch, as JA3 and JA4 do;
// quic selects JA4's 'q' transport. A nil cache computes them.
func (c *FingerprintCache) Client(ch *ClientHello, quic bool) (ja3String, ja3, ja4 string) {
	if ch == nil {
		return "", "", ""
	}
	if c == nil {
		ja3String, ja3 = JA3(ch)
		return ja3String, ja3, JA4(ch, quic)
	}
	c.key = appendClientKey(c.key[:0], ch, quic)
	if e := c.lookup(); e != nil {
		return e.full, e.hash, e.ja4
	}
	ja3String, ja3 = JA3(ch)
	ja4 = JA4(ch, quic)
	c.insert(ja3String, ja3, ja4)
	return ja3String, ja3, ja4
}

// Server returns JA3S (string and MD5) of sh, as JA3S does. A nil cache
// computes it.
func (c *FingerprintCache) Server(sh *ServerHello) (ja3sString, ja3s string) {
	if sh == nil || sh.SSLv2 {
		return "", ""
	}
	if c == nil {
		return JA3S(sh)
	}
	c.key = appendServerKey(c.key[:0], sh)
	if e := c.lookup(); e != nil {
		return e.full, e.hash
	}
	var buf [512]byte
	s := AppendJA3S(buf[:0], sh)
	sum := md5.Sum(s)
	ja3sString, ja3s = string(s), hex.EncodeToString(sum[:])
	c.insert(ja3sString, ja3s, "")
	return ja3sString, ja3s
}

// lookup finds c.key, moving its entry to the front; a miss is counted.
func (c *FingerprintCache) lookup() *fpEntry {
	if len(c.key) > maxFPKey {
		c.misses++
		return nil
	}
	e := c.entries[string(c.key)]
	if e == nil {
		c.misses++
		return nil
	}
	c.hits++
	c.unlink(e)
	c.pushFront(e)
	return e
}

// insert adds an entry for c.key (not present: lookup just missed), then
// evicts the oldest entries while over the bound.
func (c *FingerprintCache) insert(full, hash, ja4 string) {
	if len(c.key) > maxFPKey {
		return
	}
	e := &fpEntry{key: string(c.key), full: full, hash: hash, ja4: ja4}
	c.entries[e.key] = e
	c.pushFront(e)
	c.bytes += e.size()
	for c.bytes > c.maxBytes && c.head.prev != &c.head {
		old := c.head.prev
		c.unlink(old)
		delete(c.entries, old.key)
		c.bytes -= old.size()
		c.evictions++
	}
}

func (e *fpEntry) size() int {
	return fpEntryOverhead + len(e.key) + len(e.full) + len(e.hash) + len(e.ja4)
}

func (c *FingerprintCache) unlink(e *fpEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *FingerprintCache) pushFront(e *fpEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// appendClientKey appends the encoding of what JA3 and JA4 read of ch:
// a tag, the flags, legacy_version, then each list with its length (so that
// no two different hellos share a key), and the first and last byte of the
// first ALPN value (all JA4 reads of ALPN).
func appendClientKey(dst []byte, ch *ClientHello, quic bool) []byte {
	flags := byte(0)
	if quic {
		flags |= 1
	}
	if ch.SSLv2 {
		flags |= 2
	}
	if len(ch.ALPN) > 0 && ch.ALPN[0] != "" {
		flags |= 4
	}
	dst = append(dst, 'c', flags)
	dst = binary.BigEndian.AppendUint16(dst, ch.LegacyVersion)
	dst = appendU16List(dst, ch.CipherSuites)
	dst = appendU16List(dst, ch.Extensions)
	dst = appendU16List(dst, ch.SupportedGroups)
	dst = appendU16List(dst, ch.SignatureAlgorithms)
	dst = appendU16List(dst, ch.SupportedVersions)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ch.ECPointFormats)))
	dst = append(dst, ch.ECPointFormats...)
	if flags&4 != 0 {
		a := ch.ALPN[0]
		dst = append(dst, a[0], a[len(a)-1])
	}
	return dst
}

// appendServerKey appends the encoding of what JA3S reads of sh.
func appendServerKey(dst []byte, sh *ServerHello) []byte {
	dst = append(dst, 's')
	dst = binary.BigEndian.AppendUint16(dst, sh.LegacyVersion)
	dst = binary.BigEndian.AppendUint16(dst, sh.CipherSuite)
	return appendU16List(dst, sh.Extensions)
}

// appendU16List appends the length of list and its values, big-endian,
// four values to an append while they last.
func appendU16List(dst []byte, list []uint16) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(list)))
	for ; len(list) >= 4; list = list[4:] {
		dst = binary.BigEndian.AppendUint64(dst, uint64(list[0])<<48|uint64(list[1])<<32|uint64(list[2])<<16|uint64(list[3]))
	}
	for _, v := range list {
		dst = binary.BigEndian.AppendUint16(dst, v)
	}
	return dst
}
