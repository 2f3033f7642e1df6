package tlsparse

// Test-only helpers that pull handshake messages out of the shared corpus
// captures (../shared/corpus relative to the repository root), so that
// fingerprints and certificate summaries can be compared with the expected
// values. The reassembly here is deliberately simple (per-direction TCP
// segments ordered by sequence number, stopping at the first hole); the real
// pipeline lives in capture/.

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tlsentry/tlsentry/internal/corpustest"
)

// fpCorpusDir is the shared corpus relative to this package, for seeds and
// benchmarks that use it when present; tests use fpCorpusOrSkip.
var fpCorpusDir = filepath.Join("..", "..", "shared", "corpus")

func fpCorpusOrSkip(t testing.TB) string {
	t.Helper()
	return corpustest.Dir(t)
}

// fpTSV reads a corpus TSV into maps keyed by header name.
func fpTSV(t testing.TB, name string) []map[string]string {
	t.Helper()
	return corpustest.ReadTSV(t, filepath.Join(fpCorpusOrSkip(t), "expected", name))
}

type fpSegment struct {
	seq     uint32
	syn     bool
	payload []byte
}

// fpDirection is one direction of a TCP connection, keyed "src->dst" with
// addresses formatted as in the corpus TSVs ("1.2.3.4:443", "[2001:db8::1]:443").
type fpDirection struct {
	key  string
	segs []fpSegment
}

func fpEndpoint(ip []byte, port layers.TCPPort) string {
	s := gopacketIP(ip)
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	return s + ":" + itoa(int(port))
}

func gopacketIP(ip []byte) string { return net.IP(ip).String() }

// fpReadTCP returns the TCP directions of a capture in order of first packet.
func fpReadTCP(t testing.TB, path string) []*fpDirection {
	t.Helper()
	src, linkType, closePcap := corpustest.OpenPcap(t, path)
	defer closePcap()
	byKey := map[string]*fpDirection{}
	var order []*fpDirection
	for {
		data, _, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			break // truncated capture: keep what was read
		}
		p := gopacket.NewPacket(data, linkType, gopacket.Default)
		tcpL, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcpL == nil {
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
		key := fpEndpoint(sip, tcpL.SrcPort) + "->" + fpEndpoint(dip, tcpL.DstPort)
		d := byKey[key]
		if d == nil {
			d = &fpDirection{key: key}
			byKey[key] = d
			order = append(order, d)
		}
		d.segs = append(d.segs, fpSegment{seq: tcpL.Seq, syn: tcpL.SYN, payload: bytes.Clone(tcpL.Payload)})
	}
	return order
}

// fpStream reassembles one direction: payloads ordered by sequence number
// relative to the SYN (or the first segment), overlaps trimmed, up to the
// first hole.
func fpStream(d *fpDirection) []byte {
	if len(d.segs) == 0 {
		return nil
	}
	// Sequence base: the last SYN before the first payload (a capture can hold
	// several SYN-ACKs with different sequence numbers), else the first segment.
	base := d.segs[0].seq
	for _, s := range d.segs {
		if s.syn {
			base = s.seq + 1
		}
		if len(s.payload) > 0 && !s.syn {
			break
		}
	}
	type rel struct {
		off int64
		p   []byte
	}
	var rs []rel
	for _, s := range d.segs {
		if len(s.payload) == 0 {
			continue
		}
		off := int64(int32(s.seq - base))
		if s.syn {
			off = int64(int32(s.seq + 1 - base)) // TCP Fast Open data follows the SYN
		}
		rs = append(rs, rel{off, s.payload})
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].off < rs[j].off })
	var out []byte
	for _, r := range rs {
		end := r.off + int64(len(r.p))
		cur := int64(len(out))
		if r.off > cur {
			break // hole
		}
		if end <= cur {
			continue
		}
		out = append(out, r.p[cur-r.off:]...)
	}
	return out
}

// fpMessage is a handshake message found in a stream. For SSLv2 records, typ
// is 0x80|msg_type and body is the whole SSLv2 message.
type fpMessage struct {
	typ  uint8
	body []byte
}

// fpHandshakeMessages extracts the cleartext handshake messages of a stream.
// After a ChangeCipherSpec only records starting a ClientHello or ServerHello
// are taken (TLS 1.3 after a HelloRetryRequest); the rest there is encrypted.
func fpHandshakeMessages(stream []byte) []fpMessage {
	var msgs []fpMessage
	// STARTTLS, HTTP CONNECT: skip a cleartext preamble up to the first
	// plausible handshake record.
	sslv2 := len(stream) >= 3 && stream[0]&0x80 != 0 && (stream[2] == 1 || stream[2] == 4)
	if len(stream) > 0 && stream[0] != 22 && !sslv2 {
		for i := 0; i+5 < len(stream); i++ {
			if stream[i] == 22 && stream[i+1] == 3 && stream[i+2] <= 4 && (stream[i+5] == 1 || stream[i+5] == 2) {
				stream = stream[i:]
				break
			}
		}
	}
	if len(stream) >= 3 && stream[0]&0x80 != 0 && (stream[2] == 1 || stream[2] == 4) {
		n := int(binary.BigEndian.Uint16(stream[:2]) & 0x7fff)
		if len(stream) >= 2+n && n > 0 {
			msgs = append(msgs, fpMessage{typ: 0x80 | stream[2], body: stream[2 : 2+n]})
			stream = stream[2+n:]
		} else {
			return nil
		}
	}
	var hs []byte
	afterCCS := false
	for len(stream) >= 5 {
		ct := stream[0]
		n := int(binary.BigEndian.Uint16(stream[3:5]))
		if len(stream) < 5+n || stream[1] != 3 && stream[1] != 0xfe {
			break
		}
		frag := stream[5 : 5+n]
		stream = stream[5+n:]
		switch ct {
		case 20:
			// After a ChangeCipherSpec the handshake is encrypted, except the
			// second ClientHello / the ServerHello that follow a
			// HelloRetryRequest (TLS 1.3 middlebox-compatibility CCS).
			afterCCS, hs = true, nil
		case 22:
			if afterCCS && len(hs) == 0 && len(frag) > 0 && frag[0] != 1 && frag[0] != 2 {
				continue // encrypted
			}
			hs = append(hs, frag...)
			for len(hs) >= 4 {
				l := int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
				if len(hs) < 4+l {
					break
				}
				if !afterCCS || hs[0] == 1 || hs[0] == 2 {
					msgs = append(msgs, fpMessage{typ: hs[0], body: bytes.Clone(hs[4 : 4+l])})
				}
				hs = hs[4+l:]
			}
		case 21, 24:
		default:
			return msgs // application data or not TLS
		}
	}
	return msgs
}

// fpCertificates splits a TLS <= 1.2 Certificate message body into DERs
// (nil when it does not parse), or the certificate of an SSLv2 SERVER-HELLO.
func fpCertificates(m fpMessage) [][]byte {
	switch m.typ {
	case 11:
		b := m.body
		if len(b) < 3 {
			return nil
		}
		total := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		b = b[3:]
		if total != len(b) {
			return nil
		}
		var out [][]byte
		for len(b) >= 3 {
			l := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
			if len(b) < 3+l {
				return out
			}
			out = append(out, b[3:3+l])
			b = b[3+l:]
		}
		return out
	case 0x84: // SSLv2 SERVER-HELLO: type, hit, cert type, version(2), cert len(2), specs len(2), conn id len(2)
		b := m.body
		if len(b) < 11 {
			return nil
		}
		l := int(binary.BigEndian.Uint16(b[5:7]))
		if len(b) < 11+l || l == 0 {
			return nil
		}
		return [][]byte{b[11 : 11+l]}
	}
	return nil
}

// fpFileMessages extracts the handshake messages of every TCP direction of a
// corpus capture, keyed "src->dst".
func fpFileMessages(t testing.TB, file string) map[string][]fpMessage {
	t.Helper()
	out := map[string][]fpMessage{}
	for _, d := range fpReadTCP(t, filepath.Join(fpCorpusOrSkip(t), "pcaps", file)) {
		if msgs := fpHandshakeMessages(fpStream(d)); len(msgs) > 0 {
			out[d.key] = msgs
		}
	}
	return out
}
