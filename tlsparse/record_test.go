package tlsparse

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
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
		// Bounded memory: buffers never beyond the limits.
		for i := range whole.dirs {
			if n := cap(whole.dirs[i].msg); n > MaxCertificateMessage+handshakeHeaderLen+4096 {
				t.Fatalf("direction %d buffers %d bytes", i, n)
			}
		}
		if len(hs.Anomalies) > maxAnomalies || len(hs.Alerts) > maxAlertsKept || len(hs.Heartbeats) > maxHeartbeatsKept {
			t.Fatalf("unbounded lists: %d anomalies %d alerts %d heartbeats", len(hs.Anomalies), len(hs.Alerts), len(hs.Heartbeats))
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
