package tlsparse

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
)

// Fingerprints are pure functions of the parsed hellos. Each has an Append
// form that writes into a caller's buffer and allocates nothing when the
// buffer is large enough; the string forms wrap them.

// JA3 (salesforce/ja3):
//
//	SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats
//
// with decimal values joined by '-'. GREASE values (RFC 8701) are removed from
// the cipher, extension and group lists; the padding extension is kept; empty
// fields stay empty. SSLv2-format ClientHellos have no JA3 (tshark and
// salesforce/ja3 compute none).

// AppendJA3 appends the JA3 string of ch to dst. It appends nothing for a nil
// or SSLv2-format ClientHello.
func AppendJA3(dst []byte, ch *ClientHello) []byte {
	if ch == nil || ch.SSLv2 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(ch.LegacyVersion), 10)
	dst = append(dst, ',')
	dst = appendDecList(dst, ch.CipherSuites)
	dst = append(dst, ',')
	dst = appendDecList(dst, ch.Extensions)
	dst = append(dst, ',')
	dst = appendDecList(dst, ch.SupportedGroups)
	dst = append(dst, ',')
	for i, f := range ch.ECPointFormats {
		if i > 0 {
			dst = append(dst, '-')
		}
		dst = strconv.AppendUint(dst, uint64(f), 10)
	}
	return dst
}

// appendDecList appends the non-GREASE values of list in decimal, joined by '-'.
func appendDecList(dst []byte, list []uint16) []byte {
	first := true
	for _, v := range list {
		if IsGREASE(v) {
			continue
		}
		if !first {
			dst = append(dst, '-')
		}
		first = false
		dst = strconv.AppendUint(dst, uint64(v), 10)
	}
	return dst
}

// JA3Sum returns the MD5 of the JA3 string; ok is false when ch has no JA3.
// It does not allocate for hellos whose JA3 string fits 1 KiB.
func JA3Sum(ch *ClientHello) (sum [16]byte, ok bool) {
	if ch == nil || ch.SSLv2 {
		return sum, false
	}
	var buf [1024]byte
	return md5.Sum(AppendJA3(buf[:0], ch)), true
}

// AppendJA3Hash appends the JA3 hash (32 lower-case hex digits) to dst, or
// nothing when ch has no JA3.
func AppendJA3Hash(dst []byte, ch *ClientHello) []byte {
	sum, ok := JA3Sum(ch)
	if !ok {
		return dst
	}
	return hex.AppendEncode(dst, sum[:])
}

// JA3 returns the JA3 string and its MD5 (lower-case hex) as salesforce/ja3
// defines them; both are empty when ch has no JA3.
func JA3(ch *ClientHello) (full, hash string) {
	if ch == nil || ch.SSLv2 {
		return "", ""
	}
	var buf [1024]byte
	s := AppendJA3(buf[:0], ch)
	sum := md5.Sum(s)
	return string(s), hex.EncodeToString(sum[:])
}

// JA3S (salesforce/ja3): SSLVersion,Cipher,Extensions, with the ServerHello
// legacy_version, the chosen cipher suite and the extension types in wire
// order (GREASE removed), decimal, joined by '-'. SSLv2 SERVER-HELLOs have none.

// AppendJA3S appends the JA3S string of sh to dst (nothing for nil or SSLv2).
func AppendJA3S(dst []byte, sh *ServerHello) []byte {
	if sh == nil || sh.SSLv2 {
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(sh.LegacyVersion), 10)
	dst = append(dst, ',')
	dst = strconv.AppendUint(dst, uint64(sh.CipherSuite), 10)
	dst = append(dst, ',')
	return appendDecList(dst, sh.Extensions)
}

// JA3SSum returns the MD5 of the JA3S string; ok is false when sh has none.
func JA3SSum(sh *ServerHello) (sum [16]byte, ok bool) {
	if sh == nil || sh.SSLv2 {
		return sum, false
	}
	var buf [512]byte
	return md5.Sum(AppendJA3S(buf[:0], sh)), true
}

// JA3S returns the JA3S string and its MD5; both empty when sh has none.
func JA3S(sh *ServerHello) (full, hash string) {
	if sh == nil || sh.SSLv2 {
		return "", ""
	}
	var buf [512]byte
	s := AppendJA3S(buf[:0], sh)
	sum := md5.Sum(s)
	return string(s), hex.EncodeToString(sum[:])
}

// JA4 (FoxIO, BSD-3-Clause; technical_details/JA4.md):
//
//	a: transport ('t' TCP, 'q' QUIC), version (2 chars), 'd' with an SNI
//	   extension else 'i', cipher count and extension count (2 digits each,
//	   GREASE not counted, capped at 99), ALPN first+last character
//	b: first 12 hex digits of SHA-256 of the sorted cipher list
//	c: first 12 hex digits of SHA-256 of the sorted extension list without
//	   SNI (0x0000) and ALPN (0x0010), then '_' and the signature algorithms in
//	   wire order when there are any
//
// Lists are 4-digit lower-case hex joined by ','; GREASE is left out
// everywhere. An empty cipher or extension list hashes to "000000000000".
//
// Version: the highest non-GREASE supported_versions value when the client
// sent any, else legacy_version; 0x0304 "13", 0x0303 "12", 0x0302 "11",
// 0x0301 "10", 0x0300 "s3", 0x0002 "s2", DTLS 0xfeff "d1", 0xfefd "d2",
// 0xfefc "d3", anything else "00" (TLS 1.3 drafts 0x7fXX included: they are
// numerically above 0x0304 and unknown to the spec, as FoxIO's code does).
//
// ALPN: the first and last byte of the first ALPN value when both are ASCII
// alphanumeric; otherwise the first and last hex digit of the value's hex
// form (spec rule: 0xBA 0xAD gives "bd"); "00" without ALPN or with an empty
// first value. FoxIO's Python and Rust code print "99" for non-ASCII values
// instead; the spec text is followed here.
//
// After a HelloRetryRequest only the first ClientHello counts: pass
// Handshake.ClientHello, which is the first.

const ja4Len = 36 // "t13d1516h2_8daaf6152771_e5627efa2ab1"

// AppendJA4 appends the JA4 fingerprint of ch (36 bytes) to dst, or nothing
// for a nil ClientHello. quic selects the 'q' transport.
func AppendJA4(dst []byte, ch *ClientHello, quic bool) []byte {
	return appendJA4(dst, ch, quic, false, false)
}

// JA4 returns the JA4 fingerprint (FoxIO); quic selects the "q" transport.
// It returns "" for a nil ClientHello.
func JA4(ch *ClientHello, quic bool) string {
	if ch == nil {
		return ""
	}
	var buf [ja4Len]byte
	return string(AppendJA4(buf[:0], ch, quic))
}

// JA4Raw returns JA4_r, the fingerprint with the sorted lists before hashing
// (original=false), or JA4_ro with the lists in wire order, SNI and ALPN kept
// (original=true).
func JA4Raw(ch *ClientHello, quic, original bool) string {
	if ch == nil {
		return ""
	}
	return string(appendJA4(nil, ch, quic, original, true))
}

// JA4Original returns JA4_o: JA4 hashed over the lists in wire order, with SNI
// and ALPN kept in the extension list.
func JA4Original(ch *ClientHello, quic bool) string {
	if ch == nil {
		return ""
	}
	var buf [ja4Len]byte
	return string(appendJA4(buf[:0], ch, quic, true, false))
}

func ja4Version(ch *ClientHello) string {
	v := ch.LegacyVersion
	if ch.SSLv2 && v == 0 {
		v = VersionSSL20
	}
	var best uint16
	found := false
	for _, sv := range ch.SupportedVersions {
		if !IsGREASE(sv) && (!found || sv > best) {
			best, found = sv, true
		}
	}
	if found {
		v = best
	}
	switch v {
	case VersionTLS13:
		return "13"
	case VersionTLS12:
		return "12"
	case VersionTLS11:
		return "11"
	case VersionTLS10:
		return "10"
	case VersionSSL30:
		return "s3"
	case VersionSSL20:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// appendALPN appends the two ALPN characters of JA4_a.
func appendALPN(dst []byte, alpn []string) []byte {
	if len(alpn) == 0 || len(alpn[0]) == 0 {
		return append(dst, '0', '0')
	}
	first, last := alpn[0][0], alpn[0][len(alpn[0])-1]
	if isAlnum(first) && isAlnum(last) {
		return append(dst, first, last)
	}
	const digits = "0123456789abcdef"
	return append(dst, digits[first>>4], digits[last&0xf])
}

func appendCount(dst []byte, n int) []byte {
	if n > 99 {
		n = 99
	}
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

// appendHexList appends vals as 4-digit lower-case hex joined by ','.
func appendHexList(dst []byte, vals []uint16) []byte {
	const digits = "0123456789abcdef"
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
	}
	return dst
}

// filterGREASE copies the non-GREASE values of src into dst[:0], growing it
// when needed.
func filterGREASE(dst, src []uint16) []uint16 {
	dst = dst[:0]
	for _, v := range src {
		if IsGREASE(v) {
			continue
		}
		dst = append(dst, v)
	}
	return dst
}

func sortSmall(s []uint16) {
	if len(s) > 32 {
		slices.Sort(s)
		return
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// appendHash12 appends the first 12 hex digits of SHA-256(s), or
// "000000000000" when empty is set.
func appendHash12(dst, s []byte, empty bool) []byte {
	if empty {
		return append(dst, "000000000000"...)
	}
	sum := sha256.Sum256(s)
	return hex.AppendEncode(dst, sum[:6])
}

func appendJA4(dst []byte, ch *ClientHello, quic, original, raw bool) []byte {
	if ch == nil {
		return dst
	}
	// Non-GREASE copies on the stack (heap only for unusually long hellos).
	var cbuf, ebuf, sbuf [128]uint16
	ciphers := filterGREASE(cbuf[:0], ch.CipherSuites)
	allExts := filterGREASE(ebuf[:0], ch.Extensions)
	sigs := filterGREASE(sbuf[:0], ch.SignatureAlgorithms)

	// JA4_a.
	if quic {
		dst = append(dst, 'q')
	} else {
		dst = append(dst, 't')
	}
	dst = append(dst, ja4Version(ch)...)
	sni := byte('i')
	for _, e := range allExts {
		if e == 0x0000 {
			sni = 'd'
			break
		}
	}
	dst = append(dst, sni)
	dst = appendCount(dst, len(ciphers))
	dst = appendCount(dst, len(allExts))
	dst = appendALPN(dst, ch.ALPN)
	dst = append(dst, '_')

	// Extensions other than SNI and ALPN: an empty list gives a zero JA4_c,
	// in the original-order form too (as FoxIO's Python code does).
	nOther := 0
	for _, e := range allExts {
		if e != 0x0000 && e != 0x0010 {
			nOther++
		}
	}
	exts := allExts
	if !original {
		sortSmall(ciphers)
		// Drop SNI and ALPN in place (allExts is not used after this).
		n := 0
		for _, e := range allExts {
			if e != 0x0000 && e != 0x0010 {
				allExts[n] = e
				n++
			}
		}
		exts = allExts[:n]
		sortSmall(exts)
	}

	if raw {
		dst = appendHexList(dst, ciphers)
		dst = append(dst, '_')
		dst = appendHexList(dst, exts)
		if len(sigs) > 0 {
			dst = append(dst, '_')
			dst = appendHexList(dst, sigs)
		}
		return dst
	}

	var buf [1024]byte
	dst = appendHash12(dst, appendHexList(buf[:0], ciphers), len(ciphers) == 0)
	dst = append(dst, '_')
	s := appendHexList(buf[:0], exts)
	if len(sigs) > 0 {
		s = append(s, '_')
		s = appendHexList(s, sigs)
	}
	return appendHash12(dst, s, nOther == 0)
}
