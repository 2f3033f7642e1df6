package suricata

import (
	"encoding/binary"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

type bufKind uint8

const (
	bufSNI bufKind = iota
	bufCertSubject
	bufCertIssuer
	bufCertSerial
	bufCertFingerprint
	bufCerts
	bufSAN
	bufALPN
	bufJA3Hash
	bufJA3String
	bufJA3SHash
	bufJA3SString
	bufJA4Hash
	bufRandom
	bufRandomTime
	bufRandomBytes
	bufQUICVersion
	numBufs
)

type caseFold uint8

const (
	foldNone  caseFold = iota
	foldLower          // the buffer's setup callback lower-cases contents (DetectLowerSetupCallback)
	foldUpper          // ... upper-cases them (tls.cert_serial)
)

type bufInfo struct {
	name  string
	dirs  dirMask
	multi bool
	tls   bool // available on TLS-over-TCP sessions
	quic  bool // available on QUIC sessions
	fold  caseFold
}

// bufInfos mirrors the registrations in Suricata's src/detect-tls-*.c:
// which directions (inspect engines) each buffer has.
var bufInfos = [numBufs]bufInfo{
	bufSNI:             {name: "tls.sni", dirs: toServer, tls: true},
	bufCertSubject:     {name: "tls.cert_subject", dirs: bothDirs, tls: true},
	bufCertIssuer:      {name: "tls.cert_issuer", dirs: bothDirs, tls: true},
	bufCertSerial:      {name: "tls.cert_serial", dirs: bothDirs, tls: true, fold: foldUpper},
	bufCertFingerprint: {name: "tls.cert_fingerprint", dirs: bothDirs, tls: true, fold: foldLower},
	bufCerts:           {name: "tls.certs", dirs: bothDirs, multi: true, tls: true},
	bufSAN:             {name: "tls.subjectaltname", dirs: toClient, multi: true, tls: true},
	bufALPN:            {name: "tls.alpn", dirs: bothDirs, multi: true, tls: true},
	bufJA3Hash:         {name: "ja3.hash", dirs: toServer, tls: true, quic: true, fold: foldLower},
	bufJA3String:       {name: "ja3.string", dirs: toServer, tls: true, quic: true},
	bufJA3SHash:        {name: "ja3s.hash", dirs: toClient, tls: true, quic: true, fold: foldLower},
	bufJA3SString:      {name: "ja3s.string", dirs: toClient, tls: true, quic: true},
	bufJA4Hash:         {name: "ja4.hash", dirs: toServer, tls: true, quic: true},
	bufRandom:          {name: "tls.random", dirs: bothDirs, tls: true},
	bufRandomTime:      {name: "tls.random_time", dirs: bothDirs, tls: true},
	bufRandomBytes:     {name: "tls.random_bytes", dirs: bothDirs, tls: true},
	bufQUICVersion:     {name: "quic.version", dirs: bothDirs, quic: true},
}

// stickyNames maps sticky-buffer keywords (and legacy spellings) to buffers.
var stickyNames = map[string]bufKind{
	"tls.sni": bufSNI, "tls_sni": bufSNI,
	"tls.cert_subject": bufCertSubject, "tls_cert_subject": bufCertSubject,
	"tls.cert_issuer": bufCertIssuer, "tls_cert_issuer": bufCertIssuer,
	"tls.cert_serial": bufCertSerial, "tls_cert_serial": bufCertSerial,
	"tls.cert_fingerprint": bufCertFingerprint, "tls_cert_fingerprint": bufCertFingerprint,
	"tls.certs":          bufCerts,
	"tls.subjectaltname": bufSAN,
	"tls.alpn":           bufALPN,
	"ja3.hash":           bufJA3Hash, "ja3_hash": bufJA3Hash,
	"ja3.string": bufJA3String, "ja3_string": bufJA3String,
	"ja3s.hash": bufJA3SHash, "ja3s_hash": bufJA3SHash,
	"ja3s.string": bufJA3SString, "ja3s_string": bufJA3SString,
	"ja4.hash":         bufJA4Hash,
	"tls.random":       bufRandom,
	"tls.random_time":  bufRandomTime,
	"tls.random_bytes": bufRandomBytes,
	"quic.version":     bufQUICVersion,
}

// dirIndex: 0 to_server, 1 to_client.
func dirBit(d int) dirMask { return dirMask(1 << d) }

// evalCtx holds one session's buffers, computed on first use.
type evalCtx struct {
	s     *session.Session
	cache *certCache
	done  [numBufs][2]bool
	bufs  [numBufs][2][][]byte
	cert0 [2]*certView
	certd [2]bool
	lower []byte // scratch for case-insensitive search
	steps int    // inspection recursion budget
	stop  bool   // a negated match ended the inspection
	mark  []uint32
	gen   uint32
	cands []int32
	one   [numBufs][2][1][]byte
}

func (c *evalCtx) reset(s *session.Session) {
	c.s = s
	c.done = [numBufs][2]bool{}
	c.certd = [2]bool{}
	c.cert0 = [2]*certView{}
}

func (c *evalCtx) certsOf(d int) [][]byte {
	h := c.s.TLS
	if h == nil {
		return nil
	}
	if d == 0 {
		return h.ClientCertificates
	}
	if len(h.ServerCertificates) > 0 {
		return h.ServerCertificates
	}
	if h.ServerHello != nil && h.ServerHello.SSLv2 {
		return h.ServerHello.Certificates
	}
	return nil
}

// leaf is the first certificate of direction d (Suricata's cert0).
func (c *evalCtx) leaf(d int) *certView {
	if !c.certd[d] {
		c.certd[d] = true
		if certs := c.certsOf(d); len(certs) > 0 {
			if c.cache != nil {
				c.cert0[d] = c.cache.get(certs[0])
			} else {
				c.cert0[d] = parseCert(certs[0])
			}
		}
	}
	return c.cert0[d]
}

func (c *evalCtx) single(k bufKind, d int, b []byte) [][]byte {
	c.one[k][d][0] = b
	return c.one[k][d][:]
}

// get returns the instances of buffer k in direction d (nil: absent).
func (c *evalCtx) get(k bufKind, d int) [][]byte {
	if c.done[k][d] {
		return c.bufs[k][d]
	}
	c.done[k][d] = true
	var out [][]byte
	if dirBit(d)&bufInfos[k].dirs != 0 {
		out = c.compute(k, d)
	}
	c.bufs[k][d] = out
	return out
}

func (c *evalCtx) compute(k bufKind, d int) [][]byte {
	s := c.s
	if k == bufQUICVersion {
		if s.Protocol != session.QUIC {
			return nil
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], s.QUICVersion)
		return c.single(k, d, b[:])
	}
	h := s.TLS
	if h == nil {
		return nil
	}
	info := bufInfos[k]
	if s.Protocol == session.QUIC && !info.quic || s.Protocol != session.QUIC && !info.tls {
		return nil
	}
	ch, sh := h.ClientHello, h.ServerHello
	switch k {
	case bufSNI:
		if ch != nil && ch.ServerName != "" {
			return c.single(k, d, []byte(ch.ServerName))
		}
	case bufCertSubject, bufCertIssuer, bufCertSerial, bufCertFingerprint:
		cv := c.leaf(d)
		if cv == nil {
			return nil
		}
		if k == bufCertFingerprint {
			return c.single(k, d, cv.fingerprint)
		}
		if !cv.ok {
			return nil
		}
		switch k {
		case bufCertSubject:
			return c.single(k, d, cv.subject)
		case bufCertIssuer:
			return c.single(k, d, cv.issuer)
		default:
			return c.single(k, d, cv.serial)
		}
	case bufCerts:
		return c.certsOf(d)
	case bufSAN:
		if cv := c.leaf(d); cv != nil && cv.ok {
			return cv.sans
		}
	case bufALPN:
		if d == 0 {
			if ch == nil || len(ch.ALPN) == 0 {
				return nil
			}
			out := make([][]byte, len(ch.ALPN))
			for i, a := range ch.ALPN {
				out[i] = []byte(a)
			}
			return out
		}
		if sh != nil && sh.ALPN != "" {
			return c.single(k, d, []byte(sh.ALPN))
		}
	case bufJA3Hash:
		if s.Fingerprints.JA3 != "" {
			return c.single(k, d, []byte(s.Fingerprints.JA3))
		}
	case bufJA3String:
		if s.Fingerprints.JA3String != "" {
			return c.single(k, d, []byte(s.Fingerprints.JA3String))
		}
	case bufJA3SHash:
		if s.Fingerprints.JA3S != "" {
			return c.single(k, d, []byte(s.Fingerprints.JA3S))
		}
	case bufJA3SString:
		if s.Fingerprints.JA3SString != "" {
			return c.single(k, d, []byte(s.Fingerprints.JA3SString))
		}
	case bufJA4Hash:
		if s.Fingerprints.JA4 != "" {
			return c.single(k, d, []byte(s.Fingerprints.JA4))
		}
	case bufRandom, bufRandomTime, bufRandomBytes:
		var r []byte
		if d == 0 && ch != nil && !ch.SSLv2 {
			r = ch.Random
		} else if d == 1 && sh != nil && !sh.SSLv2 {
			r = sh.Random
		}
		if len(r) != 32 {
			return nil
		}
		switch k {
		case bufRandomTime:
			r = r[:4]
		case bufRandomBytes:
			r = r[4:]
		}
		return c.single(k, d, r)
	}
	return nil
}

// version is Suricata's connp->version for direction d: the ClientHello's
// first valid supported_versions entry, else its legacy version; the
// ServerHello's selected version. An SSLv2-format CLIENT-HELLO counts with
// the version it carries (0x0301 for the usual SSLv2-compatible hello of a
// TLS 1.0 client), as Suricata's SSLV2_MT_CLIENT_HELLO handling sets it.
func version(h *tlsparse.Handshake, d int) uint16 {
	if h == nil {
		return 0
	}
	if d == 0 {
		ch := h.ClientHello
		if ch == nil {
			return 0
		}
		for _, v := range ch.SupportedVersions {
			if validVersion(v) {
				return v
			}
		}
		return ch.LegacyVersion
	}
	sh := h.ServerHello
	if sh == nil {
		return 0
	}
	return sh.Version()
}

func validVersion(v uint16) bool {
	switch {
	case v == 0x0002, v >= 0x0300 && v <= 0x0304, v >= 0x7f00 && v <= 0x7f1c:
		return true
	}
	return false
}
