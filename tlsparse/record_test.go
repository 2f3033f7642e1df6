package tlsparse

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets of the record layer and the hellos. Seeds: a few synthesized
// streams (testdata/fuzz/<Target>/), plus, when the shared corpus is present,
// the first bytes of every TCP connection of every capture.

// connFuzzCorpusFlows returns corpus flows (nil without the corpus).
func connFuzzCorpusFlows(f *testing.F) []*connFlow {
	if _, err := os.Stat(filepath.Join(fpCorpusDir, "expected", "tshark-visible.tsv")); err != nil {
		return nil
	}
	var flows []*connFlow
	for _, file := range connCorpusFiles(f) {
		flows = append(flows, connTestFlows(f, filepath.Join(fpCorpusDir, "pcaps", file))...)
	}
	return flows
}

// connFuzzEncode packs the first bytes of a flow into one fuzz input: a
// sequence of [dir|len16][bytes] pieces (see connFuzzDecode).
func connFuzzEncode(fl *connFlow, limit int) []byte {
	var out []byte
	for _, e := range fl.events {
		if len(out) >= limit {
			break
		}
		d := e.data
		for len(d) > 0 {
			n := min(len(d), 0x7fff)
			var h [2]byte
			binary.BigEndian.PutUint16(h[:], uint16(n)|uint16(e.dir)<<15)
			out = append(out, h[:]...)
			out = append(out, d[:n]...)
			d = d[n:]
		}
	}
	return out
}

// connFuzzDecode splits a fuzz input into pieces: 2-byte header (top bit:
// direction, low 15 bits: length, cut short at the end of the input).
func connFuzzDecode(data []byte) []connEvent {
	var evs []connEvent
	for len(data) >= 2 {
		h := binary.BigEndian.Uint16(data)
		data = data[2:]
		n := min(int(h&0x7fff), len(data))
		evs = append(evs, connEvent{Direction(h >> 15), data[:n]})
		data = data[n:]
	}
	return evs
}

func FuzzConn(f *testing.F) {
	for _, fl := range connFuzzCorpusFlows(f) {
		f.Add(connFuzzEncode(fl, 8<<10), uint64(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		evs := connFuzzDecode(data)
		tr := &connTranscript{events: evs}
		whole := connFeedAll(tr, nil)
		hs := whole.Handshake()
		// Bounded memory: buffers never beyond the limits (append may at
		// most double a buffer past what was received).
		for i := range whole.dirs {
			if n := cap(whole.dirs[i].msg); n > 2*(MaxCertificateMessage+handshakeHeaderLen) || n > 2*len(data)+64 {
				t.Fatalf("direction %d buffers %d bytes", i, n)
			}
		}
		if len(hs.Alerts) > maxAlertsKept || len(hs.Heartbeats) > maxHeartbeatsKept {
			t.Fatalf("unbounded lists: %d anomalies %d alerts %d heartbeats", hs.Anomalies.Len(), len(hs.Alerts), len(hs.Heartbeats))
		}
		if hs.Established && (hs.ClientHello == nil || hs.ServerHello == nil) {
			t.Fatalf("established without hellos")
		}
		// Chunking must not matter: split each piece differently.
		want := connComparable(hs)
		split := func(b []byte) [][]byte {
			var out [][]byte
			s := seed
			for len(b) > 0 {
				s = s*6364136223846793005 + 1442695040888963407
				n := 1 + int(s>>33)%min(len(b), 64)
				out = append(out, b[:n])
				b = b[n:]
			}
			return out
		}
		got := connComparable(connFeedAll(tr, split).Handshake())
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("chunking changes the result:\n whole %+v\n split %+v", want, got)
		}
		// Nothing in the Handshake aliases the bytes fed.
		for i := range data {
			data[i] ^= 0x5a
		}
		if again := connComparable(hs); !reflect.DeepEqual(want, again) {
			t.Fatalf("Handshake aliases Feed's input")
		}
		for i := range data {
			data[i] ^= 0x5a
		}
		// Reuse after Reset gives the same again.
		whole.Reset()
		for _, e := range evs {
			if !whole.Feed(e.dir, e.data) {
				break
			}
		}
		if again := connComparable(whole.Handshake()); !reflect.DeepEqual(want, again) {
			t.Fatalf("after Reset:\n first %+v\n again %+v", want, again)
		}
	})
}

// helloFuzzSeeds returns hello bodies of the given handshake type from the
// corpus (nil without it).
func helloFuzzSeeds(f *testing.F, typ uint8) [][]byte {
	var out [][]byte
	for _, fl := range connFuzzCorpusFlows(f) {
		var stream []byte
		dir := ClientToServer
		if typ == typeServerHello {
			dir = ServerToClient
		}
		for _, e := range fl.events {
			if e.dir == dir && len(stream) < 64<<10 {
				stream = append(stream, e.data...)
			}
		}
		for _, m := range fpHandshakeMessages(stream) {
			if m.typ == typ {
				out = append(out, m.body)
			}
		}
	}
	return out
}

func FuzzClientHello(f *testing.F) {
	for _, b := range helloFuzzSeeds(f, typeClientHello) {
		f.Add(b)
	}
	var ch ClientHello // reused, as a Conn does
	f.Fuzz(func(t *testing.T, body []byte) {
		err := ch.Unmarshal(body)
		var fresh ClientHello
		err2 := fresh.Unmarshal(body)
		if err != err2 {
			t.Fatalf("reused %v, fresh %v", err, err2)
		}
		if !reflect.DeepEqual(ch.Clone(), fresh.Clone()) {
			t.Fatalf("reused ClientHello differs from a fresh one")
		}
		if err == nil && ch.Malformed {
			t.Fatalf("Malformed without an error")
		}
		// Nothing aliases the input.
		for i := range body {
			body[i] ^= 0xff
		}
		if !reflect.DeepEqual(ch.Clone(), fresh.Clone()) {
			t.Fatalf("result aliases the input")
		}
		runtime.KeepAlive(body)
	})
}

func FuzzServerHello(f *testing.F) {
	for _, b := range helloFuzzSeeds(f, typeServerHello) {
		f.Add(b)
	}
	var sh ServerHello
	f.Fuzz(func(t *testing.T, body []byte) {
		err := sh.Unmarshal(body)
		var fresh ServerHello
		err2 := fresh.Unmarshal(body)
		if err != err2 || !reflect.DeepEqual(sh.Clone(), fresh.Clone()) {
			t.Fatalf("reused ServerHello differs from a fresh one")
		}
		for i := range body {
			body[i] ^= 0xff
		}
		if !reflect.DeepEqual(sh.Clone(), fresh.Clone()) {
			t.Fatalf("result aliases the input")
		}
		_ = sh.Version()
	})
}

var writeSeeds = flag.Bool("tlsparse.writeseeds", false, "rewrite the synthesized fuzz seeds in testdata/fuzz")

// TestFuzzSeeds writes (with -tlsparse.writeseeds) or checks the small
// synthesized seeds checked in under testdata/fuzz: they must exist and
// match what the builders produce, so the seeds stay meaningful.
func TestFuzzSeeds(t *testing.T) {
	quote := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	ch := buildClientHello(t, bytes.Repeat([]byte{7}, 32), browserCiphers, browserHelloExts())
	sh13 := buildServerHello(t, 0x0303, bytes.Repeat([]byte{0x22}, 32), bytes.Repeat([]byte{7}, 32), 0x1301,
		[]helloExt{{extSupportedVersions, raw(3, 4)}, {extKeyShare, raw(0, 29, 0, 1, 9)}})
	hrr := buildServerHello(t, 0x0303, helloRetryRequestRandom[:], nil, 0x1302,
		[]helloExt{{extSupportedVersions, raw(3, 4)}, {extKeyShare, raw(0, 23)}})
	sh12 := buildServerHello(t, 0x0303, bytes.Repeat([]byte{5}, 32), []byte{1}, 0xc02f, []helloExt{alpnExt("h2")})
	stream := func(pieces ...connEvent) []byte { return connFuzzEncode(&connFlow{events: pieces}, 1<<20) }
	seeds := map[string][]string{
		"FuzzClientHello/synth_browser":       {quote(ch)},
		"FuzzClientHello/synth_ssl3_no_ext":   {quote(buildClientHello(t, nil, []uint16{0x000a}, nil))},
		"FuzzClientHello/synth_duplicate_ext": {quote(buildClientHello(t, nil, browserCiphers, []helloExt{sniExt("a"), sniExt("b")}))},
		"FuzzServerHello/synth_tls13":         {quote(sh13)},
		"FuzzServerHello/synth_hrr":           {quote(hrr)},
		"FuzzServerHello/synth_tls12":         {quote(sh12)},
		"FuzzConn/synth_tls12": {quote(stream(
			connEvent{ClientToServer, record(22, hsMsg(1, ch), 100)},
			connEvent{ServerToClient, record(22, slices.Concat(hsMsg(2, sh12), hsMsg(11, []byte{0, 0, 5, 0, 0, 2, 1, 2}),
				hsMsg(12, []byte{3, 0, 23, 1, 4}), hsMsg(14, nil)), 50)},
			connEvent{ClientToServer, record(24, []byte{1, 0x40, 0}, 10)},
			connEvent{ClientToServer, record(20, []byte{1}, 1)},
			connEvent{ServerToClient, record(20, []byte{1}, 1)})), "uint64(7)"},
		"FuzzConn/synth_tls13_hrr": {quote(stream(
			connEvent{ClientToServer, record(22, hsMsg(1, ch), 1<<14)},
			connEvent{ServerToClient, record(22, hsMsg(2, hrr), 1<<14)},
			connEvent{ServerToClient, record(20, []byte{1}, 1)},
			connEvent{ClientToServer, record(20, []byte{1}, 1)},
			connEvent{ClientToServer, record(22, hsMsg(1, ch), 1<<14)},
			connEvent{ServerToClient, record(22, hsMsg(2, sh13), 1<<14)},
			connEvent{ServerToClient, record(23, []byte{1, 2, 3}, 10)})), "uint64(3)"},
		"FuzzConn/synth_sslv2": {quote(stream(
			connEvent{ClientToServer, []byte{0x80, 0x1f, 1, 0, 2, 0, 3, 0, 0, 0, 16, 7, 0, 0xc0,
				1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
			connEvent{ServerToClient, []byte{0x80, 0x0f, 4, 0, 1, 0, 2, 0, 2, 0, 0, 0, 0, 0xaa, 0xbb}})), "uint64(1)"},
		"FuzzConn/synth_http": {quote(stream(connEvent{ClientToServer, []byte("GET / HTTP/1.1\r\n\r\n")})), "uint64(1)"},
		// Preambles (preamble.go): SMTP STARTTLS and SOCKS5, then TLS 1.2 hellos.
		"FuzzConn/synth_starttls": {quote(stream(
			connEvent{ServerToClient, []byte("220 mx ESMTP\r\n")},
			connEvent{ClientToServer, []byte("EHLO c\r\n")},
			connEvent{ServerToClient, []byte("250-mx\r\n250 STARTTLS\r\n")},
			connEvent{ClientToServer, []byte("STARTTLS\r\n")},
			connEvent{ServerToClient, []byte("220 go ahead\r\n")},
			connEvent{ClientToServer, record(22, hsMsg(1, ch), 100)},
			connEvent{ServerToClient, record(22, slices.Concat(hsMsg(2, sh12), hsMsg(14, nil)), 50)})), "uint64(5)"},
		"FuzzConn/synth_xmpp": {quote(stream(
			connEvent{ClientToServer, []byte("<?xml version='1.0'?><stream:stream to='x'>")},
			connEvent{ServerToClient, []byte("<stream:stream from='x'><stream:features><starttls/></stream:features>")},
			connEvent{ClientToServer, []byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")},
			connEvent{ServerToClient, []byte("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'></proceed>")},
			connEvent{ClientToServer, record(22, hsMsg(1, ch), 100)},
			connEvent{ServerToClient, record(22, hsMsg(2, sh12), 1<<14)})), "uint64(3)"},
		"FuzzConn/synth_socks5": {quote(stream(
			connEvent{ClientToServer, []byte{5, 1, 0}},
			connEvent{ServerToClient, []byte{5, 0}},
			connEvent{ClientToServer, []byte{5, 1, 0, 3, 1, 'a', 1, 0xbb}},
			connEvent{ServerToClient, []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}},
			connEvent{ClientToServer, record(22, hsMsg(1, ch), 1<<14)},
			connEvent{ServerToClient, record(22, hsMsg(2, sh12), 1<<14)})), "uint64(2)"},
	}
	for name, args := range seeds {
		path := filepath.Join("testdata", "fuzz", filepath.FromSlash(name))
		content := "go test fuzz v1\n" + strings.Join(args, "\n") + "\n"
		if *writeSeeds {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("%s: missing or stale (run go test -run TestFuzzSeeds -tlsparse.writeseeds): %v", path, err)
		}
	}
}
