package inventory

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	childEnv = "TLSENTRY_INVENTORY_KILL_CHILD"
	killMax  = 1 << 22
)

// TestKillChild is the child of TestKill9: with the environment variable
// set to a state directory it observes sessions in a loop, the i-th with
// JA4 ja4-kill-i and the one JA3 "shared", until it is killed.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("the child of TestKill9")
	}
	inv, err := Open(dir, Options{LearningPeriod: -1, MaxItems: killMax, FlushInterval: 5 * time.Millisecond, UpdateInterval: time.Nanosecond})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	start := inv.Len(ClientJA4)
	fmt.Println("started", start)
	for i := start; ; i++ {
		inv.Record(sess(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.1:443", "", fmt.Sprintf("ja4-kill-%09d", i), "shared", nil...))
		if i%64 == 0 {
			fmt.Println("at", i, time.Now().UnixNano())
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // some 50,000 sessions a second at most: no eviction
		}
	}
}

// TestKill9 runs the child, kills it with SIGKILL at a random moment, and
// checks what it left: the store opens, passes bbolt's consistency check,
// and holds exactly the first n sessions (ja4-kill-0 … n-1, and "shared"
// counted n times: a batch is a snapshot, whole or absent), n never less
// than after the round before. Several rounds on the same directory.
func TestKill9(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	prev := 0
	var maxLost time.Duration
	for r := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(out)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "started ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child said %q, %v", r, line, err)
		}
		started, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "started ")))
		if started != prev {
			t.Errorf("round %d: child started at %d, want %d", r, started, prev)
		}
		// The child's progress: (session index, wall time) every 64.
		type mark struct {
			i  int
			at time.Time
		}
		marks := make(chan mark, 1<<16)
		go func() {
			defer close(marks)
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				var m mark
				var ns int64
				if _, err := fmt.Sscanf(l, "at %d %d", &m.i, &ns); err == nil {
					m.at = time.Unix(0, ns)
					marks <- m
				}
			}
		}()
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		killed := time.Now()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		var seen []mark
		for m := range marks {
			seen = append(seen, m)
		}

		inv, err := Open(dir, Options{LearningPeriod: -1, MaxItems: killMax})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", r, err)
		}
		err = inv.store.(*boltStore).db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		if err != nil {
			t.Errorf("round %d: bbolt check: %v", r, err)
		}
		n := inv.Len(ClientJA4)
		for i := range n {
			if _, ok := inv.Lookup(Key{Kind: ClientJA4, Value: fmt.Sprintf("ja4-kill-%09d", i)}); !ok {
				t.Errorf("round %d: %d items but ja4-kill-%d missing", r, n, i)
				break
			}
		}
		shared, _ := inv.Lookup(Key{Kind: ClientJA3, Value: "shared"})
		if shared.Count != uint64(n) || n < prev {
			t.Errorf("round %d: %d JA4s, shared counted %d, %d before", r, n, shared.Count, prev)
		}
		// Lost: from the first moment the child had gone past what was
		// committed to the kill.
		var lost time.Duration
		for _, m := range seen {
			if m.i >= n {
				lost = killed.Sub(m.at)
				break
			}
		}
		if lost > maxLost {
			maxLost = lost
		}
		t.Logf("round %d: %d sessions kept (%d this round), observations of the last %v lost", r, n, n-prev, lost.Round(time.Millisecond))
		prev = n
		if err := inv.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if prev == 0 {
		t.Error("no session ever committed")
	}
	// The flush interval is 5 ms; allow for a slow, shared machine.
	if maxLost > time.Second {
		t.Errorf("lost up to %v of observations", maxLost)
	}
}
