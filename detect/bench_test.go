package detect

import (
	"bufio"
	"crypto/md5"
	"crypto/sha1"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// writeBigLists writes n entries per intel type (abuse.ch CSV formats for
// JA3 and certificate SHA-1s, plain lines for the rest).
func writeBigLists(tb testing.TB, dir string, n int) []IntelList {
	tb.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	write := func(name string, line func(i int) string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			tb.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for i := 0; i < n; i++ {
			w.WriteString(line(i))
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		return p
	}
	reasons := []string{"Dridex", "TrickBot", "QakBot C&C", "AsyncRAT C&C", "Cobalt Strike"}
	return []IntelList{
		{Name: "ja3", Type: "ja3", File: write("ja3.csv", func(i int) string {
			return fmt.Sprintf("%x,2019-01-01 00:00:00,2019-02-01 00:00:00,%s", md5.Sum([]byte(fmt.Sprint("ja3", i))), reasons[i%5])
		})},
		{Name: "ja4", Type: "ja4", File: write("ja4.txt", func(i int) string {
			h := sha1.Sum([]byte(fmt.Sprint("ja4", i)))
			return fmt.Sprintf("t13d%02d%02dh2_%x_%x", i%99, i%97, h[:6], h[6:12])
		})},
		{Name: "sslbl", Type: "cert_sha1", File: write("sslbl.csv", func(i int) string {
			return fmt.Sprintf("2024-01-01 00:00:00,%x,%s", sha1.Sum([]byte(fmt.Sprint("cert", i))), reasons[i%5])
		})},
		{Name: "domains", Type: "domain", File: write("domains.txt", func(i int) string {
			return fmt.Sprintf("host%d.bad%d.example", i, r.IntN(1000))
		})},
		{Name: "ips", Type: "ip", File: write("ips.txt", func(i int) string {
			if i%4 == 0 {
				return fmt.Sprintf("2001:db8:%x:%x::/64", r.IntN(65536), r.IntN(65536))
			}
			return fmt.Sprintf("%d.%d.%d.0/%d", 1+r.IntN(150), r.IntN(256), r.IntN(256), 16+r.IntN(9)) // not the test addresses
		})},
	}
}

// TestIntelMemory reports the heap the loaded 100,000-entry lists take.
func TestIntelMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	lists := writeBigLists(t, t.TempDir(), 100000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, _, err := loadIntel(lists, 0)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.stats()
	if st.JA3 != 100000 || st.JA4 != 100000 || st.CertSHA1 != 100000 || st.Domain < 99000 || st.IP < 95000 {
		t.Fatalf("loaded %+v", st)
	}
	mb := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	t.Logf("5 lists x 100,000 entries (%+v): %.1f MiB heap", st, mb)
	if mb > 200 {
		t.Errorf("lists take %.1f MiB", mb)
	}
	runtime.KeepAlive(s)
}

// BenchmarkEvaluate: every built-in rule plus five 100,000-entry intel lists,
// per session. Sessions alternate TLS 1.2 with a (cached) certificate chain,
// TLS 1.3, and a listed SNI.
func BenchmarkEvaluate(b *testing.B) { benchEvaluate(b, false) }

// BenchmarkEvaluateSuppress is BenchmarkEvaluate with Config.Suppress: the
// built-in suppress blocks hold back the repeats.
func BenchmarkEvaluateSuppress(b *testing.B) { benchEvaluate(b, true) }

func benchEvaluate(b *testing.B, suppress bool) {
	dir := b.TempDir()
	e, err := New(Config{Roots: getPKI(b).pool, Intel: writeBigLists(b, dir, 100000), Suppress: suppress})
	if err != nil {
		b.Fatal(err)
	}
	sessions := []*session.Session{
		testSession(b),
		testSession(b, func(s *session.Session) {
			s.TLS.ServerHello.SupportedVersion = 0x0304
			s.TLS.ServerHello.CipherSuite = 0x1301
			s.Certificates, s.TLS.ServerCertificates = nil, nil
		}),
		testSession(b, func(s *session.Session) { s.TLS.ServerHello.LegacyVersion = 0x0301 }),
	}
	for _, s := range sessions {
		e.Evaluate(s) // warm the chain cache
	}
	b.ReportAllocs()
	loopCPU(b, func(i int) {
		s := sessions[i%len(sessions)]
		s.Finish() // a new session: JA3/JA4 computed as capture does, inside the measured loop
		e.Evaluate(s)
	})
}

// BenchmarkEvaluateKinds splits the cost by kind of session.
func BenchmarkEvaluateKinds(b *testing.B) {
	e, err := New(Config{Roots: getPKI(b).pool, Intel: writeBigLists(b, b.TempDir(), 100000)})
	if err != nil {
		b.Fatal(err)
	}
	kinds := []struct {
		name string
		s    *session.Session
	}{
		{"tls12-cert-clean", testSession(b)},
		{"tls13-clean", testSession(b, func(s *session.Session) {
			s.TLS.ServerHello.SupportedVersion = 0x0304
			s.TLS.ServerHello.CipherSuite = 0x1301
			s.Certificates, s.TLS.ServerCertificates = nil, nil
		})},
		{"tls10-3-alerts", testSession(b, func(s *session.Session) {
			s.TLS.ServerHello.LegacyVersion = 0x0301
			s.TLS.ServerHello.CipherSuite = 0x0005
		})},
		{"ssh-on-443", testSession(b, func(s *session.Session) { s.Protocol, s.TLS, s.Certificates = session.SSH, nil, nil })},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			e.Evaluate(k.s)
			b.ReportAllocs()
			loopCPU(b, func(int) { e.Evaluate(k.s) })
		})
	}
}

// loopCPU runs f(i) for i = 0, 1, ... in b.Loop and reports the process's
// CPU time per call (cpu-ns/op): on a shared, loaded machine the
// wall-clock ns/op overstates the cost; this does not (GC included).
func loopCPU(b *testing.B, f func(i int)) {
	cpu0 := cpuTime()
	n := 0
	for ; b.Loop(); n++ {
		f(n)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkEvaluateParallel(b *testing.B) {
	e, err := New(Config{Roots: getPKI(b).pool, Intel: writeBigLists(b, b.TempDir(), 100000)})
	if err != nil {
		b.Fatal(err)
	}
	s := testSession(b)
	e.Evaluate(s)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Evaluate(s)
		}
	})
}

// BenchmarkRender renders the messages of the built-in rules that match:
// "name-mismatch" cert.name_mismatch's alone (the join of the certificate's
// names), "varied" every matching rule's over variedSessions.
func BenchmarkRender(b *testing.B) {
	e, err := New(Config{Roots: getPKI(b).pool})
	if err != nil {
		b.Fatal(err)
	}
	mismatch := testSession(b, func(s *session.Session) { s.TLS.ClientHello.ServerName = "other.example.test" })
	type job struct {
		s     *session.Session
		rules []*compiledRule
	}
	jobsOf := func(ss []*session.Session, id string) []job {
		var jobs []job
		a := e.pool.Get().(*activation)
		defer e.pool.Put(a)
		for _, s := range ss {
			j := job{s: s}
			for _, r := range e.rules {
				a.reset(e, s)
				if out, ok := r.eval(a); ok && out == types.True && (id == "" || r.ID == id) {
					j.rules = append(j.rules, r)
				}
			}
			jobs = append(jobs, j)
		}
		return jobs
	}
	varied := []*session.Session{mismatch}
	for _, mut := range []func(*session.Session){
		func(s *session.Session) { s.TLS.ServerHello.CipherSuite = 0x000a },
		func(s *session.Session) { s.TLS.ServerHello.LegacyVersion = 0x0301 },
		func(s *session.Session) { s.Anomalies.Add(tlsparse.AnomalyTCPOverlap) },
	} {
		varied = append(varied, testSession(b, mut))
	}
	for _, c := range []struct {
		name string
		jobs []job
	}{
		{"name-mismatch", jobsOf([]*session.Session{mismatch}, "cert.name_mismatch")},
		{"varied", jobsOf(varied, "")},
	} {
		n := 0
		for _, j := range c.jobs {
			n += len(j.rules)
		}
		if n == 0 {
			b.Fatalf("%s: no rule matches", c.name)
		}
		b.Run(c.name, func(b *testing.B) {
			a := e.pool.Get().(*activation)
			b.ReportAllocs()
			for b.Loop() {
				for _, j := range c.jobs {
					a.reset(e, j.s)
					for _, r := range j.rules {
						_ = r.render(a)
					}
				}
			}
			b.ReportMetric(float64(n), "messages/op")
		})
	}
}

// BenchmarkEvaluateWorkload judges handshakeWorkload's sessions in order
// with Config.Suppress, as a replay does: the built-in rules' mix of
// gates, matches and limiter keys on a small network's traffic. A new
// limiter every len(ss) sessions starts the suppress state afresh (the
// chain cache stays warm).
func BenchmarkEvaluateWorkload(b *testing.B) {
	ss := handshakeWorkload(b, 20000, time.Hour)
	e, err := New(Config{Roots: getPKI(b).pool, Suppress: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range ss {
		e.Evaluate(s) // warm the chain cache
	}
	b.ReportAllocs()
	loopCPU(b, func(i int) {
		if i%len(ss) == 0 {
			e.limiter = newLimiter(0)
		}
		e.Evaluate(ss[i%len(ss)])
	})
}
