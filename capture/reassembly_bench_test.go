package capture

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// These benchmarks compare our bounded per-direction reassembly with
// gopacket/reassembly on the same segments: in-order bulk, a short
// handshake-sized exchange per connection, and reordered segments.

const benchSeg = 1460

// --- ours ---

func benchOwn(b *testing.B, conns, segs int, reorder bool) {
	r := &reasm{maxPendingBytes: 64 << 10, maxPendingSegs: 128, maxStream: 1 << 30, st: new(counters)}
	payload := make([]byte, benchSeg)
	var n int
	deliver := func(d []byte) bool { n += len(d); return true }
	b.ReportAllocs()
	b.SetBytes(int64(conns * segs * benchSeg))
	for b.Loop() {
		for range conns {
			var h halfStream
			h.synAt(999)
			for i := 0; i < segs; i++ {
				j := i
				if reorder && i+1 < segs {
					if i%2 == 0 {
						j = i + 1
					} else {
						j = i - 1
					}
				}
				h.add(r, uint32(1000+j*benchSeg), payload, deliver)
			}
			h.finish(r)
		}
	}
}

// --- gopacket/reassembly ---

type gpStream struct{ n *int }

func (s *gpStream) Accept(*layers.TCP, gopacket.CaptureInfo, reassembly.TCPFlowDirection, reassembly.Sequence, *bool, reassembly.AssemblerContext) bool {
	return true
}
func (s *gpStream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	l, _ := sg.Lengths()
	*s.n += l
}
func (s *gpStream) ReassemblyComplete(reassembly.AssemblerContext) bool { return true }

type gpFactory struct{ n int }

func (f *gpFactory) New(_, _ gopacket.Flow, _ *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	return &gpStream{n: &f.n}
}

type gpCtx struct{ ci gopacket.CaptureInfo }

func (c *gpCtx) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

func benchGopacket(b *testing.B, conns, segs int, reorder bool) {
	f := &gpFactory{}
	pool := reassembly.NewStreamPool(f)
	asm := reassembly.NewAssembler(pool)
	payload := make([]byte, benchSeg)
	ctx := &gpCtx{ci: gopacket.CaptureInfo{Timestamp: time.Unix(1, 0)}}
	b.ReportAllocs()
	b.SetBytes(int64(conns * segs * benchSeg))
	port := 0
	var t layers.TCP // reused: the segments' cost, not building them
	for b.Loop() {
		for range conns {
			port++
			nf := gopacket.NewFlow(layers.EndpointIPv4, net.IP{10, 0, byte(port >> 16), byte(port >> 8)}, net.IP{192, 0, 2, byte(port)})
			t = layers.TCP{SrcPort: 1, DstPort: 443, Seq: 999, SYN: true}
			asm.AssembleWithContext(nf, &t, ctx)
			for i := 0; i < segs; i++ {
				j := i
				if reorder && i+1 < segs {
					if i%2 == 0 {
						j = i + 1
					} else {
						j = i - 1
					}
				}
				t = layers.TCP{SrcPort: 1, DstPort: 443, Seq: uint32(1000 + j*benchSeg), ACK: true}
				t.Payload = payload
				asm.AssembleWithContext(nf, &t, ctx)
			}
			t = layers.TCP{SrcPort: 1, DstPort: 443, Seq: uint32(1000 + segs*benchSeg), FIN: true, ACK: true}
			asm.AssembleWithContext(nf, &t, ctx)
		}
		asm.FlushAll()
	}
}

func BenchmarkReassemblyOwnInOrderBulk(b *testing.B)      { benchOwn(b, 1, 1000, false) }
func BenchmarkReassemblyGopacketInOrderBulk(b *testing.B) { benchGopacket(b, 1, 1000, false) }
func BenchmarkReassemblyOwnHandshakes(b *testing.B)       { benchOwn(b, 1000, 4, false) }
func BenchmarkReassemblyGopacketHandshakes(b *testing.B)  { benchGopacket(b, 1000, 4, false) }
func BenchmarkReassemblyOwnReordered(b *testing.B)        { benchOwn(b, 100, 8, true) }
func BenchmarkReassemblyGopacketReordered(b *testing.B)   { benchGopacket(b, 100, 8, true) }
