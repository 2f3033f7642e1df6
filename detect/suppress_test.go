package detect

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/session"
)

func TestSuppressRuleFileErrors(t *testing.T) {
	head := "rules:\n  - id: x.a\n    category: c\n    severity: low\n    condition: \"true\"\n"
	cases := []struct{ name, block, want string }{
		{"unknown field", "    suppress:\n      track: [destination.iP]\n      for: 1h\n",
			`bad.yaml:7: rule x.a: suppress: track: unknown field "destination.iP" (did you mean "destination.ip"?)`},
		{"old field name", "    suppress:\n      track: [tls.sni]\n      for: 1h\n",
			`bad.yaml:7: rule x.a: suppress: track: unknown field "tls.sni" (renamed: did you mean "tls.client.server_name"?)`},
		{"field twice", "    suppress:\n      track: [source.ip, source.ip]\n      for: 1h\n", "bad.yaml:7: rule x.a: suppress: track: source.ip is listed twice"},
		{"no unit", "    suppress:\n      track: []\n      for: 3600\n", `bad.yaml:8: rule x.a: suppress: for: duration "3600" has no unit`},
		{"bad duration", "    suppress:\n      track: []\n      for: 1 hour\n", `bad.yaml:8: rule x.a: suppress: for: duration "1 hour"`},
		{"negative", "    suppress:\n      track: []\n      for: -1h\n", `bad.yaml:8: rule x.a: suppress: for: duration "-1h" is not positive`},
		{"too long", "    suppress:\n      track: []\n      for: 91d\n", `bad.yaml:8: rule x.a: suppress: for: duration "91d" is over the limit of 90d`},
		{"sub-second", "    suppress:\n      track: []\n      for: 10ms\n", `bad.yaml:8: rule x.a: suppress: for: duration "10ms" is under a second`},
		{"no window", "    suppress:\n      track: []\n", "bad.yaml:6: rule x.a: suppress: no for"},
		{"no track", "    suppress:\n      for: 1h\n", "bad.yaml:6: rule x.a: suppress: no track"},
		{"unknown key", "    suppress:\n      track: []\n      within: 1h\n", `bad.yaml:8: suppress: unknown key "within" (keys: track, for)`},
		{"not a mapping", "    suppress: 1h\n", "bad.yaml:6: suppress must be a mapping"},
		{"track not a list", "    suppress:\n      track: source.ip\n      for: 1h\n", "bad.yaml:7: suppress: track: expected a list"},
		{"threshold type", "    threshold:\n      type: sometimes\n      track: []\n      count: 3\n      within: 1m\n",
			`bad.yaml:7: rule x.a: threshold: type "sometimes" is not limit, threshold or both`},
		{"threshold no type", "    threshold:\n      track: []\n      count: 3\n      within: 1m\n", "bad.yaml:6: rule x.a: threshold: no type"},
		{"threshold no count", "    threshold:\n      type: both\n      track: []\n      within: 1m\n", "bad.yaml:6: rule x.a: threshold: no count"},
		{"threshold count 0", "    threshold:\n      type: both\n      track: []\n      count: 0\n      within: 1m\n", "threshold: count 0 is outside"},
		{"threshold count text", "    threshold:\n      type: both\n      track: []\n      count: ten\n      within: 1m\n", `bad.yaml:9: threshold: count: "ten" is not a whole number`},
		{"threshold for", "    threshold:\n      type: both\n      track: []\n      count: 2\n      for: 1m\n", `bad.yaml:10: threshold: unknown key "for"`},
		{"both blocks", "    suppress:\n      track: []\n      for: 1h\n    threshold:\n      type: both\n      track: []\n      count: 2\n      within: 1m\n",
			"bad.yaml:9: rule x.a: suppress and threshold: use one"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(p, []byte(head+c.block), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Check(p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
	p := filepath.Join(dir, "good.yaml")
	os.WriteFile(p, []byte(head+"    threshold:\n      type: limit\n      track: [source.ip, tlsentry.anomalies, destination.port]\n      count: 5\n      within: 1d\n"), 0o644)
	if n, err := Check(p); err != nil || n != 1 {
		t.Fatalf("good file: %d, %v", n, err)
	}
}

// limitEngine has one rule x.a that fires on every session, with block.
func limitEngine(t testing.TB, block string, mut ...func(*Config)) *Engine {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.yaml")
	src := "rules:\n  - id: x.a\n    category: c\n    severity: low\n    condition: \"true\"\n    message: m\n" + block
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool, Suppress: true}
	for _, m := range mut {
		m(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// at is a session ending at t0+sec seconds between client c and server s.
// Sessions share one certificate (making one per session is slow).
func at(t testing.TB, sec int, c, s string) *session.Session {
	atOnce.Do(func() { atBase = testSession(t) })
	x := *atBase
	x.Start = t0.Add(time.Duration(sec) * time.Second)
	x.End = x.Start.Add(time.Second)
	x.Client = netip.MustParseAddrPort(c + ":50000")
	x.Server = netip.MustParseAddrPort(s + ":443")
	return &x
}

var (
	atOnce sync.Once
	atBase *session.Session
)

// step is one session of a table test and what it must give: want 0 for no
// alert, else the Count the alert carries.
type step struct {
	sec    int
	c, s   string
	want   uint64
	reason string
}

func runSteps(t *testing.T, e *Engine, steps []step) {
	t.Helper()
	for i, st := range steps {
		v := e.Evaluate(at(t, st.sec, st.c, st.s))
		var got uint64
		var reason string
		if len(v.Alerts) > 0 {
			got, reason = v.Alerts[0].Count, v.Alerts[0].CountText
		}
		if got != st.want || (st.reason != "" && reason != st.reason) {
			t.Errorf("step %d (t+%ds %s->%s): count %d %q, want %d %q", i, st.sec, st.c, st.s, got, reason, st.want, st.reason)
		}
		if len(v.Alerts) == 0 && v.Validation == "" {
			t.Errorf("step %d: verdict lost its validation", i)
		}
	}
}

const (
	cA, cB = "192.0.2.1", "192.0.2.2"
	sX, sY = "198.51.100.1", "198.51.100.2"
)

func TestSuppressForms(t *testing.T) {
	cases := []struct {
		name, block string
		steps       []step
	}{
		{"suppress by destination, 1h", "    suppress:\n      track: [destination.ip]\n      for: 1h\n", []step{
			{0, cA, sX, 1, ""},
			{10, cB, sX, 0, ""},   // same key
			{20, cA, sY, 1, ""},   // other server
			{3599, cA, sX, 0, ""}, // 1h after the first alert, minus the 1s of End
			{3601, cA, sX, 3, "(and 2 more matches in the last 59m51s)"},
			{3602, cA, sX, 0, ""},
			{7300, cA, sX, 2, "(and 1 more match in the last 1h1m38s)"},
		}},
		{"suppress by rule", "    suppress:\n      track: []\n      for: 10m\n", []step{
			{0, cA, sX, 1, ""}, {1, cB, sY, 0, ""}, {599, cA, sY, 0, ""}, {600, cA, sX, 3, ""},
		}},
		{"suppress by both", "    suppress:\n      track: [source.ip, destination.ip]\n      for: 1h\n", []step{
			{0, cA, sX, 1, ""}, {1, cB, sX, 1, ""}, {2, cA, sY, 1, ""}, {3, cA, sX, 0, ""}, {4, cB, sY, 1, ""},
		}},
		{"limit 2 per minute by source", "    threshold:\n      type: limit\n      track: [source.ip]\n      count: 2\n      within: 1m\n", []step{
			{0, cA, sX, 1, ""}, {1, cA, sY, 1, ""}, {2, cA, sX, 0, ""}, {3, cB, sX, 1, ""}, {59, cA, sX, 0, ""},
			{60, cA, sX, 3, "(and 2 more matches in the last 58s)"}, {61, cA, sX, 1, ""}, {62, cA, sX, 0, ""},
		}},
		{"threshold every 3rd within 1m", "    threshold:\n      type: threshold\n      track: [source.ip]\n      count: 3\n      within: 1m\n", []step{
			{0, cA, sX, 0, ""}, {1, cA, sX, 0, ""}, {2, cA, sX, 3, "(and 2 more matches in the last 2s)"},
			{3, cA, sX, 0, ""}, {4, cA, sX, 0, ""}, {5, cA, sX, 3, ""}, // every 3rd in the window
			{6, cA, sX, 0, ""}, {7, cA, sX, 0, ""},
			{70, cA, sX, 0, ""}, // a new window: count 1, 3 pending
			{71, cA, sX, 0, ""}, {72, cA, sX, 5, "(and 4 more matches in the last 1m6s)"},
			{73, cB, sX, 0, ""},
		}},
		{"both: once per window after 3", "    threshold:\n      type: both\n      track: [destination.ip]\n      count: 3\n      within: 1m\n", []step{
			{0, cA, sX, 0, ""}, {1, cB, sX, 0, ""}, {2, cA, sX, 3, ""}, {3, cA, sX, 0, ""}, {4, cA, sX, 0, ""}, {5, cA, sX, 0, ""},
			{61, cA, sX, 0, ""}, {62, cA, sX, 0, ""}, {63, cA, sX, 6, "(and 5 more matches in the last 1m)"},
		}},
		{"threshold count 1 is every match", "    threshold:\n      type: threshold\n      track: []\n      count: 1\n      within: 1m\n", []step{
			{0, cA, sX, 1, ""}, {1, cA, sX, 1, ""},
		}},
		{"out of order packet time counts in the window", "    suppress:\n      track: [destination.ip]\n      for: 1h\n", []step{
			{1000, cA, sX, 1, ""}, {10, cA, sX, 0, ""}, {4601, cA, sX, 2, "(and 1 more match in the last 1h16m31s)"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runSteps(t, limitEngine(t, c.block), c.steps)
		})
	}
}

func TestSuppressCountsAndSuppressOff(t *testing.T) {
	block := "    suppress:\n      track: [destination.ip]\n      for: 1h\n"
	e := limitEngine(t, block)
	for i := 0; i < 10; i++ {
		e.Evaluate(at(t, i, cA, sX))
	}
	st := e.Stats()
	if st.Alerts != 1 || st.Fired["x.a"] != 10 || st.Suppressed["x.a"] != 9 || e.SuppressedCounts()["x.a"] != 9 || st.Limiter.Keys != 1 {
		t.Errorf("stats %+v, counts %v", st, e.SuppressedCounts())
	}
	if ls, ok := e.LimiterStats(); !ok || ls != st.Limiter || ls.Limit != DefaultSuppressMemory || ls.Bytes != entryOverhead {
		t.Errorf("LimiterStats %+v %v, Stats().Limiter %+v", ls, ok, st.Limiter)
	}
	e = limitEngine(t, block, func(c *Config) {
		c.Suppress = false
		c.Suppressions = []Suppression{{All: true, Addresses: []string{"0.0.0.0/0"}}}
	})
	for i := 0; i < 10; i++ {
		v := e.Evaluate(at(t, i, cA, sX))
		if len(v.Alerts) != 1 || v.Alerts[0].Count != 1 || v.Alerts[0].CountText != "" {
			t.Fatalf("Suppress off: session %d gave %+v", i, v.Alerts)
		}
	}
	if st := e.Stats(); st.Alerts != 10 || st.Suppressed["x.a"] != 0 || st.Filtered["x.a"] != 0 {
		t.Errorf("Suppress off: stats %+v", st)
	}
	if ls, ok := e.LimiterStats(); ok {
		t.Errorf("Suppress off: a limiter %+v", ls)
	}
	// Without a block every alert has Count 1.
	e = limitEngine(t, "")
	if v := e.Evaluate(at(t, 0, cA, sX)); v.Alerts[0].Count != 1 {
		t.Errorf("no block: count %d", v.Alerts[0].Count)
	}
	// Suppressions are checked without Suppress too.
	p := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(p, []byte("rules:\n  - id: x.a\n    category: c\n    severity: low\n    condition: \"true\"\n"), 0o644)
	if _, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool,
		Suppressions: []Suppression{{Rules: []string{"x.b"}}}}); err == nil {
		t.Error("bad suppression accepted without Suppress")
	}
}

func TestConfigSuppressions(t *testing.T) {
	base := testSession(t)
	h := strings.ToLower(base.Certificates[0].SHA256)
	colons := ""
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			colons += ":"
		}
		colons += h[i : i+2]
	}
	cases := []struct {
		name string
		sup  Suppression
		sni  string
		want bool // suppressed
	}{
		{"rule everywhere", Suppression{Rules: []string{"x.a"}}, "", true},
		{"other rule", Suppression{Rules: []string{"x.b"}}, "", false},
		{"category", Suppression{Categories: []string{"c"}, Destinations: []string{"198.51.100.0/24"}}, "", true},
		{"other category", Suppression{Categories: []string{"d"}}, "", false},
		{"all by CIDR of the server", Suppression{All: true, Addresses: []string{"198.51.100.0/24"}}, "", true},
		{"all by address of the client", Suppression{All: true, Addresses: []string{"192.0.2.10"}}, "", true},
		{"source CIDR misses", Suppression{All: true, Sources: []string{"198.51.100.0/24"}}, "", false},
		{"source CIDR", Suppression{All: true, Sources: []string{"192.0.2.0/28"}}, "", true},
		{"IPv6 CIDR misses", Suppression{All: true, Addresses: []string{"2001:db8::/32"}}, "", false},
		{"4in6 CIDR", Suppression{All: true, Destinations: []string{"::ffff:198.51.100.0/120"}}, "", true},
		{"SNI domain covers itself", Suppression{All: true, ServerNames: []string{"svc.corp.example"}}, "svc.corp.example", true},
		{"SNI domain covers subdomains", Suppression{All: true, ServerNames: []string{"corp.example"}}, "a.svc.CORP.example.", true},
		{"SNI wildcard: subdomains only", Suppression{All: true, ServerNames: []string{"*.corp.example"}}, "corp.example", false},
		{"SNI wildcard", Suppression{All: true, ServerNames: []string{"*.corp.example"}}, "svc.corp.example", true},
		{"SNI suffix is not a subdomain", Suppression{All: true, ServerNames: []string{"corp.example"}}, "evilcorp.example", false},
		{"no SNI", Suppression{All: true, ServerNames: []string{"corp.example"}}, "", false},
		{"certificate", Suppression{All: true, CertSHA256: []string{h}}, "", true},
		{"certificate with colons", Suppression{Rules: []string{"x.a"}, CertSHA256: []string{colons}}, "", true},
		{"other certificate", Suppression{All: true, CertSHA256: []string{strings.Repeat("ab", 32)}}, "", false},
		{"every list must match", Suppression{All: true, Destinations: []string{"198.51.100.7"}, ServerNames: []string{"other.example"}}, "www.example.test", false},
		{"entries of a list are alternatives", Suppression{All: true, Destinations: []string{"203.0.113.1", "198.51.100.7"}}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.yaml")
			os.WriteFile(p, []byte("rules:\n  - id: x.a\n    category: c\n    severity: low\n    condition: \"true\"\n"+
				"  - id: x.b\n    category: d\n    severity: low\n    condition: \"false\"\n"), 0o644)
			e, err := New(Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool, Suppress: true, Suppressions: []Suppression{c.sup}})
			if err != nil {
				t.Fatal(err)
			}
			base.TLS.ClientHello.ServerName = c.sni
			v := e.Evaluate(base)
			if got := len(v.Alerts) == 0; got != c.want {
				t.Errorf("suppressed %v, want %v", got, c.want)
			}
			if n := e.Stats().Filtered["x.a"]; (n == 1) != c.want {
				t.Errorf("filtered count %d", n)
			}
			if v.Validation == "" {
				t.Error("verdict lost its validation")
			}
		})
	}
}

func TestConfigSuppressionErrors(t *testing.T) {
	cases := []struct {
		sup  Suppression
		want string
	}{
		{Suppression{}, "suppressions[0]: no rules, categories or all"},
		{Suppression{All: true}, "suppressions[0]: all without addresses"},
		{Suppression{All: true, Rules: []string{"cert.expired"}, Addresses: []string{"10.0.0.1"}}, "all and rules/categories"},
		{Suppression{Rules: []string{"cert.expird"}}, `no rule has id "cert.expird" (did you mean "cert.expired"?)`},
		{Suppression{Categories: []string{"certificat"}}, `no rule has category "certificat" (did you mean "certificate"?)`},
		{Suppression{All: true, Addresses: []string{"10.0.0.300"}}, `addresses: "10.0.0.300" is not an IP address or CIDR`},
		{Suppression{All: true, Sources: []string{"10.0.0.0/33"}}, `sources: "10.0.0.0/33"`},
		{Suppression{All: true, Destinations: []string{"example.com"}}, `destinations: "example.com"`},
		{Suppression{All: true, ServerNames: []string{"exa mple.com"}}, `server_names: "exa mple.com" is not a domain name`},
		{Suppression{All: true, ServerNames: []string{"a.*.example.com"}}, `server_names: "a.*.example.com"`},
		{Suppression{All: true, CertSHA256: []string{"abcd"}}, `cert_sha256: "abcd" is not a SHA-256 fingerprint`},
		{Suppression{All: true, CertSHA256: []string{strings.Repeat("g", 64)}}, `cert_sha256: "ggg`},
	}
	for i, c := range cases {
		list := []Suppression{{Rules: []string{"cert.untrusted"}, Destinations: []string{"10.1.2.3"}}, c.sup}
		_, err := New(Config{Roots: getPKI(t).pool, Suppressions: list})
		want := strings.Replace(c.want, "suppressions[0]", "suppressions[1]", 1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("case %d: error %v, want %q", i, err, want)
		}
	}
}

// Several workers at once: counts add up (alerts + suppressed = matches),
// and no key gives more than one alert per window. go test -race.
func TestSuppressConcurrent(t *testing.T) {
	e := limitEngine(t, "    suppress:\n      track: [source.ip, destination.ip]\n      for: 1h\n")
	const workers, per = 4, 500
	sessions := make([][]*session.Session, workers)
	for w := range sessions {
		for i := 0; i < per; i++ {
			sessions[w] = append(sessions[w], at(t, i, fmt.Sprintf("192.0.2.%d", i%10), fmt.Sprintf("198.51.100.%d", i%7)))
		}
	}
	var mu sync.Mutex
	alerts := map[string]uint64{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range sessions[w] {
				for _, a := range e.Evaluate(s).Alerts {
					mu.Lock()
					alerts[s.Client.Addr().String()+" "+s.Server.Addr().String()] += a.Count
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st := e.Stats()
	if st.Fired["x.a"] != workers*per || st.Alerts+st.Suppressed["x.a"] != workers*per {
		t.Errorf("stats %+v", st)
	}
	if len(alerts) != 70 || st.Alerts != 70 {
		t.Errorf("%d keys alerted, %d alerts; want 70, one each", len(alerts), st.Alerts)
	}
}

// A flood of distinct keys stays within the budget; evictions are counted.
func TestSuppressMemoryBound(t *testing.T) {
	const limit = 1 << 20
	e := limitEngine(t, "    suppress:\n      track: [source.ip, destination.ip]\n      for: 1h\n",
		func(c *Config) { c.SuppressMemory = limit })
	s := at(t, 0, cA, sX)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 100_000
	if os.Getenv("SUPPRESS_FLOOD") != "" {
		n = 400_000
	}
	for i := 0; i < n; i++ {
		s.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 50000)
		if v := e.Evaluate(s); len(v.Alerts) != 1 {
			t.Fatalf("session %d: a new key gave no alert", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := e.Stats().Limiter
	t.Logf("%d distinct keys into %d bytes: %+v, heap +%d KiB", n, limit, st, (int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024)
	if st.Bytes > limit || st.Keys <= 0 || st.Evictions == 0 || uint64(st.Keys)+st.Evictions != uint64(n) {
		t.Errorf("limiter %+v", st)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > limit*3/2 {
		t.Errorf("heap grew %d bytes for a %d-byte budget", grown, limit)
	}
	// Lost: a held-back match whose key is then evicted.
	e = limitEngine(t, "    suppress:\n      track: [source.ip, source.port]\n      for: 1h\n", func(c *Config) { c.SuppressMemory = 16 * 1024 })
	e.Evaluate(s)
	e.Evaluate(s) // held back
	for i := 0; i < 10_000; i++ {
		s.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), uint16(i))
		e.Evaluate(s)
	}
	if st := e.Stats().Limiter; st.Lost != 1 {
		t.Errorf("lost %d, want 1 (%+v)", st.Lost, st)
	}
}

// Spent keys (window over, nothing held back) are dropped without counting
// an eviction: steady traffic does not fill the budget.
func TestSuppressSpentKeys(t *testing.T) {
	e := limitEngine(t, "    suppress:\n      track: [source.ip]\n      for: 1m\n")
	for i := 0; i < 5000; i++ {
		e.Evaluate(at(t, i*10, fmt.Sprintf("10.0.%d.%d", i>>8&255, i&255), sX))
	}
	if st := e.Stats().Limiter; st.Evictions != 0 || st.Keys > 50 {
		t.Errorf("limiter %+v", st)
	}
}

// A reload keeps open windows.
func TestSuppressAcrossReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(p, []byte("rules:\n  - id: x.a\n    category: c\n    severity: low\n    condition: \"true\"\n    suppress:\n      track: []\n      for: 1h\n"), 0o644)
	r, err := NewReloader(func() (Config, error) {
		return Config{RuleFiles: []string{p}, NoBuiltin: true, Roots: getPKI(t).pool, Suppress: true}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Evaluate(at(t, 0, cA, sX)).Alerts) != 1 {
		t.Fatal("first match gave no alert")
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := r.Evaluate(at(t, 1, cA, sX)); len(v.Alerts) != 0 {
		t.Errorf("reload reopened the window: %+v", v.Alerts)
	}
}

func TestCountText(t *testing.T) {
	for _, c := range []struct {
		n           uint64
		since, now  time.Duration
		want        string
		description string
	}{
		{1, 0, 0, "", "one match"},
		{2, 0, 300 * time.Millisecond, "(and 1 more match)", "same second"},
		{42, 0, time.Hour, "(and 41 more matches in the last 1h)", ""},
		{3, 0, 26*time.Hour + 5*time.Second, "(and 2 more matches in the last 1d2h5s)", ""},
	} {
		if got := countText(c.n, int64(c.since), int64(c.now)); got != c.want {
			t.Errorf("countText(%d, %v, %v) = %q, want %q", c.n, c.since, c.now, got, c.want)
		}
	}
}

// Every built-in rule has a block; cert.untrusted is one alert per hour
// per server and certificate.
func TestBuiltinSuppressDefaults(t *testing.T) {
	e, err := New(Config{Roots: getPKI(t).pool, Suppress: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.Rules() {
		if r.Limit == "" {
			t.Errorf("built-in rule %s has no suppress or threshold block", r.ID)
		}
	}
	e, err = New(Config{Roots: []*x509.Certificate{}, Suppress: true}) // nothing trusted
	if err != nil {
		t.Fatal(err)
	}
	untrusted := func(sec int, server string) uint64 {
		s := at(t, sec, cA, server)
		if a := fired(e.Evaluate(s))["cert.untrusted"]; a != nil {
			return a.Count
		}
		return 0
	}
	steps := []struct {
		sec    int
		server string
		want   uint64
	}{{0, sX, 1}, {5, sX, 0}, {10, sY, 1}, {1800, sX, 0}, {3600, sX, 3}, {3605, sY, 0}, {3610, sY, 2}}
	for i, st := range steps {
		if got := untrusted(st.sec, st.server); got != st.want {
			t.Errorf("step %d: cert.untrusted count %d, want %d", i, got, st.want)
		}
	}
}

// No value can pass for two: ("a\x00b", "c") and ("a", "b\x00c") are two keys.
func TestSuppressKeyInjective(t *testing.T) {
	e := limitEngine(t, "    suppress:\n      track: [tls.client.server_name, tls.next_protocol]\n      for: 1h\n")
	for i, kv := range [][2]string{{"a\x00b", "c"}, {"a", "b\x00c"}, {"a\x00b\x00\x00\x00\x01", ""}, {"a", "\x00\x00\x00\x01b"}} {
		s := at(t, i, cA, sX)
		hs := *s.TLS
		ch, sh := *hs.ClientHello, *hs.ServerHello
		ch.ServerName, sh.ALPN = kv[0], kv[1]
		hs.ClientHello, hs.ServerHello = &ch, &sh
		s.TLS = &hs
		if v := e.Evaluate(s); len(v.Alerts) != 1 {
			t.Errorf("%q: suppressed as another key", kv)
		}
	}
	if _, err := New(Config{NoBuiltin: true, Roots: getPKI(t).pool, SuppressMemory: -1}); err == nil {
		t.Error("negative SuppressMemory accepted")
	}
}
