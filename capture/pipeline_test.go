package capture

import (
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// collector keeps the sessions a pipeline hands over.
type collector struct {
	mu sync.Mutex
	ss []*session.Session
}

func (c *collector) HandleSession(s *session.Session) {
	c.mu.Lock()
	c.ss = append(c.ss, s)
	c.mu.Unlock()
}

// summary is a session as one comparable line.
func summary(s *session.Session) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v>%v %s %s start=%s end=%s c=%d/%d s=%d/%d vlans=%v anom=%v inc=%v first=%x",
		s.Client, s.Server, s.Transport, s.Protocol, s.Start.Format(time.RFC3339Nano), s.End.Format(time.RFC3339Nano),
		s.ClientPackets, s.ClientBytes, s.ServerPackets, s.ServerBytes, s.VLANs, s.Anomalies, s.Incomplete, s.FirstPacket)
	if s.TLS != nil {
		if ch := s.TLS.ClientHello; ch != nil {
			_, ja3 := tlsparse.JA3(ch)
			fmt.Fprintf(&b, " sni=%q ja3=%s ja4=%s", ch.ServerName, ja3, tlsparse.JA4(ch, false))
		}
		if sh := s.TLS.ServerHello; sh != nil {
			_, ja3s := tlsparse.JA3S(sh)
			fmt.Fprintf(&b, " v=%x cs=%x ja3s=%s", sh.Version(), sh.CipherSuite, ja3s)
		}
		fmt.Fprintf(&b, " certs=%d", len(s.Certificates))
	}
	return b.String()
}

func runFile(t testing.TB, path string, cfg Config) ([]*session.Session, Snapshot, error) {
	t.Helper()
	src, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var c collector
	snap, err := Run(context.Background(), cfg, []Source{src}, &c)
	return c.ss, snap, err
}

func summaries(ss []*session.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = summary(s)
	}
	slices.Sort(out)
	return out
}

var (
	cli = netip.MustParseAddrPort("10.0.0.1:40000")
	srv = netip.MustParseAddrPort("192.0.2.10:443")
)

// fakeHello is the start of a 16 KiB TLS record carrying a ClientHello: the
// parser keeps wanting bytes until the record is complete, so reassembly
// stays engaged for the few KB the tests send.
var fakeHello = []byte{0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc, 0x03, 0x03}

// capturePath writes a capture with fn and returns its path.
func capturePath(t testing.TB, fn func(w *pcapgen.Writer, clk *pcapgen.Clock)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen.pcap")
	w, err := pcapgen.Create(path, pcapgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn(w, pcapgen.NewClock(pcapgen.DefaultBase, time.Millisecond))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func conv(t testing.TB, w *pcapgen.Writer, clk *pcapgen.Clock, c, s netip.AddrPort) *pcapgen.Conv {
	cv, err := w.NewConv(pcapgen.ConvConfig{Client: c, Server: s, Clock: clk})
	must(t, err)
	return cv
}

func TestSessions(t *testing.T) {
	hello := append(append([]byte{}, fakeHello...), make([]byte, 3000)...)
	tests := []struct {
		name  string
		gen   func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock)
		cfg   Config
		want  int // sessions
		check func(t *testing.T, ss []*session.Session, snap Snapshot)
	}{
		{name: "plain connection on 443", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, hello))
			must(t, c.Send(pcapgen.ServerToClient, []byte("SSH-2.0-nope\r\n")))
			must(t, c.Close(pcapgen.ClientToServer))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			s := ss[0]
			if s.Client != cli || s.Server != srv || s.Transport != session.TCP {
				t.Errorf("ends %v>%v %s", s.Client, s.Server, s.Transport)
			}
			// client: SYN, ACK, 3 data, ACK (of server data), FIN; server: SYN-ACK, ACK, data, FIN.
			// The session is emitted at the second FIN: the last ACK is a late packet.
			if s.ClientPackets != 7 || s.ServerPackets != 4 || s.ClientBytes < 3011 {
				t.Errorf("packets %d/%d, want 7/4", s.ClientPackets, s.ServerPackets)
			}
			if snap.Get(CLateAfterClose) != 1 {
				t.Errorf("late packets %d, want 1", snap.Get(CLateAfterClose))
			}
			if s.Anomalies.Len() != 0 || s.FirstPacket == 0 || !s.End.After(s.Start) {
				t.Errorf("anomalies %v first %x start %v end %v", s.Anomalies, s.FirstPacket, s.Start, s.End)
			}
			if snap.Get(CFlowsClosed) != 1 {
				t.Errorf("flows_closed = %d", snap.Get(CFlowsClosed))
			}
		}},
		{name: "server speaks first: client is still the SYN sender", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ServerToClient, []byte("SSH-2.0-x\r\n")))
		}, check: func(t *testing.T, ss []*session.Session, _ Snapshot) {
			if ss[0].Client != cli {
				t.Errorf("client %v, want %v", ss[0].Client, cli)
			}
		}},
		{name: "hello sender is the client even without SYN", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Emit(c.SegmentAt(pcapgen.ServerToClient, 0, nil))) // server packet first
			must(t, c.Send(pcapgen.ClientToServer, fakeHello))
		}, check: func(t *testing.T, ss []*session.Session, _ Snapshot) {
			if ss[0].Client != cli || !slices.Contains(ss[0].Anomalies.Names(), "midstream") {
				t.Errorf("client %v anomalies %v", ss[0].Client, ss[0].Anomalies)
			}
		}},
		{name: "gap", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, fakeHello))
			c.Skip(pcapgen.ClientToServer, 100)
			must(t, c.Send(pcapgen.ClientToServer, []byte("after the hole")))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if !slices.Contains(ss[0].Anomalies.Names(), "tcp_gap") || !ss[0].Incomplete || snap.Get(CReasmGaps) != 1 {
				t.Errorf("anomalies %v incomplete %v gaps %d", ss[0].Anomalies, ss[0].Incomplete, snap.Get(CReasmGaps))
			}
		}},
		{name: "reordered and duplicated segments", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			segs := c.Segments(pcapgen.ClientToServer, hello, 500)
			segs = pcapgen.Duplicate(segs, 2)
			segs[1], segs[3] = segs[3], segs[1]
			must(t, c.Emit(segs...))
			must(t, c.Close(pcapgen.ServerToClient))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if ss[0].Anomalies.Len() != 0 || ss[0].Incomplete && ss[0].Protocol != session.TLS {
				t.Errorf("anomalies %v incomplete %v", ss[0].Anomalies, ss[0].Incomplete)
			}
			if snap.Get(CReasmOutOfOrder) == 0 || snap.Get(CReasmRetransmits) == 0 {
				t.Errorf("ooo %d retrans %d", snap.Get(CReasmOutOfOrder), snap.Get(CReasmRetransmits))
			}
		}},
		{name: "overlap with different bytes", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, fakeHello))
			must(t, c.Emit(c.SegmentAt(pcapgen.ClientToServer, -4, []byte("EVIL"))))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if !slices.Contains(ss[0].Anomalies.Names(), "tcp_overlap") || snap.Get(CReasmOverlaps) != 1 {
				t.Errorf("anomalies %v overlaps %d", ss[0].Anomalies, snap.Get(CReasmOverlaps))
			}
		}},
		{name: "not TLS and not 443: no session", want: 0, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, netip.MustParseAddrPort("192.0.2.10:22"))
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ServerToClient, []byte("SSH-2.0-OpenSSH_9.6\r\n")))
			must(t, c.Send(pcapgen.ClientToServer, []byte("SSH-2.0-OpenSSH_9.6\r\n")))
		}},
		{name: "443 without payload: no session", want: 0, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Reset(pcapgen.ServerToClient))
		}},
		{name: "late packets after RST are absorbed", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, fakeHello))
			must(t, c.Reset(pcapgen.ServerToClient))
			must(t, c.Ack(pcapgen.ClientToServer))
			must(t, c.Send(pcapgen.ClientToServer, []byte("more")))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if snap.Get(CLateAfterClose) != 3 {
				t.Errorf("late = %d, want 3", snap.Get(CLateAfterClose))
			}
		}},
		{name: "port reuse after close", want: 2, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			for range 2 {
				c := conv(t, w, clk, cli, srv)
				must(t, c.Handshake())
				must(t, c.Send(pcapgen.ClientToServer, fakeHello))
				must(t, c.Close(pcapgen.ClientToServer))
			}
		}},
		{name: "idle timeout splits", want: 2, cfg: Config{IdleTimeout: time.Minute}, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, fakeHello))
			clk.Advance(2 * time.Minute)
			must(t, c.Send(pcapgen.ClientToServer, []byte("later")))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if snap.Get(CFlowsTimedOut) != 1 || snap.Get(CMidstream) != 1 {
				t.Errorf("timed out %d midstream %d", snap.Get(CFlowsTimedOut), snap.Get(CMidstream))
			}
		}},
		{name: "absolute timeout emits once", want: 1, cfg: Config{AbsoluteTimeout: time.Minute}, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.Handshake())
			for range 5 {
				must(t, c.Send(pcapgen.ClientToServer, fakeHello))
				clk.Advance(30 * time.Second)
			}
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if snap.Get(CFlowsAbsTimeout) != 1 || snap.Get(CLateAfterClose) == 0 {
				t.Errorf("abs %d late %d", snap.Get(CFlowsAbsTimeout), snap.Get(CLateAfterClose))
			}
		}},
		{name: "eviction under pressure", want: 3, cfg: Config{MaxFlows: 2, Workers: 1}, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			var cs []*pcapgen.Conv
			for i := range 3 {
				c := conv(t, w, clk, netip.AddrPortFrom(cli.Addr(), uint16(50000+i)), srv)
				must(t, c.Handshake())
				must(t, c.Send(pcapgen.ClientToServer, fakeHello))
				cs = append(cs, c)
			}
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if snap.Get(CFlowsEvicted) != 1 {
				t.Errorf("evicted %d", snap.Get(CFlowsEvicted))
			}
		}},
		{name: "fast open", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c := conv(t, w, clk, cli, srv)
			must(t, c.HandshakeTFO(fakeHello))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if ss[0].Client != cli || ss[0].Anomalies.Len() != 0 {
				t.Errorf("client %v anomalies %v", ss[0].Client, ss[0].Anomalies)
			}
		}},
		{name: "VLANs carried", want: 1, gen: func(t *testing.T, w *pcapgen.Writer, clk *pcapgen.Clock) {
			c, err := w.NewConv(pcapgen.ConvConfig{Client: cli, Server: srv, Clock: clk, Link: pcapgen.Link{VLANs: []uint16{100, 200}}})
			must(t, err)
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, fakeHello))
		}, check: func(t *testing.T, ss []*session.Session, snap Snapshot) {
			if !slices.Equal(ss[0].VLANs, []uint16{100, 200}) {
				t.Errorf("vlans %v", ss[0].VLANs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) { tc.gen(t, w, clk) })
			workerCounts := []int{1, 3}
			if tc.cfg.Workers != 0 {
				workerCounts = []int{tc.cfg.Workers}
			}
			for _, workers := range workerCounts {
				cfg := tc.cfg
				cfg.Workers = workers
				ss, snap, err := runFile(t, path, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if len(ss) != tc.want {
					t.Fatalf("workers=%d: %d sessions, want %d: %q", workers, len(ss), tc.want, summaries(ss))
				}
				if snap.Get(CSessions) != uint64(len(ss)) || snap.ActiveFlows() != 0 {
					t.Errorf("sessions counter %d, active flows %d", snap.Get(CSessions), snap.ActiveFlows())
				}
				if tc.check != nil {
					tc.check(t, ss, snap)
				}
			}
		})
	}
}

// mixedCapture interleaves many connections of all kinds.
func mixedCapture(t testing.TB, n int) string {
	return capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		rng := rand.New(rand.NewSource(1))
		type live struct {
			c     *pcapgen.Conv
			steps int
		}
		var convs []*live
		for i := range n {
			port := uint16(443)
			if i%5 == 0 {
				port = uint16(8000 + i%7)
			}
			c := conv(t, w, clk, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), uint16(30000+i)),
				netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 13)}), port))
			convs = append(convs, &live{c: c})
		}
		payload := make([]byte, 4000)
		rng.Read(payload)
		copy(payload, fakeHello)
		for len(convs) > 0 {
			i := rng.Intn(len(convs))
			l := convs[i]
			c := l.c
			switch l.steps {
			case 0:
				if rng.Intn(10) > 0 {
					must(t, c.Handshake())
				}
			case 1:
				segs := c.Segments(pcapgen.ClientToServer, payload[:200+rng.Intn(3800)], 0)
				if len(segs) > 1 && rng.Intn(3) == 0 {
					segs[0], segs[1] = segs[1], segs[0]
				}
				must(t, c.Emit(segs...))
			case 2:
				if rng.Intn(8) == 0 {
					c.Skip(pcapgen.ServerToClient, 10)
				}
				must(t, c.Send(pcapgen.ServerToClient, payload[:100+rng.Intn(2000)]))
			case 3:
				must(t, c.Send(pcapgen.ClientToServer, payload[:rng.Intn(3000)]))
			case 4:
				switch rng.Intn(3) {
				case 0:
					must(t, c.Close(pcapgen.ClientToServer))
				case 1:
					must(t, c.Reset(pcapgen.ServerToClient))
				}
			}
			l.steps++
			if l.steps == 5 {
				convs = slices.Delete(convs, i, i+1)
			}
		}
	})
}

func TestWorkerCountInvariance(t *testing.T) {
	path := mixedCapture(t, 300)
	var base []string
	for _, workers := range []int{1, 2, 4, 7} {
		ss, snap, err := runFile(t, path, Config{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		got := summaries(ss)
		if base == nil {
			base = got
			if len(base) < 200 {
				t.Fatalf("only %d sessions", len(base))
			}
			t.Logf("%d sessions, %d gaps, %d out of order", len(base), snap.Get(CReasmGaps), snap.Get(CReasmOutOfOrder))
			continue
		}
		if !slices.Equal(base, got) {
			for i := range min(len(base), len(got)) {
				if base[i] != got[i] {
					t.Fatalf("workers=%d differs from workers=1 (%d vs %d sessions):\n  %s\n  %s", workers, len(got), len(base), got[i], base[i])
				}
			}
			t.Fatalf("workers=%d: %d sessions, workers=1: %d", workers, len(got), len(base))
		}
	}
}

// TestBypassedPacketNoAlloc: in-order packets of a bypassed flow cost no
// allocation.
func TestBypassedPacketNoAlloc(t *testing.T) {
	p := NewPipeline(Config{Workers: 1}, session.HandlerFunc(func(*session.Session) {}))
	w := p.newWorker(0)
	pk := Packet{Timestamp: pcapgen.DefaultBase, WireLen: 1514, Src: cli.Addr(), Dst: srv.Addr(),
		SrcPort: cli.Port(), DstPort: srv.Port(), Proto: 6, Seq: 1000, Flags: FlagSYN}
	w.handle(&pk)
	k := makeKey(&pk, false)
	f := w.tab.get(&k)
	if f == nil {
		t.Fatal("no flow")
	}
	w.stopParsing(f)
	pk.Flags = FlagACK | FlagPSH
	pk.Payload = make([]byte, 1460)
	pk.Seq = 1001
	allocs := testing.AllocsPerRun(1000, func() {
		pk.Timestamp = pk.Timestamp.Add(time.Microsecond)
		w.advance(pk.Timestamp.UnixNano())
		w.handle(&pk)
		pk.Seq += 1460
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per bypassed packet, want 0", allocs)
	}
	if n := w.st.v[CBypassedPackets].Load(); n < 1000 {
		t.Fatalf("bypassed packets %d", n)
	}
}

func BenchmarkHandleBypassed(b *testing.B) {
	p := NewPipeline(Config{Workers: 1}, session.HandlerFunc(func(*session.Session) {}))
	w := p.newWorker(0)
	pk := Packet{Timestamp: pcapgen.DefaultBase, WireLen: 1514, Src: cli.Addr(), Dst: srv.Addr(),
		SrcPort: cli.Port(), DstPort: srv.Port(), Proto: 6, Seq: 1000, Flags: FlagSYN}
	w.handle(&pk)
	k := makeKey(&pk, false)
	w.stopParsing(w.tab.get(&k))
	pk.Flags = FlagACK
	pk.Payload = make([]byte, 1460)
	b.ReportAllocs()
	b.SetBytes(1514)
	for b.Loop() {
		pk.Seq += 1460
		w.handle(&pk)
	}
}

// BenchmarkPipeline runs the whole pipeline over a generated capture.
func BenchmarkPipeline(b *testing.B) {
	path := mixedCapture(b, 500)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			var pkts uint64
			for b.Loop() {
				_, snap, err := runFile(b, path, Config{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				pkts = snap.Get(CPackets)
				b.SetBytes(int64(snap.Get(CBytes)))
			}
			b.ReportMetric(float64(pkts)*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// FuzzWorker feeds arbitrary packet sequences of a few flows to a worker:
// nothing may panic, the flow table's slots stay consistent, every flow
// ends, and the counters add up.
func FuzzWorker(f *testing.F) {
	f.Add([]byte{0, 0x02, 0, 0, 0, 1, 0, 1, 0x12, 0, 0, 0, 9, 0, 1, 0x10, 0, 0, 0, 2, 5, 0x16, 0x03, 0x01, 0x00, 0x05})
	f.Add(append([]byte{0, 0x18, 0, 0, 0, 1, 200}, fakeHello...))
	f.Fuzz(func(t *testing.T, in []byte) {
		var c collector
		p := NewPipeline(Config{Workers: 1, MaxFlows: 3, MaxPendingBytes: 256, MaxPendingSegments: 4, MaxStreamBytes: 512,
			IdleTimeout: 5 * time.Second, CloseLinger: time.Second}, &c)
		w := p.newWorker(0)
		ts := pcapgen.DefaultBase
		// each packet: flow byte, flags, seq (4 bytes), payload length, payload
		for len(in) >= 7 {
			fl, flags := in[0], in[1]
			seq := uint32(in[2])<<24 | uint32(in[3])<<16 | uint32(in[4])<<8 | uint32(in[5])
			n := min(int(in[6]), len(in)-7)
			payload := in[7 : 7+n]
			in = in[7+n:]
			pk := Packet{Timestamp: ts, WireLen: 60 + n, Proto: 6, Seq: seq, Flags: flags, Payload: payload,
				Src: cli.Addr(), Dst: srv.Addr(), SrcPort: 40000 + uint16(fl%4), DstPort: 443}
			if fl&0x80 != 0 {
				pk.Src, pk.Dst, pk.SrcPort, pk.DstPort = pk.Dst, pk.Src, pk.DstPort, pk.SrcPort
			}
			if fl&0x40 != 0 {
				ts = ts.Add(3 * time.Second)
			}
			w.advance(ts.UnixNano())
			w.handle(&pk)
			checkSlots(t, w)
		}
		w.flushAll()
		snap := p.Stats().Snapshot()
		if snap.ActiveFlows() != 0 || w.tab.n != 0 || len(w.tab.m) != 0 {
			t.Fatalf("flows left: %d %d %d", snap.ActiveFlows(), w.tab.n, len(w.tab.m))
		}
		if snap.Get(CSessions) != uint64(len(c.ss)) {
			t.Fatalf("sessions %d, counter %d", len(c.ss), snap.Get(CSessions))
		}
		for _, s := range c.ss {
			if s.End.Before(s.Start) || s.Client == s.Server && s.Client.Port() != 443 {
				t.Fatalf("bad session %s", summary(s))
			}
		}
	})
}

// TestTruncatedSegmentIsGap: a segment cut by the snap length leaves a hole.
func TestTruncatedSegmentIsGap(t *testing.T) {
	var c collector
	p := NewPipeline(Config{Workers: 1}, &c)
	w := p.newWorker(0)
	pk := Packet{Timestamp: pcapgen.DefaultBase, WireLen: 60, Src: cli.Addr(), Dst: srv.Addr(),
		SrcPort: cli.Port(), DstPort: srv.Port(), Proto: 6, Seq: 1000, Flags: FlagSYN}
	w.handle(&pk)
	synAck := Packet{Timestamp: pcapgen.DefaultBase, WireLen: 60, Src: srv.Addr(), Dst: cli.Addr(),
		SrcPort: srv.Port(), DstPort: cli.Port(), Proto: 6, Seq: 5000, Ack: 1001, Flags: FlagSYN | FlagACK}
	w.handle(&synAck)
	pk.Flags, pk.Seq, pk.Payload, pk.Truncated = FlagACK, 1001, fakeHello, true
	w.handle(&pk)
	w.flushAll()
	if len(c.ss) != 1 {
		t.Fatalf("%d sessions", len(c.ss))
	}
	if s := c.ss[0]; !s.Incomplete || !slices.Contains(s.Anomalies.Names(), "tcp_gap") {
		t.Fatalf("incomplete %v anomalies %v", s.Incomplete, s.Anomalies)
	}
}

// helloRecord is a whole ClientHello in one TLS record.
func helloRecord(t *testing.T) []byte {
	h, err := tlsgen.SampleQUICHello()
	if err != nil {
		t.Fatal(err)
	}
	ch := h[0]
	return append([]byte{0x16, 0x03, 0x01, byte(len(ch) >> 8), byte(len(ch))}, ch...)
}

// TestUnansweredFlowNoSession: a flow the server never answered, whose
// client sent part of a ClientHello, gives no session but a count (a
// half-open flood is no flood of documents); once the server answers, or
// a whole hello was parsed, it gives one.
func TestUnansweredFlowNoSession(t *testing.T) {
	tests := []struct {
		name     string
		answered bool
		payload  []byte
		sessions int
	}{
		{"partial hello, unanswered", false, fakeHello, 0},
		{"partial hello, SYN-ACK", true, fakeHello, 1},
		{"whole hello, unanswered", false, helloRecord(t), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			p := NewPipeline(Config{Workers: 1}, &c)
			w := p.newWorker(0)
			pk := Packet{Timestamp: pcapgen.DefaultBase, WireLen: 60, Src: cli.Addr(), Dst: srv.Addr(),
				SrcPort: cli.Port(), DstPort: srv.Port(), Proto: 6, Seq: 1000, Flags: FlagSYN}
			w.handle(&pk)
			if tt.answered {
				w.handle(&Packet{Timestamp: pcapgen.DefaultBase, WireLen: 60, Src: srv.Addr(), Dst: cli.Addr(),
					SrcPort: srv.Port(), DstPort: cli.Port(), Proto: 6, Seq: 5000, Ack: 1001, Flags: FlagSYN | FlagACK})
			}
			pk.Flags, pk.Seq, pk.Payload = FlagACK, 1001, tt.payload
			w.handle(&pk)
			w.flushAll()
			want := uint64(1 - tt.sessions)
			if len(c.ss) != tt.sessions || p.Stats().Snapshot().Get(CFlowsUnanswered) != want {
				t.Errorf("%d sessions, %d unanswered counted; want %d, %d", len(c.ss), p.Stats().Snapshot().Get(CFlowsUnanswered), tt.sessions, want)
			}
		})
	}
}

func TestDefaultClient(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		first, second netip.AddrPort
		syn           int8
		want          int8
	}{
		{ap("10.0.0.1:443"), ap("10.0.0.2:50000"), -1, 1},
		{ap("10.0.0.1:50000"), ap("10.0.0.2:443"), -1, 0},
		{ap("10.0.0.1:25"), ap("10.0.0.2:50000"), -1, 1},
		{ap("10.0.0.1:50000"), ap("10.0.0.2:50001"), -1, 0},
		{ap("10.0.0.1:443"), ap("10.0.0.2:50000"), 0, 0}, // the SYN sender wins
	}
	for _, tc := range tests {
		f := &flow{synSide: tc.syn}
		p := Packet{Src: tc.first.Addr(), SrcPort: tc.first.Port(), Dst: tc.second.Addr(), DstPort: tc.second.Port(), Proto: 6}
		k := makeKey(&p, false)
		f.setKey(&k, &p)
		if got := defaultClient(f); got != tc.want {
			t.Errorf("%v %v syn=%d: client side %d, want %d", tc.first, tc.second, tc.syn, got, tc.want)
		}
	}
}
