package tlsparse

import (
	"encoding/hex"
	"testing"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want Protocol
		ok   bool
	}{
		{"", ProtocolUndetermined, false},
		{"\x16", ProtocolUndetermined, false},
		{"\x16\x03", ProtocolUndetermined, false},
		{"\x16\x03\x01", ProtocolTLS, true},
		{"\x17\x03\x03", ProtocolTLS, true}, // mid-stream application data
		{"\x15\x03\x00", ProtocolTLS, true},
		{"\x18\x03\x04", ProtocolTLS, true},
		{"\x16\x7f\x12", ProtocolTLS, true}, // draft version in a hello record
		{"\x16\xfb\x1a", ProtocolTLS, true},
		{"\x17\x7f\x12\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", ProtocolUnknown, true},
		{"\x16\x03\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", ProtocolUnknown, true},
		{"\x80\x2e\x01\x00", ProtocolUndetermined, false},
		{"\x80\x2e\x01\x00\x02", ProtocolSSLv2, true},
		{"\x80\x2e\x01\x03\x01", ProtocolSSLv2, true},
		{"\x83\xb4\x04\x00\x01\x00", ProtocolUndetermined, false},
		{"\x83\xb4\x04\x00\x01\x00\x02", ProtocolSSLv2, true}, // SERVER-HELLO: version after hit and cert type
		{"\x80\x2e\x01\x09\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", ProtocolUnknown, true},
		{"SSH", ProtocolUndetermined, false},
		{"SSH-", ProtocolSSH, true},
		{"GE", ProtocolUndetermined, false},
		{"GET ", ProtocolHTTP, true},
		{"GET/", ProtocolUnknown, true},
		{"OPTIONS", ProtocolUndetermined, false},
		{"OPTIONS ", ProtocolHTTP, true},
		{"HTTP/1.1 200", ProtocolHTTP, true},
		{"PRI * HTTP/2.", ProtocolUndetermined, false},
		{"PRI * HTTP/2.0", ProtocolHTTP, true},
		{"PRI * HTTP/1.0\r\n", ProtocolUnknown, true},
		{"\x00", ProtocolUndetermined, false},
		{"\x00\x0e", ProtocolUndetermined, false},
		{"\x00\x0e\x38", ProtocolOpenVPN, true},
		{"\x00\x36\x50", ProtocolOpenVPN, true},
		{"\x00\x36\x51", ProtocolOpenVPN, true}, // low 3 bits: key id
		{"\x00\x36\x40", ProtocolUnknown, true}, // opcode 8: not a client hard reset
		{"\x00\x05\x38", ProtocolUnknown, true}, // too short for a hard reset
		{"\x07\x00\x38", ProtocolUnknown, true}, // too long
		{"\x0e\x2d\x88\x4a\xa7\x8b\xc4\x9b", ProtocolUnknown, true},
		{"\x05\x02\x00\x01", ProtocolUnknown, true}, // SOCKS5
		{"220 smtp", ProtocolUnknown, true},
	}
	for _, tt := range tests {
		p, ok := Sniff([]byte(tt.in))
		if p != tt.want || ok != tt.ok {
			t.Errorf("Sniff(%q) = %v, %v; want %v, %v", tt.in, p, ok, tt.want, tt.ok)
		}
	}
}

// TestSniffDecides: every input of sniffLen bytes is decided, and a decided
// prefix stays decided the same way when more bytes follow, for all 1- and
// 2-byte inputs extended in a few ways.
func TestSniffDecides(t *testing.T) {
	tails := []string{"", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "\x03\x01\x00\x10GET / HTTP/1.1", "SH-2.0-x\r\nzzzzzz"}
	for v := range 1 << 16 {
		for _, n := range []int{1, 2} {
			b := []byte{byte(v >> 8), byte(v)}[2-n:]
			p0, ok0 := Sniff(b)
			for _, tail := range tails {
				full := append(append([]byte{}, b...), tail...)
				if len(full) > sniffLen {
					full = full[:sniffLen]
				}
				p, ok := Sniff(full)
				if len(full) == sniffLen && !ok {
					t.Fatalf("Sniff(%x) undecided at %d bytes", full, sniffLen)
				}
				if ok0 && (p != p0 || !ok) {
					t.Fatalf("Sniff(%x) = %v but Sniff(%x) = %v", b, p0, full, p)
				}
			}
		}
	}
}

// TestSniffCorpus classifies the first client bytes of every TCP stream of
// the corpus and compares with the corpus's own first-bytes classification.
func TestSniffCorpus(t *testing.T) {
	rows := fpTSV(t, "streams-visible.tsv")
	want := map[string]Protocol{
		"tls-handshake": ProtocolTLS, "tls-record": ProtocolTLS, "sslv2-hello": ProtocolSSLv2,
		"ssh": ProtocolSSH, "http": ProtocolHTTP, "http2-preface": ProtocolHTTP, "unknown": ProtocolUnknown,
	}
	n := 0
	for _, r := range rows {
		if r["transport"] != "tcp" {
			continue
		}
		b, err := hex.DecodeString(r["first_client_hex"])
		if err != nil || len(b) == 0 {
			continue
		}
		w, known := want[r["content"]]
		if !known {
			t.Errorf("%s stream %s: unknown content %q", r["file"], r["stream"], r["content"])
			continue
		}
		if r["file"] == "ndpi/openvpn_obfuscated.pcapng" && r["stream"] == "1" {
			// 00 56 38 ...: length 0x56, opcode P_CONTROL_HARD_RESET_CLIENT_V2.
			// The corpus's first-bytes rules have no OpenVPN rule and say
			// "unknown"; this is the OpenVPN connection of the capture.
			w = ProtocolOpenVPN
		}
		p, ok := Sniff(b)
		if !ok && len(b) < sniffLen {
			continue // capture holds fewer bytes than needed
		}
		if p != w {
			t.Errorf("%s stream %s (%x): %v, want %v", r["file"], r["stream"], b, p, w)
		}
		n++
	}
	if n < 250 {
		t.Errorf("only %d streams classified", n)
	}
}

func BenchmarkSniff(b *testing.B) {
	in := []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
	b.ReportAllocs()
	for b.Loop() {
		Sniff(in)
	}
}
