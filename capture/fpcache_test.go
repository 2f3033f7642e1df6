package capture

import (
	"net/netip"
	"testing"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
	"github.com/tlsentry/tlsentry/session"
)

// repeatedHelloCapture is n TCP connections from different clients, each
// with the same ClientHello and ServerHello.
func repeatedHelloCapture(t *testing.T, n int) string {
	ch, sh := tlsgen.MustSampleQUICHello(t)
	record := func(m []byte) []byte {
		return append([]byte{0x16, 0x03, 0x03, byte(len(m) >> 8), byte(len(m))}, m...)
	}
	return capturePath(t, func(w *pcapgen.Writer, clk *pcapgen.Clock) {
		for i := range n {
			c := conv(t, w, clk, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(30000+i)),
				netip.MustParseAddrPort("192.0.2.1:443"))
			must(t, c.Handshake())
			must(t, c.Send(pcapgen.ClientToServer, record(ch)))
			must(t, c.Send(pcapgen.ServerToClient, record(sh)))
			must(t, c.Close(pcapgen.ClientToServer))
		}
	})
}

// TestFingerprintCache replays sessions that repeat one ClientHello with
// the workers' fingerprint caches on and off: every session's fingerprints
// are the directly computed ones, and the counters say the cache was used.
func TestFingerprintCache(t *testing.T) {
	path := repeatedHelloCapture(t, 200)
	for _, tc := range []struct {
		name     string
		bytes    int
		wantHits bool
	}{
		{"default", 0, true},
		{"small", 1000, true},
		{"off", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss, snap, err := runFile(t, path, Config{Workers: 2, FingerprintCacheBytes: tc.bytes})
			if err != nil {
				t.Fatal(err)
			}
			hellos := 0
			for _, s := range ss {
				if s.TLS == nil || s.TLS.ClientHello == nil || s.TLS.ServerHello == nil {
					continue
				}
				hellos++
				want := session.Session{TLS: s.TLS, Protocol: s.Protocol}
				want.Finish()
				if s.Fingerprints != want.Fingerprints {
					t.Fatalf("%v: fingerprints %+v, want %+v", s.Client, s.Fingerprints, want.Fingerprints)
				}
			}
			hits, misses := snap.Get(CFingerprintHits), snap.Get(CFingerprintMisses)
			if hellos < 100 || (hits > 0) != tc.wantHits || tc.wantHits && hits+misses < uint64(hellos) {
				t.Errorf("%d hellos: %d hits, %d misses", hellos, hits, misses)
			}
			limit := uint64(max(tc.bytes, 0))
			if tc.bytes == 0 {
				limit = DefaultFingerprintCacheBytes
			}
			if b := snap.Get(CFingerprintBytes); b > 2*limit || tc.bytes < 0 && b != 0 {
				t.Errorf("cache bytes %d over 2 workers × %d", b, limit)
			}
		})
	}
}
