package inventory

import (
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// cpuTime is the process's user and system CPU time: on a shared machine
// it says more than the wall clock, and it counts the flusher too.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU ns per op from start (flusher included).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// warmSessions are n sessions each with its own JA4, JA3, certificate and
// server: 4n items.
func warmSessions(n int) []*session.Session {
	out := make([]*session.Session, n)
	for i := range out {
		c := &tlsparse.CertSummary{
			SHA256:           fmt.Sprintf("%064X", i),
			Subject:          fmt.Sprintf("CN=h%d.example", i),
			Issuer:           "CN=CA 1,O=Test CA",
			NotBefore:        t0.AddDate(0, -1, 0),
			NotAfter:         t0.AddDate(0, 2, 0),
			AlternativeNames: []string{fmt.Sprintf("h%d.example", i)},
		}
		server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), 443)
		out[i] = sess(t0, server.String(), fmt.Sprintf("h%d.example", i),
			fmt.Sprintf("t13d1516h2_8daaf6152771_%012x", i), fmt.Sprintf("%032x", i), c)
	}
	return out
}

var benchFlush = func() time.Duration { d, _ := time.ParseDuration(os.Getenv("BENCH_FLUSH")); return d }()

// BenchmarkObserveWarm: Observe on an inventory holding 10,000 items, every
// session known (the common case), with the flusher running.
func BenchmarkObserveWarm(b *testing.B) {
	ss := warmSessions(2500)
	inv := open(b, b.TempDir(), Options{LearningPeriod: -1, FlushInterval: benchFlush})
	defer closeInv(b, inv)
	for _, s := range ss {
		inv.Record(s)
	}
	inv.Flush()
	if n := len(inv.Snapshot()); n != 10000 {
		b.Fatalf("%d items", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		s := ss[i%len(ss)]
		s.Start = t0.Add(time.Duration(i) * time.Microsecond)
		s.End = s.Start
		if obs := inv.Record(s); obs.Items != nil {
			b.Fatal("new")
		}
	}
}

// BenchmarkObserveWarmParallel is BenchmarkObserveWarm from GOMAXPROCS
// workers (the capture workers share one inventory).
func BenchmarkObserveWarmParallel(b *testing.B) {
	ss := warmSessions(2500)
	inv := open(b, b.TempDir(), noLearning)
	defer closeInv(b, inv)
	for _, s := range ss {
		inv.Record(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			inv.Record(ss[i%len(ss)])
			i++
		}
	})
}

// BenchmarkObserveFlood: every session has a JA4 and JA3 never seen before,
// on an inventory bounded at 10,000 items a kind: each Observe adds two
// items and evicts two.
func BenchmarkObserveFlood(b *testing.B) {
	const n = 1 << 18
	ss := make([]*session.Session, n)
	for i := range ss {
		ss[i] = sess(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.1:443", "",
			fmt.Sprintf("t13d1516h2_flood_%012x", i), fmt.Sprintf("%032x", i), nil...)
	}
	inv := open(b, b.TempDir(), Options{LearningPeriod: -1, MaxItems: 10000})
	defer closeInv(b, inv)
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		inv.Record(ss[i%n])
	}
	b.StopTimer()
	if st := inv.Stats(); st.Items[ClientJA4] > 10000 || st.Items[ClientJA3] > 10000 {
		b.Fatalf("past the bound: %+v", st.Items)
	}
}

// BenchmarkStageWarm is BenchmarkObserveWarm through the sensor stage,
// Observe, which also sets session.Inventory (the facts rules read).
func BenchmarkStageWarm(b *testing.B) {
	ss := warmSessions(2500)
	inv := open(b, b.TempDir(), Options{LearningPeriod: -1, FlushInterval: benchFlush})
	defer closeInv(b, inv)
	for _, s := range ss {
		inv.Observe(s)
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		s := ss[i%len(ss)]
		s.Start = t0.Add(time.Duration(i) * time.Microsecond)
		s.End = s.Start
		inv.Observe(s)
		if s.Inventory.Items != nil {
			b.Fatal("new")
		}
	}
}
