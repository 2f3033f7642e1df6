//go:debug cryptocustomrand=1

package alertgen

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Sessions: 200, Servers: 8, Clients: 50, Span: time.Minute}
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	st, err := Write(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 200 || st.Packets < 200*8 {
		t.Errorf("stats %+v", st)
	}
	total := 0
	for _, n := range st.PerServer {
		total += n
	}
	if total != 200 || len(st.PerServer) < 4 {
		t.Errorf("%d connections to %d servers", total, len(st.PerServer))
	}
	if _, err := Write(b, cfg); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		t.Error("two writes of one Config differ")
	}
}
