//go:build ignore

// gen_names reads the IANA registry extracts in internal/iana/*.txt and writes
// names_gen.go: sorted tables of cipher suites (with the properties detect/
// needs, derived from the systematic IANA names), supported groups, signature
// schemes, extension types and SSL 2.0 cipher specs.
//
// Run from the tlsparse directory: go run gen_names.go (or go generate).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type entry struct {
	id       uint32
	name     string
	unofficl bool
}

func readTable(file string, max uint32) []entry {
	f, err := os.Open(filepath.Join("internal", "iana", file))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var out []entry
	seen := map[uint32]bool{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		hexID, name, ok := strings.Cut(text, " ")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			log.Fatalf("%s:%d: want \"<hex id> <name>\"", file, line)
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(hexID, "0x"), 16, 32)
		if err != nil || uint32(id) > max {
			log.Fatalf("%s:%d: bad id %q", file, line, hexID)
		}
		if seen[uint32(id)] {
			log.Fatalf("%s:%d: duplicate id %s", file, line, hexID)
		}
		seen[uint32(id)] = true
		e := entry{id: uint32(id), name: name}
		if strings.HasPrefix(name, "*") {
			e.name, e.unofficl = name[1:], true
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// suite mirrors tlsparse.CipherSuite.
type suite struct {
	ID                          uint16
	Name                        string
	KeyExchange, Authentication string
	Cipher                      string
	KeyBits                     int
	MAC                         string
	AEAD, Export, Anonymous     bool
	ForwardSecrecy, TLS13, SCSV bool
}

// tls13 lists the suites whose names do not follow TLS_<kx>_<au>_WITH_<cipher>_<mac>.
var special = map[string]suite{
	"TLS_AES_128_GCM_SHA256":                       {Cipher: "AES-GCM", KeyBits: 128, TLS13: true},
	"TLS_AES_256_GCM_SHA384":                       {Cipher: "AES-GCM", KeyBits: 256, TLS13: true},
	"TLS_CHACHA20_POLY1305_SHA256":                 {Cipher: "CHACHA20-POLY1305", KeyBits: 256, TLS13: true},
	"TLS_AES_128_CCM_SHA256":                       {Cipher: "AES-CCM", KeyBits: 128, TLS13: true},
	"TLS_AES_128_CCM_8_SHA256":                     {Cipher: "AES-CCM-8", KeyBits: 128, TLS13: true},
	"TLS_AEGIS_256_SHA384":                         {Cipher: "AEGIS-256", KeyBits: 256, TLS13: true},
	"TLS_AEGIS_128L_SHA256":                        {Cipher: "AEGIS-128L", KeyBits: 128, TLS13: true},
	"TLS_SM4_GCM_SM3":                              {Cipher: "SM4-GCM", KeyBits: 128, TLS13: true},
	"TLS_SM4_CCM_SM3":                              {Cipher: "SM4-CCM", KeyBits: 128, TLS13: true},
	"TLS_SHA256_SHA256":                            {Cipher: "NULL", MAC: "SHA256", TLS13: true},
	"TLS_SHA384_SHA384":                            {Cipher: "NULL", MAC: "SHA384", TLS13: true},
	"TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC": {KeyExchange: "GOST", Authentication: "GOST", Cipher: "KUZNYECHIK-CTR", KeyBits: 256, MAC: "OMAC"},
	"TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC":      {KeyExchange: "GOST", Authentication: "GOST", Cipher: "MAGMA-CTR", KeyBits: 256, MAC: "OMAC"},
	"TLS_GOSTR341112_256_WITH_28147_CNT_IMIT":      {KeyExchange: "GOST", Authentication: "GOST", Cipher: "GOST28147-CNT", KeyBits: 256, MAC: "IMIT"},
	"TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L":    {Cipher: "KUZNYECHIK-MGM-L", KeyBits: 256, TLS13: true},
	"TLS_GOSTR341112_256_WITH_MAGMA_MGM_L":         {Cipher: "MAGMA-MGM-L", KeyBits: 256, TLS13: true},
	"TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S":    {Cipher: "KUZNYECHIK-MGM-S", KeyBits: 256, TLS13: true},
	"TLS_GOSTR341112_256_WITH_MAGMA_MGM_S":         {Cipher: "MAGMA-MGM-S", KeyBits: 256, TLS13: true},
}

var macNames = map[string]string{"MD5": "MD5", "SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384"}

var defaultAuth = map[string]string{"RSA": "RSA", "PSK": "PSK", "KRB5": "KRB5", "ECCPWD": "ECCPWD", "NULL": "NULL"}

func describe(id uint32, name string) suite {
	s := suite{ID: uint16(id), Name: name}
	if sp, ok := special[name]; ok {
		sp.ID, sp.Name = s.ID, s.Name
		if sp.TLS13 {
			sp.KeyExchange, sp.Authentication, sp.ForwardSecrecy = "any", "any", true
			if sp.MAC == "" {
				sp.MAC, sp.AEAD = "AEAD", true
			}
		}
		return sp
	}
	if strings.HasSuffix(name, "_SCSV") {
		s.SCSV = true
		return s
	}
	left, right, ok := strings.Cut(strings.TrimPrefix(name, "TLS_"), "_WITH_")
	if !ok {
		log.Fatalf("cipher suite %#04x %s: no _WITH_ and no special case", id, name)
	}
	// Key exchange and authentication.
	var kx []string
	for _, t := range strings.Split(left, "_") {
		if t == "EXPORT" {
			s.Export = true
			continue
		}
		kx = append(kx, t)
	}
	switch {
	case kx[0] == "SRP": // SRP_SHA[_RSA|_DSS]
		s.KeyExchange, s.Authentication = "SRP", "SRP"
		if len(kx) > 2 {
			s.Authentication = kx[2]
		}
	case len(kx) == 2 && kx[0] == "PSK" && kx[1] == "DHE": // TLS_PSK_DHE_WITH_AES_128_CCM_8 (RFC 6655)
		s.KeyExchange, s.Authentication = "DHE", "PSK"
	case len(kx) == 1:
		s.KeyExchange, s.Authentication = kx[0], defaultAuth[kx[0]]
		if s.Authentication == "" {
			log.Fatalf("cipher suite %#04x %s: no authentication for %s", id, name, kx[0])
		}
	case len(kx) == 2:
		s.KeyExchange, s.Authentication = kx[0], kx[1]
	default:
		log.Fatalf("cipher suite %#04x %s: cannot parse %q", id, name, left)
	}
	s.Anonymous = s.Authentication == "anon" || s.Authentication == "NULL"
	s.ForwardSecrecy = s.KeyExchange == "DHE" || s.KeyExchange == "ECDHE"

	// Cipher and MAC.
	t := strings.Split(right, "_")
	mac := ""
	if m, ok := macNames[t[len(t)-1]]; ok {
		mac, t = m, t[:len(t)-1]
	} else if len(t) == 2 && t[1] == "NULL" { // TLS_NULL_WITH_NULL_NULL
		mac, t = "NULL", t[:1]
	}
	switch t[0] {
	case "NULL":
		s.Cipher = "NULL"
	case "RC4":
		s.Cipher, s.KeyBits = "RC4", atoi(t[1])
	case "RC2":
		s.Cipher, s.KeyBits = "RC2", 40
	case "DES40":
		s.Cipher, s.KeyBits = "DES", 40
	case "DES":
		s.Cipher, s.KeyBits = "DES", 56
		if t[len(t)-1] == "40" {
			s.KeyBits = 40
		}
	case "3DES":
		s.Cipher, s.KeyBits = "3DES", 168
	case "IDEA":
		s.Cipher, s.KeyBits = "IDEA", 128
	case "SEED":
		s.Cipher, s.KeyBits = "SEED", 128
	case "CHACHA20":
		s.Cipher, s.KeyBits, s.AEAD = "CHACHA20-POLY1305", 256, true
	case "AES", "CAMELLIA", "ARIA":
		s.KeyBits = atoi(t[1])
		s.Cipher = t[0] + "-" + strings.Join(t[2:], "-")
		s.AEAD = strings.Contains(s.Cipher, "GCM") || strings.Contains(s.Cipher, "CCM")
	default:
		log.Fatalf("cipher suite %#04x %s: unknown cipher %q", id, name, right)
	}
	s.MAC = mac
	if s.AEAD {
		s.MAC = "AEAD"
	}
	if s.MAC == "" {
		log.Fatalf("cipher suite %#04x %s: no MAC", id, name)
	}
	return s
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		log.Fatalf("not a number: %q", s)
	}
	return n
}

func main() {
	out := flag.String("o", "names_gen.go", "output file")
	flag.Parse()
	var b bytes.Buffer
	b.WriteString("// Code generated by gen_names.go from internal/iana/*.txt; DO NOT EDIT.\n\npackage tlsparse\n\n")

	b.WriteString("// cipherSuiteTable holds every assigned IANA cipher suite, sorted by ID.\n")
	b.WriteString("var cipherSuiteTable = [...]CipherSuite{\n")
	for _, e := range readTable("cipher_suites.txt", 0xffff) {
		s := describe(e.id, e.name)
		fmt.Fprintf(&b, "\t{ID: %#04x, Name: %q, KeyExchange: %q, Authentication: %q, Cipher: %q, KeyBits: %d, MAC: %q, AEAD: %t, Export: %t, Anonymous: %t, ForwardSecrecy: %t, TLS13: %t, SCSV: %t},\n",
			s.ID, s.Name, s.KeyExchange, s.Authentication, s.Cipher, s.KeyBits, s.MAC, s.AEAD, s.Export, s.Anonymous, s.ForwardSecrecy, s.TLS13, s.SCSV)
	}
	b.WriteString("}\n\n")

	for _, t := range []struct{ file, varName, doc string }{
		{"groups.txt", "groupTable", "supported groups (tls-parameters-8)"},
		{"signature_schemes.txt", "signatureSchemeTable", "signature schemes (tls-signaturescheme)"},
		{"extensions.txt", "extensionTable", "extension types (tls-extensiontype-values-1)"},
	} {
		fmt.Fprintf(&b, "// %s holds the IANA %s, sorted by ID.\n// Entries marked unofficial are well-known code points outside the registry.\n", t.varName, t.doc)
		fmt.Fprintf(&b, "var %s = [...]idName{\n", t.varName)
		for _, e := range readTable(t.file, 0xffff) {
			if e.unofficl {
				fmt.Fprintf(&b, "\t{%#04x, %q}, // unofficial\n", e.id, e.name)
			} else {
				fmt.Fprintf(&b, "\t{%#04x, %q},\n", e.id, e.name)
			}
		}
		b.WriteString("}\n\n")
	}

	b.WriteString("// sslv2CipherSpecTable holds the SSL 2.0 cipher specs, sorted by ID.\n")
	b.WriteString("var sslv2CipherSpecTable = [...]sslv2Spec{\n")
	for _, e := range readTable("sslv2_cipher_specs.txt", 0xffffff) {
		fmt.Fprintf(&b, "\t{%#06x, %q},\n", e.id, e.name)
	}
	b.WriteString("}\n")

	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("format: %v\n%s", err, b.Bytes())
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
