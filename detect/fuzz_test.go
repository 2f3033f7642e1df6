package detect

import (
	"bytes"
	"crypto/x509"
	"net/netip"
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/tlsentry/tlsentry/session"
)

// FuzzRuleFile: no rule file, however broken, panics the loader or the
// compiler; an accepted file compiles to rules that evaluate without panic,
// whose gates pass when the condition holds.
func FuzzRuleFile(f *testing.F) {
	// Seeds are single rules: compiling CEL under coverage instrumentation
	// is slow, and whole built-in files make a few executions a minute.
	f.Add([]byte("rules:\n  - id: tls.weak_dh\n    category: cipher\n    severity: medium\n    condition: tlsentry.server.dh_prime_bits > 0 && tlsentry.server.dh_prime_bits < 2048\n    message: \"${tlsentry.server.dh_prime_bits}-bit DHE group from ${tlsentry.server.display}\"\n"))
	f.Add([]byte("rules:\n  - id: c.n\n    category: certificate\n    severity: low\n    condition: |\n      tlsentry.server.x509.present && tls.client.server_name != \"\" &&\n      !name_matches(tls.client.server_name, tlsentry.server.x509.names)\n    message: \"${tlsentry.server.x509.names.join(', ')}\"\n"))
	f.Add([]byte("rules:\n  - id: a\n    category: c\n    severity: low\n    condition: tls.client.server_name == ''\n    message: '${tls.client.server_name}'\n"))
	f.Add([]byte("rules: [1, 2]\n"))
	env, err := newEnv()
	if err != nil {
		f.Fatal(err)
	}
	e := &Engine{intel: &intelSet{}}
	e.trust, err = newTrustStore("", []*x509.Certificate{}, 16)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := parseRuleFile("fuzz.yaml", data)
		if err != nil {
			return
		}
		var a activation
		for i := range specs {
			r, err := compileRule(env, "fuzz.yaml", "fuzz", &specs[i])
			if err != nil {
				continue
			}
			a.reset(e, &session.Session{})
			out, _, err := r.prg.Eval(&a)
			if err == nil && out == types.True && !passAll(r.gates, &a) {
				t.Fatalf("rule %s: a gate failed but the condition holds", r.ID)
			}
			r.render(&a)
		}
	})
}

// FuzzIntelList: any list file loads or fails cleanly, and lookups on what
// loaded do not panic.
func FuzzIntelList(f *testing.F) {
	f.Add(byte(0), []byte("# c\nja3_md5,Firstseen,Lastseen,Listingreason\nb386946a5a44d1ddcc843bc75336dfce,2019,2019,Dridex\n"))
	f.Add(byte(2), []byte("2024-01-01,a1b2c3d4e5f60718293a4b5c6d7e8f9012345678,C2\n"))
	f.Add(byte(3), []byte("evil.test\n0.0.0.0 x.test\n*.wild.test\n"))
	f.Add(byte(4), []byte("10.0.0.0/8\n10.1.2.3\n2001:db8::/32\n::ffff:1.2.3.0/120\n"))
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		k := intelKind(kind % byte(numIntelKinds))
		s := &intelSet{lists: []string{"fuzz"}}
		var ipb ipBuilder
		if _, err := s.read(bytes.NewReader(data), "fuzz", k, 0, map[string]string{}, &ipb); err != nil {
			return
		}
		s.ips = ipb.build()
		for _, a := range []string{"10.1.2.3", "1.2.3.4", "2001:db8::1", "::", "255.255.255.255"} {
			s.ips.lookup(netip.MustParseAddr(a))
		}
		s.domainLookup("a.b.evil.test")
		s.domainLookup(string(data[:min(len(data), 64)]))
	})
}
