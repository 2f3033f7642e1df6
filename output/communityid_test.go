package output

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Vectors from corelight/community-id-spec baseline/baseline_deflt.json
// (seed 0) and baseline_seed1.json (seed 1). port -1 means "no ports".
var communityIDVectors = []struct {
	proto        uint8
	saddr, daddr string
	sport, dport int
	seed0, seed1 string
}{
	{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
	{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
	{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
	{58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
	{58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
	{58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
	{58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
	{1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
	{1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
	{1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
	{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
	{6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
	{132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	{132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	{6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
	{6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
	{17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	{17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	{46, "10.1.12.1", "10.1.12.2", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
	{46, "10.1.12.2", "10.1.12.1", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
}

func TestCommunityIDBaseline(t *testing.T) {
	for _, v := range communityIDVectors {
		sp, dp := max(v.sport, 0), max(v.dport, 0)
		src := netip.AddrPortFrom(netip.MustParseAddr(v.saddr), uint16(sp))
		dst := netip.AddrPortFrom(netip.MustParseAddr(v.daddr), uint16(dp))
		if got := CommunityID(src, dst, v.proto, 0); got != v.seed0 {
			t.Errorf("CommunityID(%v, %v, %d, 0) = %q, want %q", src, dst, v.proto, got, v.seed0)
		}
		if got := CommunityID(src, dst, v.proto, 1); got != v.seed1 {
			t.Errorf("CommunityID(%v, %v, %d, 1) = %q, want %q", src, dst, v.proto, got, v.seed1)
		}
	}
}

func TestCommunityIDEdgeCases(t *testing.T) {
	v4 := netip.MustParseAddrPort("128.232.110.120:34855")
	v4b := netip.MustParseAddrPort("66.35.250.204:80")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), v4.Port())
	if got, want := CommunityID(mapped, v4b, ProtoTCP, 0), "1:LQU9qZlK+B5F3KDmev6m5PMibrg="; got != want {
		t.Errorf("IPv4-mapped source: got %q, want %q", got, want)
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:443")
	for _, c := range []struct{ src, dst netip.AddrPort }{
		{netip.AddrPort{}, v4b},
		{v4, netip.AddrPort{}},
		{v4, v6},
	} {
		if got := CommunityID(c.src, c.dst, ProtoTCP, 0); got != "" {
			t.Errorf("CommunityID(%v, %v) = %q, want \"\"", c.src, c.dst, got)
		}
	}
	// Same address both ends: the ports decide the order.
	a := netip.MustParseAddrPort("10.0.0.1:1234")
	b := netip.MustParseAddrPort("10.0.0.1:80")
	if CommunityID(a, b, ProtoTCP, 0) != CommunityID(b, a, ProtoTCP, 0) {
		t.Error("equal addresses: hash depends on direction")
	}
	if CommunityID(a, b, ProtoTCP, 0) == CommunityID(a, b, ProtoUDP, 0) {
		t.Error("protocol not hashed")
	}
}

func TestCommunityIDAllocs(t *testing.T) {
	src := netip.MustParseAddrPort("[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943")
	dst := netip.MustParseAddrPort("[2607:f8b0:400c:c03::1a]:25")
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCommunityID(buf[:0], src, dst, ProtoTCP, 0) }); n != 0 {
		t.Errorf("AppendCommunityID allocates %v times, want 0", n)
	}
}

func BenchmarkCommunityID(b *testing.B) {
	src := netip.MustParseAddrPort("192.168.1.52:54585")
	dst := netip.MustParseAddrPort("8.8.8.8:443")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCommunityID(buf[:0], src, dst, ProtoTCP, 0)
	}
}

// TestCommunityIDCorpus checks the Community IDs Suricata expects in the
// shared corpus (suricata-verify checks with a community_id) against ours.
// The one test that has them (tests/community-id-ipv6) runs Suricata with
// community-id-seed: 7 (its suricata.yaml), so that is the seed here.
const suricataVerifySeed = 7

func TestCommunityIDCorpus(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "shared", "corpus", "expected", "source-visible.tsv"))
	if err != nil {
		t.Skip("shared corpus not present:", err)
	}
	defer f.Close()
	type check map[string]string
	checks := map[string]check{} // file + check id
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) < 6 || col[1] != "suricata-verify" {
			continue
		}
		k := col[0] + "\t" + col[3]
		if checks[k] == nil {
			checks[k] = check{}
		}
		checks[k][col[4]] = col[5]
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for k, c := range checks {
		want, ok := c["community_id"]
		if !ok {
			continue
		}
		sp, err1 := strconv.Atoi(c["src_port"])
		dp, err2 := strconv.Atoi(c["dest_port"])
		sa, err3 := netip.ParseAddr(c["src_ip"])
		da, err4 := netip.ParseAddr(c["dest_ip"])
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		proto := map[string]uint8{"TCP": ProtoTCP, "UDP": ProtoUDP}[c["proto"]]
		got := CommunityID(netip.AddrPortFrom(sa, uint16(sp)), netip.AddrPortFrom(da, uint16(dp)), proto, suricataVerifySeed)
		if got != want {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no community_id checks found in the corpus")
	}
	t.Logf("%d Suricata community_id values agree", n)
}

func TestAppendSHA1Base64(t *testing.T) {
	for i := range 256 {
		var h [sha1.Size]byte
		for j := range h {
			h[j] = byte(i*31 + j*7)
		}
		if i == 255 {
			h = [sha1.Size]byte{}
		}
		got := string(appendSHA1Base64([]byte("x"), h))
		if want := "x" + base64.StdEncoding.EncodeToString(h[:]); got != want {
			t.Fatalf("appendSHA1Base64(%x) = %q, want %q", h, got, want)
		}
	}
}
