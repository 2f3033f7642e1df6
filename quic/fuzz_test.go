package quic

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tlsentry/tlsentry/internal/tlsgen"
)

// FuzzDatagram walks the coalesced long-header packets of a datagram the
// way capture does: header, Initial keys from the packet's own Destination
// Connection ID (and from dcid, as a server's packet would need), header
// protection, AEAD, frames, CRYPTO reassembly. Nothing may panic, the
// datagram is not changed (packets are opened in a copy) and the stream
// stays bounded.
func FuzzDatagram(f *testing.F) {
	f.Add(unhex(f, rfc9001ServerPacket), unhex(f, rfcDCID))
	f.Add(unhex(f, rfc9369ServerPacket), unhex(f, rfcDCID))
	if h, err := tlsgen.SampleQUICHello(); err == nil {
		for _, p := range []tlsgen.QUICInitial{
			{Version: V1, DCID: benchDCID, SCID: []byte{1, 2}, Crypto: h[0], PadTo: 1200},
			{Version: V2, DCID: benchDCID, CryptoOffset: 7, Crypto: h[0][7:90]},
			{Version: V1, DCID: []byte{1, 2}, SCID: []byte{3, 4}, Crypto: h[1], Server: true, KeysDCID: benchDCID},
		} {
			if b, err := p.Seal(); err == nil {
				f.Add(b, benchDCID)
				f.Add(append(slices.Clone(b), b...), benchDCID) // coalesced
			}
		}
	}
	f.Add([]byte{0xc3, 'Q', '0', '4', '6', 0x50, 1, 2, 3, 4, 5, 6, 7, 8}, []byte{})
	f.Fuzz(func(t *testing.T, dgram, dcid []byte) {
		in := slices.Clone(dgram)
		var cs [2]CryptoStream
		var largest [2]uint64
		_ = IsGoogleQUIC(dgram)
		b := dgram
		for len(b) > 0 && b[0]&0x80 != 0 {
			h, ok := ParseLongHeader(b)
			if !ok || h.End > len(b) {
				break
			}
			if h.End <= 0 {
				t.Fatalf("header of %d bytes ends at %d", len(b), h.End)
			}
			pkt := b[:h.End]
			b = b[h.End:]
			if h.Type != Initial || !Supported(h.Version) {
				continue
			}
			for side, id := range [][]byte{h.DCID, dcid} {
				k, ok := NewKeys(h.Version, id, side == 1)
				if !ok {
					t.Fatalf("version %#x supported without keys", h.Version)
				}
				payload, pn, ok := k.Open(slices.Clone(pkt), &h, largest[side])
				if !ok {
					continue
				}
				largest[side] = max(largest[side], pn+1)
				WalkInitialFrames(payload, &cs[side], IsGoogleTLSVersion(h.Version))
			}
		}
		if !bytes.Equal(in, dgram) {
			t.Fatal("the datagram was changed")
		}
		for _, c := range cs {
			if len(c.buf) > MaxCrypto || len(c.ranges) > maxRanges || len(c.Data()) > len(c.buf) {
				t.Fatalf("crypto stream: %d bytes, %d ranges, %d contiguous", len(c.buf), len(c.ranges), len(c.Data()))
			}
			c.Reset()
			if len(c.Data()) != 0 || c.Limited() {
				t.Fatal("Reset kept data")
			}
		}
	})
}
