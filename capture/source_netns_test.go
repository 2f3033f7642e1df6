//go:build linux && cgo

package capture

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// TestAFPacketVLANNetns captures on one end of a veth pair, in a network
// namespace the test creates, while VLAN 42 tagged frames are written to the
// other end. The kernel strips the tag on receive (skb_vlan_untag, as with
// NIC VLAN offload); the AF_PACKET source must put it back so that Decode
// reports it.
func TestAFPacketVLANNetns(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	ns := fmt.Sprintf("tlsentry-t%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	in := func(args ...string) { run(append([]string{"-n", ns}, args...)...) }
	in("link", "add", "va", "type", "veth", "peer", "name", "vb")
	for _, dev := range []string{"lo", "va", "vb"} {
		in("link", "set", dev, "up")
	}

	type result struct {
		vlans []uint16
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// This goroutine's thread moves into the namespace and is never
		// unlocked, so Go discards the thread when the goroutine ends.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("setns: %v", err)}
			return
		}
		srcs, err := OpenAFPacketSources(AFPacketOptions{Interface: "vb", Filter: "vlan and udp port 4242", // not in the kernel: it has "vlan"
			BlockSize: 1 << 17, NumBlocks: 2, blockTimeout: 5 * time.Millisecond, pollTimeout: 20 * time.Millisecond})
		if err != nil {
			done <- result{err: err}
			return
		}
		src := srcs[0]
		defer src.Close()
		va, err := net.InterfaceByName("va")
		if err != nil {
			done <- result{err: err}
			return
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer unix.Close(fd)
		ip := ip4("192.168.42.1", "192.168.42.2", layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 4000, DstPort: 4242}
		udp.SetNetworkLayerForChecksum(ip)
		frame := serialize(t, eth(layers.EthernetTypeDot1Q), vlan(42, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("tagged"))
		to := &unix.SockaddrLinklayer{Ifindex: va.Index, Halen: 6}
		copy(to.Addr[:], testMAC2)
		stop := time.AfterFunc(2*time.Second, src.Stop)
		defer stop.Stop()
		d := NewDecoder()
		var p Packet
		for range 200 {
			if err := unix.Sendto(fd, frame, 0, to); err != nil {
				done <- result{err: fmt.Errorf("send: %v", err)}
				return
			}
			data, ci, err := src.ReadPacket()
			if err != nil {
				done <- result{err: fmt.Errorf("no tagged packet seen: %v", err)}
				return
			}
			if d.Decode(data, ci, src.LinkType(), &p) && p.DstPort == 4242 && string(p.Payload) == "tagged" {
				done <- result{vlans: append([]uint16(nil), p.VLANs[:p.NVLANs]...)}
				return
			}
		}
		done <- result{err: fmt.Errorf("no decodable packet: %+v", d.stats)}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.vlans) != 1 || r.vlans[0] != 42 {
		t.Errorf("VLANs %v, want [42]", r.vlans)
	}
}
