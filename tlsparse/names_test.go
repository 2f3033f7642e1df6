package tlsparse

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rfc8701GREASE is the table of RFC 8701 section 2, written out.
var rfc8701GREASE = map[uint16]bool{
	0x0A0A: true, 0x1A1A: true, 0x2A2A: true, 0x3A3A: true,
	0x4A4A: true, 0x5A5A: true, 0x6A6A: true, 0x7A7A: true,
	0x8A8A: true, 0x9A9A: true, 0xAAAA: true, 0xBABA: true,
	0xCACA: true, 0xDADA: true, 0xEAEA: true, 0xFAFA: true,
}

func TestIsGREASEExhaustive(t *testing.T) {
	n := 0
	for v := 0; v <= 0xffff; v++ {
		got := IsGREASE(uint16(v))
		if got != rfc8701GREASE[uint16(v)] {
			t.Errorf("IsGREASE(%#04x) = %v", v, got)
		}
		if got {
			n++
		}
	}
	if n != 16 {
		t.Errorf("%d GREASE values, want 16", n)
	}
}

func TestVersionName(t *testing.T) {
	tests := []struct {
		v                   uint16
		version, proto, str string
	}{
		{0x0002, "2.0", "ssl", "SSL 2.0"},
		{0x0300, "3.0", "ssl", "SSL 3.0"},
		{0x0301, "1.0", "tls", "TLS 1.0"},
		{0x0302, "1.1", "tls", "TLS 1.1"},
		{0x0303, "1.2", "tls", "TLS 1.2"},
		{0x0304, "1.3", "tls", "TLS 1.3"},
		{0x7f1c, "1.3", "tls", "TLS 1.3 (draft 28)"},
		{0x7f0e, "1.3", "tls", "TLS 1.3 (draft 14)"},
		{0x7f13, "1.3", "tls", "TLS 1.3 (draft 19)"},
		{0x7e01, "1.3", "tls", "TLS 1.3 (Google experiment 1)"},
		{0xfb1a, "1.3", "tls", "TLS 1.3 (Facebook draft 26)"},
		{0xfefd, "1.2", "dtls", "DTLS 1.2"},
		{0xfeff, "1.0", "dtls", "DTLS 1.0"},
		{0x0a0a, "", "", "GREASE"},
		{0x7f00, "", "", "unknown (0x7F00)"},
		{0x0305, "", "", "unknown (0x0305)"},
		{0x0000, "", "", "unknown (0x0000)"},
	}
	for _, tt := range tests {
		v, p := VersionName(tt.v)
		if v != tt.version || p != tt.proto {
			t.Errorf("VersionName(%#04x) = %q, %q; want %q, %q", tt.v, v, p, tt.version, tt.proto)
		}
		if s := VersionString(tt.v); s != tt.str {
			t.Errorf("VersionString(%#04x) = %q, want %q", tt.v, s, tt.str)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		f    func(uint16) string
		fn   string
		id   uint16
		want string
	}{
		{CipherSuiteName, "cipher", 0x0000, "TLS_NULL_WITH_NULL_NULL"},
		{CipherSuiteName, "cipher", 0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"},
		{CipherSuiteName, "cipher", 0x1301, "TLS_AES_128_GCM_SHA256"},
		{CipherSuiteName, "cipher", 0x1307, "TLS_AEGIS_128L_SHA256"},
		{CipherSuiteName, "cipher", 0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
		{CipherSuiteName, "cipher", 0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
		{CipherSuiteName, "cipher", 0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"},
		{CipherSuiteName, "cipher", 0x5600, "TLS_FALLBACK_SCSV"},
		{CipherSuiteName, "cipher", 0xd005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256"},
		{CipherSuiteName, "cipher", 0xd004, "0xD004"},
		{CipherSuiteName, "cipher", 0x0060, "0x0060"}, // EXPORT1024: never assigned by IANA
		{CipherSuiteName, "cipher", 0xfafa, "GREASE"},
		{CipherSuiteName, "cipher", 0xffff, "0xFFFF"},
		{GroupName, "group", 0x001d, "x25519"},
		{GroupName, "group", 0x0017, "secp256r1"},
		{GroupName, "group", 0x0100, "ffdhe2048"},
		{GroupName, "group", 0x11ec, "X25519MLKEM768"},
		{GroupName, "group", 0x6399, "X25519Kyber768Draft00"},
		{GroupName, "group", 0xff02, "arbitrary_explicit_char2_curves"},
		{GroupName, "group", 0x2a2a, "GREASE"},
		{GroupName, "group", 0x0105, "0x0105"},
		{SignatureSchemeName, "sig", 0x0403, "ecdsa_secp256r1_sha256"},
		{SignatureSchemeName, "sig", 0x0804, "rsa_pss_rsae_sha256"},
		{SignatureSchemeName, "sig", 0x0807, "ed25519"},
		{SignatureSchemeName, "sig", 0x0202, "dsa_sha1"},
		{SignatureSchemeName, "sig", 0x0101, "rsa_pkcs1_md5"},
		{SignatureSchemeName, "sig", 0x0303, "ecdsa_sha224"},
		{SignatureSchemeName, "sig", 0x0402, "dsa_sha256"},
		{SignatureSchemeName, "sig", 0x0700, "0x0700"},
		{SignatureSchemeName, "sig", 0x0a0a, "GREASE"},
		{ExtensionName, "ext", 0x0000, "server_name"},
		{ExtensionName, "ext", 0x0010, "application_layer_protocol_negotiation"},
		{ExtensionName, "ext", 0x002b, "supported_versions"},
		{ExtensionName, "ext", 0x0029, "pre_shared_key"},
		{ExtensionName, "ext", 0xfe0d, "encrypted_client_hello"},
		{ExtensionName, "ext", 0xff01, "renegotiation_info"},
		{ExtensionName, "ext", 0x3374, "next_protocol_negotiation"},
		{ExtensionName, "ext", 0xdada, "GREASE"},
		{ExtensionName, "ext", 0x1234, "0x1234"},
	}
	for _, tt := range tests {
		if got := tt.f(tt.id); got != tt.want {
			t.Errorf("%s(%#04x) = %q, want %q", tt.fn, tt.id, got, tt.want)
		}
	}
	if got := SSLv2CipherSpecName(0x0700c0); got != "SSL_CK_DES_192_EDE3_CBC_WITH_MD5" {
		t.Errorf("SSLv2CipherSpecName(0x0700c0) = %q", got)
	}
	if got := SSLv2CipherSpecName(0x000001); got != "0x000001" {
		t.Errorf("SSLv2CipherSpecName(0x000001) = %q", got)
	}
}

func TestCipherSuiteInfo(t *testing.T) {
	tests := []CipherSuite{
		{ID: 0x0003, Name: "TLS_RSA_EXPORT_WITH_RC4_40_MD5", KeyExchange: "RSA", Authentication: "RSA", Cipher: "RC4", KeyBits: 40, MAC: "MD5", Export: true},
		{ID: 0x000a, Name: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", KeyExchange: "RSA", Authentication: "RSA", Cipher: "3DES", KeyBits: 168, MAC: "SHA1"},
		{ID: 0x0018, Name: "TLS_DH_anon_WITH_RC4_128_MD5", KeyExchange: "DH", Authentication: "anon", Cipher: "RC4", KeyBits: 128, MAC: "MD5", Anonymous: true},
		{ID: 0x0039, Name: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", KeyExchange: "DHE", Authentication: "RSA", Cipher: "AES-CBC", KeyBits: 256, MAC: "SHA1", ForwardSecrecy: true},
		{ID: 0x002c, Name: "TLS_PSK_WITH_NULL_SHA", KeyExchange: "PSK", Authentication: "PSK", Cipher: "NULL", MAC: "SHA1"},
		{ID: 0xc02b, Name: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", KeyExchange: "ECDHE", Authentication: "ECDSA", Cipher: "AES-GCM", KeyBits: 128, MAC: "AEAD", AEAD: true, ForwardSecrecy: true},
		{ID: 0xc005, Name: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", KeyExchange: "ECDH", Authentication: "ECDSA", Cipher: "AES-CBC", KeyBits: 256, MAC: "SHA1"},
		{ID: 0xc0a0, Name: "TLS_RSA_WITH_AES_128_CCM_8", KeyExchange: "RSA", Authentication: "RSA", Cipher: "AES-CCM-8", KeyBits: 128, MAC: "AEAD", AEAD: true},
		{ID: 0xc01e, Name: "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", KeyExchange: "SRP", Authentication: "RSA", Cipher: "AES-CBC", KeyBits: 128, MAC: "SHA1"},
		{ID: 0x0026, Name: "TLS_KRB5_EXPORT_WITH_DES_CBC_40_SHA", KeyExchange: "KRB5", Authentication: "KRB5", Cipher: "DES", KeyBits: 40, MAC: "SHA1", Export: true},
		{ID: 0x0009, Name: "TLS_RSA_WITH_DES_CBC_SHA", KeyExchange: "RSA", Authentication: "RSA", Cipher: "DES", KeyBits: 56, MAC: "SHA1"},
		{ID: 0x1303, Name: "TLS_CHACHA20_POLY1305_SHA256", KeyExchange: "any", Authentication: "any", Cipher: "CHACHA20-POLY1305", KeyBits: 256, MAC: "AEAD", AEAD: true, ForwardSecrecy: true, TLS13: true},
		{ID: 0x00ff, Name: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", SCSV: true},
		{ID: 0x0000, Name: "TLS_NULL_WITH_NULL_NULL", KeyExchange: "NULL", Authentication: "NULL", Cipher: "NULL", MAC: "NULL", Anonymous: true},
	}
	for _, want := range tests {
		got, ok := CipherSuiteInfo(want.ID)
		if !ok || got != want {
			t.Errorf("CipherSuiteInfo(%#04x) = %+v, %v\nwant %+v", want.ID, got, ok, want)
		}
	}
	if _, ok := CipherSuiteInfo(0x0a0a); ok {
		t.Error("CipherSuiteInfo(GREASE) ok")
	}
	// Every suite: consistent flags.
	for _, cs := range cipherSuiteTable {
		if cs.SCSV {
			continue
		}
		if cs.TLS13 && !cs.ForwardSecrecy {
			t.Errorf("%s: TLS 1.3 suite not forward-secret", cs.Name)
		}
		if cs.Export && cs.KeyBits > 56 {
			t.Errorf("%s: export suite with %d-bit key", cs.Name, cs.KeyBits)
		}
		if cs.AEAD != (cs.MAC == "AEAD") {
			t.Errorf("%s: AEAD %v but MAC %q", cs.Name, cs.AEAD, cs.MAC)
		}
		if cs.KeyExchange == "" || cs.Authentication == "" || cs.Cipher == "" || cs.MAC == "" {
			t.Errorf("%s: incomplete %+v", cs.Name, cs)
		}
	}
}

func TestTablesSortedUnique(t *testing.T) {
	for i := 1; i < len(cipherSuiteTable); i++ {
		if cipherSuiteTable[i-1].ID >= cipherSuiteTable[i].ID {
			t.Errorf("cipherSuiteTable not sorted at %d", i)
		}
	}
	if n := len(cipherSuiteTable); n < 350 {
		t.Errorf("only %d cipher suites", n)
	}
	for name, tab := range map[string][]idName{"group": groupTable[:], "sig": signatureSchemeTable[:], "ext": extensionTable[:]} {
		for i := 1; i < len(tab); i++ {
			if tab[i-1].id >= tab[i].id {
				t.Errorf("%s table not sorted at %d", name, i)
			}
		}
		// Every entry is found by the lookup.
		for _, e := range tab {
			if got, ok := lookup(tab, e.id); !ok || got != e.name {
				t.Errorf("%s lookup(%#04x) = %q", name, e.id, got)
			}
		}
	}
	for _, cs := range cipherSuiteTable {
		if got := CipherSuiteName(cs.ID); got != cs.Name {
			t.Errorf("CipherSuiteName(%#04x) = %q", cs.ID, got)
		}
	}
}

func TestNamesNoAlloc(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_ = CipherSuiteName(0xc02f)
		_ = GroupName(0x001d)
		_ = ExtensionName(0x002b)
		_ = SignatureSchemeName(0x0804)
		_, _ = VersionName(0x0303)
		_, _ = CipherSuiteInfo(0x1301)
	})
	if allocs != 0 {
		t.Errorf("%v allocations for assigned names", allocs)
	}
}

// TestNamesGenUpToDate regenerates the tables and compares with the
// checked-in names_gen.go.
func TestNamesGenUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out := filepath.Join(t.TempDir(), "names_gen.go")
	cmd := exec.Command(goBin, "run", "gen_names.go", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_names: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("names_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("names_gen.go is stale: run go generate ./tlsparse/")
	}
}

func BenchmarkCipherSuiteName(b *testing.B) {
	b.ReportAllocs()
	ids := []uint16{0x1301, 0xc02f, 0x002f, 0xcca9, 0x0035, 0xc013}
	for i := 0; i < b.N; i++ {
		_ = CipherSuiteName(ids[i%len(ids)])
	}
}

// TestNamesAgainstWireshark compares every name with Wireshark's value
// strings (tshark -G values), an independent transcription of the same IANA
// registries, where both know the value. Skipped without tshark.
func TestNamesAgainstWireshark(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	out, err := exec.Command(tshark, "-G", "values").Output()
	if err != nil {
		t.Skipf("tshark -G values: %v", err)
	}
	// Known, explained differences (tshark 4.0).
	exceptions := map[string]bool{
		// 0x0200-0x0202: Wireshark 4.0 still shows the Open Quantum Safe
		// experimental FrodoKEM code points; IANA has since assigned them to
		// ML-KEM (draft-connolly-tls-mlkem-key-agreement).
		"group 0x0200": true, "group 0x0201": true, "group 0x0202": true,
		// IANA's name is singular.
		"ext 0x0022": true,
		// Not IANA code points: names of our own for the '*' entries.
		"ext 0x0028": true, "ext 0x4469": true, "ext 0xffa5": true,
	}
	fields := map[string]struct {
		kind string
		f    func(uint16) string
	}{
		"tls.handshake.ciphersuite":                {"cipher", CipherSuiteName},
		"tls.handshake.extensions_supported_group": {"group", GroupName},
		"tls.handshake.sig_hash_alg":               {"sig", SignatureSchemeName},
		"tls.handshake.extension.type":             {"ext", ExtensionName},
	}
	compared := map[string]int{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		c := strings.Split(string(line), "\t")
		if len(c) < 4 || c[0] != "V" {
			continue
		}
		fl, ok := fields[c[1]]
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(c[2], 0, 16)
		if err != nil {
			continue
		}
		id := uint16(v)
		got := fl.f(id)
		if strings.HasPrefix(got, "0x") || got == "GREASE" || exceptions[fl.kind+" "+hexLower(id)] {
			continue // unassigned by IANA (Wireshark knows private code points), or explained
		}
		compared[fl.kind]++
		if got != c[3] {
			t.Errorf("%s %#04x: %q, Wireshark %q", fl.kind, id, got, c[3])
		}
	}
	t.Logf("compared with Wireshark: %v", compared)
	if compared["cipher"] < 300 || compared["group"] < 40 || compared["sig"] < 15 || compared["ext"] < 50 {
		t.Errorf("too few comparisons: %v", compared)
	}
}

func hexLower(v uint16) string {
	return strings.ToLower(hexName(v)[:2]) + strings.ToLower(hexName(v)[2:])
}
