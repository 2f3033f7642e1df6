package tlsparse

import (
	"bytes"
	"reflect"
	"slices"
	"testing"

	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

// quicCrypto is a crypto/tls QUIC ClientHello and ServerHello (CRYPTO
// stream bytes, without records).
var quicCrypto = tlsgen.SampleQUICHello

func quicMessages(t *testing.T) (ch, sh []byte) {
	t.Helper()
	m, err := quicCrypto()
	if err != nil {
		t.Fatal(err)
	}
	return m[0], m[1]
}

// handshakeMsg is a handshake message: type, 24-bit length, body.
func handshakeMsg(typ uint8, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// inRecords wraps a stream of handshake messages in handshake records of at
// most 2^14 bytes.
func inRecords(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		n := min(len(b), 1<<14)
		out = append(out, 0x16, 3, 3, byte(n>>8), byte(n))
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return out
}

// feedHS feeds each chunk of the client, then each of the server, with
// FeedHandshake, and returns a clone of the handshake.
func feedHS(client, server [][]byte) *Handshake {
	var c Conn
	for _, b := range client {
		c.FeedHandshake(ClientToServer, b)
	}
	for _, b := range server {
		c.FeedHandshake(ServerToClient, b)
	}
	return c.Handshake().Clone()
}

// TestFeedHandshake: messages without records parse as the same messages in
// records do, however they are split, with no record facts.
func TestFeedHandshake(t *testing.T) {
	ch, sh := quicMessages(t)

	// the reference: the same messages in records
	var rc Conn
	rc.Feed(ClientToServer, inRecords(ch))
	rc.Feed(ServerToClient, inRecords(sh))
	want := rc.Handshake().Clone()
	if want.ClientHello == nil || want.ServerHello == nil || want.Err != nil {
		t.Fatalf("reference handshake %+v", want)
	}
	want.ClientHelloRecords = 0
	want.ClientHello.RecordVersion = 0
	if want.ClientHello.ServerName != "quic.tlsentry.test" || !slices.Equal(want.ClientHello.ALPN, []string{"h3"}) {
		t.Fatalf("reference ClientHello %+v", want.ClientHello)
	}

	check := func(t *testing.T, got *Handshake, chunks int) {
		t.Helper()
		w := *want
		w.ClientHelloChunks = chunks
		if !reflect.DeepEqual(got, &w) {
			t.Fatalf("handshake\n got %+v\nwant %+v", got, &w)
		}
	}
	t.Run("whole", func(t *testing.T) {
		var c Conn
		if !c.FeedHandshake(ClientToServer, ch) {
			t.Fatal("wants no more after the ClientHello")
		}
		if c.FeedHandshake(ServerToClient, sh) {
			t.Fatal("wants more after a TLS 1.3 ServerHello")
		}
		got := c.Handshake().Clone()
		check(t, got, 1)
		if got.ClientHelloRecords != 0 || got.ClientHello.RecordVersion != 0 || got.Anomalies.Has(AnomalyFragmentedHello) {
			t.Fatalf("record facts: %d records, version %#x, anomalies %v", got.ClientHelloRecords, got.ClientHello.RecordVersion, got.Anomalies.Names())
		}
	})
	t.Run("split at every byte", func(t *testing.T) {
		// ch[:0]: an empty call counts; ch[len(ch):] comes after it: does not
		for i := range len(ch) {
			check(t, feedHS([][]byte{ch[:i], ch[i:]}, [][]byte{sh}), 2)
		}
		check(t, feedHS([][]byte{ch, nil}, [][]byte{sh}), 1)
		for i := range len(sh) + 1 {
			check(t, feedHS([][]byte{ch}, [][]byte{sh[:i], sh[i:]}), 1)
		}
	})
	t.Run("byte at a time", func(t *testing.T) {
		var cs, ss [][]byte
		for i := range ch {
			cs = append(cs, ch[i:i+1])
		}
		for i := range sh {
			ss = append(ss, sh[i:i+1])
		}
		check(t, feedHS(cs, ss), len(ch))
	})
	t.Run("calls without data count", func(t *testing.T) {
		// a QUIC packet whose CRYPTO data is not contiguous yet
		var c Conn
		c.FeedHandshake(ClientToServer, nil)
		c.FeedHandshake(ClientToServer, ch[:10])
		if n := c.Handshake().ClientHelloChunks; n != 2 {
			t.Fatalf("%d chunks while the ClientHello is incomplete, want 2", n)
		}
		c.FeedHandshake(ClientToServer, nil)
		c.FeedHandshake(ClientToServer, ch[10:])
		c.FeedHandshake(ClientToServer, nil) // after it: not counted
		c.FeedHandshake(ServerToClient, sh)
		check(t, c.Handshake().Clone(), 4)
	})
}

// TestFeedHandshakeMessages: several messages in one call, unwanted ones
// skipped, oversized ones bounded, and Feed and FeedHandshake not mixed.
func TestFeedHandshakeMessages(t *testing.T) {
	ch, sh := quicMessages(t)
	t.Run("several in one call", func(t *testing.T) {
		ticket := handshakeMsg(4, bytes.Repeat([]byte{7}, 300)) // NewSessionTicket: skipped
		hs := feedHS([][]byte{slices.Concat(ch, ch)}, [][]byte{slices.Concat(ticket, sh, ticket)})
		if hs.ClientHelloCount != 2 || !hs.Anomalies.Has(AnomalyDuplicateClientHello) || hs.ServerHello == nil || hs.ClientHelloChunks != 1 {
			t.Fatalf("handshake %+v, anomalies %v", hs, hs.Anomalies.Names())
		}
		// split everywhere, same result
		for i := range 2*len(ch) + 1 {
			two := slices.Concat(ch, ch)
			h2 := feedHS([][]byte{two[:i], two[i:]}, [][]byte{slices.Concat(ticket, sh, ticket)})
			if h2.ClientHelloCount != 2 || h2.ServerHello == nil || h2.ClientHello.ServerName != "quic.tlsentry.test" {
				t.Fatalf("split at %d: %+v", i, h2)
			}
		}
	})
	t.Run("oversized message", func(t *testing.T) {
		for _, tc := range []struct {
			dir Direction
			typ uint8
			max int
		}{
			{ClientToServer, typeClientHello, MaxClientHello},
			{ServerToClient, typeCertificate, MaxCertificateMessage},
			{ServerToClient, typeServerHello, MaxHandshakeMessage},
		} {
			var c Conn
			if tc.dir == ServerToClient {
				c.FeedHandshake(ClientToServer, ch)
			}
			big := handshakeMsg(tc.typ, make([]byte, tc.max+1))
			for i := 0; i < len(big); i += 1000 {
				c.FeedHandshake(tc.dir, big[i:min(i+1000, len(big))])
			}
			if cap(c.dirs[tc.dir].msg) > 4096 {
				t.Errorf("type %d: %d bytes buffered", tc.typ, cap(c.dirs[tc.dir].msg))
			}
			hs := c.Handshake()
			if !hs.Anomalies.Has(AnomalyOversizedHandshakeMessage) {
				t.Errorf("type %d: anomalies %v", tc.typ, hs.Anomalies.Names())
			}
			// the message is skipped: what follows still parses
			next := ch
			if tc.dir == ServerToClient {
				next = sh
			}
			c.FeedHandshake(tc.dir, next)
			if tc.dir == ClientToServer && (hs.ClientHello == nil || hs.ClientHelloCount != 1) ||
				tc.dir == ServerToClient && hs.ServerHello == nil {
				t.Errorf("type %d: the next message was not parsed: %+v", tc.typ, hs)
			}
		}
	})
	t.Run("not mixed with Feed", func(t *testing.T) {
		var c Conn
		c.FeedHandshake(ClientToServer, ch)
		c.Feed(ClientToServer, inRecords(ch)) // ignored
		if hs := c.Handshake(); hs.ClientHelloCount != 1 || hs.Anomalies != 0 {
			t.Fatalf("Feed after FeedHandshake: %+v", hs)
		}
		var r Conn
		r.Feed(ClientToServer, inRecords(ch))
		r.FeedHandshake(ClientToServer, ch) // ignored
		if hs := r.Handshake(); hs.ClientHelloCount != 1 || hs.ClientHelloRecords != 1 || hs.Anomalies != 0 {
			t.Fatalf("FeedHandshake after Feed: %+v", hs)
		}
	})
	t.Run("Reset", func(t *testing.T) {
		var c Conn
		c.FeedHandshake(ClientToServer, ch)
		c.Reset()
		c.Feed(ClientToServer, inRecords(ch))
		if hs := c.Handshake(); hs.ClientHelloRecords != 1 || hs.ClientHello.RecordVersion != 0x0303 {
			t.Fatalf("records after Reset: %+v", hs)
		}
	})
}

// TestFeedHandshakeAllocs: a message whole in one call is parsed in place.
func TestFeedHandshakeAllocs(t *testing.T) {
	ch, sh := quicMessages(t)
	var c Conn
	c.FeedHandshake(ClientToServer, ch)
	c.FeedHandshake(ServerToClient, sh)
	if n := testing.AllocsPerRun(50, func() {
		c.Reset()
		c.FeedHandshake(ClientToServer, ch)
		c.FeedHandshake(ServerToClient, sh)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
