//go:build linux && cgo

package capture

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// liveTestPort picks a port unlikely to carry anyone else's loopback traffic.
func liveTestPort() int { return 40000 + rand.IntN(20000) }

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CAP_NET_RAW)")
	}
}

// sendUDP sends n datagrams to 127.0.0.1:port from n different source ports
// (n flows), and keeps sending until stop is closed, so the capture sees
// them whenever its socket got ready.
func sendUDP(t *testing.T, port, n int, stop chan struct{}) {
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		conns[i] = c
	}
	for {
		for _, c := range conns {
			c.Write([]byte("tlsentry live test"))
		}
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// collect reads src until it has seen want distinct source ports to port,
// or the deadline passes; it returns the ports seen.
func collect(t *testing.T, src Source, port int, deadline time.Time, stop func()) map[uint16]int {
	d := NewDecoder()
	var p Packet
	seen := map[uint16]int{}
	timer := time.AfterFunc(time.Until(deadline), stop)
	defer timer.Stop()
	for {
		data, ci, err := src.ReadPacket()
		if err == io.EOF {
			return seen
		}
		if err != nil {
			t.Error(err)
			return seen
		}
		if d.Decode(data, ci, src.LinkType(), &p) && p.Proto == 17 && int(p.DstPort) == port {
			if string(p.Payload) != "tlsentry live test" {
				t.Errorf("payload %q", p.Payload)
			}
			seen[p.SrcPort]++
		}
	}
}

func TestAFPacketLoopback(t *testing.T) {
	needRoot(t)
	port := liveTestPort()
	srcs, err := OpenAFPacketSources(AFPacketOptions{Interface: "lo", Sockets: 2, Filter: fmt.Sprintf("udp port %d", port),
		BlockSize: 1 << 17, NumBlocks: 4, blockTimeout: 5 * time.Millisecond, pollTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stopSend := make(chan struct{})
	go sendUDP(t, port, 8, stopSend)
	deadline := time.Now().Add(1500 * time.Millisecond)
	var mu sync.Mutex
	var wg sync.WaitGroup
	perSocket := make([]map[uint16]int, len(srcs))
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := collect(t, s, port, deadline, s.Stop)
			mu.Lock()
			perSocket[i] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopSend)
	all := map[uint16]int{}
	for i, m := range perSocket {
		for sp, n := range m {
			if _, dup := all[sp]; dup {
				t.Errorf("flow from port %d seen on two sockets of the fanout group", sp)
			}
			all[sp] = n
		}
		st, err := srcs[i].Stats()
		if err != nil {
			t.Error(err)
		}
		t.Logf("socket %d: %d flows, kernel stats %+v", i, len(m), st)
		if len(m) > 0 && st.Packets == 0 {
			t.Errorf("socket %d saw packets but its kernel counter is 0", i)
		}
	}
	if len(all) != 8 {
		t.Errorf("saw %d of 8 flows: %v", len(all), all)
	}
	for _, s := range srcs {
		s.Close()
		if _, _, err := s.ReadPacket(); err != io.EOF {
			t.Errorf("ReadPacket after Close: %v", err)
		}
	}
}

func TestAFPacketErrors(t *testing.T) {
	needRoot(t)
	if _, err := OpenAFPacketSources(AFPacketOptions{Interface: "nonexistent0"}); err == nil || err.Error() != "capture: AF_PACKET nonexistent0: no such interface" {
		t.Errorf("missing interface: %v", err)
	}
	if _, err := OpenAFPacketSources(AFPacketOptions{Interface: "lo", Filter: "udp prot 1"}); err == nil {
		t.Error("bad filter accepted")
	}
	if _, err := OpenAFPacketSources(AFPacketOptions{Interface: "lo", BlockSize: 1000}); err == nil {
		t.Error("bad block size accepted")
	}
}

func TestPcapLiveLoopback(t *testing.T) {
	needRoot(t)
	port := liveTestPort()
	src, err := OpenPcapLiveSource("lo", 0, false, fmt.Sprintf("udp port %d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stopSend := make(chan struct{})
	go sendUDP(t, port, 3, stopSend)
	seen := collect(t, src, port, time.Now().Add(time.Second), src.Stop)
	close(stopSend)
	if len(seen) != 3 {
		t.Errorf("saw %d of 3 flows", len(seen))
	}
	if st, err := src.Stats(); err != nil || st.Packets == 0 {
		t.Errorf("stats %+v %v", st, err)
	}
	if _, err := OpenPcapLiveSource("lo", 0, false, "udp prot 1"); err == nil || !strings.HasPrefix(err.Error(), `capture: filter "udp prot 1": `) {
		t.Error("bad filter accepted")
	}
}

func TestFilterNeedsTags(t *testing.T) {
	for expr, want := range map[string]bool{"vlan and tcp": true, "tcp port 443": false, "(vlan 10)": true, "host vlanhost": false, "mpls": true} {
		if got := filterNeedsTags(expr); got != want {
			t.Errorf("%q: %v", expr, got)
		}
	}
}

func TestAFPacketSnaplen(t *testing.T) {
	needRoot(t)
	port := liveTestPort()
	srcs, err := OpenAFPacketSources(AFPacketOptions{Interface: "lo", Snaplen: 64, Filter: fmt.Sprintf("udp port %d", port),
		BlockSize: 1 << 17, NumBlocks: 2, blockTimeout: 5 * time.Millisecond, pollTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := srcs[0]
	defer src.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return
		}
		defer c.Close()
		for {
			c.Write(make([]byte, 1000))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	timer := time.AfterFunc(time.Second, src.Stop)
	defer timer.Stop()
	data, ci, err := src.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 64 || ci.CaptureLength != 64 || ci.Length != 14+20+8+1000 {
		t.Errorf("captured %d/%d bytes of %d, want 64 of %d", len(data), ci.CaptureLength, ci.Length, 14+20+8+1000)
	}
	d := NewDecoder()
	var p Packet
	if !d.Decode(data, ci, src.LinkType(), &p) || !p.Truncated || int(p.DstPort) != port {
		t.Errorf("decode of a snapped packet: truncated %v port %d stats %+v", p.Truncated, p.DstPort, d.stats)
	}
}
