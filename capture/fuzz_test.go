package capture

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fuzzLinkTypes are the link types FuzzDecode tries; the fuzzer picks one
// by index, and index values past the list are passed as raw link types.
var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw,
	linkTypeDLTRaw12, linkTypeDLTRaw14, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
	layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypePPP,
}

func fuzzLinkType(i uint16) layers.LinkType {
	if int(i) < len(fuzzLinkTypes) {
		return fuzzLinkTypes[i]
	}
	return layers.LinkType(i)
}

func fuzzLinkIndex(lt layers.LinkType) uint16 {
	for i, l := range fuzzLinkTypes {
		if l == lt {
			return uint16(i)
		}
	}
	return uint16(lt)
}

// FuzzDecode feeds random frames of every link type to one long-lived
// Decoder (so the defragmenter accumulates state too). Seeds: the first
// packets of every corpus capture, when the corpus is present, and the
// tunnel frames of TestDecodeEncapsulations' kinds.
func FuzzDecode(f *testing.F) {
	if files, err := corpusFileList(); err == nil {
		for _, path := range files {
			src, err := OpenFile(path)
			if err != nil {
				continue
			}
			for range 8 {
				data, _, err := src.ReadPacket()
				if err != nil {
					break
				}
				f.Add(fuzzLinkIndex(src.LinkType()), bytes.Clone(data))
			}
			src.Close()
		}
	}
	f.Add(uint16(0), serialize(f, cat(outerUDP(4789), cat([]gopacket.SerializableLayer{vxlanLayer(), eth(layers.EthernetTypeDot1Q), vlan(33, layers.EthernetTypeIPv4)}, innerTCP()...)...)...))
	f.Add(uint16(0), serialize(f, cat(outerGRE(&layers.GRE{Protocol: ethernetTypeERSPAN3, SeqPresent: true}), cat([]gopacket.SerializableLayer{erspan3Header(9, 0, true), eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)...))
	f.Add(uint16(0), serialize(f, cat(outerUDP(6081), cat([]gopacket.SerializableLayer{geneveHeader(0x6558, 2), eth(layers.EthernetTypeIPv4)}, innerTCP()...)...)...))
	for _, fr := range fragment(bigTCP(f, 1, 200), 64, 128) {
		f.Add(uint16(3), fr)
	}
	d := NewDecoder()
	d.defrag = newDefragmenter(defragConfig{MaxDatagrams: 16, MaxBytes: 64 << 10})
	var p Packet
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		orig := bytes.Clone(data)
		ci := gopacket.CaptureInfo{Timestamp: testTime, CaptureLength: len(data), Length: len(data)}
		ok := d.Decode(data, ci, fuzzLinkType(lt), &p)
		if !bytes.Equal(data, orig) {
			t.Fatal("Decode modified its input")
		}
		if n := decodeOutcomes(&d.stats); n != d.stats.Packets {
			t.Fatalf("outcome counters add up to %d of %d packets: %+v", n, d.stats.Packets, d.stats)
		}
		if !ok {
			return
		}
		if p.Proto != 6 && p.Proto != 17 {
			t.Fatalf("proto %d", p.Proto)
		}
		if !p.Src.IsValid() || p.Src.Is4() != p.Dst.Is4() {
			t.Fatalf("addresses %v %v", p.Src, p.Dst)
		}
		if p.NVLANs < 0 || p.NVLANs > maxVLANs {
			t.Fatalf("NVLANs %d", p.NVLANs)
		}
		if len(p.Payload) > len(data) && d.stats.Reassembled == 0 {
			t.Fatalf("payload longer than the frame")
		}
		if s := d.defrag.snapshot(); s.Pending > 16 || s.PendingBytes > 64<<10 {
			t.Fatalf("defragmenter over its bounds: %+v", s)
		}
	})
}

func vxlanLayer() *layers.VXLAN { return &layers.VXLAN{ValidIDFlag: true, VNI: 5001} }

func corpusFileList() ([]string, error) {
	var files []string
	entries, err := os.ReadDir(pcapCorpusDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		sub, err := os.ReadDir(pcapCorpusDir + "/" + e.Name())
		if err != nil {
			continue
		}
		for _, s := range sub {
			files = append(files, pcapCorpusDir+"/"+e.Name()+"/"+s.Name())
		}
	}
	return files, nil
}

// FuzzReadFile feeds random file contents to the file source: it must
// never panic, and every error must be one line naming the file.
func FuzzReadFile(f *testing.F) {
	if files, err := corpusFileList(); err == nil {
		for _, path := range files {
			if b, err := os.ReadFile(path); err == nil && len(b) < 16<<10 {
				f.Add(b)
			}
		}
	}
	ps := testPackets(f, 3)
	pc := writePcap(f, ps, true)
	ng, _ := writePcapng(f, ps)
	f.Add(pc)
	f.Add(toBigEndian(pc))
	f.Add(ng)
	f.Add(gz(pc))
	f.Add(gz(ng))
	f.Add(pc[:len(pc)-3])
	f.Fuzz(func(t *testing.T, file []byte) {
		checkErr := func(err error) {
			if err == nil || err == io.EOF {
				return
			}
			if s := err.Error(); !strings.HasPrefix(s, "capture: fuzz.pcap: ") || strings.Contains(s, "\n") {
				t.Fatalf("error %q", s)
			}
		}
		s, err := newFileSource("fuzz.pcap", bytes.NewReader(file), int64(len(file)))
		if err != nil {
			checkErr(err)
			return
		}
		defer s.Close()
		for range 1000 {
			_, _, err := s.ReadPacket()
			if err != nil {
				checkErr(err)
				if _, _, err2 := s.ReadPacket(); err2 != err {
					t.Fatalf("error not sticky: %v, then %v", err, err2)
				}
				return
			}
		}
	})
}

// decodeOutcomes adds up the counters of which every packet is in exactly one.
func decodeOutcomes(s *decodeStats) uint64 {
	return s.Decoded + s.NonIP + s.NonTCPUDP + s.Truncated + s.Malformed + s.UnsupportedLinkType +
		s.TooDeep + s.FragmentsPending + s.FragmentsDropped
}
