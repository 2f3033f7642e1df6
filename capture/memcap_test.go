package capture

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// tlsRecord wraps handshake message typ with body in one TLS record.
func tlsRecord(typ byte, body []byte) []byte {
	n := len(body)
	msg := append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
	return append([]byte{0x16, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// testClientHello is a whole, minimal TLS 1.2 ClientHello record with SNI.
func testClientHello(sni string) []byte {
	b := append([]byte{3, 3}, make([]byte, 32)...)    // version, random
	b = append(b, 0, 0, 2, 0xc0, 0x2f, 1, 0)          // no session id, one suite, null compression
	name := append([]byte{0, byte(len(sni))}, sni...) // host_name entry
	list := append([]byte{byte((len(name) + 1) >> 8), byte(len(name) + 1), 0}, name...)
	ext := append([]byte{0, 0, byte(len(list) >> 8), byte(len(list))}, list...)
	ext = append(ext, 0, 21, 0, 64) // padding: the hello is longer than 100 bytes
	ext = append(ext, make([]byte, 64)...)
	b = append(b, byte(len(ext)>>8), byte(len(ext)))
	return tlsRecord(1, append(b, ext...))
}

// testServerHello is a whole, minimal TLS 1.2 ServerHello record.
func testServerHello() []byte {
	b := append([]byte{3, 3}, make([]byte, 32)...)
	return tlsRecord(2, append(b, 0, 0xc0, 0x2f, 0))
}

// memCerts is the certificate cache of memWorkers (cheap fuzz runs).
var memCerts = tlsparse.NewCertCache(64)

// memWorker is a worker on its own with a budget of limit bytes.
func memWorker(limit int64, h session.Handler) (*Pipeline, *worker) {
	p := NewPipeline(Config{Workers: 1, MemoryLimit: -1, MaxFlows: 512, CertCache: memCerts}, h)
	w := p.newWorker(0)
	w.mem.limit = limit
	return p, w
}

// checkSlots checks the flow table's slots against its flows and the
// tombstone heap: every key's slot is in use once, every flow is in its
// key's slot, a slot's tombstone is queued exactly once with the slot's
// key, a flow beside one has it dead, no slot in use is empty and the
// free ones are; the recent flows are in the table.
func checkSlots(t testing.TB, w *worker) {
	t.Helper()
	tab := &w.tab
	keyOf := make(map[slotID]flowKey, len(tab.m))
	for k, i := range tab.m {
		if _, dup := keyOf[i]; dup || int(i) >= len(tab.slots) {
			t.Fatalf("slot %d of %v: out of range or taken twice", i, k)
		}
		keyOf[i] = k
	}
	queued := make(map[slotID]int)
	for _, e := range w.tombs.q.entries() {
		queued[e.slot]++
		if k := keyOf[e.slot]; w.tombs.keys[e.key] != k {
			t.Fatalf("queue entry of slot %d: key %v, slot's %v", e.slot, w.tombs.keys[e.key], k)
		}
	}
	flows, live := 0, 0
	for i := range tab.slots {
		s, id := &tab.slots[i], slotID(i)
		k, used := keyOf[id]
		switch {
		case !used && (s.f != nil || s.tb != tomb{}):
			t.Fatalf("slot %d: not in the map, holds %p %+v", i, s.f, s.tb)
		case !used:
			continue
		case s.f == nil && !s.tb.queued:
			t.Fatalf("slot %v: neither a flow nor a tombstone", k)
		case s.tb.queued != (queued[id] == 1), queued[id] > 1:
			t.Fatalf("slot %v: tombstone queued %v, %d queue entries", k, s.tb.queued, queued[id])
		case s.f != nil && (s.f.key != k || s.f.slot != id || s.tb.queued && !s.tb.dead):
			t.Fatalf("slot %v: flow of %v in slot %d beside %+v", k, s.f.key, s.f.slot, s.tb)
		}
		if s.f != nil {
			flows++
		}
		if s.tb.queued && !s.tb.dead {
			live++
		}
	}
	if len(tab.m)+len(tab.freeSlots) != len(tab.slots) {
		t.Fatalf("%d slots in the map, %d free, of %d", len(tab.m), len(tab.freeSlots), len(tab.slots))
	}
	if w.tombs.q.len()+len(w.tombs.freeKeys) != len(w.tombs.keys) {
		t.Fatalf("%d queue entries, %d free keys, of %d", w.tombs.q.len(), len(w.tombs.freeKeys), len(w.tombs.keys))
	}
	for i, f := range tab.recent {
		if f != nil && (tab.get(&f.key) != f || recentIndex(&f.key) != i) {
			t.Fatalf("recent[%d]: flow of %v not in the table there", i, f.key)
		}
	}
	if flows != tab.n || len(queued) != w.tombs.q.len() || live != w.tombs.live {
		t.Fatalf("%d flows, %d in the table; %d keys queued, %d queue entries; %d live tombstones, %d counted",
			flows, tab.n, len(queued), w.tombs.q.len(), live, w.tombs.live)
	}
}

// checkMem checks the budget's invariants: every flow's bytes are what it
// holds, they sum to used, used is within [0, limit] and the class lists
// hold exactly the table's flows.
func checkMem(t testing.TB, w *worker) {
	t.Helper()
	var sum int64
	for f := w.tab.head; f != nil; f = f.links[lruLinks].next {
		if !f.listed {
			t.Fatalf("flow %v not in a class list", f.key)
		}
		if got := flowRetained(f); got != int(f.mem) {
			t.Fatalf("flow %v: accounted %d, holds %d", f.key, f.mem, got)
		}
		sum += int64(f.mem)
	}
	listed := 0
	for c := range w.mem.lists {
		for f := w.mem.lists[c].head; f != nil; f = f.links[classLinks].next {
			if f.cls != uint8(c) {
				t.Fatalf("flow of class %d in list %d", f.cls, c)
			}
			listed++
		}
	}
	if listed != w.tab.n {
		t.Fatalf("%d flows listed, %d in the table", listed, w.tab.n)
	}
	checkSlots(t, w)
	sum += int64(w.tombs.q.len() * tombBytes)
	if w.mem.used != sum || w.mem.used < 0 {
		t.Fatalf("used %d, flows hold %d", w.mem.used, sum)
	}
	if w.mem.limit > 0 && w.mem.used > w.mem.limit {
		t.Fatalf("used %d over the limit %d", w.mem.used, w.mem.limit)
	}
}

// runChecked decodes the capture at path into w, checking the budget after
// every packet, and flushes.
func runChecked(t testing.TB, w *worker, path string) {
	t.Helper()
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dec := w.cfg.newDecoder()
	for {
		data, ci, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		var pkt Packet
		if !dec.Decode(data, ci, src.LinkType(), &pkt) {
			continue
		}
		w.advance(pkt.Timestamp.UnixNano())
		w.handle(&pkt)
		checkMem(t, w)
	}
	w.flushAll()
}

// floodCapture writes n half-open flows (SYN and the first 100 bytes of a
// ClientHello; synOnly: bare SYNs) with real sessions, SNI real-i.test,
// spread through them. Seeded: the interleaving varies with seed.
func floodCapture(t testing.TB, n, real int, synOnly bool, seed int64) string {
	return capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		rng := rand.New(rand.NewSource(seed))
		half := testClientHello("flood.test")[:100]
		type step func()
		var pending [][]step
		for i := range real {
			c := conv(t, w, clk, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), uint16(50000+i)), srv)
			sni := fmt.Sprintf("real-%d.test", i)
			pending = append(pending, []step{
				func() { must(t, c.Handshake()) },
				func() { must(t, c.Send(pcapgen.ClientToServer, testClientHello(sni))) },
				func() { must(t, c.Send(pcapgen.ServerToClient, testServerHello())) },
				func() { must(t, c.Close(pcapgen.ClientToServer)) },
			})
		}
		for i := range n {
			c := conv(t, w, clk, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), uint16(1024+i%50000)), srv)
			syn := pcapgen.Segment{Dir: pcapgen.ClientToServer, Seq: c.Next(pcapgen.ClientToServer), Flags: pcapgen.SYN}
			if synOnly {
				must(t, c.Emit(syn))
			} else {
				c.Skip(pcapgen.ClientToServer, 1)
				must(t, c.Emit(syn, pcapgen.Segment{Dir: pcapgen.ClientToServer, Seq: c.Next(pcapgen.ClientToServer), Ack: 1,
					Flags: pcapgen.ACK | pcapgen.PSH, Payload: half}))
			}
			if len(pending) > 0 && rng.Intn(max(n/(4*real), 1)) == 0 {
				j := rng.Intn(len(pending))
				pending[j][0]()
				if pending[j] = pending[j][1:]; len(pending[j]) == 0 {
					pending = slices.Delete(pending, j, j+1)
				}
			}
		}
		for _, p := range pending {
			for _, s := range p {
				s()
			}
		}
	})
}

// TestMemAccountingReturnsToZero: over generated captures and the test
// captures, with and without a tight budget, accounting matches what
// flows hold after every packet and is zero when every flow has ended.
func TestMemAccountingReturnsToZero(t *testing.T) {
	paths := []string{mixedCapture(t, 60)}
	for seed := range int64(4) {
		paths = append(paths, floodCapture(t, 300, 3, seed%2 == 0, seed))
	}
	files, _ := filepath.Glob("../testdata/*.pcap*")
	paths = append(paths, files...)
	for _, path := range paths {
		for _, limit := range []int64{0, 64 << 10, 16 << 10} {
			_, w := memWorker(limit, session.HandlerFunc(func(*session.Session) {}))
			runChecked(t, w, path)
			if w.mem.used != 0 || w.mem.victim(nil) != nil {
				t.Errorf("%s limit %d: %d bytes still accounted after the flush", filepath.Base(path), limit, w.mem.used)
			}
			st := w.st
			if s, e := st.v[CMemPressureStarted].Load(), st.v[CMemPressureEnded].Load(); s != e {
				t.Errorf("%s limit %d: pressure started %d, ended %d", filepath.Base(path), limit, s, e)
			}
		}
	}
}

// TestEvictionOrder: under pressure, flows go lowest class first, oldest
// first within a class.
func TestEvictionOrder(t *testing.T) {
	type kind int
	const (
		closed kind = iota
		synOnly
		unanswered
		answered
		hello
	)
	tests := []struct {
		name  string
		flows []kind // in creation order
		want  []int  // indices of flows in eviction order
	}{
		{"classes", []kind{hello, answered, unanswered, synOnly, closed}, []int{4, 3, 2, 1, 0}},
		{"oldest first in a class", []kind{unanswered, unanswered, synOnly, unanswered}, []int{2, 0, 1, 3}},
		{"handshake outlives flood", []kind{answered, unanswered, unanswered, unanswered, hello}, []int{1, 2, 3, 0, 4}},
		{"tombstones first", []kind{synOnly, closed, hello, closed}, []int{1, 3, 0, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, w := memWorker(0, session.HandlerFunc(func(*session.Session) {}))
			ts := pcapgen.DefaultBase
			var keys []flowKey
			for i, k := range tc.flows {
				c := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
				send := func(fromServer bool, flags uint8, seq uint32, payload []byte) {
					ts = ts.Add(time.Millisecond)
					pk := Packet{Timestamp: ts, WireLen: 60, Proto: 6, Src: c, Dst: srv.Addr(), SrcPort: 40000, DstPort: 443,
						Seq: seq, Flags: flags, Payload: payload}
					if fromServer {
						pk.Src, pk.Dst, pk.SrcPort, pk.DstPort = pk.Dst, pk.Src, pk.DstPort, pk.SrcPort
					}
					w.advance(ts.UnixNano())
					w.handle(&pk)
				}
				send(false, FlagSYN, 100, nil)
				switch k {
				case closed:
					send(false, FlagRST, 101, nil)
				case unanswered:
					send(false, FlagACK|FlagPSH, 101, fakeHello)
				case answered:
					send(true, FlagSYN|FlagACK, 500, nil)
				case hello:
					send(true, FlagSYN|FlagACK, 500, nil)
					send(false, FlagACK|FlagPSH, 101, testClientHello("a.test"))
				}
				pk := Packet{Src: c, Dst: srv.Addr(), SrcPort: 40000, DstPort: 443, Proto: 6}
				key := makeKey(&pk, false)
				if k == closed {
					if tb := w.tab.slots[w.tab.m[key]].tb; !tb.queued || tb.dead {
						t.Fatalf("flow %d: no tombstone", i)
					}
				} else if f := w.tab.get(&key); f == nil || f.cls != uint8(k) {
					t.Fatalf("flow %d: class %v, want %d", i, f, k)
				}
				keys = append(keys, key)
			}
			checkMem(t, w)
			var got []int
			for w.tombs.q.len() > 0 { // tombstones go first, oldest first (relieve)
				got = append(got, slices.Index(keys, w.tombs.keys[w.tombs.q.first().key]))
				w.dropOldestTomb(CEvictedClosed)
			}
			for f := w.mem.victim(nil); f != nil; f = w.mem.victim(nil) {
				got = append(got, slices.Index(keys, f.key))
				w.endFlow(f, CFlowsEvicted)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("eviction order %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoSessionForEvictedPreHello: a flow evicted for memory before a hello
// gives no session (counted); one with a hello gives its session; a
// non-TLS flow on 443 that ends normally still gives one.
func TestNoSessionForEvictedPreHello(t *testing.T) {
	var c collector
	p, w := memWorker(0, &c)
	ts := pcapgen.DefaultBase
	send := func(host byte, fromServer bool, flags uint8, seq uint32, payload []byte) {
		ts = ts.Add(time.Millisecond)
		pk := Packet{Timestamp: ts, WireLen: 60, Proto: 6, Src: netip.AddrFrom4([4]byte{10, 0, 0, host}), Dst: srv.Addr(),
			SrcPort: 40000, DstPort: 443, Seq: seq, Flags: flags, Payload: payload}
		if fromServer {
			pk.Src, pk.Dst, pk.SrcPort, pk.DstPort = pk.Dst, pk.Src, pk.DstPort, pk.SrcPort
		}
		w.advance(ts.UnixNano())
		w.handle(&pk)
	}
	send(1, false, FlagSYN, 100, nil)
	send(1, false, FlagACK|FlagPSH, 101, fakeHello) // partial hello: TLS, no hello parsed
	send(2, false, FlagSYN, 100, nil)
	send(2, true, FlagSYN|FlagACK, 500, nil)
	send(2, false, FlagACK|FlagPSH, 101, []byte("GET / HTTP/1.1\r\n\r\n")) // not TLS on 443
	send(3, false, FlagSYN, 100, nil)
	send(3, true, FlagSYN|FlagACK, 500, nil)
	send(3, false, FlagACK|FlagPSH, 101, testClientHello("kept.test"))
	send(4, false, FlagSYN, 100, nil)
	send(4, true, FlagSYN|FlagACK, 500, nil)
	send(4, false, FlagACK|FlagPSH, 101, []byte("GET / HTTP/1.1\r\n\r\n"))
	// evict 1, 2 and 3 for memory; 4 ends at the flush
	for host := range byte(3) {
		pk := Packet{Src: netip.AddrFrom4([4]byte{10, 0, 0, host + 1}), Dst: srv.Addr(), SrcPort: 40000, DstPort: 443, Proto: 6}
		k := makeKey(&pk, false)
		w.evict(w.tab.get(&k))
	}
	w.flushAll()
	snap := p.Stats().Snapshot()
	var got []string
	for _, s := range c.ss {
		sni := ""
		if s.TLS != nil && s.TLS.ClientHello != nil {
			sni = s.TLS.ClientHello.ServerName
		}
		got = append(got, fmt.Sprintf("%v %s %q", s.Client.Addr(), s.Protocol, sni))
	}
	slices.Sort(got)
	want := []string{`10.0.0.3 tls "kept.test"`, `10.0.0.4 http ""`}
	if !slices.Equal(got, want) {
		t.Errorf("sessions %q, want %q", got, want)
	}
	if n := snap.Get(CFlowsEvictedNoHello); n != 2 {
		t.Errorf("flows_evicted_no_hello %d, want 2", n)
	}
	if n := snap.Get(CEvictedHello); n != 1 {
		t.Errorf("flows_evicted_hello %d, want 1", n)
	}
}

// TestRealSessionsSurviveFlood: in a budget far smaller than the flood,
// every real session is found, flood flows are evicted without sessions,
// and the budget holds.
func TestRealSessionsSurviveFlood(t *testing.T) {
	const real = 8
	for _, synOnly := range []bool{true, false} {
		path := floodCapture(t, 6000, real, synOnly, 1)
		for _, workers := range []int{1, 2} {
			ss, snap, err := runFile(t, path, Config{Workers: workers, MemoryLimit: 1 << 20})
			must(t, err)
			found := map[string]bool{}
			for _, s := range ss {
				if s.TLS != nil && s.TLS.ClientHello != nil && s.TLS.ServerHello != nil {
					found[s.TLS.ClientHello.ServerName] = true
				}
			}
			for i := range real {
				if !found[fmt.Sprintf("real-%d.test", i)] {
					t.Errorf("synOnly=%v workers=%d: real-%d.test not found", synOnly, workers, i)
				}
			}
			evicted := snap.Get(CEvictedSYN) + snap.Get(CEvictedUnanswered)
			if evicted < 1000 || snap.Get(CEvictedAnswered)+snap.Get(CEvictedHello) != 0 {
				t.Errorf("synOnly=%v workers=%d: evicted %d flood flows, %d answered, %d with a hello", synOnly, workers,
					evicted, snap.Get(CEvictedAnswered), snap.Get(CEvictedHello))
			}
			if !synOnly && snap.Get(CFlowsEvictedNoHello) != snap.Get(CEvictedUnanswered) {
				t.Errorf("workers=%d: %d sessions suppressed, %d unanswered flows evicted", workers, snap.Get(CFlowsEvictedNoHello), snap.Get(CEvictedUnanswered))
			}
			if uint64(len(ss)) > 6000+real-evicted {
				t.Errorf("%d sessions", len(ss))
			}
			if snap.Get(CMemPressureStarted) == 0 || snap.Get(CMemPressureStarted) != snap.Get(CMemPressureEnded) || snap.Get(CMemoryBytes) != 0 {
				t.Errorf("pressure %d/%d, memory %d at the end", snap.Get(CMemPressureStarted), snap.Get(CMemPressureEnded), snap.Get(CMemoryBytes))
			}
		}
	}
}

// TestHalfOpenFlowBytes measures what a half-open flow holds (issue 9):
// a bare SYN, and a SYN with the first 100 bytes of a ClientHello.
func TestHalfOpenFlowBytes(t *testing.T) {
	_, w := memWorker(0, session.HandlerFunc(func(*session.Session) {}))
	half := testClientHello("flood.test")[:100]
	ts := pcapgen.DefaultBase
	flow := func(i int, data bool) {
		pk := Packet{Timestamp: ts, WireLen: 60, Src: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Dst: srv.Addr(),
			SrcPort: 40000, DstPort: 443, Proto: 6, Seq: 1000, Flags: FlagSYN}
		w.handle(&pk)
		if data {
			pk.Flags, pk.Seq, pk.Payload = FlagACK|FlagPSH, 1001, half
			w.handle(&pk)
		}
	}
	i := 0
	for _, data := range []bool{false, true} {
		before := w.mem.used
		allocs := testing.AllocsPerRun(200, func() { flow(i, data); i++ })
		per := (w.mem.used - before) / 201
		t.Logf("data=%v: %d bytes accounted, %.0f allocations per flow", data, per, allocs)
		if limit := int64(1024); data && per > limit {
			t.Errorf("a half-open flow holds %d bytes, want at most %d", per, limit)
		}
	}
}
