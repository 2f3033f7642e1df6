package tlsparse

import (
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

var (
	errCertificate       = fmt.Errorf("%w: certificate", ErrMalformed)
	errCertificateStatus = fmt.Errorf("%w: certificate status", ErrMalformed)
	errKeyExchange       = fmt.Errorf("%w: server key exchange", ErrMalformed)
)

// appendCertificates parses a TLS <= 1.2 Certificate message body
// (RFC 5246 7.4.2: a 3-byte-length list of 3-byte-length DER certificates)
// and appends copies of the certificates to dst, their bytes stored in buf.
// Certificates before a malformed entry are kept.
func appendCertificates(dst [][]byte, buf []byte, body []byte) ([][]byte, []byte, error) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return dst, buf, errCertificate
	}
	// First pass: the size, so that buf grows once and the slices handed out
	// stay in one array.
	var err error
	total, l := 0, list
	for !l.Empty() {
		var cert cryptobyte.String
		if !l.ReadUint24LengthPrefixed(&cert) {
			err = errCertificate
			break
		}
		total += len(cert)
	}
	buf = slices.Grow(buf, total)
	for !list.Empty() {
		var cert cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&cert) {
			break
		}
		off := len(buf)
		buf = append(buf, cert...)
		dst = append(dst, buf[off:len(buf):len(buf)])
	}
	return dst, buf, err
}

// parseCertificateStatus checks a CertificateStatus body (RFC 6066 8:
// status_type, then for ocsp(1) a 3-byte-length OCSPResponse; RFC 6961
// ocsp_multi(2) a 3-byte-length list).
func parseCertificateStatus(body []byte) error {
	s := cryptobyte.String(body)
	var typ uint8
	var resp cryptobyte.String
	if !s.ReadUint8(&typ) || (typ != 1 && typ != 2) || !s.ReadUint24LengthPrefixed(&resp) || !s.Empty() {
		return errCertificateStatus
	}
	return nil
}

// keyExchangeKind is what a cipher suite's ServerKeyExchange carries.
type keyExchangeKind uint8

const (
	kexOther    keyExchangeKind = iota
	kexECDHE                    // ServerECDHParams (RFC 8422 5.4), also ECDH_anon
	kexDHE                      // ServerDHParams (RFC 5246 7.4.3), also DH_anon
	kexECDHEPSK                 // psk_identity_hint, then ServerECDHParams (RFC 5489 2)
	kexDHEPSK                   // psk_identity_hint, then ServerDHParams (RFC 4279 3)
)

// keyExchangeOf classifies the cipher suites whose ServerKeyExchange names a
// curve or carries a DH prime (IANA TLS Cipher Suites registry).
func keyExchangeOf(suite uint16) keyExchangeKind {
	switch {
	case suite >= 0xc006 && suite <= 0xc00a, // ECDHE_ECDSA
		suite >= 0xc010 && suite <= 0xc014, // ECDHE_RSA
		suite >= 0xc015 && suite <= 0xc019, // ECDH_anon
		suite == 0xc023, suite == 0xc024, suite == 0xc027, suite == 0xc028,
		suite == 0xc02b, suite == 0xc02c, suite == 0xc02f, suite == 0xc030,
		suite == 0xc048, suite == 0xc049, suite == 0xc04c, suite == 0xc04d,
		suite == 0xc05c, suite == 0xc05d, suite == 0xc060, suite == 0xc061,
		suite == 0xc072, suite == 0xc073, suite == 0xc076, suite == 0xc077,
		suite == 0xc086, suite == 0xc087, suite == 0xc08a, suite == 0xc08b,
		suite >= 0xc0ac && suite <= 0xc0af, // ECDHE_ECDSA CCM
		suite == 0xcca8, suite == 0xcca9,   // ChaCha20-Poly1305
		suite == 0xcc13, suite == 0xcc14: // pre-RFC ChaCha20 (Chrome 2014-2016)
		return kexECDHE
	case suite >= 0xc033 && suite <= 0xc03b, suite == 0xc070, suite == 0xc071,
		suite == 0xc09a, suite == 0xc09b, suite == 0xccac,
		suite >= 0xd001 && suite <= 0xd005:
		return kexECDHEPSK
	case suite >= 0x0011 && suite <= 0x001b, // DHE_DSS, DHE_RSA, DH_anon (incl. export)
		suite >= 0x0032 && suite <= 0x0034, suite >= 0x0038 && suite <= 0x003a,
		suite == 0x0040, suite >= 0x0044 && suite <= 0x0046,
		suite == 0x0063, suite == 0x0065, suite == 0x0066,
		suite == 0x0067, suite >= 0x006a && suite <= 0x006d,
		suite >= 0x0087 && suite <= 0x0089, suite >= 0x0099 && suite <= 0x009b,
		suite == 0x009e, suite == 0x009f, suite == 0x00a2, suite == 0x00a3,
		suite == 0x00a6, suite == 0x00a7, suite >= 0x00bd && suite <= 0x00bf,
		suite >= 0x00c3 && suite <= 0x00c5, suite >= 0xc042 && suite <= 0xc047,
		suite == 0xc052, suite == 0xc053, suite == 0xc056, suite == 0xc057,
		suite == 0xc05a, suite == 0xc05b, suite == 0xc07c, suite == 0xc07d,
		suite == 0xc080, suite == 0xc081, suite == 0xc084, suite == 0xc085,
		suite == 0xc09e, suite == 0xc09f, suite == 0xc0a2, suite == 0xc0a3,
		suite == 0xccaa, suite == 0xcc15:
		return kexDHE
	case suite >= 0x008e && suite <= 0x0091, suite == 0x00aa, suite == 0x00ab,
		suite >= 0x00b2 && suite <= 0x00b5, suite == 0xc066, suite == 0xc067,
		suite == 0xc06c, suite == 0xc06d, suite == 0xc090, suite == 0xc091,
		suite == 0xc096, suite == 0xc097, suite == 0xc0a6, suite == 0xc0a7,
		suite == 0xc0aa, suite == 0xc0ab, suite == 0xccad:
		return kexDHEPSK
	}
	return kexOther
}

// parseServerKeyExchange reads the named curve (ECDHE) or the DH prime size
// (DHE) from a ServerKeyExchange body, given the negotiated cipher suite.
// For other suites it reports ok with an empty result.
func parseServerKeyExchange(ske *ServerKeyExchange, suite uint16, body []byte) error {
	*ske = ServerKeyExchange{}
	s := cryptobyte.String(body)
	kind := keyExchangeOf(suite)
	if kind == kexECDHEPSK || kind == kexDHEPSK {
		var hint cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&hint) {
			return errKeyExchange
		}
	}
	switch kind {
	case kexECDHE, kexECDHEPSK:
		// ECParameters: curve_type named_curve(3), then NamedCurve.
		var curveType uint8
		var point cryptobyte.String
		if !s.ReadUint8(&curveType) || curveType != 3 || !s.ReadUint16(&ske.NamedCurve) ||
			!s.ReadUint8LengthPrefixed(&point) {
			ske.NamedCurve = 0
			return errKeyExchange
		}
	case kexDHE, kexDHEPSK:
		var p, g, ys cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&p) || !s.ReadUint16LengthPrefixed(&g) ||
			!s.ReadUint16LengthPrefixed(&ys) {
			return errKeyExchange
		}
		for len(p) > 0 && p[0] == 0 {
			p = p[1:]
		}
		if len(p) > 0 {
			ske.DHPrimeBits = (len(p)-1)*8 + bits.Len8(p[0])
		}
	}
	return nil
}

// Alert levels (RFC 5246 7.2).
const (
	AlertLevelWarning uint8 = 1
	AlertLevelFatal   uint8 = 2
)

// IsHeartbleed reports whether a cleartext heartbeat asks for more payload
// than its record carries (RFC 6520 4: type 1 byte, payload_length 2 bytes,
// payload, at least 16 bytes of padding) — the Heartbleed over-read.
func (h Heartbeat) IsHeartbleed() bool {
	return !h.Encrypted && h.DeclaredLength > h.RecordLength-3-16
}
