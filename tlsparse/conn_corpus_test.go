package tlsparse

// Conn against the shared corpus: every TCP connection of every capture is
// fed to a Conn in packet order (simple in-order TCP reassembly, written for
// tests only), stopping when Feed says so, as capture does, and the result is
// compared with tshark's rows in expected/tshark-visible.tsv.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tlsentry/tlsentry/internal/corpustest"
)

// connEvent is one in-order piece of a direction's byte stream.
type connEvent struct {
	dir  Direction
	data []byte
}

// connFlow is one TCP connection of a capture, as a sequence of in-order
// stream pieces of both directions in capture order.
type connFlow struct {
	client, server string // "ip:port" as in the corpus TSVs
	events         []connEvent
	gap            [2]bool // a hole that was never filled
}

type connTestDir struct {
	started bool
	base    uint32
	next    int64
	pending map[int64][]byte
}

// connTestFlows reads the TCP connections of a capture.
func connTestFlows(t testing.TB, path string) []*connFlow {
	t.Helper()
	src, linkType, closePcap := corpustest.OpenPcap(t, path)
	defer closePcap()
	type flowState struct {
		flow *connFlow
		dirs [2]connTestDir
		seen bool // payload seen
	}
	byKey := map[string]*flowState{}
	var flows []*connFlow
	for {
		data, _, err := src.ReadPacketData()
		if err != nil {
			break // EOF or a truncated capture: keep what was read
		}
		p := gopacket.NewPacket(data, linkType, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		var sip, dip []byte
		switch n := p.NetworkLayer().(type) {
		case *layers.IPv4:
			sip, dip = n.SrcIP, n.DstIP
		case *layers.IPv6:
			sip, dip = n.SrcIP, n.DstIP
		default:
			continue
		}
		a, b := fpEndpoint(sip, tcp.SrcPort), fpEndpoint(dip, tcp.DstPort)
		key := a + "|" + b
		if b < a {
			key = b + "|" + a
		}
		fs := byKey[key]
		newSYN := tcp.SYN && !tcp.ACK
		if fs == nil || newSYN && fs.seen {
			if len(tcp.Payload) == 0 && !tcp.SYN {
				continue
			}
			client, server := a, b
			if tcp.SYN && tcp.ACK {
				client, server = b, a
			}
			fs = &flowState{flow: &connFlow{client: client, server: server}}
			byKey[key] = fs
			flows = append(flows, fs.flow)
		}
		dir := ClientToServer
		if a != fs.flow.client {
			dir = ServerToClient
		}
		d := &fs.dirs[dir]
		if tcp.SYN {
			d.started, d.base, d.next, d.pending = true, tcp.Seq+1, 0, map[int64][]byte{}
		}
		if len(tcp.Payload) == 0 {
			continue
		}
		fs.seen = true
		if !d.started {
			d.started, d.base, d.next, d.pending = true, tcp.Seq, 0, map[int64][]byte{}
		}
		off := int64(int32(tcp.Seq - d.base))
		if tcp.SYN {
			off = 0 // TCP Fast Open: data follows the SYN
		}
		d.pending[off] = bytes.Clone(tcp.Payload)
		for progress := true; progress; {
			progress = false
			for o, pl := range d.pending {
				if o > d.next {
					continue
				}
				delete(d.pending, o)
				if end := o + int64(len(pl)); end > d.next {
					fs.flow.events = append(fs.flow.events, connEvent{dir, pl[d.next-o:]})
					d.next = end
				}
				progress = true
			}
		}
	}
	for _, fs := range byKey {
		for i := range fs.dirs {
			fs.flow.gap[i] = len(fs.dirs[i].pending) > 0
		}
	}
	return flows
}

// run feeds a flow to c the way capture does: in order, until Feed says stop.
func (f *connFlow) run(c *Conn) {
	for _, e := range f.events {
		if !c.Feed(e.dir, e.data) {
			return
		}
	}
}

func connCorpusFiles(t testing.TB) []string {
	dir := fpCorpusOrSkip(t)
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "pcaps"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(dir, "pcaps"), p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// connCorpusKnown lists tshark rows a Conn does not reproduce, each for a
// reason where tshark (or the capture) and a passive parser rightly differ.
// Keyed "file frame".
var connCorpusKnown = map[string]string{
	"suricata-verify/tls-duplicate-hello__input.pcap 9": "second ClientHello on the connection (malformed for tshark, " +
		"which decodes no supported_versions); tlsparse keeps the first and flags duplicate_client_hello (TestConnCorpusAnomalies)",
	"suricata-verify/tls__tls13-draft14__tls13_draft14.pcap 6": "tshark 4.0 reads this draft-14 ServerHello with the final " +
		"layout (session id, compression); drafts -11..-21 have neither, so tlsparse reads cipher 0xc02b where tshark says 0xacad",
	"suricata-verify/firewall__app-layer-protocol-negated-unknown-shortcircuit__input.pcap 6": "garbage before the ClientHello: " +
		"not TLS by its first bytes (Protocol unknown), which is what this capture tests",
}

// connCorpusPadding lists ClientHellos where tshark 4.0 leaves out the final
// padding extension (21) that follows a GREASE extension; FoxIO's JA4
// snapshot for the same hello counts it (t13d1516h2: 16 extensions).
var connCorpusPadding = map[string]bool{
	"ja4/tls-handshake.pcapng 125": true, "ja4/tls-handshake.pcapng 142": true,
	"ja4/tls-handshake.pcapng 146": true, "ja4/tls-handshake.pcapng 156": true,
	"ja4/tls-handshake.pcapng 160": true,
}

func TestConnCorpus(t *testing.T) {
	files := connCorpusFiles(t)
	rows := fpTSV(t, "tshark-visible.tsv")
	type key struct{ file, client, server string }
	results := map[key][]*Handshake{}
	for _, file := range files {
		for _, fl := range connTestFlows(t, filepath.Join(fpCorpusDir, "pcaps", file)) {
			var c Conn
			fl.run(&c)
			k := key{file, fl.client, fl.server}
			results[k] = append(results[k], c.Handshake().Clone())
		}
	}
	var checked, skipped int
	for _, r := range rows {
		if r["transport"] != "tcp" || r["retransmission"] == "1" {
			continue
		}
		where := r["file"] + " " + r["frame"]
		if why, ok := connCorpusKnown[where]; ok {
			t.Logf("%s: not compared: %s", where, why)
			skipped++
			continue
		}
		typ := r["hs_type_name"]
		// The sender is the client for ClientHellos (and client certificates),
		// the server otherwise: look at both orientations.
		hss := append(results[key{r["file"], r["src"], r["dst"]}], results[key{r["file"], r["dst"], r["src"]}]...)
		if len(hss) == 0 {
			t.Errorf("%s: no connection %s <-> %s", where, r["src"], r["dst"])
			continue
		}
		var errs []string
		for _, hs := range hss {
			err := connCompareRow(hs, r)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err.Error())
		}
		if errs != nil {
			t.Errorf("%s %s (%s -> %s): %s", where, typ, r["src"], r["dst"], strings.Join(errs, "; "))
		}
		checked++
	}
	t.Logf("compared %d tshark rows (%d explained exceptions)", checked, skipped)
	if checked < 300 {
		t.Errorf("only %d rows compared", checked)
	}
}

func connCompareRow(hs *Handshake, r map[string]string) error {
	switch r["hs_type_name"] {
	case "client_hello", "sslv2_client_hello":
		ch := hs.ClientHello
		if ch == nil {
			return fmt.Errorf("no ClientHello (protocol %v, anomalies %v, err %v)", hs.Protocol, hs.Anomalies, hs.Err)
		}
		if ch.ServerName != r["sni"] {
			return fmt.Errorf("SNI %q, want %q", ch.ServerName, r["sni"])
		}
		if got := connHex4(ch.LegacyVersion); got != r["hs_version"] {
			return fmt.Errorf("version %s, want %s", got, r["hs_version"])
		}
		if got := connHexList(ch.SupportedVersions); got != r["supported_versions"] {
			return fmt.Errorf("supported_versions %s, want %s", got, r["supported_versions"])
		}
		if n, _ := strconv.Atoi(r["cipher_suites_count"]); !ch.SSLv2 && n != len(ch.CipherSuites) {
			return fmt.Errorf("%d cipher suites, want %d", len(ch.CipherSuites), n)
		}
		if got := strings.Join(ch.ALPN, ","); got != r["alpn"] && !strings.ContainsRune(r["alpn"], '\ufffd') {
			return fmt.Errorf("ALPN %q, want %q", got, r["alpn"])
		}
		if r["ext_types"] != "" {
			got := connDecList(ch.Extensions)
			if connCorpusPadding[r["file"]+" "+r["frame"]] {
				got = strings.TrimSuffix(got, ",21")
			}
			if got != r["ext_types"] {
				return fmt.Errorf("extensions %s, want %s", got, r["ext_types"])
			}
		}
	case "server_hello":
		sh := hs.ServerHello
		if r["hrr"] == "1" {
			sh = hs.HelloRetryRequest
		}
		if sh == nil {
			return fmt.Errorf("no ServerHello (hrr=%s; anomalies %v, err %v)", r["hrr"], hs.Anomalies, hs.Err)
		}
		want := r["supported_versions"]
		if want == "" {
			want = r["hs_version"]
		}
		if got := connHex4(sh.Version()); got != want {
			return fmt.Errorf("version %s, want %s", got, want)
		}
		if got := connHex4(sh.CipherSuite); got != r["chosen_cipher"] {
			return fmt.Errorf("cipher %s, want %s", got, r["chosen_cipher"])
		}
		if sh.ALPN != r["alpn"] {
			return fmt.Errorf("ALPN %q, want %q", sh.ALPN, r["alpn"])
		}
		if got := connColonHex(sh.SessionID); got != r["session_id"] {
			return fmt.Errorf("session id %s, want %s", got, r["session_id"])
		}
		if (r["psk_selected_identity"] != "") != sh.PreSharedKey {
			return fmt.Errorf("PSK selected %v, want %q", sh.PreSharedKey, r["psk_selected_identity"])
		}
	case "sslv2_server_hello":
		sh := hs.ServerHello
		if sh == nil || !sh.SSLv2 {
			return fmt.Errorf("no SSLv2 SERVER-HELLO")
		}
		if n, _ := strconv.Atoi(r["cert_count"]); len(sh.Certificates) != n {
			return fmt.Errorf("%d certificates, want %d", len(sh.Certificates), n)
		}
	case "sslv2_client_master_key":
		if hs.ServerHello == nil || fmt.Sprintf("0x%06x", hs.ServerHello.SSLv2CipherKind) != r["chosen_cipher"] {
			return fmt.Errorf("SSLv2 cipher kind, want %s", r["chosen_cipher"])
		}
	case "certificate":
		n, _ := strconv.Atoi(r["cert_count"])
		for _, certs := range [][][]byte{hs.ServerCertificates, hs.ClientCertificates} {
			if len(certs) == n && (n == 0 || r["cert0_sha256"] == "" || connSHA256Hex(certs[0]) == r["cert0_sha256"]) {
				return nil
			}
		}
		return fmt.Errorf("certificates: %d server, %d client; want %d (anomalies %v)",
			len(hs.ServerCertificates), len(hs.ClientCertificates), n, hs.Anomalies)
	}
	return nil
}

func connHex4(v uint16) string { return fmt.Sprintf("0x%04x", v) }

func connHexList(l []uint16) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = connHex4(v)
	}
	return strings.Join(s, ",")
}

func connDecList(l []uint16) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ",")
}

func connColonHex(b []byte) string {
	s := make([]string, len(b))
	for i, v := range b {
		s[i] = fmt.Sprintf("%02x", v)
	}
	return strings.Join(s, ":")
}

func connSHA256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestConnCorpusAnomalies checks what tlsparse says about captures whose
// point is an anomaly or a non-TLS stream.
func TestConnCorpusAnomalies(t *testing.T) {
	fpCorpusOrSkip(t)
	tests := []struct {
		file    string
		check   func(hs *Handshake) bool
		explain string
	}{
		{"suricata-verify/tls-duplicate-hello__input.pcap", func(hs *Handshake) bool {
			return hs.ClientHelloCount == 2 && slices.Contains(hs.Anomalies.Names(), "duplicate_client_hello")
		}, "two ClientHellos, duplicate_client_hello"},
		{"zeek/tls__heartbleed.pcap", func(hs *Handshake) bool {
			return slices.ContainsFunc(hs.Heartbeats, Heartbeat.IsHeartbleed)
		}, "a heartbeat over-read"},
		{"zeek/tls__ssl-v2.pcap", func(hs *Handshake) bool {
			return hs.Protocol == ProtocolSSLv2 && hs.ServerHello != nil && hs.ServerHello.SSLv2 &&
				len(hs.ServerCertificates) == 1 && hs.Established
		}, "an SSLv2 handshake with the certificate"},
		{"suricata-verify/sslv2-tls-upgrade-01__ssl-v2-s1.pcap", func(hs *Handshake) bool {
			return hs.Protocol == ProtocolTLS && hs.ClientHello.SSLv2 && hs.ServerHello.Version() == 0x0301 &&
				len(hs.ServerCertificates) == 1
		}, "an SSLv2-format hello upgraded to TLS 1.0"},
		{"suricata-verify/bug-5758__input.pcap", func(hs *Handshake) bool {
			return hs.HelloRetryRequest != nil && hs.ClientHelloCount == 2 && hs.ServerHello != nil && hs.Established &&
				!slices.Contains(hs.Anomalies.Names(), "duplicate_client_hello")
		}, "HelloRetryRequest then a second ClientHello, established"},
		{"ja4/https-connect.pcap", func(hs *Handshake) bool {
			return hs.Protocol == ProtocolTLS && hs.Established && slices.Contains(hs.Anomalies.Names(), "http_connect")
		}, "TLS after HTTP CONNECT"},
		{"ndpi/smtp-starttls.pcap", func(hs *Handshake) bool {
			return hs.Protocol == ProtocolTLS && hs.ClientHello != nil && hs.ServerHello != nil && slices.Contains(hs.Anomalies.Names(), "starttls")
		}, "TLS after SMTP STARTTLS"},
		{"ndpi/tls_heur__vmess-tcp-tls.pcapng", func(hs *Handshake) bool {
			return hs.Protocol == ProtocolTLS && hs.ClientHello != nil && hs.ServerHello != nil && slices.Contains(hs.Anomalies.Names(), "socks")
		}, "TLS after a SOCKS5 handshake"},
		{"zeek/ssl-and-ssh-using-sslh.pcap", func(hs *Handshake) bool { return hs.Protocol == ProtocolSSH }, "an SSH connection"},
		{"zeek/tls__tls-fragmented-handshake.pcap", func(hs *Handshake) bool {
			// The capture ends before the client's key exchange.
			return len(hs.ServerCertificates) == 1 && len(hs.ServerCertificates[0]) > 300<<10 && hs.Err == nil
		}, "the 332 KiB Certificate split over many records (tshark misses it)"},
	}
	for _, tt := range tests {
		path := filepath.Join(fpCorpusDir, "pcaps", tt.file)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		found := false
		var seen []string
		for _, fl := range connTestFlows(t, path) {
			var c Conn
			fl.run(&c)
			hs := c.Handshake()
			if tt.check(hs) {
				found = true
				break
			}
			seen = append(seen, fmt.Sprintf("{%v hellos=%d certs=%d enc=%v/%v est=%v anomalies=%v err=%v}",
				hs.Protocol, hs.ClientHelloCount, len(hs.ServerCertificates), hs.ClientEncrypted,
				hs.ServerEncrypted, hs.Established, hs.Anomalies, hs.Err))
		}
		if !found {
			t.Errorf("%s: no connection shows %s; got %s", tt.file, tt.explain, strings.Join(seen, " "))
		}
	}
}

// TestConnCorpusZeek compares established and resumed with Zeek's ssl.log
// for the TCP connections of the corpus.
func TestConnCorpusZeek(t *testing.T) {
	rows := fpTSV(t, "source-visible.tsv")
	type key struct{ file, flow, field string }
	want := map[key]map[string]bool{}
	files := map[string]bool{}
	for _, r := range rows {
		if r["source"] != "zeek-baseline" || !strings.Contains(r["ref"], "ssl") ||
			(r["field"] != "established" && r["field"] != "resumed") {
			continue
		}
		k := key{r["file"], r["flow"], r["field"]}
		if want[k] == nil {
			want[k] = map[string]bool{}
		}
		want[k][r["value"]] = true
		files[r["file"]] = true
	}
	got := map[string]*Handshake{}
	for file := range files {
		for _, fl := range connTestFlows(t, filepath.Join(fpCorpusDir, "pcaps", file)) {
			var c Conn
			fl.run(&c)
			got[file+"|"+fl.client+"->"+fl.server] = c.Handshake().Clone()
		}
	}
	n := 0
	for k, values := range want {
		hs := got[k.file+"|"+k.flow]
		if hs == nil {
			continue // QUIC (UDP) flows
		}
		v := hs.Established
		if k.field == "resumed" {
			v = hs.Resumed
		}
		s := "F"
		if v {
			s = "T"
		}
		if k.file == "zeek/tls__chrome-63.0.3211.0-canary-tls_experiment.pcap" && k.field == "resumed" && s == "F" {
			// TLS 1.3 experiment 0x7e01 in middlebox-compatibility form: the
			// server echoes the client's session id, which Zeek's (TLS 1.2)
			// rule takes for resumption; the ServerHello has no
			// pre_shared_key (extensions 40, 43), so it is a full handshake.
			continue
		}
		if !values[s] {
			t.Errorf("%s %s: %s = %s, Zeek says %v (anomalies %v)", k.file, k.flow, k.field, s, values, hs.Anomalies)
		}
		n++
	}
	t.Logf("compared %d Zeek values", n)
	if n < 40 {
		t.Errorf("only %d Zeek values compared", n)
	}
}
