package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// ESOptions configure an ESStore.
type ESOptions struct {
	URL    string       // the Elasticsearch base URL
	Index  string       // default DefaultESIndex
	Client *http.Client // default http.DefaultClient; carries TLS settings
	// Header is added to every request (Authorization: ApiKey ...).
	Header http.Header
	// Sensor is written with each item (observer.name): which sensor saw
	// it first.
	Sensor  string
	Timeout time.Duration // per bulk request; default 30s
}

// DefaultESIndex is the shared inventory's index.
const DefaultESIndex = "tlsentry-inventory"

// ESStore is the multi-sensor Store: it keeps the local store (Load reads
// it, Commit writes it first, atomically) and records every item it commits
// in one Elasticsearch index shared by the sensors of a cluster, with
// op_type create and _id = DocumentID(key): 201 means the item is new to
// the whole cluster, 409 that some sensor recorded it first (counted in
// Created and Existing). Evictions stay local: the cluster keeps the item.
//
// TODO(multi-sensor): alerts still follow the local inventory; "new to the
// cluster" would make the new-item report wait for the cluster's answer
// (asynchronous, see DocumentID). Later counts and last-seen times are not
// sent (a scripted update on the same _id).
type ESStore struct {
	local Store
	opt   ESOptions

	Created, Existing, Failed atomic.Uint64
}

var _ Store = (*ESStore)(nil)

// NewESStore wraps local.
func NewESStore(local Store, opt ESOptions) *ESStore {
	if opt.Index == "" {
		opt.Index = DefaultESIndex
	}
	if opt.Client == nil {
		opt.Client = http.DefaultClient
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	opt.URL = strings.TrimRight(opt.URL, "/")
	return &ESStore{local: local, opt: opt}
}

// Load reads the local store.
func (s *ESStore) Load(fn func(Item) error) (State, error) { return s.local.Load(fn) }

// Close closes the local store.
func (s *ESStore) Close() error { return s.local.Close() }

// Commit writes b to the local store, then creates its items in the shared
// index. A failure of the latter is returned after the local commit (the
// inventory retries the batch: local puts are idempotent, and the cluster
// answers 409 to what it has).
func (s *ESStore) Commit(b Batch) error {
	if err := s.local.Commit(b); err != nil {
		return err
	}
	if len(b.Put) == 0 {
		return nil
	}
	return s.bulk(b.Put)
}

// esItem is an item as the shared index holds it (ECS names where ECS
// has them).
type esItem struct {
	Timestamp   time.Time   `json:"@timestamp"`
	Observer    esObserver  `json:"observer"`
	Destination *esEndpoint `json:"destination,omitempty"`
	TLS         *esTLS      `json:"tls,omitempty"`
	Inventory   esInventory `json:"tlsentry_inventory"`
}

type esObserver struct {
	Name string `json:"name,omitempty"`
}

type esEndpoint struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
}

type esTLS struct {
	Client struct {
		ServerName string `json:"server_name,omitempty"`
	} `json:"client"`
	Server *esServer `json:"server,omitempty"`
}

type esServer struct {
	Hash struct {
		SHA256 string `json:"sha256"`
	} `json:"hash"`
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

type esInventory struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     uint64    `json:"count"`
}

func (s *ESStore) doc(it *Item) esItem {
	d := esItem{Timestamp: it.FirstSeen, Observer: esObserver{s.opt.Sensor},
		Inventory: esInventory{it.Kind.String(), it.Value, it.FirstSeen, it.LastSeen, it.Count}}
	if it.Kind == ServerCertificate {
		d.Destination = &esEndpoint{it.Server.Addr().Unmap().String(), it.Server.Port()}
	}
	if it.SNI != "" || it.Certificate != nil {
		d.TLS = &esTLS{}
		d.TLS.Client.ServerName = it.SNI
		if c := it.Certificate; c != nil {
			d.TLS.Server = &esServer{Subject: c.Subject, Issuer: c.Issuer, NotBefore: c.NotBefore, NotAfter: c.NotAfter}
			d.TLS.Server.Hash.SHA256 = c.SHA256
		}
	}
	return d
}

func (s *ESStore) bulk(items []Item) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range items {
		fmt.Fprintf(&body, `{"create":{"_index":%q,"_id":%q}}`+"\n", s.opt.Index, DocumentID(items[i].Key))
		if err := enc.Encode(s.doc(&items[i])); err != nil {
			return fmt.Errorf("inventory: elasticsearch: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opt.URL+"/_bulk", &body)
	if err != nil {
		return fmt.Errorf("inventory: elasticsearch: %w", err)
	}
	for k, v := range s.opt.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.opt.Client.Do(req)
	if err != nil {
		return fmt.Errorf("inventory: elasticsearch: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("inventory: elasticsearch: bulk: %s: %.200s", resp.Status, data)
	}
	var r struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("inventory: elasticsearch: bulk answer: %w", err)
	}
	var first error
	for _, m := range r.Items {
		for _, it := range m {
			switch {
			case it.Status == http.StatusCreated:
				s.Created.Add(1)
			case it.Status == http.StatusConflict:
				s.Existing.Add(1)
			default:
				s.Failed.Add(1)
				if first == nil {
					reason := ""
					if it.Error != nil {
						reason = it.Error.Type + ": " + it.Error.Reason
					}
					first = fmt.Errorf("inventory: elasticsearch: item %d %s", it.Status, reason)
				}
			}
		}
	}
	if len(r.Items) != len(items) && first == nil {
		first = fmt.Errorf("inventory: elasticsearch: bulk answer lists %d items for %d", len(r.Items), len(items))
	}
	return first
}
