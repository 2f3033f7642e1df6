package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsentry/tlsentry/internal/fakees"
)

type recordedReq struct {
	method, path, ctype, auth string
	body                      []byte
}

// fakeCluster is fakees behind a recorder of requests.
func fakeCluster(t *testing.T) (*fakees.Server, string, func() []recordedReq) {
	f := fakees.New()
	var mu sync.Mutex
	var reqs []recordedReq
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, recordedReq{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL, func() []recordedReq { mu.Lock(); defer mu.Unlock(); return append([]recordedReq(nil), reqs...) }
}

func TestESStoreTwoSensors(t *testing.T) {
	f, url, reqs := fakeCluster(t)
	ca := newCA(t, "CA 1")
	a := leaf(t, ca, "a.example", []string{"a.example"}, t0.AddDate(0, -1, 0), 90)
	sensor := func(name string) (*Inventory, *ESStore) {
		local, err := OpenBolt(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st := NewESStore(local, ESOptions{URL: url + "/", Sensor: name, Header: http.Header{"Authorization": {"ApiKey k"}}})
		return open(t, "", Options{LearningPeriod: -1, FlushInterval: time.Hour, Store: st}), st
	}
	invA, stA := sensor("a")
	invB, stB := sensor("b")
	s := sess(t0, "198.51.100.1:443", "a.example", "ja4a", "ja3a", a)
	invA.Record(s)
	if err := invA.Flush(); err != nil {
		t.Fatal(err)
	}
	if stA.Created.Load() != 4 || stA.Existing.Load() != 0 || f.Stored() != 4 {
		t.Errorf("sensor a: created %d existing %d, stored %d; want 4 0 4", stA.Created.Load(), stA.Existing.Load(), f.Stored())
	}
	// Sensor b sees the same session later: the cluster had every item.
	s2 := sess(t0.Add(time.Hour), "198.51.100.1:443", "a.example", "ja4a", "ja3a", a)
	if obs := invB.Record(s2); len(obs.Items) != 4 {
		t.Fatalf("sensor b: %d new items locally", len(obs.Items))
	}
	if err := invB.Flush(); err != nil {
		t.Fatal(err)
	}
	if stB.Created.Load() != 0 || stB.Existing.Load() != 4 || f.Stored() != 4 {
		t.Errorf("sensor b: created %d existing %d, stored %d; want 0 4 4", stB.Created.Load(), stB.Existing.Load(), f.Stored())
	}

	rs := reqs()
	if len(rs) != 2 {
		t.Fatalf("%d requests, want 2 bulks", len(rs))
	}
	r := rs[0]
	if r.method != http.MethodPost || r.path != "/_bulk" || r.ctype != "application/x-ndjson" || r.auth != "ApiKey k" {
		t.Errorf("request %s %s, %q, %q", r.method, r.path, r.ctype, r.auth)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	var ids []string
	for sc.Scan() {
		var action struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Create.ID == "" {
			t.Fatalf("action line %q: %v", sc.Text(), err)
		}
		if action.Create.Index != DefaultESIndex {
			t.Errorf("index %q", action.Create.Index)
		}
		ids = append(ids, action.Create.ID)
		if !sc.Scan() {
			t.Fatal("action without a document")
		}
		var doc esItem
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		k := Key{Value: doc.Inventory.Value}
		for kk := ClientJA4; int(kk) < numKinds; kk++ {
			if kk.String() == doc.Inventory.Kind {
				k.Kind = kk
			}
		}
		if doc.Destination != nil {
			k.Server = s.Server
		}
		if doc.TLS != nil && k.Kind == ServerCertificate {
			k.SNI = doc.TLS.Client.ServerName
		}
		if DocumentID(k) != action.Create.ID || doc.Observer.Name != "a" || !doc.Inventory.FirstSeen.Equal(t0) {
			t.Errorf("document %s: %+v", action.Create.ID, doc)
		}
	}
	if len(ids) != 4 {
		t.Errorf("%d items in the first bulk, want 4", len(ids))
	}
	if !bytes.Equal(rs[0].body[:bytes.IndexByte(rs[0].body, '\n')], rs[1].body[:bytes.IndexByte(rs[1].body, '\n')]) {
		t.Error("the two sensors' first actions differ: ids are not deterministic")
	}
	closeInv(t, invA)
	closeInv(t, invB)
}

func TestESStoreFailure(t *testing.T) {
	f, url, _ := fakeCluster(t)
	f.SetStatus(http.StatusServiceUnavailable)
	dir := t.TempDir()
	local, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := NewESStore(local, ESOptions{URL: url})
	inv := open(t, "", Options{LearningPeriod: -1, FlushInterval: time.Hour, Store: st})
	inv.Record(sess(t0, "198.51.100.1:443", "", "ja4a", "", nil...))
	if err := inv.Flush(); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("flush: %v, want the cluster's 503", err)
	}
	// The local commit was made: the item survives a restart.
	if err := inv.Close(); err == nil {
		t.Error("close: the cluster's failure not reported")
	}
	inv = open(t, dir, noLearning)
	defer closeInv(t, inv)
	if _, ok := inv.Lookup(Key{Kind: ClientJA4, Value: "ja4a"}); !ok {
		t.Error("item lost locally")
	}
}
