package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/tlsentry/tlsentry/internal/pcapgen"
	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

type makeFunc = func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error

// captures lists every file gentestdata writes.
func captures() []capture {
	return slices.Concat(handshakeCaptures(), framingCaptures(), ruleCaptures(), evasionCaptures())
}

// handshakeCaptures are versions, certificate types, SNI and ALPN; resumption, HRR, client certificates, failure.
func handshakeCaptures() []capture {
	return []capture{
		// Versions, certificate types, SNI and ALPN.
		{path: "tls13-rsa-chain.pcap", desc: "TLS 1.3, RSA 2048 leaf + intermediate (chain of 2 sent), SNI rsa.tlsentry.test, ALPN h2/http1.1 → h2",
			make: lazy(func(g *gen) conn {
				return conn{client: cli("rsa.tlsentry.test", "h2", "http/1.1"), server: srv(g.chain("rsa2048"), "h2", "http/1.1")}
			})},
		{path: "tls13-ecdsa-p384.pcap", desc: "TLS 1.3, ECDSA P-384 leaf, SNI p384.tlsentry.test, ALPN http/1.1",
			make: lazy(func(g *gen) conn {
				return conn{client: cli("p384.tlsentry.test", "http/1.1"), server: srv(g.chain("ecdsa-p384"), "http/1.1")}
			})},
		{path: "tls13-ed25519.pcap", desc: "TLS 1.3, Ed25519 leaf signed by the root, SNI ed25519.tlsentry.test, no ALPN",
			make: lazy(func(g *gen) conn {
				return conn{client: cli("ed25519.tlsentry.test"), server: srv(g.chain("ed25519"))}
			})},
		{path: "tls13-no-sni-no-alpn.pcap", desc: "TLS 1.3 to an IP address: no SNI, no ALPN; ECDSA P-256 leaf",
			make: lazy(func(g *gen) conn {
				return conn{client: cli(""), server: srv(g.chain("ecdsa-p256"))}
			})},
		{path: "tls12-ecdsa.pcap", desc: "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256, P-256 leaf + intermediate, SNI, ALPN h2",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test", "h2", "http/1.1")), server: srv(g.chain("ecdsa-p256"), "h2")}
			})},
		{path: "tls12-rsa4096-chacha.pcap", desc: "TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305, RSA 4096 leaf + intermediate, SNI",
			make: lazy(func(g *gen) conn {
				c := tls12(cli("rsa4096.tlsentry.test"))
				c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
				return conn{client: c, server: srv(g.chain("rsa4096"))}
			})},
		{path: "tls12-ed25519.pcap", desc: "TLS 1.2 ECDHE-ECDSA suite with an Ed25519 leaf",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ed25519.tlsentry.test")), server: srv(g.chain("ed25519"))}
			})},

		// Resumption, HRR, client certificates, failure.
		{path: "tls12-resumption-ticket.pcap", desc: "two TLS 1.2 connections: full handshake issuing a session ticket, then an abbreviated handshake resuming it (no Certificate)",
			make: resumption(tls.VersionTLS12)},
		{path: "tls13-resumption-psk.pcap", desc: "two TLS 1.3 connections: full handshake with NewSessionTicket, then PSK (psk_dhe_ke) resumption",
			make: resumption(tls.VersionTLS13)},
		{path: "tls13-hrr.pcap", desc: "TLS 1.3 HelloRetryRequest: client key share X25519, server accepts only P-384; second ClientHello",
			make: lazy(func(g *gen) conn {
				c := cli("ecdsa.tlsentry.test")
				c.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP384}
				s := srv(g.chain("ecdsa-p256"))
				s.CurvePreferences = []tls.CurveID{tls.CurveP384}
				return conn{client: c, server: s}
			})},
		{path: "tls12-client-cert.pcap", desc: "TLS 1.2 with a client certificate (CertificateRequest, client Certificate and CertificateVerify in clear)",
			make: clientCert(tls.VersionTLS12)},
		{path: "tls13-client-cert.pcap", desc: "TLS 1.3 with a client certificate (encrypted on the wire)",
			make: clientCert(tls.VersionTLS13)},
		{path: "tls12-handshake-failure.pcap", desc: "client offers only RC4-SHA, server has no common suite: ClientHello, fatal handshake_failure alert, FINs",
			make: lazy(func(g *gen) conn {
				c := tls12(cli("ecdsa.tlsentry.test"))
				c.CipherSuites = []uint16{tls.TLS_RSA_WITH_RC4_128_SHA}
				return conn{client: c, server: tls12(srv(g.chain("ecdsa-p256"))), wantFail: true}
			})},
	}
}

// framingCaptures are framing cases: link types, tunnels, VLANs, fragments, TCP segmentation, QUIC.
func framingCaptures() []capture {
	return []capture{
		// Framing.
		{path: "tls13-ipv6.pcap", desc: "TLS 1.3 over IPv6, ECDSA P-256 leaf, SNI, ALPN h2",
			make: lazy(func(g *gen) conn {
				return conn{v6: true, client: cli("ecdsa.tlsentry.test", "h2"), server: srv(g.chain("ecdsa-p256"), "h2")}
			})},
		{path: "tls12-vlan-ns.pcap", desc: "TLS 1.2 in 802.1Q VLAN 100, nanosecond pcap",
			opt: pcapgen.Options{Nanosecond: true},
			make: lazy(func(g *gen) conn {
				return conn{link: pcapgen.Link{VLANs: []uint16{100}}, client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256"))}
			})},
		{path: "tls13-qinq.pcap", desc: "TLS 1.3 in QinQ (802.1ad 200 outer, 802.1Q 300 inner)",
			make: lazy(func(g *gen) conn {
				return conn{link: pcapgen.Link{VLANs: []uint16{200, 300}}, client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256"))}
			})},
		{path: "tls-two-interfaces.pcapng", desc: "pcapng, two interfaces (Ethernet and raw IP), one TLS 1.3 and one TLS 1.2 connection",
			opt: pcapgen.Options{Format: pcapgen.PCAPNG, Interfaces: ethRaw},
			make: func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
				if _, err := g.tls(w, clk, conn{client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256"))}); err != nil {
					return err
				}
				_, err := g.tls(w, clk, conn{link: pcapgen.Link{Iface: 1}, client: tls12(cli("rsa.tlsentry.test")), server: srv(g.chain("rsa2048"))})
				return err
			}},
		{path: "tls13.pcap.gz", desc: "gzip-compressed pcap, TLS 1.3, RSA chain",
			opt: pcapgen.Options{Gzip: true},
			make: lazy(func(g *gen) conn {
				return conn{client: cli("rsa.tlsentry.test", "h2"), server: srv(g.chain("rsa2048"), "h2")}
			})},
		{path: "tls13-vxlan.pcap", desc: "TLS 1.3 inside VXLAN (VNI 7, outer 10.99.0.1 → 10.99.0.2 UDP 4789), as cloud traffic mirroring delivers it",
			make: lazy(func(g *gen) conn {
				return conn{link: pcapgen.Link{Tunnel: outer(pcapgen.VXLAN)}, client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256"))}
			})},
		{path: "tls12-erspan.pcap", desc: "TLS 1.2 inside GRE/ERSPAN type II (session 7)",
			make: lazy(func(g *gen) conn {
				return conn{link: pcapgen.Link{Tunnel: outer(pcapgen.ERSPAN2)}, client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256"))}
			})},
		{path: "tls13-geneve.pcap", desc: "TLS 1.3 inside GENEVE (VNI 7, UDP 6081)",
			make: lazy(func(g *gen) conn {
				return conn{link: pcapgen.Link{Tunnel: outer(pcapgen.GENEVE)}, client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256"))}
			})},
		{path: "tls12-tcp-messy.pcap", desc: "TLS 1.2 whose server flight arrives reordered with a retransmission and an overlapping resend of identical bytes; ClientHello in 2 segments",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("rsa.tlsentry.test")), server: srv(g.chain("rsa2048")), play: messy()}
			})},
		{path: "tls12-midstream.pcap", desc: "TLS 1.2 picked up mid-connection: no SYN exchange, capture starts at the ClientHello",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")), play: tlsgen.PlayOptions{NoHandshake: true}}
			})},
		{path: "tls13-ipv4-fragments.pcap", desc: "TLS 1.3 whose ClientHello packet is split into IPv4 fragments of 512 bytes",
			make: lazy(func(g *gen) conn {
				return conn{client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256")), play: fragmentHello(0)}
			})},
		{path: "quic-v1.pcap", desc: "QUIC v1 (RFC 9000) to UDP 443: client Initials carrying a crypto/tls ClientHello (SNI quic.tlsentry.test, ALPN h3) in two CRYPTO frames, server Initial with the ServerHello, 3 short-header packets",
			make: quicCapture(tlsgen.QUICv1, false)},
		{path: "quic-v2-ipv6.pcap", desc: "QUIC v2 (RFC 9369) over IPv6, otherwise as quic-v1.pcap",
			make: quicCapture(tlsgen.QUICv2, true)},
		{path: "http-on-443.pcap", desc: "plaintext HTTP/1.1 on port 443 (not TLS)",
			make: func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
				return g.raw(w, clk, plainHTTP(), tlsgen.PlayOptions{})
			}},
	}
}

// ruleCaptures are one capture that fires each built-in rule and one that stays quiet.
func ruleCaptures() []capture {
	return []capture{
		// Rules: fire and quiet.
		certRule("cert.expired", "expired", "expired.tlsentry.test", "leaf expired 2024-03-01, connection on 2024-06-01"),
		certRule("cert.not_yet_valid", "not-yet-valid", "future.tlsentry.test", "leaf valid from 2024-09-01, connection on 2024-06-01"),
		certRule("cert.self_signed", "self-signed", "self.tlsentry.test", "self-signed P-256 leaf"),
		certRule("cert.weak_key", "rsa1024", "weak-key.tlsentry.test", "RSA 1024 leaf"),
		certRule("cert.weak_signature", "sha1", "sha1.tlsentry.test", "leaf signed sha1WithRSAEncryption"),
		certRule("cert.name_mismatch", "ecdsa-p256", "other.tlsentry.test", "SNI other.tlsentry.test, leaf covers ecdsa.tlsentry.test"),
		certRule("cert.long_validity", "long-validity", "long.tlsentry.test", "leaf valid 3650 days from 2024-05-01"),
		quiet("cert.expired"), quiet("cert.not_yet_valid"), quiet("cert.self_signed"), quiet("cert.weak_key"),
		quiet("cert.weak_signature"), quiet("cert.name_mismatch"), quiet("cert.long_validity"),

		{path: "rules/tls.deprecated_version-fire-tls10.pcap", desc: "TLS 1.0, ECDHE-RSA-AES128-CBC-SHA",
			make: legacy(tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA)},
		{path: "rules/tls.deprecated_version-fire-tls11.pcap", desc: "TLS 1.1, ECDHE-ECDSA-AES256-CBC-SHA",
			make: legacyCert(tls.VersionTLS11, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ecdsa-p256")},
		quiet("tls.deprecated_version"),
		{path: "rules/tls.weak_cipher-fire-rc4.pcap", desc: "TLS 1.0, RSA-RC4-128-SHA (also fires tls.deprecated_version, tls.no_forward_secrecy)",
			make: legacy(tls.VersionTLS10, tls.TLS_RSA_WITH_RC4_128_SHA)},
		{path: "rules/tls.weak_cipher-fire-3des.pcap", desc: "TLS 1.2, ECDHE-RSA-3DES-EDE-CBC-SHA",
			make: legacy(tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA)},
		quiet("tls.weak_cipher"),
		{path: "rules/tls.no_forward_secrecy-fire.pcap", desc: "TLS 1.2, static RSA key exchange RSA-AES128-GCM-SHA256",
			make: legacy(tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256)},
		quiet("tls.no_forward_secrecy"),
		{path: "rules/tls.missing_sni-fire.pcap", desc: "TLS 1.3 ClientHello to 443 without SNI",
			make: lazy(func(g *gen) conn { return conn{client: cli(""), server: srv(g.chain("ecdsa-p256"))} })},
		quiet("tls.missing_sni"),
		{path: "rules/tls.fragmented_hello-fire-records.pcap", desc: "TLS 1.2 ClientHello split over two TLS records (first holds 40 bytes)",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")),
					rewrite: func(ev []tlsgen.Event) []tlsgen.Event {
						ev[0].Data = tlsgen.SplitRecord(ev[0].Data, 40)
						return ev
					}}
			})},
		{path: "rules/tls.fragmented_hello-fire-segments.pcap", desc: "TLS 1.3 ClientHello sent in 20-byte TCP segments",
			make: lazy(func(g *gen) conn {
				return conn{client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256")), play: tinyFirst(20)}
			})},
		quiet("tls.fragmented_hello"),
		{path: "rules/tls.heartbleed-fire.pcap", desc: "TLS 1.2 ClientHello and server flight, then a cleartext heartbeat request declaring 16384 bytes in a 3-byte message; server resets",
			make: heartbleed},
		quiet("tls.heartbleed"),
		{path: "rules/tls.sslv2_hello-fire.pcap", desc: "SSLv2-format ClientHello (version 3.1, 3 cipher specs) after which the server closes",
			make: func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
				return g.raw(w, clk, []tlsgen.Event{{From: tlsgen.Client, Data: sslv2Hello()}, {From: tlsgen.Server, Close: true}, {From: tlsgen.Client, Close: true}}, tlsgen.PlayOptions{})
			}},
		quiet("tls.sslv2_hello"),
		{path: "rules/proto.non_tls_on_443-fire-http.pcap", desc: "plaintext HTTP on 443",
			make: func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
				return g.raw(w, clk, plainHTTP(), tlsgen.PlayOptions{})
			}},
		{path: "rules/proto.non_tls_on_443-fire-ssh.pcap", desc: "SSH banners and key exchange init on 443",
			make: func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
				return g.raw(w, clk, ssh(), tlsgen.PlayOptions{})
			}},
		quiet("proto.non_tls_on_443"),
	}
}

// evasionCaptures are evasion (rules/evasion.yaml) and the cases around it.
func evasionCaptures() []capture {
	return []capture{
		// Evasion (rules/evasion.yaml) and the cases around it.
		{path: "rules/tcp.overlap_different_data-fire.pcap", desc: "TLS 1.2 ClientHello in 2 segments, then a resend overlapping the first segment's last 48 bytes with different bytes (first-arrived bytes are the real hello)",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")), play: overlapHello(false)}
			})},
		{path: "rules/tcp.overlap_different_data-fire-ooo.pcap", desc: "TLS 1.2 ClientHello in 2 segments sent in reverse order, a segment with different bytes overlapping the buffered second one arrives before the first",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")), play: overlapHello(true)}
			})},
		quiet("tcp.overlap_different_data"),
		{path: "rules/ip.fragment_overlap-fire.pcap", desc: "TLS 1.3 ClientHello packet in IPv4 fragments of 512 bytes, plus a 64-byte fragment overlapping the first with different bytes before the last one",
			make: lazy(func(g *gen) conn {
				return conn{client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256")), play: fragmentHello(64)}
			})},
		quiet("ip.fragment_overlap"),
		{path: "rules/tls.unexpected_client_hello-fire.pcap", desc: "TLS 1.2: a second ClientHello (SNI other.tlsentry.test) right after the first, no HelloRetryRequest",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")),
					rewrite: func(ev []tlsgen.Event) []tlsgen.Event {
						second := tlsgen.Event{From: tlsgen.Client, Data: decoySNI(ev[0].Data)}
						return append(ev[:1:1], append([]tlsgen.Event{second}, ev[1:]...)...)
					}}
			})},
		quiet("tls.unexpected_client_hello"),
		{path: "evasion-decoy-bad-checksum.pcap", desc: "TLS 1.2 to ecdsa.tlsentry.test: before the ClientHello, a decoy ClientHello (SNI other.tlsentry.test) at the same sequence number with a wrong TCP checksum",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")), play: tlsgen.PlayOptions{
					Mangle: func(i int, segs []pcapgen.Segment) []pcapgen.Segment {
						if i != 0 {
							return segs
						}
						var out []pcapgen.Segment
						for _, s := range segs {
							d := s
							d.Payload, d.BadChecksum = decoySNI(s.Payload), true
							out = append(out, d)
						}
						return append(out, segs...)
					}}}
			})},
		{path: "evasion-offload.pcap", desc: "TLS 1.2 whose client segments all carry wrong TCP checksums, as captured on the client with TX checksum offload",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")), badClient: true}
			})},
		{path: "tls12-out-of-order-hello.pcap", desc: "TLS 1.2 ClientHello in 100-byte segments, each pair swapped",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")), play: tlsgen.PlayOptions{
					SegmentSize: tinyFirst(100).SegmentSize,
					Mangle: func(i int, segs []pcapgen.Segment) []pcapgen.Segment {
						if i == 0 {
							return pcapgen.Reorder(segs)
						}
						return segs
					}}}
			})},
		{path: "tls12-port-reuse.pcap", desc: "two TLS 1.2 connections one after the other on the same 4-tuple (different ISNs, SNI ecdsa then rsa)",
			make: portReuse},
		{path: "tls12-midstream-appdata.pcap", desc: "TLS 1.2 picked up after its handshake: only application data records and the close",
			make: lazy(func(g *gen) conn {
				return conn{client: tls12(cli("ecdsa.tlsentry.test")), server: srv(g.chain("ecdsa-p256")),
					play: tlsgen.PlayOptions{NoHandshake: true},
					rewrite: func(ev []tlsgen.Event) []tlsgen.Event {
						return ev[4:] // ClientHello, server flight, client Finished, server Finished
					}}
			})},
		{path: "tls13-gre-vxlan-vlan.pcap", desc: "TLS 1.3 in tunnels nested two deep: GRE (10.99.0.1 → 10.99.0.2), in it VXLAN (VNI 9, 10.98.0.1 → 10.98.0.2), its Ethernet frame tagged 802.1Q 42",
			make: lazy(func(g *gen) conn {
				t := outer(pcapgen.GRE)
				t.Inner = &pcapgen.Tunnel{Kind: pcapgen.VXLAN, Src: netip.MustParseAddr("10.98.0.1"), Dst: netip.MustParseAddr("10.98.0.2"), ID: 9, VLANs: []uint16{42}}
				return conn{link: pcapgen.Link{Tunnel: t}, client: cli("ecdsa.tlsentry.test"), server: srv(g.chain("ecdsa-p256"))}
			})},
	}
}

// decoySNI is a ClientHello with SNI other.tlsentry.test in place of
// ecdsa.tlsentry.test (same length: the hello stays well-formed).
func decoySNI(b []byte) []byte {
	return bytes.Replace(b, []byte("ecdsa.tlsentry.test"), []byte("other.tlsentry.test"), 1)
}

// overlapHello sends the ClientHello in two segments and a third one
// overlapping the end of the first with different bytes. With reverse, the
// second segment comes first, then the overlapping one (covering the start
// of the buffered second segment), then the first.
func overlapHello(reverse bool) tlsgen.PlayOptions {
	return tlsgen.PlayOptions{
		SegmentSize: halveFirst,
		Mangle: func(i int, segs []pcapgen.Segment) []pcapgen.Segment {
			if i != 0 || len(segs) != 2 {
				return segs
			}
			a, b := segs[0], segs[1]
			ov := a
			if reverse {
				ov.Seq = b.Seq
				ov.Payload = bytes.Repeat([]byte{0xee}, 48)
				return []pcapgen.Segment{b, ov, a}
			}
			ov.Seq = a.Seq + uint32(len(a.Payload)) - 48
			ov.Payload = bytes.Repeat([]byte{0xee}, 48)
			return []pcapgen.Segment{a, b, ov}
		},
	}
}

// portReuse writes two TLS 1.2 connections on one 4-tuple: the second
// opens with a new SYN after the first closed.
func portReuse(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
	cl, sv := g.endpoints(false)
	for i, sni := range []string{"ecdsa.tlsentry.test", "rsa.tlsentry.test"} {
		g.seed++
		leaf := "ecdsa-p256"
		if i == 1 {
			leaf = "rsa2048"
		}
		tr, err := tlsgen.Run(tlsgen.Options{Client: tls12(cli(sni)), Server: srv(g.chain(leaf)), Seed: g.seed, Time: clk.T,
			Request: request(sni), Response: response})
		if err != nil {
			return err
		}
		isn := [2]uint32{0x10000000 * uint32(i+1), 0x70000000 + 0x1000000*uint32(i)}
		cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: sv, Clock: clk, ISN: isn})
		if err != nil {
			return err
		}
		if err := tlsgen.Play(cv, tr.Events, tlsgen.PlayOptions{}); err != nil {
			return err
		}
		clk.Advance(time.Second)
	}
	return nil
}

// certRule makes the -fire capture of a certificate rule: TLS 1.2 so that
// the certificate is visible.
func certRule(rule, leaf, sni, desc string) capture {
	return capture{path: "rules/" + rule + "-fire.pcap", desc: "TLS 1.2, " + desc,
		make: lazy(func(g *gen) conn {
			return conn{client: tls12(cli(sni)), server: srv(g.chain(leaf))}
		})}
}

// quiet makes a rule's -quiet capture: an ordinary TLS 1.2 connection with
// SNI, a 2048-bit RSA leaf valid for a year under the test intermediate,
// ECDHE-RSA-AES128-GCM-SHA256. No built-in rule except cert.untrusted (the
// test CA is not trusted) fires on it.
func quiet(rule string) capture {
	return capture{path: "rules/" + rule + "-quiet.pcap",
		desc: "TLS 1.2 ECDHE-RSA-AES128-GCM, SNI rsa.tlsentry.test, RSA 2048 leaf + intermediate, valid 1 year",
		make: lazy(func(g *gen) conn {
			return conn{client: tls12(cli("rsa.tlsentry.test")), server: srv(g.chain("rsa2048"))}
		})}
}

func legacy(v uint16, suite uint16) makeFunc { return legacyCert(v, suite, "rsa2048") }

func legacyCert(v uint16, suite uint16, leaf string) makeFunc {
	return lazy(func(g *gen) conn {
		c := cli("legacy.tlsentry.test")
		c.MinVersion, c.MaxVersion, c.CipherSuites = v, v, []uint16{suite}
		s := srv(g.chain(leaf))
		s.MinVersion, s.CipherSuites = tls.VersionTLS10, []uint16{suite}
		return conn{client: c, server: s}
	})
}

func resumption(v uint16) makeFunc {
	return func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
		c := cli("ecdsa.tlsentry.test", "h2")
		c.MaxVersion = v
		c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		s := srv(g.chain("ecdsa-p256"), "h2")
		s.SetSessionTicketKeys([][32]byte{{'t', 'l', 's', 'e', 'n', 't', 'r', 'y'}})
		for i := range 2 {
			tr, err := g.tls(w, clk, conn{client: c, server: s})
			if err != nil {
				return err
			}
			if tr.State.DidResume != (i == 1) {
				return errResumption
			}
		}
		return nil
	}
}

var errResumption = errorString("resumption did not happen as planned")

type errorString string

func (e errorString) Error() string { return string(e) }

func clientCert(v uint16) makeFunc {
	return func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
		c := cli("ecdsa.tlsentry.test")
		c.MaxVersion = v
		c.Certificates = []tls.Certificate{g.certs["client"].TLS()}
		s := srv(g.chain("ecdsa-p256"))
		s.ClientAuth = tls.RequireAnyClientCert
		_, err := g.tls(w, clk, conn{client: c, server: s})
		return err
	}
}

// fragmentHello sends the ClientHello's packets as IPv4 fragments of 512
// bytes; overlap > 0 adds a fragment of that many different bytes
// overlapping the first (pcapgen.Segment.FragmentOverlap).
func fragmentHello(overlap int) tlsgen.PlayOptions {
	return tlsgen.PlayOptions{Mangle: func(i int, segs []pcapgen.Segment) []pcapgen.Segment {
		if i == 0 {
			for j := range segs {
				segs[j].FragmentSize, segs[j].FragmentOverlap = 512, overlap
			}
		}
		return segs
	}}
}

// halveFirst is a PlayOptions.SegmentSize sending the first event (the
// ClientHello) in two segments.
func halveFirst(i int, e tlsgen.Event) int {
	if i == 0 {
		return (len(e.Data) + 1) / 2
	}
	return 0
}

// messy reorders and retransmits the server's first flight and sends the
// ClientHello in two segments.
func messy() tlsgen.PlayOptions {
	return tlsgen.PlayOptions{
		SegmentSize: halveFirst,
		Mangle: func(i int, segs []pcapgen.Segment) []pcapgen.Segment {
			if i != 1 || len(segs) < 2 {
				return segs
			}
			out := pcapgen.Reorder(segs)
			out = pcapgen.Duplicate(out, 0)
			// Resend the last 100 bytes of the first segment together with
			// the first 100 of the second: an overlap with identical bytes.
			a, b := segs[0], segs[1]
			ov := a
			ov.Seq = a.Seq + uint32(len(a.Payload)) - 100
			ov.Payload = append(append([]byte(nil), a.Payload[len(a.Payload)-100:]...), b.Payload[:min(100, len(b.Payload))]...)
			return append(out, ov)
		},
	}
}

func plainHTTP() []tlsgen.Event {
	return []tlsgen.Event{
		{From: tlsgen.Client, Data: request("198.51.100.20")},
		{From: tlsgen.Server, Data: response},
		{From: tlsgen.Client, Close: true},
		{From: tlsgen.Server, Close: true},
	}
}

func ssh() []tlsgen.Event {
	kexinit := func(cookie byte) []byte {
		body := []byte{20}
		for range 16 {
			body = append(body, cookie)
		}
		for _, s := range []string{"curve25519-sha256", "ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""} {
			body = binary.BigEndian.AppendUint32(body, uint32(len(s)))
			body = append(body, s...)
		}
		body = append(body, 0, 0, 0, 0, 0)
		pad := 8 - (len(body)+5)%8
		if pad < 4 {
			pad += 8
		}
		pkt := binary.BigEndian.AppendUint32(nil, uint32(len(body)+pad+1))
		pkt = append(pkt, byte(pad))
		pkt = append(pkt, body...)
		return append(pkt, make([]byte, pad)...)
	}
	return []tlsgen.Event{
		{From: tlsgen.Server, Data: []byte("SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n")},
		{From: tlsgen.Client, Data: []byte("SSH-2.0-OpenSSH_9.2p1\r\n")},
		{From: tlsgen.Client, Data: kexinit(0xaa)},
		{From: tlsgen.Server, Data: kexinit(0xbb)},
		{From: tlsgen.Client, Close: true},
		{From: tlsgen.Server, Close: true},
	}
}

// sslv2Hello is an SSLv2-format CLIENT-HELLO asking for TLS 1.0 (as old
// OpenSSL and scanners send), with three cipher specs.
func sslv2Hello() []byte {
	specs := []byte{0x00, 0x00, 0x2f, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x80} // AES128-SHA, DES-CBC3-SHA, SSL2 RC4-MD5
	challenge := []byte("tlsentry-sslv2!!")
	body := []byte{1, 0x03, 0x01}
	body = binary.BigEndian.AppendUint16(body, uint16(len(specs)))
	body = binary.BigEndian.AppendUint16(body, 0)
	body = binary.BigEndian.AppendUint16(body, uint16(len(challenge)))
	body = append(body, specs...)
	body = append(body, challenge...)
	return append([]byte{0x80 | byte(len(body)>>8), byte(len(body))}, body...)
}

// heartbleed replays a real TLS 1.2 ClientHello and server flight, then the
// client sends a heartbeat request (content type 24) in clear whose payload
// length (16384) exceeds its record (3 bytes), and the server resets.
func heartbleed(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
	g.seed++
	tr, err := tlsgen.Run(tlsgen.Options{Client: tls12(cli("ecdsa.tlsentry.test")), Server: srv(g.chain("ecdsa-p256")),
		Seed: g.seed, Time: clk.T})
	if err != nil {
		return err
	}
	if len(tr.Events) < 2 || tr.Events[0].From != tlsgen.Client || tr.Events[1].From != tlsgen.Server {
		return errorString("unexpected TLS 1.2 transcript")
	}
	hb := []byte{24, 0x03, 0x03, 0x00, 0x03, 0x01, 0x40, 0x00}
	cl, sv := g.endpoints(false)
	cv, err := w.NewConv(pcapgen.ConvConfig{Client: cl, Server: sv, Clock: clk})
	if err != nil {
		return err
	}
	if err := tlsgen.Play(cv, []tlsgen.Event{tr.Events[0], tr.Events[1], {From: tlsgen.Client, Data: hb}}, tlsgen.PlayOptions{}); err != nil {
		return err
	}
	return cv.Reset(pcapgen.ServerToClient)
}

// quicCapture writes a QUIC handshake start over UDP: the client's Initial
// packets (the ClientHello split over two CRYPTO frames in two 1200-byte
// datagrams when it is long, as post-quantum key shares make it), the
// server's Initial with the ServerHello, and a few opaque short-header
// packets. Only Initials can be decrypted by an observer.
func quicCapture(version uint32, v6 bool) makeFunc {
	return func(g *gen, w *pcapgen.Writer, clk *pcapgen.Clock) error {
		g.seed++
		dcid := []byte{0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, byte(version)}
		cscid, sscid := []byte{0xc1, 0x1e, 0x47, 0x01}, []byte{0x5e, 0x4e, 0x01, 0x02, 0x03}
		ch, sh, err := tlsgen.QUICHello(
			&tls.Config{ServerName: "quic.tlsentry.test", NextProtos: []string{"h3"}, InsecureSkipVerify: true},
			&tls.Config{Certificates: []tls.Certificate{g.chain("ecdsa-p256")}, NextProtos: []string{"h3"},
				CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}},
			tlsgen.QUICTransportParameters(cscid), g.seed)
		if err != nil {
			return err
		}
		cl, sv := g.endpoints(v6)
		link := &pcapgen.Link{}
		const chunk = 1000
		for off, pn := 0, uint32(0); off < len(ch); off, pn = off+chunk, pn+1 {
			p := tlsgen.QUICInitial{Version: version, DCID: dcid, SCID: cscid, PacketNumber: pn,
				CryptoOffset: uint64(off), Crypto: ch[off:min(off+chunk, len(ch))], PadTo: 1200}
			pkt, err := p.Seal()
			if err != nil {
				return err
			}
			if err := w.WriteUDP(clk.Next(), link, false, cl, sv, pkt); err != nil {
				return err
			}
		}
		p := tlsgen.QUICInitial{Version: version, DCID: cscid, SCID: sscid, Crypto: sh, Server: true, KeysDCID: dcid}
		pkt, err := p.Seal()
		if err != nil {
			return err
		}
		if err := w.WriteUDP(clk.Next(), link, true, sv, cl, pkt); err != nil {
			return err
		}
		// 1-RTT packets: short header, fixed bit, opaque protected bytes.
		for i := range 3 {
			from, to, dst := cl, sv, sscid
			if i%2 == 1 {
				from, to, dst = sv, cl, cscid
			}
			b := append([]byte{0x40 | byte(i)}, dst...)
			for j := range 60 + 20*i {
				b = append(b, byte(j*31+i*7))
			}
			if err := w.WriteUDP(clk.Next(), link, i%2 == 1, from, to, b); err != nil {
				return err
			}
		}
		return nil
	}
}
