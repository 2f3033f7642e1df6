package capture

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/crypto/cryptobyte"
)

// Link types that gopacket/layers names differently or not at all.
const (
	linkTypeDLTRaw12 layers.LinkType = 12 // DLT_RAW on most BSDs
	linkTypeDLTRaw14 layers.LinkType = 14 // DLT_RAW on OpenBSD
)

// Decoding bounds. A packet that needs more is counted in TooDeep.
const (
	maxTunnelDepth = 4  // decapsulations per packet
	maxLayers      = 32 // link/VLAN/IP/tunnel layers per packet
	maxIPv6ExtHdrs = 8  // IPv6 extension headers skipped per IPv6 header
)

// decodeStats counts what a Decoder saw. Every packet given to Decode is
// counted in Packets and in exactly one of Decoded, NonIP, NonTCPUDP,
// Truncated, Malformed, UnsupportedLinkType, TooDeep, FragmentsPending and
// FragmentsDropped. Tunneled, Reassembled, VLANOverflow and PayloadTruncated
// count properties of packets on top of that.
type decodeStats struct {
	Packets uint64 // calls to Decode
	Decoded uint64 // IP TCP/UDP packets returned (Decode returned true)

	NonIP               uint64 // no IP inside (ARP, LLC, LLDP, unknown EtherType ...)
	NonTCPUDP           uint64 // IP carrying something else (ICMP, ESP, SCTP ...)
	Truncated           uint64 // a header is cut short (snap length, broken capture)
	Malformed           uint64 // a header does not parse (bad version, lengths ...)
	UnsupportedLinkType uint64 // link type Decode does not know
	TooDeep             uint64 // more than maxTunnelDepth tunnels or maxLayers layers
	FragmentsPending    uint64 // fragments taken by the defragmenter, datagram not yet complete
	FragmentsDropped    uint64 // fragments not reassembled: no defragmenter, refused by it, or an IPv6 Fragment header after other extension headers

	Tunneled         uint64 // packets decapsulated from at least one tunnel (GRE, ERSPAN, VXLAN, GENEVE, IP-in-IP)
	Reassembled      uint64 // decoded packets that are reassembled datagrams
	VLANOverflow     uint64 // packets with more than maxVLANs VLAN tags (the outermost are kept)
	PayloadTruncated uint64 // decoded packets whose payload is cut short (Packet.Truncated)
	FragmentOverlaps uint64 // fragments overlapping received bytes with different bytes (the defragmenter's OverlapsDifferent)
}

// layerKind is the next header Decode has to look at.
type layerKind uint8

const (
	kNone layerKind = iota
	kEthernet
	kVLAN
	kSLL
	kSLL2
	kLoopback
	kPPP
	kRawIP // IPv4 or IPv6, by the version nibble
	kIPv4
	kIPv6
	kGRE
	kERSPAN2
	kERSPAN3
	kMPLS
	kTCP
	kUDP
	kDone // the packet is decoded (Decode returns true); kinds from here on end the loop
	kFail // the packet is counted and dropped (Decode returns false)
)

// Decoder turns captured frames into Packets. It keeps preallocated
// gopacket/layers decoders and reuses them, so Decode does not allocate for
// well-formed packets. A Decoder is not safe for concurrent use: give each
// worker its own.
type Decoder struct {
	stats decodeStats

	// defrag reassembles IP fragments; NewDecoder sets one with
	// defaultDefragConfig. With nil, fragments are counted and dropped.
	defrag *defragmenter
	// checksums: validate TCP and UDP checksums (Packet.Checksum).
	checksums bool

	sll    layers.LinuxSLL
	sll2   layers.LinuxSLL2
	loop   layers.Loopback
	ip4    layers.IPv4
	ip6    layers.IPv6
	gre    layers.GRE
	erspan layers.ERSPANII
	fb     truncFeedback
}

// NewDecoder returns a Decoder with a defragmenter using
// defaultDefragConfig.
func NewDecoder() *Decoder {
	return &Decoder{defrag: newDefragmenter(defaultDefragConfig())}
}

// truncFeedback is the gopacket.DecodeFeedback the layers report truncation to.
type truncFeedback struct{ truncated bool }

func (f *truncFeedback) SetTruncated() { f.truncated = true }

// decodeState is what Decode carries from one layer to the next.
type decodeState struct {
	p           *Packet // p.Timestamp: packet time, for the defragmenter
	ipBytes     []byte  // innermost IP header and what follows, as captured
	tunnels     int
	reassembled bool
}

// Decode decodes one frame of link type lt into p (which it overwrites) and
// reports whether it is an IP TCP or UDP packet. After link layers, VLAN tags
// and tunnels (GRE, ERSPAN I/II/III, VXLAN on UDP 4789, GENEVE on UDP 6081,
// IP-in-IP) it fills in the innermost IP header and its TCP or UDP header.
// IPv4 fragments and IPv6 fragments (Fragment header right after the IPv6
// header) go to the Decoder's defragmenter; when one completes a datagram,
// Decode returns the reassembled packet. Packets it does not return are
// counted in d.stats by reason.
//
// p.Payload and the addresses alias data (or the defragmenter's buffer) and
// are valid until the next Decode on d, and while data is. Decode resets
// *p first: a reused Packet needs no clearing.
func (d *Decoder) Decode(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, p *Packet) bool {
	d.stats.Packets++
	*p = Packet{Timestamp: ci.Timestamp, WireLen: ci.Length}
	d.fb.truncated = false
	st := decodeState{p: p}
	k := linkKind(lt)
	if k == kNone {
		d.fail(&d.stats.UnsupportedLinkType, &st)
		return false
	}
	for range maxLayers {
		k, data = d.layer(k, data, &st)
		if k >= kDone {
			return k == kDone
		}
	}
	d.fail(&d.stats.TooDeep, &st)
	return false
}

// linkKind maps a link type to the first layer, kNone if unsupported.
func linkKind(lt layers.LinkType) layerKind {
	switch lt {
	case layers.LinkTypeEthernet:
		return kEthernet
	case layers.LinkTypeLinuxSLL:
		return kSLL
	case layers.LinkTypeLinuxSLL2:
		return kSLL2
	case layers.LinkTypeRaw, linkTypeDLTRaw12, linkTypeDLTRaw14:
		return kRawIP
	case layers.LinkTypeIPv4:
		return kIPv4
	case layers.LinkTypeIPv6:
		return kIPv6
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return kLoopback
	case layers.LinkTypePPP:
		return kPPP
	}
	return kNone
}

// layer decodes one layer of kind k at the start of data and returns the
// next layer and its bytes, or kDone (packet decoded) or kFail (packet
// counted and dropped).
func (d *Decoder) layer(k layerKind, data []byte, st *decodeState) (layerKind, []byte) {
	switch k {
	case kEthernet:
		return d.ethernet(data, st)
	case kVLAN:
		return d.vlan(data, st)
	case kSLL:
		return d.linuxSLL(data, st)
	case kSLL2:
		return d.linuxSLL2(data, st)
	case kLoopback:
		return d.loopback(data, st)
	case kPPP:
		return d.ppp(data, st)
	case kRawIP:
		return d.rawIP(data, st)
	case kIPv4:
		return d.ipv4(data, st)
	case kIPv6:
		return d.ipv6(data, st)
	case kGRE:
		return d.greLayer(data, st)
	case kERSPAN2:
		return d.erspan2(data, st)
	case kMPLS:
		return d.mpls(data, st)
	case kERSPAN3:
		return d.erspan3(data, st)
	case kTCP:
		return d.tcpLayer(data, st)
	case kUDP:
		return d.udpLayer(data, st)
	}
	return d.fail(&d.stats.NonIP, st)
}

// ethernet reads the EtherType of an Ethernet II header. An 802.3 length
// (below 0x0600: LLC follows) maps to kNone, as every value etherKind does
// not know.
func (d *Decoder) ethernet(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 14 {
		return d.fail(&d.stats.Truncated, st)
	}
	return etherKind(layers.EthernetType(binary.BigEndian.Uint16(data[12:14]))), data[14:]
}

// vlan decodes one 802.1Q / 802.1ad tag; more than maxVLANs tags keep the
// outermost and are counted once in VLANOverflow.
func (d *Decoder) vlan(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 4 {
		return d.fail(&d.stats.Truncated, st)
	}
	tci, t := binary.BigEndian.Uint16(data[0:2]), binary.BigEndian.Uint16(data[2:4])
	p := st.p
	if p.NVLANs < maxVLANs {
		p.VLANs[p.NVLANs] = tci & 0x0fff
		p.NVLANs++
	} else if p.NVLANs == maxVLANs {
		p.NVLANs++ // mark the overflow once; undone by done
		d.stats.VLANOverflow++
	}
	return etherKind(layers.EthernetType(t)), data[4:] // an 802.3 length: kNone
}

func (d *Decoder) linuxSLL(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 16 {
		return d.fail(&d.stats.Truncated, st)
	}
	if d.sll.DecodeFromBytes(data, &d.fb) != nil {
		return d.fail(&d.stats.Malformed, st)
	}
	return etherKind(d.sll.EthernetType), d.sll.Payload
}

func (d *Decoder) linuxSLL2(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 20 {
		return d.fail(&d.stats.Truncated, st)
	}
	if d.sll2.DecodeFromBytes(data, &d.fb) != nil {
		return d.fail(&d.stats.Malformed, st)
	}
	return etherKind(d.sll2.ProtocolType), d.sll2.Payload
}

// loopback decodes the 4-byte BSD loopback (DLT_NULL / DLT_LOOP) header.
func (d *Decoder) loopback(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 4 {
		return d.fail(&d.stats.Truncated, st)
	}
	if !loopbackFamilyOK(data) {
		return d.fail(&d.stats.Malformed, st)
	}
	_ = d.loop.DecodeFromBytes(data, &d.fb)
	switch d.loop.Family {
	case layers.ProtocolFamilyIPv4:
		return kIPv4, d.loop.Payload
	case layers.ProtocolFamilyIPv6BSD, layers.ProtocolFamilyIPv6FreeBSD,
		layers.ProtocolFamilyIPv6Darwin, layers.ProtocolFamilyIPv6Linux:
		return kIPv6, d.loop.Payload
	}
	return d.fail(&d.stats.NonIP, st)
}

func (d *Decoder) ppp(data []byte, st *decodeState) (layerKind, []byte) {
	k, rest, ok := decodePPP(data)
	if !ok {
		return d.fail(&d.stats.Truncated, st)
	}
	return k, rest
}

// rawIP tells IPv4 from IPv6 by the version nibble.
func (d *Decoder) rawIP(data []byte, st *decodeState) (layerKind, []byte) {
	s := cryptobyte.String(data)
	var vers uint8
	if !s.ReadUint8(&vers) {
		return d.fail(&d.stats.Truncated, st)
	}
	switch vers >> 4 {
	case 4:
		return kIPv4, data
	case 6:
		return kIPv6, data
	}
	return d.fail(&d.stats.Malformed, st)
}

// mpls skips one RFC 3032 label stack entry; after the bottom of the stack
// the payload is IPv4 or IPv6 by its first nibble (no control word /
// pseudowire Ethernet).
func (d *Decoder) mpls(data []byte, st *decodeState) (layerKind, []byte) {
	s := cryptobyte.String(data)
	var entry uint32
	if !s.ReadUint32(&entry) {
		return d.fail(&d.stats.Truncated, st)
	}
	if entry&0x100 != 0 { // bottom of stack
		return kRawIP, s
	}
	return kMPLS, s
}

// ipv4 decodes an IPv4 header; fragments go to the defragmenter.
func (d *Decoder) ipv4(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 20 {
		return d.fail(&d.stats.Truncated, st)
	}
	vihl, tl := data[0], int(binary.BigEndian.Uint16(data[2:4]))
	if vihl>>4 != 4 || vihl&0x0f < 5 {
		return d.fail(&d.stats.Malformed, st)
	}
	ihl := int(vihl&0x0f) * 4
	if len(data) < ihl {
		return d.fail(&d.stats.Truncated, st)
	} else if tl != 0 && tl < ihl {
		return d.fail(&d.stats.Malformed, st)
	}
	// The packet ends at the total length; 0 (TSO) is the captured length,
	// as layers.IPv4 reads it (its Length field clamped to 16 bits).
	end, ipLen := tl, min(tl, len(data))
	if tl == 0 {
		end, ipLen = len(data), min(len(data), 0xffff)
	}
	var payload []byte
	if ihl == 20 {
		if len(data) < end {
			d.fb.truncated = true
		} else {
			data = data[:end]
		}
		payload = data[20:]
	} else if d.ip4.DecodeFromBytes(data, &d.fb) != nil { // options
		return d.fail(&d.stats.Malformed, st)
	} else {
		payload = d.ip4.Payload
	}
	ip := data[:ipLen]
	if binary.BigEndian.Uint16(data[6:8])&0x3fff != 0 { // more fragments, or an offset
		return d.ipv4Fragment(ip, st)
	}
	st.ipBytes = ip
	st.p.Src = netip.AddrFrom4([4]byte(data[12:16]))
	st.p.Dst = netip.AddrFrom4([4]byte(data[16:20]))
	return d.ipNext(data[9], payload, st)
}

// ipv4Fragment hands an IPv4 fragment (trimmed to its total length) to the
// defragmenter.
func (d *Decoder) ipv4Fragment(ip []byte, st *decodeState) (layerKind, []byte) {
	if d.defrag == nil || st.reassembled {
		return d.fail(&d.stats.FragmentsDropped, st)
	}
	if d.fb.truncated {
		// A fragment cut short cannot be reassembled.
		d.defrag.stats.Invalid++
		return d.fail(&d.stats.FragmentsDropped, st)
	}
	dg, res := d.defrag.addIPv4(ip, st.p.Timestamp)
	return d.defragged(kIPv4, dg, res, st)
}

// ipv6 decodes an IPv6 header and its extension headers; a fragment whose
// Fragment header follows the fixed header goes to the defragmenter.
func (d *Decoder) ipv6(data []byte, st *decodeState) (layerKind, []byte) {
	var vers uint8
	if s := cryptobyte.String(data); len(data) < 40 || !s.ReadUint8(&vers) {
		return d.fail(&d.stats.Truncated, st)
	}
	if vers>>4 != 6 {
		return d.fail(&d.stats.Malformed, st)
	}
	if d.ip6.DecodeFromBytes(data, &d.fb) != nil {
		if d.fb.truncated {
			return d.fail(&d.stats.Truncated, st)
		}
		return d.fail(&d.stats.Malformed, st)
	}
	if d.ip6.NextHeader == layers.IPProtocolIPv6Fragment {
		if hdr, frag, payload, ok := ipv6Fragment(data, d.ip6.Payload); ok {
			return d.ipv6Fragment(hdr, frag, payload, st)
		}
	}
	ipLen := len(data)
	if d.ip6.Length != 0 {
		ipLen = min(40+int(d.ip6.Length), len(data))
	}
	st.ipBytes = data[:ipLen]
	st.p.Src = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
	st.p.Dst = netip.AddrFrom16([16]byte(d.ip6.DstIP))
	proto, payload, res := skipIPv6Ext(uint8(d.ip6.NextHeader), d.ip6.Payload)
	switch res {
	case ext6OK:
		return d.ipNext(proto, payload, st)
	case ext6Truncated:
		return d.fail(&d.stats.Truncated, st)
	case ext6Fragment:
		return d.fail(&d.stats.FragmentsDropped, st)
	}
	return d.fail(&d.stats.Malformed, st)
}

// ipv6Fragment splits a packet whose Fragment header follows the fixed IPv6
// header into that header, the Fragment header and the fragment's data. It
// reports false for an atomic fragment (offset 0, no more fragments), which
// skipIPv6Ext skips, and for a Fragment header cut short.
func ipv6Fragment(data, payload []byte) (hdr, frag, rest []byte, ok bool) {
	s := cryptobyte.String(payload)
	var fh []byte
	if !s.ReadBytes(&fh, 8) || binary.BigEndian.Uint16(fh[2:4]) == 0 {
		return nil, nil, nil, false
	}
	return data[:40], fh, s, true
}

// ipv6Fragment hands an IPv6 fragment to the defragmenter.
func (d *Decoder) ipv6Fragment(hdr, frag, payload []byte, st *decodeState) (layerKind, []byte) {
	if d.defrag == nil || st.reassembled || d.fb.truncated {
		return d.fail(&d.stats.FragmentsDropped, st)
	}
	dg, res := d.defrag.addIPv6(hdr, frag, payload, st.p.Timestamp)
	return d.defragged(kIPv6, dg, res, st)
}

// defragged continues with a datagram the defragmenter completed (decoded
// again from its IP header on, as layer k), or counts the fragment.
func (d *Decoder) defragged(k layerKind, dg []byte, res defragResult, st *decodeState) (layerKind, []byte) {
	d.stats.FragmentOverlaps = d.defrag.stats.OverlapsDifferent
	switch res {
	case defragComplete:
		st.reassembled = true
		if ov := d.defrag.lastOverlap; ov.end > 0 {
			st.p.FragOverlapOffset, st.p.FragOverlapLength = uint16(ov.start), uint16(ov.end-ov.start)
		}
		return k, dg
	case defragPending:
		return d.fail(&d.stats.FragmentsPending, st)
	}
	return d.fail(&d.stats.FragmentsDropped, st)
}

// ipNext maps an IP protocol number to the next layer, counting tunnels.
func (d *Decoder) ipNext(proto uint8, payload []byte, st *decodeState) (layerKind, []byte) {
	switch proto {
	case 6:
		return kTCP, payload
	case 17:
		return kUDP, payload
	case 47:
		return kGRE, payload
	case 4, 41: // IPv4 / IPv6 in IP
		if !d.enterTunnel(st) {
			return kFail, nil
		}
		if proto == 4 {
			return kIPv4, payload
		}
		return kIPv6, payload
	}
	return d.fail(&d.stats.NonTCPUDP, st)
}

// greLayer decodes GRE; ERSPAN type I is GRE protocol 0x88be without a
// sequence number and no ERSPAN header: the mirrored frame follows GRE.
func (d *Decoder) greLayer(data []byte, st *decodeState) (layerKind, []byte) {
	if !d.enterTunnel(st) {
		return kFail, nil
	}
	if len(data) < 4 {
		return d.fail(&d.stats.Truncated, st)
	}
	if d.gre.DecodeFromBytes(data, &d.fb) != nil {
		if d.fb.truncated {
			return d.fail(&d.stats.Truncated, st)
		}
		return d.fail(&d.stats.Malformed, st)
	}
	k := etherKind(d.gre.Protocol)
	if k == kERSPAN2 && !d.gre.SeqPresent {
		k = kEthernet
	}
	return k, d.gre.Payload
}

// erspan2 decodes the 8-byte ERSPAN type II header (version 1; 0 accepted).
func (d *Decoder) erspan2(data []byte, st *decodeState) (layerKind, []byte) {
	var vers uint8
	if s := cryptobyte.String(data); len(data) < 8 || !s.ReadUint8(&vers) {
		return d.fail(&d.stats.Truncated, st)
	}
	if v := vers >> 4; v != 1 && v != 0 {
		return d.fail(&d.stats.Malformed, st)
	}
	_ = d.erspan.DecodeFromBytes(data, &d.fb)
	return kEthernet, d.erspan.Payload
}

func (d *Decoder) erspan3(data []byte, st *decodeState) (layerKind, []byte) {
	k, rest, res := decodeERSPAN3(data)
	if res != tunnelOK {
		return d.fail(d.tunnelFailCounter(res), st)
	}
	return k, rest
}

// tcpLayer reads the TCP header: the end of the packet. Options are not
// looked at (layers.TCP accepts any option area within the data offset).
func (d *Decoder) tcpLayer(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 20 {
		return d.fail(&d.stats.Truncated, st)
	}
	off := int(data[12]>>4) * 4
	if off < 20 {
		return d.fail(&d.stats.Malformed, st)
	} else if off > len(data) {
		return d.fail(&d.stats.Truncated, st)
	}
	p := st.p
	p.Proto = 6
	p.SrcPort, p.DstPort = binary.BigEndian.Uint16(data[0:2]), binary.BigEndian.Uint16(data[2:4])
	p.Seq, p.Ack = binary.BigEndian.Uint32(data[4:8]), binary.BigEndian.Uint32(data[8:12])
	p.Flags = data[13]
	p.Payload = data[off:]
	if d.checksums && !d.fb.truncated {
		p.Checksum = checksumResult(l4Checksum(p.Src, p.Dst, 6, data), st)
	}
	return d.done(st)
}

// udpLayer reads the UDP header: the end of the packet, unless it carries
// a VXLAN or GENEVE tunnel. The payload ends at the length field, 0 is a
// jumbogram (the rest of data), below 8 is malformed.
func (d *Decoder) udpLayer(data []byte, st *decodeState) (layerKind, []byte) {
	if len(data) < 8 {
		return d.fail(&d.stats.Truncated, st)
	}
	ulen := int(binary.BigEndian.Uint16(data[4:6]))
	p := st.p
	switch {
	case ulen > len(data):
		d.fb.truncated = true
		p.Payload = data[8:]
	case ulen >= 8:
		p.Payload = data[8:ulen]
	case ulen == 0:
		p.Payload = data[8:]
	default:
		return d.fail(&d.stats.Malformed, st)
	}
	p.Proto = 17
	p.SrcPort, p.DstPort = binary.BigEndian.Uint16(data[0:2]), binary.BigEndian.Uint16(data[2:4])
	next, inner, res := udpTunnel(p.DstPort, p.Payload)
	switch res {
	case tunnelOK:
		if !d.enterTunnel(st) {
			return kFail, nil
		}
		return next, inner
	case tunnelTruncated:
		return d.fail(&d.stats.Truncated, st)
	}
	// Not a tunnel, or not a tunnel header after all: report the UDP packet.
	if d.checksums && !d.fb.truncated && binary.BigEndian.Uint16(data[6:8]) != 0 && ulen <= len(data) {
		p.Checksum = checksumResult(l4Checksum(p.Src, p.Dst, 17, data[:ulen]), st)
	}
	return d.done(st)
}

// enterTunnel counts one decapsulation and enforces maxTunnelDepth.
func (d *Decoder) enterTunnel(st *decodeState) bool {
	if st.tunnels >= maxTunnelDepth {
		d.fail(&d.stats.TooDeep, st)
		return false
	}
	st.tunnels++
	return true
}

func (d *Decoder) tunnelFailCounter(r tunnelResult) *uint64 {
	if r == tunnelTruncated {
		return &d.stats.Truncated
	}
	return &d.stats.Malformed
}

// fail counts a packet that Decode does not return, and returns kFail.
func (d *Decoder) fail(counter *uint64, st *decodeState) (layerKind, []byte) {
	*counter++
	if st.tunnels > 0 {
		d.stats.Tunneled++
	}
	return kFail, nil
}

// done finishes a decoded packet: counters, VLAN overflow mark, the bytes
// its hash covers (Packet.firstHash). It returns kDone.
func (d *Decoder) done(st *decodeState) (layerKind, []byte) {
	p := st.p
	d.stats.Decoded++
	if st.tunnels > 0 {
		d.stats.Tunneled++
	}
	if st.reassembled {
		d.stats.Reassembled++
	}
	if p.NVLANs > maxVLANs {
		p.NVLANs = maxVLANs
	}
	if d.fb.truncated {
		p.Truncated = true
		d.stats.PayloadTruncated++
	}
	n := min(len(st.ipBytes), hashedBytes)
	p.head = st.ipBytes[:n:n]
	return kDone, nil
}

// checksumResult is Packet.Checksum for a validated packet: a bad one
// larger than an Ethernet MTU that is not a reassembled datagram is
// csBadCoalesced (see ChecksumAuto).
func checksumResult(ok bool, st *decodeState) uint8 {
	switch {
	case ok:
		return csGood
	case len(st.ipBytes) > ethernetMTU && !st.reassembled:
		return csBadCoalesced
	}
	return csBad
}

// etherKind maps an EtherType (or GRE protocol type) to the next layer.
func etherKind(t layers.EthernetType) layerKind {
	switch t {
	case layers.EthernetTypeIPv4:
		return kIPv4
	case layers.EthernetTypeIPv6:
		return kIPv6
	case layers.EthernetTypeDot1Q, layers.EthernetTypeQinQ, 0x9100, 0x9200:
		return kVLAN
	case layers.EthernetTypeTransparentEthernetBridging: // 0x6558, GRE/GENEVE
		return kEthernet
	case layers.EthernetTypeERSPAN: // 0x88be: type I or II, told apart by GRE
		return kERSPAN2
	case ethernetTypeERSPAN3:
		return kERSPAN3
	case layers.EthernetTypeMPLSUnicast, layers.EthernetTypeMPLSMulticast:
		return kMPLS
	}
	return kNone
}

// loopbackFamilyOK repeats layers.Loopback's check without its error value:
// the family, in either byte order (a big-endian one starts with two zero
// bytes), fits in a byte.
func loopbackFamilyOK(data []byte) bool {
	s := cryptobyte.String(data)
	var fam uint32
	if !s.ReadUint32(&fam) {
		return false
	}
	if fam>>16 != 0 { // little-endian
		fam = bits.ReverseBytes32(fam)
	}
	return fam <= 0xff
}

// decodePPP skips a PPP header (RFC 1661, with or without the HDLC
// address/control bytes and protocol field compression).
func decodePPP(data []byte) (layerKind, []byte, bool) {
	s := cryptobyte.String(data)
	var addr, ctrl uint8
	if hdlc := s; hdlc.ReadUint8(&addr) && hdlc.ReadUint8(&ctrl) && addr == 0xff && ctrl == 0x03 {
		s = hdlc
	}
	var b0 uint8
	if !s.ReadUint8(&b0) {
		return kNone, nil, false
	}
	proto := uint16(b0)
	if b0&1 == 0 { // two-byte protocol field (not compressed)
		var b1 uint8
		if !s.ReadUint8(&b1) {
			return kNone, nil, false
		}
		proto = proto<<8 | uint16(b1)
	}
	switch proto {
	case 0x0021:
		return kIPv4, s, true
	case 0x0057:
		return kIPv6, s, true
	}
	return kNone, s, true
}

// IPv6 extension-header walk results.
type ext6Result uint8

const (
	ext6OK ext6Result = iota
	ext6Truncated
	ext6Fragment
	ext6TooMany
)

// skipIPv6Ext skips IPv6 extension headers (RFC 8200 4, RFC 4302 for AH) and
// returns the upper-layer protocol and its data. Atomic fragments (offset 0,
// no more fragments) are skipped; real fragments are reported as such.
func skipIPv6Ext(next uint8, data []byte) (uint8, []byte, ext6Result) {
	s := cryptobyte.String(data)
	for range maxIPv6ExtHdrs {
		if !ipv6ExtHeader(next) {
			return next, s, ext6OK
		}
		var nh, hlen uint8
		if h := s; len(s) < 8 || !h.ReadUint8(&nh) || !h.ReadUint8(&hlen) {
			return 0, nil, ext6Truncated
		}
		var n int
		switch next {
		case 51: // AH: length in 4-octet units, minus 2
			n = (int(hlen) + 2) * 4
		case 44: // fragment: 8 bytes, offset and M flag in bytes 2-3
			var fo uint16
			if h := s; h.Skip(2) && h.ReadUint16(&fo) && fo != 0 {
				return 0, nil, ext6Fragment
			}
			n = 8
		default: // length in 8-octet units, minus 1
			n = (int(hlen) + 1) * 8
		}
		if !s.Skip(n) {
			return 0, nil, ext6Truncated
		}
		next = nh
	}
	return 0, nil, ext6TooMany
}

// ipv6ExtHeader reports whether skipIPv6Ext skips next: hop-by-hop,
// routing, fragment, destination options, AH, mobility, HIP, shim6.
func ipv6ExtHeader(next uint8) bool {
	switch next {
	case 0, 43, 44, 51, 60, 135, 139, 140:
		return true
	}
	return false
}

// hashedBytes is how much of a packet, from the innermost IP header on,
// Packet.firstHash covers: the headers and the start of the payload tell two
// first packets apart; the rest of a full-sized segment (a fifth of a bulk
// replay's CPU when hashed whole) does not.
const hashedBytes = 128

// hash64 is a fast, deterministic 64-bit hash (the xxHash64 algorithm) of b.
// It hashes the start of the innermost IP packet (Packet.firstHash).
func hash64(b []byte) uint64 {
	const (
		p1 = 11400714785074694791
		p2 = 14029467366897019727
		p3 = 1609587929392839161
		p4 = 9650029242287828579
		p5 = 2870177450012600261
	)
	n := len(b)
	var h uint64
	if n >= 32 {
		v1 := uint64(p1)
		v1 += p2
		v2 := uint64(p2)
		v3 := uint64(0)
		v4 := uint64(0)
		v4 -= p1
		i := 0
		for ; n-i >= 32; i += 32 {
			w := b[i : i+32 : i+32]
			v1 = bits.RotateLeft64(v1+binary.LittleEndian.Uint64(w[0:8])*p2, 31) * p1
			v2 = bits.RotateLeft64(v2+binary.LittleEndian.Uint64(w[8:16])*p2, 31) * p1
			v3 = bits.RotateLeft64(v3+binary.LittleEndian.Uint64(w[16:24])*p2, 31) * p1
			v4 = bits.RotateLeft64(v4+binary.LittleEndian.Uint64(w[24:32])*p2, 31) * p1
		}
		b = b[i:]
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = (h^(bits.RotateLeft64(v1*p2, 31)*p1))*p1 + p4
		h = (h^(bits.RotateLeft64(v2*p2, 31)*p1))*p1 + p4
		h = (h^(bits.RotateLeft64(v3*p2, 31)*p1))*p1 + p4
		h = (h^(bits.RotateLeft64(v4*p2, 31)*p1))*p1 + p4
	} else {
		h = p5
	}
	h += uint64(n)
	for ; len(b) >= 8; b = b[8:] {
		k := bits.RotateLeft64(binary.LittleEndian.Uint64(b[:8])*p2, 31) * p1
		h = bits.RotateLeft64(h^k, 27)*p1 + p4
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b[:4])) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
