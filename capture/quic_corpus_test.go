package capture

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// knownWrongQUIC lists QUIC expectations a session legitimately does not
// reproduce (file, frame, field, kind, why), as knownWrong does for TCP.
var knownWrongQUIC = []struct {
	file  string
	frame int
	field string
	kind  string
	why   string
}{}

func isKnownWrongQUIC(file string, frame int, field string) (string, bool) {
	for _, k := range knownWrongQUIC {
		if k.file == file && k.frame == frame && (k.field == "*" || k.field == field) {
			return k.kind + ": " + k.why, true
		}
	}
	return isKnownWrong(file, frame, field)
}

// quicScoreboard is a scoreboard whose excuses come from knownWrongQUIC.
type quicScoreboard struct{ scoreboard }

func (b *quicScoreboard) check(field, file string, frame int, want, got string) {
	if want != got {
		if why, ok := isKnownWrongQUIC(file, frame, field); ok {
			b.excuse(field, file, frame, want, got, why)
			return
		}
	}
	b.scoreboard.check(field, file, frame, want, got)
}

// excuse counts a mismatch explained by why.
func (b *quicScoreboard) excuse(field, file string, frame int, want, got, why string) {
	b.scoreboard.check(field, file, frame, want, want) // counted in total, then moved:
	fs := b.fields[field]
	fs.matched--
	fs.excused++
	fs.excuses = append(fs.excuses, fmt.Sprintf("%s frame %d: %s = %q, expected %q (%s)", file, frame, field, got, want, why))
}

// ndpiALPNQuirk reports whether want is got with nDPI's ALPN characters:
// nDPI (2024-10) writes the first two characters of the first ALPN value
// ("h3" for "h3-29") where JA4 takes its first and last ("h9"). Only
// those two characters may differ.
func ndpiALPNQuirk(want, got string, ch *tlsparse.ClientHello) bool {
	if len(want) != len(got) || len(want) < 10 || ch == nil || len(ch.ALPN) == 0 || len(ch.ALPN[0]) < 2 {
		return false
	}
	return want[:8] == got[:8] && want[10:] == got[10:] && want[8:10] == ch.ALPN[0][:2] && want[8:10] != got[8:10]
}

// TestCorpusQUIC replays the corpus captures with QUIC handshakes and
// compares the ClientHellos and ServerHellos decrypted from Initial packets
// with tshark's (transport udp-quic in expected/tshark-visible.tsv), and
// the QUIC JA4 with the source projects' (JA4 reference snapshots,
// suricata-verify quic.ja4, nDPI, Arkime).
func TestCorpusQUIC(t *testing.T) {
	dir := corpusPath(t)
	rows := readTSV(t, filepath.Join(dir, "expected", "tshark-visible.tsv"))
	runs := map[string]*corpusRun{}
	run := func(file string) *corpusRun {
		r := runs[file]
		if r == nil {
			r = runCorpusFile(t, dir, file, 1)
			runs[file] = r
		}
		return r
	}
	quicSessions := func(r *corpusRun, tuple string) []*session.Session {
		var out []*session.Session
		for _, s := range r.byTuple[tuple] {
			if s.Protocol == session.QUIC {
				out = append(out, s)
			}
		}
		return out
	}

	var b quicScoreboard
	seenCH := map[string]int{} // file+tuple -> ClientHellos seen
	seenSH := map[string]int{}
	chFrame := map[string]int{}
	for _, r := range rows {
		if r["transport"] != "udp-quic" || r["retransmission"] == "1" {
			continue
		}
		file := r["file"]
		frame, _ := strconv.Atoi(r["frame"])
		client, server := endpoint(r["src"]), endpoint(r["dst"])
		isServer := r["hs_type_name"] == "server_hello"
		if isServer {
			client, server = server, client
		}
		tuple := client + ">" + server
		ss := quicSessions(run(file), tuple)
		var hs *tlsparse.Handshake
		if len(ss) > 0 {
			hs = ss[0].TLS
		}
		key := file + " " + tuple
		switch r["hs_type_name"] {
		case "client_hello":
			seenCH[key]++
			if seenCH[key] > 1 {
				continue // after a HelloRetryRequest or Retry, or resent: JA3/JA4/SNI stay with the first
			}
			chFrame[key] = frame
			var ch *tlsparse.ClientHello
			if hs != nil {
				ch = hs.ClientHello
			}
			b.checkPresent("client_hello", file, frame, "yes", ch != nil)
			if ch == nil {
				continue
			}
			b.check("sni", file, frame, r["sni"], ch.ServerName)
			b.check("alpn", file, frame, r["alpn"], strings.Join(ch.ALPN, ","))
			if r["ja3"] != "" {
				_, ja3 := tlsparse.JA3(ch)
				b.check("ja3", file, frame, r["ja3"], ja3)
			}
			if r["supported_versions"] != "" {
				var vs []string
				for _, v := range ch.SupportedVersions {
					vs = append(vs, fmt.Sprintf("0x%04x", v))
				}
				b.check("client_versions", file, frame, r["supported_versions"], strings.Join(vs, ","))
			}
			if r["quic_version"] != "" {
				b.check("quic_version", file, frame, r["quic_version"], fmt.Sprintf("0x%08x", ss[0].QUICVersion))
			}
		case "server_hello":
			seenSH[key]++
			var sh *tlsparse.ServerHello
			if hs != nil {
				sh = hs.ServerHello
				if r["hrr"] == "1" {
					sh = hs.HelloRetryRequest
				} else if seenSH[key] > 1 {
					continue
				}
			}
			b.checkServerHello(file, frame, r, "yes", sh)
		}
	}

	// JA4 ("q" form) from the source oracles.
	for _, e := range quicJA4Expectations(t, dir) {
		r := run(e.file)
		var cands []*session.Session
		frame := 0
		if e.tuple == "" {
			cands = r.sessions
		} else {
			cands = quicSessions(r, e.tuple)
			frame = chFrame[e.file+" "+e.tuple]
		}
		got := ""
		var ch *tlsparse.ClientHello
		for _, s := range cands {
			if s.Protocol != session.QUIC || s.TLS == nil || s.TLS.ClientHello == nil {
				continue
			}
			ch = s.TLS.ClientHello
			got = tlsparse.JA4(ch, true)
			if got == e.ja4 {
				break
			}
		}
		if e.source == "ndpi-result" && got != e.ja4 && ndpiALPNQuirk(e.ja4, got, ch) {
			b.excuse("ja4/"+e.source, e.file, frame, e.ja4, got,
				fmt.Sprintf("oracle: nDPI writes the first two ALPN characters of %q, JA4 the first and last", ch.ALPN[0]))
			continue
		}
		b.check("ja4/"+e.source, e.file, frame, e.ja4, got)
	}
	nQUIC, nHello := 0, 0
	for _, r := range runs {
		for _, s := range r.sessions {
			if s.Protocol == session.QUIC {
				nQUIC++
				if s.TLS != nil && s.TLS.ClientHello != nil {
					nHello++
				}
			}
		}
	}
	t.Logf("%d files, %d QUIC sessions, %d with a ClientHello", len(runs), nQUIC, nHello)
	b.report(t)
}

// quicJA4Expectations collects the QUIC JA4 values of the source oracles:
// one per (file, tuple) and source; suricata-verify checks name no
// connection (tuple "").
func quicJA4Expectations(t *testing.T, dir string) []ja4Expect {
	var out []ja4Expect
	seen := map[string]bool{}
	for _, r := range readTSV(t, filepath.Join(dir, "expected", "source-visible.tsv")) {
		src, field, flow, val := r["source"], r["field"], r["flow"], r["value"]
		if !strings.HasPrefix(val, "q") {
			continue
		}
		var e ja4Expect
		switch {
		case src == "ja4-rust-snapshot" && field == "ja4" && strings.Contains(flow, "transport=udp"):
			i := strings.LastIndexByte(flow, ' ')
			e = ja4Expect{tuple: arrowTuple(flow[i+1:])}
		case src == "arkime-test" && field == "tls.ja4[0]":
			parts := strings.Fields(flow)
			if len(parts) < 2 {
				continue
			}
			e = ja4Expect{tuple: arrowTuple(parts[1])}
		case src == "ndpi-result" && field == "JA4" && strings.Contains(flow, " UDP "):
			parts := strings.Fields(flow)
			if len(parts) < 5 {
				continue
			}
			e = ja4Expect{tuple: endpoint(parts[2]) + ">" + endpoint(parts[4])}
		case src == "suricata-verify" && field == "quic.ja4":
			e = ja4Expect{}
		default:
			continue
		}
		e.file, e.source, e.ja4 = r["file"], src, val
		k := e.file + " " + e.source + " " + e.tuple + " " + e.ja4
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}
