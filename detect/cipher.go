package detect

import "strings"

// cipherInfo classifies a cipher suite from its IANA name
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "SSL_CK_RC4_128_WITH_MD5", ...).
// The IANA names are regular enough that this is robust: key exchange and
// authentication before "_WITH_", bulk cipher and MAC after it.
type cipherInfo struct {
	Kx     string // "RSA", "DHE", "ECDHE", "DH", "ECDH", "PSK", "RSA_PSK", "DHE_PSK", "ECDHE_PSK", "SRP", "KRB5", "NULL"; "" for TLS 1.3 suites
	Auth   string // "RSA", "DSS", "ECDSA", "anon", "PSK", ... ; "" for TLS 1.3 suites
	Enc    string // "AES_128_GCM", "RC4_128", "DES_CBC", "3DES_EDE_CBC", "NULL", ...
	MAC    string // "SHA256", "SHA", "MD5", "" for AEAD suites
	Export bool
	Anon   bool
}

// normEnc maps bulk cipher names to the vocabulary of
// tlsparse.CipherSuiteInfo for the families rules test ("RC4", "DES",
// "3DES", "RC2", "NULL"); other names are kept.
func normEnc(enc string) string {
	switch {
	case strings.HasPrefix(enc, "RC4"):
		return "RC4"
	case strings.HasPrefix(enc, "3DES"), strings.HasPrefix(enc, "DES_192_EDE3"):
		return "3DES"
	case strings.HasPrefix(enc, "DES"):
		return "DES"
	case strings.HasPrefix(enc, "RC2"):
		return "RC2"
	}
	return enc
}

// classifyCipher parses an IANA cipher suite name. Unknown shapes (including
// "0xXXXX" for unassigned values) give a zero cipherInfo.
func classifyCipher(name string) cipherInfo {
	var ci cipherInfo
	switch {
	case strings.HasPrefix(name, "TLS_"):
		name = name[4:]
	case strings.HasPrefix(name, "SSL_CK_"):
		// SSLv2 cipher kinds: SSL_CK_RC4_128_EXPORT40_WITH_MD5 ...
		name = name[7:]
		before, mac, ok := strings.Cut(name, "_WITH_")
		if !ok {
			return ci
		}
		ci.Kx, ci.Auth, ci.MAC = "RSA", "RSA", mac
		if i := strings.Index(before, "_EXPORT"); i >= 0 {
			ci.Export = true
			before = before[:i]
		}
		ci.Enc = normEnc(before)
		return ci
	case strings.HasPrefix(name, "SSL_"):
		name = name[4:]
	default:
		return ci
	}
	kxAuth, rest, ok := strings.Cut(name, "_WITH_")
	if !ok {
		// TLS 1.3 suites: TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256.
		// Also TLS_EMPTY_RENEGOTIATION_INFO_SCSV and TLS_FALLBACK_SCSV, never negotiated.
		ci.Enc, ci.MAC = splitEncMAC(name)
		return ci
	}
	if strings.HasSuffix(kxAuth, "_EXPORT") {
		ci.Export = true
		kxAuth = strings.TrimSuffix(kxAuth, "_EXPORT")
	} else if strings.HasSuffix(kxAuth, "_EXPORT1024") {
		ci.Export = true
		kxAuth = strings.TrimSuffix(kxAuth, "_EXPORT1024")
	}
	switch kxAuth {
	case "RSA", "NULL":
		ci.Kx, ci.Auth = kxAuth, kxAuth
	case "PSK":
		ci.Kx, ci.Auth = "PSK", "PSK"
	case "RSA_PSK", "DHE_PSK", "ECDHE_PSK":
		ci.Kx, ci.Auth = kxAuth, "PSK"
	case "KRB5":
		ci.Kx, ci.Auth = "KRB5", "KRB5"
	default:
		kx, auth, _ := strings.Cut(kxAuth, "_")
		ci.Kx, ci.Auth = kx, auth
		if kx == "SRP" {
			ci.Kx = "SRP"
			ci.Auth = strings.TrimPrefix(auth, "SHA_")
			if ci.Auth == "SHA" {
				ci.Auth = "SRP"
			}
		}
	}
	if ci.Auth == "anon" {
		ci.Anon = true
	}
	ci.Enc, ci.MAC = splitEncMAC(rest)
	if strings.Contains(ci.Enc, "EXPORT") || strings.Contains(ci.Enc, "_40") {
		ci.Export = true
	}
	ci.Enc = normEnc(ci.Enc)
	return ci
}

// splitEncMAC splits "AES_128_GCM_SHA256" into the bulk cipher and the
// MAC/PRF hash. AEAD suites name a PRF hash, not a MAC: MAC is "" for them.
func splitEncMAC(s string) (enc, mac string) {
	i := strings.LastIndexByte(s, '_')
	if i < 0 {
		return s, ""
	}
	enc, mac = s[:i], s[i+1:]
	switch mac {
	case "MD5", "SHA", "SHA256", "SHA384", "SHA512", "SM3", "NULL":
	case "8": // AES_128_CCM_8
		return s, ""
	default:
		return s, ""
	}
	if isAEAD(enc) {
		return enc, ""
	}
	return enc, mac
}

func isAEAD(enc string) bool {
	return strings.HasSuffix(enc, "_GCM") || strings.HasSuffix(enc, "_CCM") ||
		strings.HasSuffix(enc, "_CCM_8") || strings.HasSuffix(enc, "POLY1305") ||
		strings.HasSuffix(enc, "_OCB")
}
