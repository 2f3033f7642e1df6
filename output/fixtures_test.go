package output

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/netip"
	"time"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Hand-built sessions for golden and field tests. Values are realistic but
// invented; names in the output come from tlsparse's tables.

var testObserver = Observer{Name: "sensor-1", Hostname: "ids-dmz-01", Version: "1.2.3-test", Namespace: "dmz"}

// clientCertDER is a client certificate for mutual TLS sessions: Ed25519
// from a fixed seed, so the DER (signature included) is the same every run.
func clientCertDER() []byte {
	return clientCertWith(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
}

// clientCertWith is the client certificate with another key.
func clientCertWith(key crypto.Signer) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234abcd),
		Subject:      pkix.Name{CommonName: "device-17.corp.example.test", Organization: []string{"Example Corp"}},
		Issuer:       pkix.Name{CommonName: "device-17.corp.example.test"},
		NotBefore:    mustTime("2024-01-01T00:00:00Z"),
		NotAfter:     mustTime("2025-01-01T00:00:00Z"),
		DNSNames:     []string{"device-17.corp.example.test"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err) // a fixed template: cannot fail
	}
	return der
}

// sessionMTLS is the TLS 1.2 session with a client certificate.
func sessionMTLS() *session.Session {
	s := sessionTLS12()
	s.TLS.ClientCertificates = [][]byte{clientCertDER()}
	s.FirstPacket = 9
	return s
}

// verdictMTLS has an intel match on a CIDR (with the list's reason), and
// an alert standing for several matches.
func verdictMTLS() detect.Verdict {
	return detect.Verdict{
		Validation: detect.ValidationTrusted,
		Alerts: []detect.Alert{
			{Rule: ruleIntelIP, Message: "198.51.100.7 (www.example.test) is on list feodo", Count: 3,
				First: mustTime("2024-05-01T09:40:00Z"), CountText: "(and 2 more matches in the last 1h)",
				Intel: &detect.IntelMatch{List: "feodo", Entry: "198.51.100.0/24", Field: "ip", Reason: "Dridex C&C",
					Value: "198.51.100.7", DocField: "destination.ip"}},
		},
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

var (
	leafCert = &tlsparse.CertSummary{
		SHA1:               "2A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D",
		SHA256:             "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
		Subject:            "CN=www.example.test,O=Example Corp,C=US",
		Issuer:             "CN=Example Issuing CA 1,O=Example Corp,C=US",
		SubjectCommonName:  "www.example.test",
		IssuerCommonName:   "Example Issuing CA 1",
		AlternativeNames:   []string{"www.example.test", "example.test", "192.0.2.10"},
		SerialNumber:       "0A1B2C3D4E5F",
		NotBefore:          mustTime("2024-01-15T00:00:00Z"),
		NotAfter:           mustTime("2024-07-15T23:59:59Z"),
		PublicKeyAlgorithm: "ECDSA",
		PublicKeySize:      256,
		PublicKeyCurve:     "P-256",
		SignatureAlgorithm: "SHA256-RSA",
		VersionNumber:      3,
	}
	intermediateCert = &tlsparse.CertSummary{
		SHA1:               "7C4A8D09CA3762AF61E59520943DC26494F8941B",
		SHA256:             "EF2D127DE37B942BAAD06145E54B0C619A1F22327B2EBBCFBEC78F5564AFE39D",
		Subject:            "CN=Example Issuing CA 1,O=Example Corp,C=US",
		Issuer:             "CN=Example Root CA,O=Example Corp,C=US",
		SubjectCommonName:  "Example Issuing CA 1",
		IssuerCommonName:   "Example Root CA",
		SerialNumber:       "01",
		NotBefore:          mustTime("2020-01-01T00:00:00Z"),
		NotAfter:           mustTime("2030-01-01T00:00:00Z"),
		PublicKeyAlgorithm: "RSA",
		PublicKeySize:      2048,
		SignatureAlgorithm: "SHA256-RSA",
		VersionNumber:      3,
	}
	brokenCert = &tlsparse.CertSummary{
		SHA1:   "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
		SHA256: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		Err:    errors.New("x509: malformed certificate"),
	}
)

// chromeLikeHello is a TLS 1.3-capable ClientHello with GREASE values.
func chromeLikeHello(sni string) *tlsparse.ClientHello {
	return &tlsparse.ClientHello{
		RecordVersion:        0x0301,
		LegacyVersion:        0x0303,
		Random:               make([]byte, 32),
		SessionID:            make([]byte, 32),
		CipherSuites:         []uint16{0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		CompressionMethods:   []uint8{0},
		Extensions:           []uint16{0x3a3a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x4469, 0xfe0d, 0x1a1a},
		ServerName:           sni,
		SupportedGroups:      []uint16{0x4a4a, 0x001d, 0x0017, 0x0018},
		ECPointFormats:       []uint8{0},
		SignatureAlgorithms:  []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		ALPN:                 []string{"h2", "http/1.1"},
		SupportedVersions:    []uint16{0x5a5a, 0x0304, 0x0303},
		KeyShareGroups:       []uint16{0x4a4a, 0x001d},
		PSKModes:             []uint8{1},
		SessionTicket:        true,
		ExtendedMasterSecret: true,
		RenegotiationInfo:    true,
		StatusRequest:        true,
		ECH:                  true,
	}
}

// sessionTLS12 is a full TLS 1.2 handshake with a two-certificate chain,
// behind QinQ VLANs.
func sessionTLS12() *session.Session {
	ch := chromeLikeHello("www.example.test")
	ch.ECH = false
	ch.Extensions = ch.Extensions[:len(ch.Extensions)-2]
	s := &session.Session{
		Start:         mustTime("2024-05-01T10:00:00.123456789Z"),
		End:           mustTime("2024-05-01T10:00:02.5Z"),
		Client:        netip.MustParseAddrPort("192.0.2.55:51234"),
		Server:        netip.MustParseAddrPort("198.51.100.7:443"),
		Transport:     session.TCP,
		VLANs:         []uint16{100, 20},
		Protocol:      session.TLS,
		ClientPackets: 12, ClientBytes: 1840,
		ServerPackets: 10, ServerBytes: 6120,
		TLS: &tlsparse.Handshake{
			Protocol:           tlsparse.ProtocolTLS,
			ClientHello:        ch,
			ClientHelloCount:   1,
			ClientHelloRecords: 1,
			ClientHelloChunks:  1,
			ServerHello: &tlsparse.ServerHello{
				LegacyVersion:        0x0303,
				Random:               make([]byte, 32),
				CipherSuite:          0xc02f,
				Extensions:           []uint16{0xff01, 0x000b, 0x0010, 0x0017},
				ALPN:                 "h2",
				ExtendedMasterSecret: true,
				RenegotiationInfo:    true,
			},
			ServerCertificates: [][]byte{{0x30}, {0x30}},
			CertificateStatus:  true,
			KeyExchange:        &tlsparse.ServerKeyExchange{NamedCurve: 0x0017},
			ClientEncrypted:    true,
			ServerEncrypted:    true,
			Established:        true,
		},
		Certificates: []*tlsparse.CertSummary{leafCert, intermediateCert},
		FirstPacket:  0x1122334455667788,
	}
	s.Finish()
	return s
}

// sessionTLS13 is a TLS 1.3 handshake over IPv6 after a HelloRetryRequest,
// resumed with a PSK; certificates are encrypted, so none are seen.
func sessionTLS13() *session.Session {
	ch := chromeLikeHello("api.example.test")
	ch.PreSharedKey = true
	s := &session.Session{
		Start:         mustTime("2024-05-01T10:00:03.000001Z"),
		End:           mustTime("2024-05-01T10:00:03.250001Z"),
		Client:        netip.MustParseAddrPort("[2001:db8::10]:40000"),
		Server:        netip.MustParseAddrPort("[2001:db8:1::443]:443"),
		Transport:     session.TCP,
		Protocol:      session.TLS,
		ClientPackets: 8, ClientBytes: 2200,
		ServerPackets: 7, ServerBytes: 3300,
		TLS: &tlsparse.Handshake{
			Protocol:           tlsparse.ProtocolTLS,
			ClientHello:        ch,
			ClientHelloCount:   2,
			ClientHelloRecords: 2,
			ClientHelloChunks:  3,
			HelloRetryRequest: &tlsparse.ServerHello{
				LegacyVersion: 0x0303, SupportedVersion: 0x0304, CipherSuite: 0x1301,
				KeyShareGroup: 0x0017, HelloRetryRequest: true,
			},
			ServerHello: &tlsparse.ServerHello{
				LegacyVersion:    0x0303,
				SupportedVersion: 0x0304,
				Random:           make([]byte, 32),
				CipherSuite:      0x1301,
				Extensions:       []uint16{0x002b, 0x0033, 0x0029},
				KeyShareGroup:    0x0017,
				PreSharedKey:     true,
			},
			ClientEncrypted: true,
			ServerEncrypted: true,
			Established:     true,
			Resumed:         true,
			Anomalies:       anomalies(tlsparse.AnomalyFragmentedHello),
		},
		Anomalies:   anomalies(tlsparse.AnomalyTCPOverlap),
		FirstPacket: 0x99aabbccddeeff00,
	}
	s.Finish()
	return s
}

// sessionSSH443 is SSH on port 443: no TLS fields at all.
func sessionSSH443() *session.Session {
	s := &session.Session{
		Start:         mustTime("2024-05-01T10:01:00Z"),
		End:           mustTime("2024-05-01T10:05:00Z"),
		Client:        netip.MustParseAddrPort("10.1.2.3:60000"),
		Server:        netip.MustParseAddrPort("203.0.113.9:443"),
		Transport:     session.TCP,
		Protocol:      session.SSH,
		ClientPackets: 40, ClientBytes: 5000,
		ServerPackets: 0, ServerBytes: 0,
		TLS:         &tlsparse.Handshake{Protocol: tlsparse.ProtocolSSH},
		Anomalies:   anomalies(tlsparse.AnomalyMidstream, tlsparse.AnomalyMidstream),
		Incomplete:  true,
		FirstPacket: 42,
	}
	s.Finish()
	return s
}

// sessionLegacy is a TLS 1.0 handshake that ended in a fatal alert, with a
// Heartbleed-style heartbeat and a certificate that does not parse: it is
// the session the alert golden and the field tests use.
func sessionLegacy() *session.Session {
	ch := &tlsparse.ClientHello{
		RecordVersion:      0x0301,
		LegacyVersion:      0x0301,
		CipherSuites:       []uint16{0x0039, 0x0035, 0x000a, 0x0005, 0x0004},
		CompressionMethods: []uint8{0},
		Extensions:         []uint16{0x0000, 0x000f},
		ServerName:         "legacy.example.test",
		Heartbeat:          true,
	}
	s := &session.Session{
		Start:         mustTime("2024-05-01T11:00:00Z"),
		End:           mustTime("2024-05-01T11:00:00.2Z"),
		Client:        netip.MustParseAddrPort("192.0.2.77:49152"),
		Server:        netip.MustParseAddrPort("198.51.100.7:443"),
		Transport:     session.TCP,
		VLANs:         []uint16{300},
		Protocol:      session.TLS,
		ClientPackets: 5, ClientBytes: 700,
		ServerPackets: 4, ServerBytes: 2900,
		TLS: &tlsparse.Handshake{
			Protocol:           tlsparse.ProtocolTLS,
			ClientHello:        ch,
			ClientHelloCount:   1,
			ClientHelloRecords: 1,
			ClientHelloChunks:  1,
			ServerHello: &tlsparse.ServerHello{
				LegacyVersion: 0x0301, CipherSuite: 0x0039, Heartbeat: true,
				Extensions: []uint16{0x000f},
			},
			ServerCertificates: [][]byte{{0x30}, {0x00}},
			ClientCertificates: [][]byte{{0x30}},
			KeyExchange:        &tlsparse.ServerKeyExchange{DHPrimeBits: 1024},
			Alerts: []tlsparse.Alert{
				{Direction: tlsparse.ServerToClient, Level: 2, Description: 40},
				{Direction: tlsparse.ClientToServer, Encrypted: true},
			},
			Heartbeats: []tlsparse.Heartbeat{{Direction: tlsparse.ClientToServer, Type: 1, DeclaredLength: 16384, RecordLength: 3}},
			Anomalies:  anomalies(tlsparse.AnomalyMalformedHeartbeat),
			Err:        errors.New("tlsparse: malformed message: certificate list length"),
		},
		Certificates: []*tlsparse.CertSummary{leafCert, brokenCert},
		FirstPacket:  7,
	}
	s.Finish()
	return s
}

var (
	ruleDeprecated = &detect.Rule{
		ID: "tls.deprecated_version", Name: "Deprecated TLS version", Category: "protocol",
		Severity: "medium", RiskScore: 47, Description: "TLS 1.0 and 1.1 are deprecated (RFC 8996).",
		References: []string{"https://www.rfc-editor.org/rfc/rfc8996"}, Version: "1", Ruleset: "builtin",
	}
	ruleIntel = &detect.Rule{
		ID: "intel.ja3", Name: "JA3 on a threat-intel list", Category: "intel",
		Severity: "high", RiskScore: 73, Description: "The client fingerprint is on a configured list.",
		Version: "1", Ruleset: "builtin",
		Techniques: []detect.Technique{{ID: "T1573", Name: "Encrypted Channel"}, {ID: "T1071.001", Name: "Web Protocols"},
			{ID: "T1573.002", Name: "Asymmetric Cryptography"}},
	}
	ruleIntelIP = &detect.Rule{
		ID: "intel.ip", Name: "Address on a threat-intel list", Category: "intel",
		Severity: "high", RiskScore: 73, Version: "1", Ruleset: "builtin",
		Techniques: []detect.Technique{{ID: "T1573", Name: "Encrypted Channel"}},
	}
	ruleHeartbleed = &detect.Rule{
		ID: "tls.heartbleed", Name: "Heartbleed attempt", Category: "anomaly",
		Severity: "critical", RiskScore: 0, Version: "2", Ruleset: "/etc/tlsentry/rules/local.yaml",
	}
)

func verdictLegacy() detect.Verdict {
	return detect.Verdict{
		Validation: detect.ValidationUntrusted,
		Alerts: []detect.Alert{
			{Rule: ruleDeprecated, Message: "TLS 1.0 negotiated with legacy.example.test (198.51.100.7:443)"},
			{Rule: ruleIntel, Message: "JA3 of 192.0.2.77 is on list abuse-ch-ja3",
				Intel: &detect.IntelMatch{List: "abuse-ch-ja3", Entry: "e7d705a3286e19ea42f587b344ee6865", Field: "ja3",
					Reason: "Dridex", Value: "e7d705a3286e19ea42f587b344ee6865", DocField: "tls.client.ja3"}},
			{Rule: nil, Message: "skipped: no rule"},
			{Rule: ruleHeartbleed, Count: 42, First: mustTime("2024-05-01T10:20:00Z"),
				CountText: "(and 41 more matches in the last 1h)"},
		},
	}
}

func netipPort(a netip.AddrPort, delta uint16) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr(), a.Port()+delta)
}

func anomalies(as ...tlsparse.Anomaly) (set tlsparse.AnomalySet) {
	for _, a := range as {
		set.Add(a)
	}
	return set
}
