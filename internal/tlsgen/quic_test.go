package tlsgen

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/hex"
	"testing"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// RFC 9001 appendix A.1.
func TestInitialKeysRFC9001(t *testing.T) {
	dcid := unhex("8394c8f03e515708")
	for _, tc := range []struct {
		server      bool
		key, iv, hp string
	}{
		{false, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{true, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
	} {
		k, err := InitialKeys(QUICv1, dcid, tc.server)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(k.Key) != tc.key || hex.EncodeToString(k.IV) != tc.iv || hex.EncodeToString(k.HP) != tc.hp {
			t.Errorf("server=%v: got key %x iv %x hp %x", tc.server, k.Key, k.IV, k.HP)
		}
	}
}

// TestInitialRoundTrip removes header protection and decrypts a sealed
// packet the way a receiver does.
func TestInitialRoundTrip(t *testing.T) {
	ch, sh, err := QUICHello(&tls.Config{ServerName: "quic.tlsentry.test", NextProtos: []string{"h3"}, InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{testCerts(t)["ecdsa"].TLS()}, NextProtos: []string{"h3"}, CurvePreferences: []tls.CurveID{tls.X25519}},
		QUICTransportParameters([]byte{1, 2, 3, 4}), 9)
	if err != nil {
		t.Fatal(err)
	}
	if ch[0] != 1 || sh[0] != 2 {
		t.Fatalf("ClientHello type %d, ServerHello type %d", ch[0], sh[0])
	}
	for _, v := range []uint32{QUICv1, QUICv2} {
		p := QUICInitial{Version: v, DCID: unhex("0011223344556677"), SCID: []byte{1, 2, 3, 4}, PacketNumber: 2, CryptoOffset: 5, Crypto: ch[5:300], PadTo: 1200}
		pkt, err := p.Seal()
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) != 1200 {
			t.Fatalf("packet of %d bytes", len(pkt))
		}
		keys, _ := InitialKeys(v, p.DCID, false)
		pnOff := 1 + 4 + 1 + 8 + 1 + 4 + 1 + 2
		hp, _ := aes.NewCipher(keys.HP)
		var mask [16]byte
		hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
		hdr := append([]byte(nil), pkt[:pnOff+4]...)
		hdr[0] ^= mask[0] & 0x0f
		for i := range 4 {
			hdr[pnOff+i] ^= mask[1+i]
		}
		wantType := byte(0)
		if v == QUICv2 {
			wantType = 1
		}
		if hdr[0] != 0xc3|wantType<<4 || hdr[pnOff+3] != 2 {
			t.Fatalf("version %#x: header after unmasking % x", v, hdr[:1])
		}
		block, _ := aes.NewCipher(keys.Key)
		aead, _ := cipher.NewGCM(block)
		nonce := append([]byte(nil), keys.IV...)
		nonce[11] ^= 2
		plain, err := aead.Open(nil, nonce, pkt[pnOff+4:], hdr)
		if err != nil {
			t.Fatalf("version %#x: %v", v, err)
		}
		// CRYPTO frame, offset 5 (1-byte varint), length 295 (2-byte varint).
		if plain[0] != 6 || plain[1] != 5 || string(plain[4:4+295]) != string(ch[5:300]) {
			t.Fatalf("version %#x: frame % x", v, plain[:8])
		}
	}
}
