package tlsparse

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// checkCached compares c's fingerprints of ch and sh with the direct ones.
func checkCached(t *testing.T, c *FingerprintCache, name string, ch *ClientHello, sh *ServerHello, quic bool) {
	t.Helper()
	wantFull, wantHash := JA3(ch)
	wantJA4 := JA4(ch, quic)
	full, hash, ja4 := c.Client(ch, quic)
	if full != wantFull || hash != wantHash || ja4 != wantJA4 {
		t.Errorf("%s: cached client %q %q %q, want %q %q %q", name, full, hash, ja4, wantFull, wantHash, wantJA4)
	}
	wantS, wantSHash := JA3S(sh)
	if s, sHash := c.Server(sh); s != wantS || sHash != wantSHash {
		t.Errorf("%s: cached server %q %q, want %q %q", name, s, sHash, wantS, wantSHash)
	}
}

// TestFingerprintCacheVariants runs hellos that differ in one thing a
// fingerprint reads through one cache, twice: a key shared by two of them
// would give one the other's fingerprints.
func TestFingerprintCacheVariants(t *testing.T) {
	type variant struct {
		name string
		edit func(*ClientHello)
		quic bool
	}
	variants := []variant{
		{"spec", func(*ClientHello) {}, false},
		{"quic", func(*ClientHello) {}, true},
		{"sslv2", func(c *ClientHello) { c.SSLv2 = true }, false},
		{"sslv2 version 0", func(c *ClientHello) { c.SSLv2, c.LegacyVersion = true, 0 }, false},
		{"legacy version", func(c *ClientHello) { c.LegacyVersion = 0x0301 }, false},
		{"cipher moved to extensions", func(c *ClientHello) {
			c.Extensions = append([]uint16{c.CipherSuites[len(c.CipherSuites)-1]}, c.Extensions...)
			c.CipherSuites = c.CipherSuites[:len(c.CipherSuites)-1]
		}, false},
		{"cipher order", func(c *ClientHello) { c.CipherSuites[1], c.CipherSuites[2] = c.CipherSuites[2], c.CipherSuites[1] }, false},
		{"no groups", func(c *ClientHello) { c.SupportedGroups = nil }, false},
		{"groups", func(c *ClientHello) { c.SupportedGroups = []uint16{0x001d, 0x0017} }, false},
		{"groups to sigalgs", func(c *ClientHello) {
			c.SupportedGroups = []uint16{0x001d}
			c.SignatureAlgorithms = append([]uint16{0x001d}, c.SignatureAlgorithms...)
		}, false},
		{"point formats", func(c *ClientHello) { c.ECPointFormats = []uint8{0} }, false},
		{"point formats 2", func(c *ClientHello) { c.ECPointFormats = []uint8{0, 1} }, false},
		{"point formats other", func(c *ClientHello) { c.ECPointFormats = []uint8{1} }, false},
		{"no sigalgs", func(c *ClientHello) { c.SignatureAlgorithms = nil }, false},
		{"versions", func(c *ClientHello) { c.SupportedVersions = []uint16{0x0303} }, false},
		{"alpn last byte", func(c *ClientHello) { c.ALPN = []string{"h3"} }, false},
		{"alpn first byte", func(c *ClientHello) { c.ALPN = []string{"x2"} }, false},
		{"alpn one byte", func(c *ClientHello) { c.ALPN = []string{"h"} }, false},
		{"alpn empty value", func(c *ClientHello) { c.ALPN = []string{""} }, false},
		{"no alpn", func(c *ClientHello) { c.ALPN = nil }, false},
		{"alpn non-ascii", func(c *ClientHello) { c.ALPN = []string{"\xba\xad"} }, false},
		{"only second alpn differs", func(c *ClientHello) { c.ALPN = []string{"h2", "spdy/3"} }, false},
		{"no sni", func(c *ClientHello) {
			c.Extensions = slices.DeleteFunc(slices.Clone(c.Extensions), func(e uint16) bool { return e == 0 })
		}, false},
	}
	servers := []*ServerHello{
		nil,
		{LegacyVersion: 0x0303, CipherSuite: 0x1301, Extensions: []uint16{0x002b, 0x0033}},
		{LegacyVersion: 0x0303, CipherSuite: 0x1301, Extensions: []uint16{0x002b}},
		{LegacyVersion: 0x0303, CipherSuite: 0x1302, Extensions: []uint16{0x002b, 0x0033}},
		{LegacyVersion: 0x0303, CipherSuite: 0x1301, Extensions: []uint16{0x002b, 0x0033}, SSLv2: true},
	}
	c := NewFingerprintCache(1 << 20)
	var first FingerprintCacheStats
	for round := 0; round < 2; round++ {
		for i, v := range variants {
			ch := specHello()
			v.edit(ch)
			checkCached(t, c, v.name, ch, servers[i%len(servers)], v.quic)
		}
		if round == 0 {
			first = c.Stats()
		}
	}
	if st := c.Stats(); st.Misses != first.Misses || st.Hits <= first.Hits || st.Evictions != 0 {
		t.Errorf("stats %+v after %+v: the second round should only hit", st, first)
	}
}

// TestFingerprintCacheBound fills a small cache with distinct hellos: it
// stays within its bound, evicts the oldest and still answers correctly.
func TestFingerprintCacheBound(t *testing.T) {
	const limit = 4 << 10
	c := NewFingerprintCache(limit)
	hello := func(i int) *ClientHello {
		ch := specHello()
		ch.CipherSuites = append(ch.CipherSuites, uint16(i))
		return ch
	}
	for i := 0; i < 200; i++ {
		checkCached(t, c, "distinct", hello(i), nil, false)
		if b := c.Stats().Bytes; b > limit {
			t.Fatalf("after %d hellos: %d bytes, over %d", i+1, b, limit)
		}
	}
	st := c.Stats()
	if st.Evictions == 0 || st.Entries == 0 || st.Hits != 0 {
		t.Fatalf("stats %+v: want evictions, entries left, no hits", st)
	}
	before := st.Hits
	checkCached(t, c, "newest", hello(199), nil, false) // most recent: still held
	checkCached(t, c, "oldest", hello(0), nil, false)   // evicted long ago
	if st = c.Stats(); st.Hits != before+1 {
		t.Errorf("hits %d, want %d (the newest hello only)", st.Hits, before+1)
	}
}

func TestFingerprintCacheLongHello(t *testing.T) {
	c := NewFingerprintCache(1 << 20)
	ch := specHello()
	for i := 0; i < maxFPKey; i++ {
		ch.CipherSuites = append(ch.CipherSuites, uint16(i))
	}
	checkCached(t, c, "long", ch, nil, false)
	checkCached(t, c, "long again", ch, nil, false)
	if st := c.Stats(); st.Entries != 0 || st.Hits != 0 {
		t.Errorf("stats %+v: a hello over maxFPKey is not kept", st)
	}
}

func TestFingerprintCacheNil(t *testing.T) {
	var c *FingerprintCache
	checkCached(t, c, "nil cache", specHello(), &ServerHello{LegacyVersion: 0x0303, CipherSuite: 0x1301}, false)
	if full, hash, ja4 := c.Client(nil, false); full+hash+ja4 != "" {
		t.Errorf("Client(nil) = %q %q %q", full, hash, ja4)
	}
}

func TestFingerprintCacheHitNoAlloc(t *testing.T) {
	c := NewFingerprintCache(1 << 20)
	ch := specHello()
	sh := &ServerHello{LegacyVersion: 0x0303, CipherSuite: 0x1301, Extensions: []uint16{0x002b}}
	c.Client(ch, false)
	c.Server(sh)
	if n := testing.AllocsPerRun(100, func() { c.Client(ch, false); c.Server(sh) }); n != 0 {
		t.Errorf("a hit allocates %.0f times", n)
	}
}

// FuzzFingerprintCache runs a sequence of hellos built from the input
// through one small cache (evicting): each answer is the direct one.
func FuzzFingerprintCache(f *testing.F) {
	f.Add([]byte{0x03, 0x03, 2, 0x13, 0x01, 0x13, 0x02, 1, 0x00, 0x00, 0, 0, 0, 0, 0x03, 0x03, 1, 0x13, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewFingerprintCache(2 << 10)
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		u16 := func() []uint16 {
			n := int(next()) % 8
			out := make([]uint16, n)
			for i := range out {
				out[i] = uint16(next())<<8 | uint16(next()&7)
			}
			return out
		}
		for range 64 {
			if len(data) == 0 {
				break
			}
			flags := next()
			ch := &ClientHello{SSLv2: flags&1 != 0, LegacyVersion: 0x0300 | uint16(next()&3)}
			ch.CipherSuites, ch.Extensions, ch.SupportedGroups = u16(), u16(), u16()
			ch.SignatureAlgorithms, ch.SupportedVersions = u16(), u16()
			ch.ECPointFormats = make([]uint8, next()%3)
			if flags&4 != 0 {
				ch.ALPN = []string{string([]byte{'a' + next()%3, 'a' + next()%3}[:1+flags>>7])}
			}
			sh := &ServerHello{LegacyVersion: ch.LegacyVersion, CipherSuite: uint16(next() & 3), Extensions: u16()}
			checkCached(t, c, "fuzz", ch, sh, flags&2 != 0)
		}
	})
}

// TestAppendU16List: the key encoding of a list is its length (4 bytes)
// and its values (2 bytes each), big-endian, after what dst held.
func TestAppendU16List(t *testing.T) {
	for _, list := range [][]uint16{nil, {0x1301}, {0x0a0a, 0x1301, 0xc02b, 0xffff, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 0x8009}} {
		for _, dst := range [][]byte{nil, {'c', 1}, make([]byte, 3, 3+4+2*len(list))} {
			want := binary.BigEndian.AppendUint32(slices.Clone(dst), uint32(len(list)))
			for _, v := range list {
				want = binary.BigEndian.AppendUint16(want, v)
			}
			if got := appendU16List(slices.Clone(dst), list); !bytes.Equal(got, want) {
				t.Errorf("appendU16List(%x, %x) = %x, want %x", dst, list, got, want)
			}
		}
	}
}
