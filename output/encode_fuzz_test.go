package output

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// fuzzBytes hands out fuzz input as numbers; zeros once it runs dry.
type fuzzBytes []byte

func (b *fuzzBytes) u8() uint8 {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return v
}

func (b *fuzzBytes) u16() uint16 { return uint16(b.u8())<<8 | uint16(b.u8()) }

func (b *fuzzBytes) u64() uint64 {
	var x [8]byte
	for i := range x {
		x[i] = b.u8()
	}
	return binary.BigEndian.Uint64(x[:])
}

func (b *fuzzBytes) u16s() []uint16 {
	n := int(b.u8() % 8)
	if n == 7 {
		return nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = b.u16()
	}
	return out
}

func (b *fuzzBytes) addr() netip.AddrPort {
	switch b.u8() % 3 {
	case 0:
		return netip.AddrPort{}
	case 1:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{b.u8(), b.u8(), b.u8(), b.u8()}), b.u16())
	}
	var a [16]byte
	for i := range a {
		a[i] = b.u8()
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a), b.u16())
}

// FuzzEncode builds arbitrary sessions (any field present or not, any
// values, any strings) and checks that Encode never panics, always writes
// valid JSON with one alert document per alert that has a rule, never
// writes empty strings, and writes what the reflection encoder
// (json_oracle_test.go) wrote: the same values once parsed and, invalid
// UTF-8 included, the same bytes. Both detail levels: lean alerts (the
// triage fields, which the oracle picks by schema path with encoding/json)
// and full ones.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{}, "", "", "")
	f.Add([]byte("\x01\x01\x02\x03\x04\x01\xbb\x02abcdefghijklmnop\x00\x35\xff\xff\xff\xff"), "www.example.test", "tcp_gap", "rule.x")
	f.Add([]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0\x0a\x0a\x1a\x1a\x03\x04\x03\x03"), "\xff\xfe<&>\"\\\n", "", "\x00")
	transports := []session.Transport{session.TCP, session.UDP, 0, 132, 1}
	f.Fuzz(func(t *testing.T, data []byte, str1, str2, str3 string) {
		b := fuzzBytes(data)
		base := time.Unix(int64(b.u16())*1000, int64(b.u16()))
		s := &session.Session{
			Start:         base,
			End:           base.Add(time.Duration(int16(b.u16())) * time.Millisecond),
			Client:        b.addr(),
			Server:        b.addr(),
			Transport:     transports[int(b.u8())%len(transports)],
			Protocol:      session.Protocol(b.u8() % 8),
			VLANs:         b.u16s(),
			ClientBytes:   b.u64(),
			ServerPackets: uint64(b.u8()),
			Anomalies:     tlsparse.AnomalySet(b.u64()),
			Incomplete:    b.u8()&1 == 1,
			FirstPacket:   b.u64(),
		}
		if b.u8()&1 == 1 {
			s.Start = time.Time{}
		}
		flags := b.u8()
		if flags&1 != 0 {
			hs := &tlsparse.Handshake{Protocol: tlsparse.Protocol(b.u8() % 8), Anomalies: tlsparse.AnomalySet(b.u64())}
			if flags&2 != 0 {
				hs.ClientHello = &tlsparse.ClientHello{
					SSLv2: b.u8()&1 == 1, LegacyVersion: b.u16(), CipherSuites: b.u16s(), Extensions: b.u16s(),
					ServerName: str1, SupportedGroups: b.u16s(), SignatureAlgorithms: b.u16s(),
					ALPN: []string{str2}, SupportedVersions: b.u16s(), KeyShareGroups: b.u16s(), ECH: b.u8()&1 == 1,
				}
			}
			if flags&4 != 0 {
				hs.ServerHello = &tlsparse.ServerHello{
					SSLv2: b.u8()&1 == 1, LegacyVersion: b.u16(), SupportedVersion: b.u16(), CipherSuite: b.u16(),
					Extensions: b.u16s(), ALPN: str3, KeyShareGroup: b.u16(),
				}
			}
			if flags&8 != 0 {
				hs.KeyExchange = &tlsparse.ServerKeyExchange{NamedCurve: b.u16(), DHPrimeBits: int(b.u16())}
			}
			for range b.u8() % 4 {
				hs.Alerts = append(hs.Alerts, tlsparse.Alert{Direction: tlsparse.Direction(b.u8() % 3), Level: b.u8(), Description: b.u8(), Encrypted: b.u8()&1 == 1})
				hs.Heartbeats = append(hs.Heartbeats, tlsparse.Heartbeat{Type: b.u8(), DeclaredLength: int(b.u16()), RecordLength: int(b.u16())})
			}
			hs.Established, hs.Resumed = flags&16 != 0, flags&32 != 0
			s.TLS = hs
		}
		s.Finish()
		if flags&64 != 0 {
			s.Certificates = []*tlsparse.CertSummary{nil, {SHA1: str1, Subject: str2, NotAfter: base, PublicKeySize: int(b.u16())}, brokenCert}
		}
		v := detect.Verdict{Validation: str3}
		nRules := 0
		for i := range b.u8() % 4 {
			a := detect.Alert{Message: str1}
			if i != 1 {
				a.Rule = &detect.Rule{ID: str3, Name: str2, Severity: str1, RiskScore: int(b.u8()),
					Category: str1, Description: str2, References: []string{str3}, Ruleset: str1, Version: str2}
				nRules++
			}
			if b.u8()&1 == 1 {
				a.Intel = &detect.IntelMatch{List: str1, Entry: str2, Field: str3}
			}
			v.Alerts = append(v.Alerts, a)
		}

		// Fields the draws above leave alone.
		if more := b.u8(); more != 0 && s.TLS != nil {
			if more&1 != 0 {
				s.Certificates = append([]*tlsparse.CertSummary{{
					SHA256: str3, Issuer: str1, IssuerCommonName: str2, SubjectCommonName: str3,
					AlternativeNames: []string{str1, str2}, SerialNumber: str3, NotBefore: base.Add(-time.Hour),
					PublicKeyCurve: str1, SignatureAlgorithm: str2, VersionNumber: int(int8(b.u8())),
				}}, s.Certificates...)
			}
			if more&2 != 0 {
				s.TLS.HelloRetryRequest = &tlsparse.ServerHello{}
			}
			s.TLS.CertificateStatus = more&4 != 0
			if more&8 != 0 {
				s.TLS.ClientCertificates = [][]byte{{0x30}}
			}
			if more&16 != 0 {
				s.QUICVersion = uint32(b.u64())
			}
			if more&32 != 0 {
				s.TLS.Err = errors.New(str2)
			}
		}

		obs := Observer{Name: "fuzz", Hostname: str3}
		docs := NewEncoder(obs).Encode(s, v)
		compareWithOracle(t, "fuzz", oracleEncode(obs, s, v), docs)
		full := NewEncoder(obs)
		full.SetDetail(DetailFull)
		docs = full.Encode(s, v) // full documents: every field, checked below
		compareWithOracle(t, "fuzz full", oracleEncodeDetail(obs, s, v, true), docs)
		if len(docs) != 1+nRules {
			t.Fatalf("%d documents for %d alerts with rules", len(docs), nRules)
		}
		for _, d := range docs {
			var m map[string]any
			if err := json.Unmarshal(d.Body, &m); err != nil {
				t.Fatalf("invalid JSON: %v\n%s", err, d.Body)
			}
			walk(m, "", func(path string, v any) {
				if v == "" {
					t.Errorf("%s is an empty string", path)
				}
				if v == nil {
					t.Errorf("%s is null", path)
				}
			})
		}
	})
}
