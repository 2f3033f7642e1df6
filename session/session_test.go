package session

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/tlsparse"
)

func TestProtocolOf(t *testing.T) {
	tests := []struct {
		in            tlsparse.Protocol
		want, display string
	}{
		{tlsparse.ProtocolUndetermined, "unknown", "unknown"},
		{tlsparse.ProtocolTLS, "tls", "TLS"},
		{tlsparse.ProtocolSSLv2, "tls", "TLS"},
		{tlsparse.ProtocolSSH, "ssh", "SSH"},
		{tlsparse.ProtocolHTTP, "http", "HTTP"},
		{tlsparse.ProtocolOpenVPN, "openvpn", "OpenVPN"},
		{tlsparse.ProtocolUnknown, "unknown", "unknown"},
	}
	for _, tt := range tests {
		p := ProtocolOf(tt.in)
		if p.String() != tt.want || p.Display() != tt.display {
			t.Errorf("ProtocolOf(%v) = %q/%q, want %q/%q", tt.in, p, p.Display(), tt.want, tt.display)
		}
	}
	if QUIC.String() != "quic" || QUIC.Display() != "QUIC" || Protocol(99).String() != "unknown" {
		t.Errorf("QUIC %q %q, out of range %q", QUIC, QUIC.Display(), Protocol(99))
	}
}

func TestTransport(t *testing.T) {
	if TCP.String() != "tcp" || UDP.String() != "udp" || Transport(1).String() != "" || uint8(TCP) != 6 || uint8(UDP) != 17 {
		t.Errorf("TCP %q UDP %q ICMP %q", TCP, UDP, Transport(1))
	}
}

func TestFinish(t *testing.T) {
	ch := &tlsparse.ClientHello{LegacyVersion: 0x0303, CipherSuites: []uint16{0x1301}, Extensions: []uint16{0, 43},
		ServerName: "a.test", SupportedVersions: []uint16{0x0304}}
	s := &Session{Protocol: TLS, TLS: &tlsparse.Handshake{ClientHello: ch,
		ServerHello: &tlsparse.ServerHello{LegacyVersion: 0x0303, CipherSuite: 0x1301}}}
	s.Finish()
	ja3s, ja3 := tlsparse.JA3(ch)
	ja3ss, ja3sh := tlsparse.JA3S(s.TLS.ServerHello)
	want := Fingerprints{JA3: ja3, JA3String: ja3s, JA3S: ja3sh, JA3SString: ja3ss, JA4: tlsparse.JA4(ch, false)}
	if s.Fingerprints != want || !strings.HasPrefix(want.JA4, "t13") {
		t.Errorf("TLS: %+v, want %+v", s.Fingerprints, want)
	}
	s.Protocol = QUIC
	s.Finish()
	if !strings.HasPrefix(s.Fingerprints.JA4, "q13") {
		t.Errorf("QUIC JA4 %q", s.Fingerprints.JA4)
	}
	s.TLS = nil
	s.Finish()
	if s.Fingerprints != (Fingerprints{}) {
		t.Errorf("no TLS: %+v", s.Fingerprints)
	}
}

func TestAllAnomalies(t *testing.T) {
	s := &Session{}
	s.Anomalies.Add(tlsparse.AnomalyTCPGap)
	s.Anomalies.Add(tlsparse.AnomalyMidstream)
	if got := s.AllAnomalies().String(); got != "[midstream tcp_gap]" {
		t.Errorf("without TLS: %s", got)
	}
	s.TLS = &tlsparse.Handshake{}
	s.TLS.Anomalies.Add(tlsparse.AnomalyMidstream)
	s.TLS.Anomalies.Add(tlsparse.AnomalyGapServer)
	if got := s.AllAnomalies().String(); got != "[gap_server midstream tcp_gap]" {
		t.Errorf("with TLS: %s", got)
	}
}

// TestJudgingNeedsNoCapture keeps packet capture (gopacket, libpcap) out of
// the rule engine and the encoder: they read sessions, not packets.
func TestJudgingNeedsNoCapture(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/tlsentry/tlsentry/detect", "github.com/tlsentry/tlsentry/output",
		"github.com/tlsentry/tlsentry/session").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list listed %d packages: %s", len(deps), out)
	}
	for _, d := range deps {
		if strings.Contains(d, "gopacket") || d == "github.com/tlsentry/tlsentry/capture" {
			t.Errorf("detect, output or session depends on %s", d)
		}
	}
}
