package capture

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"testing"
)

// BenchmarkFlowMap weighs the flow table's Go map (the runtime's seeded
// aeshash of the 40-byte key) against an open-addressing table probed
// linearly by a seeded form of keyMix: lookups of keys in the table
// (late packets to tombstones) and of keys not in it (new flows' SYNs),
// 30,000 keys as in a handshake-heavy capture. The candidate stays here:
// it saves instructions (about 145 a hit against 250, 125 a miss against
// 180) but its misses, which probe 48-byte entries where the map reads
// one control word, took longer (medians 26.5 against 15.0 ns; hits 20.1
// against 25.4), and the map is about 0.1% of a whole replay's
// instructions, most packets finding their flow in flowTable.recent.
// Nor may a table be keyed by keyMix itself: each of its steps is
// invertible, so one IPv6 /64 gives any number of keys of one hash.
func BenchmarkFlowMap(b *testing.B) {
	const n = 30000
	in, out := benchKeys(0, n), benchKeys(1, n)
	m := make(map[flowKey]slotID, n)
	var o openTable
	o.init(n, 0x243F6A8885A308D3)
	for i := range in {
		m[in[i]] = slotID(i)
		o.put(&in[i], slotID(i))
	}
	for _, c := range []struct {
		name string
		keys []flowKey
	}{{"hit", in}, {"miss", out}} {
		b.Run("gomap/"+c.name, func(b *testing.B) {
			var sum slotID
			for i := 0; b.Loop(); i++ {
				if v, ok := m[c.keys[i%n]]; ok {
					sum += v
				}
			}
			_ = sum
		})
		b.Run("open/"+c.name, func(b *testing.B) {
			var sum slotID
			for i := 0; b.Loop(); i++ {
				if v, ok := o.get(&c.keys[i%n]); ok {
					sum += v
				}
			}
			_ = sum
		})
	}
}

// benchKeys are n IPv4 keys of clients of srv, host net 10.net.
func benchKeys(net byte, n int) []flowKey {
	ks := make([]flowKey, n)
	for i := range ks {
		p := Packet{Proto: 6, Src: netip.AddrFrom4([4]byte{10, net, byte(i >> 8), byte(i)}), Dst: srv.Addr(),
			SrcPort: 20000 + uint16(i*7919%40000), DstPort: 443}
		ks[i] = makeKey(&p, false)
	}
	// a spread order, as packets of many flows interleave
	for i := range ks {
		j := int(uint64(i) * 0x9E3779B97F4A7C15 % uint64(n))
		ks[i], ks[j] = ks[j], ks[i]
	}
	return ks
}

// openTable is the candidate: keys inline, linear probing, at most half full.
type openTable struct {
	e    []openEntry
	seed uint64
}

type openEntry struct {
	key  flowKey
	v    slotID
	used bool
}

func (t *openTable) init(n int, seed uint64) {
	t.e = make([]openEntry, 1<<bits.Len(uint(2*n)))
	t.seed = seed
}

func (t *openTable) hash(k *flowKey) uint64 { return mix(t.seed, keyMix(k)) }

// keyMix is the multiply-xorshift hash that once picked a flow's worker:
// symmetric (it hashes the canonical key), fast, and invertible step by
// step, so an attacker can choose keys of any one hash (flowKey.shard).
func keyMix(k *flowKey) uint64 {
	h := uint64(k.proto)<<48 ^ uint64(k.vlan)<<32 ^ uint64(k.pa)<<16 ^ uint64(k.pb)
	h = mix(h, binary.LittleEndian.Uint64(k.a[:8]))
	h = mix(h, binary.LittleEndian.Uint64(k.a[8:]))
	h = mix(h, binary.LittleEndian.Uint64(k.b[:8]))
	h = mix(h, binary.LittleEndian.Uint64(k.b[8:]))
	return h ^ h>>31
}

func mix(h, v uint64) uint64 {
	h ^= v
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
}

func (t *openTable) put(k *flowKey, v slotID) {
	mask := uint64(len(t.e) - 1)
	for i := t.hash(k) & mask; ; i = (i + 1) & mask {
		if e := &t.e[i]; !e.used || e.key.equal(k) {
			*e = openEntry{*k, v, true}
			return
		}
	}
}

func (t *openTable) get(k *flowKey) (slotID, bool) {
	mask := uint64(len(t.e) - 1)
	for i := t.hash(k) & mask; ; i = (i + 1) & mask {
		e := &t.e[i]
		if !e.used {
			return 0, false
		}
		if e.key.equal(k) {
			return e.v, true
		}
	}
}

// TestShardNotSteerable: keys an attacker builds to share one keyMix hash
// (one IPv6 address per source port, each compensating the port) would all
// go to one worker under keyMix; flowKey.shard, seeded per pipeline,
// spreads them. Both directions of a flow go to one worker.
func TestShardNotSteerable(t *testing.T) {
	const n = 1000
	keys := collidingKeys(n)
	want := keyMix(&keys[0])
	for i := range keys {
		if keyMix(&keys[i]) != want {
			t.Fatalf("key %d: keyMix %x, want %x (the collision did not hold)", i, keyMix(&keys[i]), want)
		}
	}
	seed := maphash.MakeSeed()
	var perWorker [2]int
	for i := range keys {
		perWorker[keys[i].shard(seed, 2)]++
	}
	// Binomial(1000, 1/2) leaves [400, 600] with probability below 1e-9.
	if perWorker[0] < 400 || perWorker[1] < 400 {
		t.Errorf("colliding keys per worker %v: steered", perWorker)
	}

	src, dst := [16]byte(netip.MustParseAddr("2001:db8::1").As16()), [16]byte(netip.MustParseAddr("2001:db8::2").As16())
	for port := uint16(1); port < 200; port++ {
		ab, ba := orderedKey(src, dst, port, 443, 6, false), orderedKey(dst, src, 443, port, 6, false)
		for _, w := range []int{2, 3, 8} {
			if ab.shard(seed, w) != ba.shard(seed, w) {
				t.Fatalf("port %d, %d workers: the two directions go to different workers", port, w)
			}
		}
	}
}

// collidingKeys returns n keys, source ports 1..n, whose keyMix is the
// same: the first address word of each undoes its ports in the first mix.
func collidingKeys(n int) []flowKey {
	const c, cInv = 0x9E3779B97F4A7C15, 0xF1DE83E19937733D // c*cInv = 1 mod 2^64
	unmix := func(y uint64) uint64 {                       // inverse of x*c then y ^ y>>29
		y ^= y>>29 ^ y>>58
		return y * cInv
	}
	const target = 0x0123456789abcdef // the state after the first mix
	keys := make([]flowKey, n)
	for i := range keys {
		k := flowKey{pa: uint16(i + 1), pb: 443, proto: 6}
		k.b = [16]byte(netip.MustParseAddr("2001:db8::443").As16())
		h0 := uint64(k.proto)<<48 ^ uint64(k.vlan)<<32 ^ uint64(k.pa)<<16 ^ uint64(k.pb)
		binary.LittleEndian.PutUint64(k.a[:8], unmix(target)^h0)
		binary.LittleEndian.PutUint64(k.a[8:], 1)
		keys[i] = k
	}
	return keys
}
