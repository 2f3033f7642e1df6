package tlsparse

import (
	"encoding/hex"
	"testing"
)

// chromeHelloHex is the body (after the 4-byte handshake header) of the
// first ClientHello of the corpus capture ndpi/chrome.pcap (192.168.1.178:64393
// -> 146.48.58.18:443): Chrome with GREASE, 16 cipher suites, 18 extensions,
// 508 bytes. Its JA4 is the FoxIO spec's example, t13d1516h2_8daaf6152771_e5627efa2ab1.
const chromeHelloHex = "" +
	"0303d77aa0f252cff8ff81a9c82edc42621f8c80d83b0322361c96ae2f2bda7849ce207094dfde2fae965e90337a4b4c" +
	"5c840b86caabaca5ab87a6e290440145ae762900209a9a130313011302cca9cca8c02bc02fc02cc030c013c014009c00" +
	"9d002f0035010001934a4a000000000013001100000e7777772e6969742e636e722e697400170000ff01000100000a00" +
	"0a00086a6a001d00170018000b00020100002300000010000e000c02683208687474702f312e31000500050100000000" +
	"000d0012001004030804040105030805050108060601001200000033002b00296a6a000100001d00203af18d95cb8620" +
	"5f04c0a3e2b8c68b9026c6a90ef630fe20a68d31ea2525b648002d00020101002b000b0a6a6a0304030303020301001b" +
	"00030200024469000500030268326a6a000100001500c500000000000000000000000000000000000000000000000000" +
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
	"00000000000000000000000000000000000000000000000000000000"

func chromeHelloBody(tb testing.TB) []byte {
	b, err := hex.DecodeString(chromeHelloHex)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestChromeHelloFingerprints(t *testing.T) {
	ch, _, ok := fpParseClientHello(chromeHelloBody(t))
	if !ok {
		t.Fatal("does not parse")
	}
	if got := JA4(ch, false); got != "t13d1516h2_8daaf6152771_e5627efa2ab1" {
		t.Errorf("JA4 = %s", got)
	}
	if full, _ := JA3(ch); full == "" {
		t.Error("no JA3")
	}
}

// BenchmarkClientHelloJA3JA4 is the hot path of issue 2: parse a browser
// ClientHello into a reused struct, then JA3 (MD5) and JA4, with the
// zero-allocation forms. It needs (*ClientHello).Unmarshal from hello.go and
// skips until that exists.
func BenchmarkClientHelloJA3JA4(b *testing.B) {
	body := chromeHelloBody(b)
	ch := &ClientHello{}
	u, ok := any(ch).(helloUnmarshaler)
	if !ok {
		b.Skip("(*ClientHello).Unmarshal not implemented yet; see BenchmarkJA3JA4Chrome")
	}
	var buf [64]byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := u.Unmarshal(body); err != nil {
			b.Fatal(err)
		}
		if _, ok := JA3Sum(ch); !ok {
			b.Fatal("no JA3")
		}
		_ = AppendJA4(buf[:0], ch, false)
	}
}

// BenchmarkJA3JA4Chrome measures the fingerprints alone on the parsed Chrome
// hello.
func BenchmarkJA3JA4Chrome(b *testing.B) {
	ch, _, ok := fpParseClientHello(chromeHelloBody(b))
	if !ok {
		b.Fatal("does not parse")
	}
	var buf [64]byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = JA3Sum(ch)
		_ = AppendJA4(buf[:0], ch, false)
	}
}

// BenchmarkJA3JA4Strings is the same with the string forms (3 allocations:
// JA3 string, JA3 hash, JA4).
func BenchmarkJA3JA4Strings(b *testing.B) {
	ch, _, ok := fpParseClientHello(chromeHelloBody(b))
	if !ok {
		b.Fatal("does not parse")
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = JA3(ch)
		_ = JA4(ch, false)
	}
}
