// Package fakees is a fake Elasticsearch bulk endpoint for tests: it
// creates documents by _id (a second create of one _id answers 409, as
// Elasticsearch does), and can be slow, reject documents, or answer every
// request with a status of its choosing.
package fakees

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is the handler; serve it with httptest.NewServer.
type Server struct {
	mu  sync.Mutex
	ids map[string]int // _id → creates answered 201

	Requests atomic.Int64
	delay    atomic.Int64 // nanoseconds before answering

	// Reject, when set, makes the items it returns true for fail with 400
	// document_parsing_exception (set before serving).
	Reject func(id string) bool
	// Status, when set and non-zero, answers every request with that
	// status and an Elasticsearch error body (set before serving, or use
	// SetStatus).
	status atomic.Int64
}

// New returns an empty fake.
func New() *Server { return &Server{ids: map[string]int{}} }

// Start serves a new fake on 127.0.0.1 until the end of the test and
// returns it and its URL.
func Start(t testing.TB) (*Server, string) {
	f := New()
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		srv.CloseClientConnections() // slow answers end with their client
		srv.Close()
	})
	return f, srv.URL
}

// SetDelay makes every answer wait d (the request is read first, so a
// client that goes away is noticed).
func (f *Server) SetDelay(d time.Duration) { f.delay.Store(int64(d)) }

// SetStatus makes every request fail with status (0: answer normally).
func (f *Server) SetStatus(status int) { f.status.Store(int64(status)) }

// Stored returns how many distinct documents were created.
func (f *Server) Stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// Has reports whether the document with _id id was created.
func (f *Server) Has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[id] > 0
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.Requests.Add(1)
	if d := time.Duration(f.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if st := int(f.status.Load()); st != 0 {
		w.WriteHeader(st)
		fmt.Fprintf(w, `{"error":{"type":"security_exception","reason":"fake says %d"},"status":%d}`, st, st)
		return
	}
	var items []string
	f.mu.Lock()
	for _, l := range bytes.Split(body, []byte("\n")) {
		var a struct {
			Create *struct {
				ID string `json:"_id"`
			} `json:"create"`
		}
		if json.Unmarshal(l, &a) != nil || a.Create == nil {
			continue
		}
		id := a.Create.ID
		switch {
		case f.Reject != nil && f.Reject(id):
			items = append(items, `{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"fake rejects it"}}}`)
		case f.ids[id] > 0:
			items = append(items, `{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}`)
		default:
			f.ids[id]++
			items = append(items, `{"create":{"status":201}}`)
		}
	}
	f.mu.Unlock()
	fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.Join(items, ","))
}
