package capture

import (
	"path/filepath"
	"testing"

	"github.com/tlsentry/tlsentry/tlsparse"
)

// TestChecksumModes runs the checksum captures of testdata in each mode.
func TestChecksumModes(t *testing.T) {
	dir := filepath.Join("..", "testdata")
	sni := func(t *testing.T, file string, mode ChecksumMode) (string, Snapshot) {
		t.Helper()
		ss, snap, err := runFile(t, filepath.Join(dir, file), Config{Workers: 1, Checksums: mode})
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 1 || ss[0].TLS == nil || ss[0].TLS.ClientHello == nil {
			return "", snap
		}
		return ss[0].TLS.ClientHello.ServerName, snap
	}
	// The decoy behind a bad checksum is not reassembled unless validation is off.
	for _, c := range []struct {
		mode    ChecksumMode
		want    string
		wantBad uint64
	}{{ChecksumAuto, "ecdsa.tlsentry.test", 1}, {ChecksumOn, "ecdsa.tlsentry.test", 1}, {ChecksumOff, "other.tlsentry.test", 0}} {
		got, snap := sni(t, "evasion-decoy-bad-checksum.pcap", c.mode)
		if got != c.want || snap.Get(CChecksumBad) != c.wantBad {
			t.Errorf("decoy, mode %v: SNI %q, %d bad; want %q, %d", c.mode, got, snap.Get(CChecksumBad), c.want, c.wantBad)
		}
	}
	// Offloaded client checksums: auto mode uses them and says so.
	got, snap := sni(t, "evasion-offload.pcap", ChecksumAuto)
	if got != "ecdsa.tlsentry.test" || snap.Get(CChecksumBad) != 0 || snap.Get(CChecksumOffloadDirections) != 1 || snap.Get(CChecksumOffloaded) == 0 {
		t.Errorf("offload, auto: SNI %q, bad %d, offload directions %d, offloaded %d", got, snap.Get(CChecksumBad),
			snap.Get(CChecksumOffloadDirections), snap.Get(CChecksumOffloaded))
	}
	if got, snap := sni(t, "evasion-offload.pcap", ChecksumOn); got != "" || snap.Get(CChecksumBad) == 0 {
		t.Errorf("offload, on: SNI %q, bad %d; want no hello", got, snap.Get(CChecksumBad))
	}
}

// TestEvasionCaptures checks the values and facts reported for the
// evasion captures: first-arrived bytes, where they differed.
func TestEvasionCaptures(t *testing.T) {
	dir := filepath.Join("..", "testdata")
	for _, c := range []struct {
		file    string
		anomaly tlsparse.Anomaly
		want    [2]int // offset, length
		tcp     bool
	}{
		{file: "rules/tcp.overlap_different_data-fire.pcap", anomaly: tlsparse.AnomalyTCPOverlap, tcp: true},
		{file: "rules/tcp.overlap_different_data-fire-ooo.pcap", anomaly: tlsparse.AnomalyTCPOverlap, tcp: true},
		{file: "rules/ip.fragment_overlap-fire.pcap", anomaly: tlsparse.AnomalyIPFragmentOverlap, want: [2]int{8, 64}},
	} {
		ss, snap, err := runFile(t, filepath.Join(dir, c.file), Config{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 1 || ss[0].TLS == nil || ss[0].TLS.ClientHello == nil {
			t.Errorf("%s: %d sessions, want 1 with a hello", c.file, len(ss))
			continue
		}
		s := ss[0]
		if sni := s.TLS.ClientHello.ServerName; sni != "ecdsa.tlsentry.test" {
			t.Errorf("%s: SNI %q, want the first-arrived ecdsa.tlsentry.test", c.file, sni)
		}
		if !s.Anomalies.Has(c.anomaly) {
			t.Errorf("%s: anomalies %v, want %v", c.file, s.Anomalies, c.anomaly)
		}
		ev := s.Evasion
		if c.tcp {
			if !ev.OverlapClient || ev.OverlapLength != 48 || snap.Get(CReasmOverlaps) == 0 {
				t.Errorf("%s: evasion %+v, overlaps %d; want 48 client bytes", c.file, ev, snap.Get(CReasmOverlaps))
			}
		} else if ev.FragmentOverlapOffset != c.want[0] || ev.FragmentOverlapLength != c.want[1] || snap.Get(CFragmentOverlaps) != 1 {
			t.Errorf("%s: evasion %+v, fragment overlaps %d; want %v", c.file, ev, snap.Get(CFragmentOverlaps), c.want)
		}
	}
	// Clean retransmissions and overlaps of identical bytes are no anomaly.
	for _, file := range []string{"tls12-tcp-messy.pcap", "tls13-ipv4-fragments.pcap", "tls12-out-of-order-hello.pcap"} {
		ss, _, err := runFile(t, filepath.Join(dir, file), Config{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if s.Anomalies.Has(tlsparse.AnomalyTCPOverlap) || s.Anomalies.Has(tlsparse.AnomalyIPFragmentOverlap) {
				t.Errorf("%s: anomalies %v", file, s.Anomalies)
			}
		}
	}
}

// TestMidstreamAfterHandshake: a flow picked up after its handshake is TLS,
// midstream, and not counted as non-TLS.
func TestMidstreamAfterHandshake(t *testing.T) {
	ss, snap, err := runFile(t, filepath.Join("..", "testdata", "tls12-midstream-appdata.pcap"), Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Protocol.String() != "tls" || !ss[0].AllAnomalies().Has(tlsparse.AnomalyMidstream) {
		t.Fatalf("%d sessions: %v", len(ss), summaries(ss))
	}
	if snap.Get(CSessionsNonTLS443) != 0 || snap.Get(CSessionsTLS) != 1 {
		t.Errorf("non-TLS on 443 %d, TLS %d", snap.Get(CSessionsNonTLS443), snap.Get(CSessionsTLS))
	}
}

// TestPortReuse: two connections on one 4-tuple are two sessions.
func TestPortReuse(t *testing.T) {
	ss, _, err := runFile(t, filepath.Join("..", "testdata", "tls12-port-reuse.pcap"), Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 {
		t.Fatalf("%d sessions, want 2: %v", len(ss), summaries(ss))
	}
}
