package sensor

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/internal/corpustest"
)

// TestCorpusIssue13Alerts replays every capture of the shared corpus (skipped
// when absent) through a sensor with one inventory (learning period off, so
// every first sighting alerts) and counts the alerts of issue 13's rules.
// The corpus is ordinary traffic and test vectors, and a few tunnels (nDPI's
// anyconnect-vpn and tor captures): an anomaly.tls_tunnel alert anywhere
// else is false. DoH and expiring-soon alerts are checked by hand in the
// log (a session to a listed resolver; a leaf within 30 days of expiry at
// packet time): as of this writing 8 and 8, all true.
func TestCorpusIssue13Alerts(t *testing.T) {
	root := filepath.Join(corpustest.Dir(t), "pcaps")
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng") || strings.HasSuffix(p, ".cap")) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	inv := openInv(t, t.TempDir(), -1)
	defer inv.Close()
	counts := map[string]int{}
	sessions, falseTunnels := 0, 0
	for _, f := range files {
		src, err := capture.OpenFile(f)
		if err != nil {
			continue // the corpus has deliberately broken files
		}
		src.Close()
		got, _, ss := replay(t, f, inv, detect.Config{})
		sessions += len(ss)
		for _, a := range got {
			counts[a.rule]++
			rel, _ := filepath.Rel(root, f)
			if a.rule == "anomaly.tls_tunnel" && !isTunnelCapture(rel) {
				falseTunnels++
				t.Errorf("%s: false anomaly.tls_tunnel: %s", rel, a.message)
			}
			switch a.rule {
			case "anomaly.tls_tunnel", "policy.dns_over_https", "cert.expiring_soon":
				t.Logf("%s: %s: %s", rel, a.rule, a.message)
			}
		}
	}
	t.Logf("%d captures, %d sessions: %v; %d false tunnel alerts", len(files), sessions, counts, falseTunnels)
}

// isTunnelCapture: the corpus captures of VPN and Tor traffic (TLS
// tunnels), where anomaly.tls_tunnel is right to fire.
func isTunnelCapture(rel string) bool {
	b := filepath.Base(rel)
	return strings.Contains(b, "vpn") || strings.HasPrefix(b, "tor")
}
