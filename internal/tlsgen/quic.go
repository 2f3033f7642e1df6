package tlsgen

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// QUIC versions.
const (
	QUICv1 uint32 = 0x00000001 // RFC 9000
	QUICv2 uint32 = 0x6b3343cf // RFC 9369
)

// QUICHello runs a crypto/tls QUIC client (and, with a server config, a
// QUIC server) far enough to get the CRYPTO stream bytes of the Initial
// encryption level: the ClientHello and the server's ServerHello (nil
// without a server config). tp are the client's encoded transport
// parameters. Determinism as for Run: seed and the cryptocustomrand setting.
func QUICHello(client, server *tls.Config, tp []byte, seed uint64) (clientHello, serverHello []byte, err error) {
	r := NewRand(seed)
	client = client.Clone()
	if client.Rand == nil {
		client.Rand = r
	}
	if client.MinVersion == 0 {
		client.MinVersion = tls.VersionTLS13
	}
	c := tls.QUICClient(&tls.QUICConfig{TLSConfig: client})
	c.SetTransportParameters(tp)
	if err := c.Start(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("tlsgen: quic client: %w", err)
	}
	clientHello = initialData(c)
	if len(clientHello) == 0 {
		return nil, nil, errors.New("tlsgen: quic client wrote no Initial data")
	}
	if server == nil {
		return clientHello, nil, nil
	}
	server = server.Clone()
	if server.Rand == nil {
		server.Rand = r
	}
	if server.MinVersion == 0 {
		server.MinVersion = tls.VersionTLS13
	}
	s := tls.QUICServer(&tls.QUICConfig{TLSConfig: server})
	s.SetTransportParameters(tp)
	if err := s.Start(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("tlsgen: quic server: %w", err)
	}
	if err := s.HandleData(tls.QUICEncryptionLevelInitial, clientHello); err != nil {
		return nil, nil, fmt.Errorf("tlsgen: quic server: %w", err)
	}
	serverHello = initialData(s)
	return clientHello, serverHello, nil
}

// initialData drains the connection's events and returns the Initial-level
// CRYPTO data it wrote.
func initialData(q *tls.QUICConn) []byte {
	var out []byte
	for {
		e := q.NextEvent()
		if e.Kind == tls.QUICNoEvent {
			return out
		}
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			out = append(out, e.Data...)
		}
	}
}

// QUICInitialKeys are the packet protection keys of one side (RFC 9001
// section 5.2, RFC 9369 section 3.3).
type QUICInitialKeys struct {
	Key, IV, HP []byte
}

// InitialKeys derives the Initial keys from the client's first Destination
// Connection ID.
func InitialKeys(version uint32, dcid []byte, server bool) (QUICInitialKeys, error) {
	salt := []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	kl, il, hl := "quic key", "quic iv", "quic hp"
	switch version {
	case QUICv1:
	case QUICv2:
		salt = []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
		kl, il, hl = "quicv2 key", "quicv2 iv", "quicv2 hp"
	default:
		return QUICInitialKeys{}, fmt.Errorf("tlsgen: unknown QUIC version %#x", version)
	}
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		return QUICInitialKeys{}, err
	}
	label := "client in"
	if server {
		label = "server in"
	}
	secret := expandLabel(initial, label, 32)
	return QUICInitialKeys{Key: expandLabel(secret, kl, 16), IV: expandLabel(secret, il, 12), HP: expandLabel(secret, hl, 16)}, nil
}

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context.
func expandLabel(secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := []byte{byte(n >> 8), byte(n), byte(len(full))}
	info = append(info, full...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		panic(err) // only for n > 255*32, never asked for here
	}
	return out
}

// QUICInitial describes one Initial packet.
type QUICInitial struct {
	Version      uint32
	DCID, SCID   []byte
	Token        []byte
	PacketNumber uint32 // encoded in 4 bytes
	CryptoOffset uint64 // offset of Crypto in the CRYPTO stream
	Crypto       []byte
	Server       bool // sent by the server (server Initial keys)
	// PadTo pads the payload with PADDING frames until the packet has this
	// many bytes (clients must send Initial datagrams of at least 1200).
	PadTo int
	// KeysDCID is the client's original Destination Connection ID, from
	// which the keys derive; nil means DCID.
	KeysDCID []byte
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000)
	}
	return binary.BigEndian.AppendUint64(b, v|0xc0<<56)
}

// Seal builds the protected packet.
func (p QUICInitial) Seal() ([]byte, error) {
	kd := p.KeysDCID
	if kd == nil {
		kd = p.DCID
	}
	keys, err := InitialKeys(p.Version, kd, p.Server)
	if err != nil {
		return nil, err
	}
	const pnLen = 4
	typeBits := byte(0) // Initial is type 0 in v1
	if p.Version == QUICv2 {
		typeBits = 1 // and type 1 in v2 (RFC 9369 section 3.2)
	}
	hdr := []byte{0xc0 | typeBits<<4 | (pnLen - 1)}
	hdr = binary.BigEndian.AppendUint32(hdr, p.Version)
	hdr = append(hdr, byte(len(p.DCID)))
	hdr = append(hdr, p.DCID...)
	hdr = append(hdr, byte(len(p.SCID)))
	hdr = append(hdr, p.SCID...)
	hdr = appendVarint(hdr, uint64(len(p.Token)))
	hdr = append(hdr, p.Token...)

	payload := []byte{0x06}
	payload = appendVarint(payload, p.CryptoOffset)
	payload = appendVarint(payload, uint64(len(p.Crypto)))
	payload = append(payload, p.Crypto...)
	// Length field (2-byte varint) + packet number + payload + AEAD tag.
	if pad := p.PadTo - (len(hdr) + 2 + pnLen + len(payload) + 16); pad > 0 {
		payload = append(payload, make([]byte, pad)...)
	}
	length := pnLen + len(payload) + 16
	if length >= 1<<14 {
		return nil, errors.New("tlsgen: Initial packet too long")
	}
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(length)|0x4000)
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, p.PacketNumber)

	block, err := aes.NewCipher(keys.Key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := append([]byte(nil), keys.IV...)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(uint64(p.PacketNumber) >> (8 * i))
	}
	pkt := aead.Seal(hdr, nonce, payload, hdr)

	// Header protection (RFC 9001 section 5.4).
	hp, err := aes.NewCipher(keys.HP)
	if err != nil {
		return nil, err
	}
	var mask [16]byte
	hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+4+16])
	pkt[0] ^= mask[0] & 0x0f
	for i := range pnLen {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt, nil
}

// QUICTransportParameters returns a plausible encoded set of client
// transport parameters (RFC 9000 section 18) with the given source
// connection id.
func QUICTransportParameters(scid []byte) []byte {
	var b []byte
	param := func(id uint64, v []byte) {
		b = appendVarint(b, id)
		b = appendVarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	vi := func(v uint64) []byte { return appendVarint(nil, v) }
	param(0x01, vi(30000))   // max_idle_timeout
	param(0x04, vi(1048576)) // initial_max_data
	param(0x05, vi(524288))  // initial_max_stream_data_bidi_local
	param(0x06, vi(524288))  // initial_max_stream_data_bidi_remote
	param(0x07, vi(524288))  // initial_max_stream_data_uni
	param(0x08, vi(100))     // initial_max_streams_bidi
	param(0x09, vi(100))     // initial_max_streams_uni
	param(0x0f, scid)        // initial_source_connection_id
	return b
}

// SampleQUICHello is a crypto/tls QUIC ClientHello and ServerHello (the
// handshake messages of the Initial CRYPTO streams, without records) for
// quic.tlsentry.test with ALPN h3 and an X25519 key share, made once.
var SampleQUICHello = sync.OnceValues(func() ([2][]byte, error) {
	key, err := GenerateKey(P256, NewRand(1))
	if err != nil {
		return [2][]byte{}, err
	}
	cert, err := Issue(CertSpec{Name: "quic", Key: P256, CommonName: "quic.tlsentry.test",
		DNSNames: []string{"quic.tlsentry.test"}, NotBefore: DefaultTime, NotAfter: DefaultTime.AddDate(1, 0, 0)},
		key, nil, NewRand(2))
	if err != nil {
		return [2][]byte{}, err
	}
	ch, sh, err := QUICHello(
		&tls.Config{ServerName: "quic.tlsentry.test", NextProtos: []string{"h3"}, InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{cert.TLS()}, NextProtos: []string{"h3"}, CurvePreferences: []tls.CurveID{tls.X25519}},
		QUICTransportParameters([]byte{1, 2, 3, 4}), 7)
	return [2][]byte{ch, sh}, err
})

// T is what the Must helpers need of a *testing.T or *testing.B.
type T interface {
	Helper()
	Fatal(args ...any)
}

// MustSampleQUICHello returns SampleQUICHello's ClientHello and ServerHello,
// or fails t.
func MustSampleQUICHello(t T) (ch, sh []byte) {
	t.Helper()
	h, err := SampleQUICHello()
	if err != nil {
		t.Fatal(err)
	}
	return h[0], h[1]
}

// MustSeal returns p.Seal(), or fails t.
func (p QUICInitial) MustSeal(t T) []byte {
	t.Helper()
	b, err := p.Seal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
