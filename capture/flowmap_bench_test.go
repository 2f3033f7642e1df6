package capture

import (
	"math/bits"
	"net/netip"
	"testing"
)

// BenchmarkFlowMap weighs the flow table's Go map (the runtime's seeded
// aeshash of the 40-byte key) against an open-addressing table probed
// linearly by a seeded form of flowKey.hash: lookups of keys in the table
// (late packets to tombstones) and of keys not in it (new flows' SYNs),
// 30,000 keys as in a handshake-heavy capture. The candidate stays here:
// it saves instructions (about 145 a hit against 250, 125 a miss against
// 180) but its misses, which probe 48-byte entries where the map reads
// one control word, took longer (medians 26.5 against 15.0 ns; hits 20.1
// against 25.4), and the map is about 0.1% of a whole replay's
// instructions, most packets finding their flow in flowTable.recent.
// Nor may a table be keyed by flowKey.hash itself: each of its steps is
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

func (t *openTable) hash(k *flowKey) uint64 { return mix(t.seed, k.hash()) }

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
