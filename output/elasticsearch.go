package output

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// ESOptions configures the Elasticsearch sink. Zero values take the defaults
// written next to each field. Secrets (APIKey, Password, keys) are never
// logged or put in errors.
type ESOptions struct {
	// URLs of the nodes. Empty: the ELASTICSEARCH_URL environment variable
	// (go-elasticsearch's rule), else http://localhost:9200.
	URLs      []string
	Namespace string // data stream namespace; default "default"

	APIKey             string // base64 "id:key", as Kibana shows it
	Username, Password string
	CACert             []byte // PEM; added to the system roots
	ClientCert         []byte // PEM, with ClientKey: TLS client authentication
	ClientKey          []byte
	// Transport replaces the HTTP transport (tests). TLS settings above are
	// then the transport's business.
	Transport http.RoundTripper
	// Now is the clock of event.ingested (ingested.go); default time.Now.
	Now func() time.Time

	Workers        int           // concurrent bulk requests; default 2 (see DefaultESWorkers)
	FlushBytes     int           // bulk request size; default 1 MiB (see DefaultESFlushBytes)
	FlushInterval  time.Duration // longest a document waits in a partial batch; default 1s
	RequestTimeout time.Duration // one bulk request, answer included; default 60s
	QueueSize      int           // documents queued in memory; default 8192

	// Live makes Write shed (drop and count) a document when the queue stays
	// full longer than LiveMaxBlock (default 50ms), so a live capture never
	// holds its packet ring for long. Without Live, Write blocks (replay).
	Live         bool
	LiveMaxBlock time.Duration

	// RetryMax is how many times a batch (or the items of it that failed with
	// 429 or 5xx, or a whole request answered with an error) is retried in
	// memory before it goes to the spool; default 5. Network failures do not
	// count: the batch goes to another node, and to the spool only when no
	// node is reachable. Without a spool, retries go on until Close gives up.
	RetryMax   int
	BackoffMin time.Duration // first backoff; default 100ms
	BackoffMax time.Duration // backoff cap; default 30s

	// SpoolDir holds documents while Elasticsearch is unreachable; "" keeps
	// no spool (then delivery blocks and retries, and Live sheds). A sink
	// owns its directory (a lock) until Close: a second sink on the same
	// directory, in this process or another, fails with *SpoolInUseError.
	SpoolDir          string
	SpoolMaxBytes     int64 // default 1 GiB; past it documents are dropped and counted
	SpoolSegmentBytes int64 // default 16 MiB

	// DeadLetter is the NDJSON file for documents rejected for themselves;
	// "" counts them only.
	DeadLetter string

	// DrainTimeout is how long Close waits while nothing moves (no document
	// indexed, rejected or spooled: no node answers) before it gives up;
	// default 30s. A cluster that answers, however slowly, is waited for;
	// Close's context bounds the whole (the flush deadline). What is left
	// stays in the spool for the next start.
	DrainTimeout time.Duration

	// Logf receives operational messages (outage, recovery, spool full); nil: none.
	Logf func(format string, args ...any)
}

// Defaults chosen by BenchmarkESBulk against a local single node (see
// output/es_bench_test.go and the numbers in the project notes).
const (
	DefaultESWorkers    = 2
	DefaultESFlushBytes = 1 << 20
)

// ESStats counts what the sink did. Every document written ends in exactly
// one of Indexed, Duplicates, DeadLettered, Dropped, Shed, or is still
// queued, in flight, or in the spool (SpoolBytes). Spooled and Retried count
// passages, not outcomes: a spooled document is later indexed too.
type ESStats struct {
	Written      uint64 // documents accepted by Write
	Indexed      uint64 // created in Elasticsearch
	Duplicates   uint64 // 409 on create: already there (a retry or a replay)
	Retried      uint64 // document retries (429, 5xx, network errors)
	DeadLettered uint64 // rejected for themselves (mapping conflict...)
	Spooled      uint64 // documents written to the spool
	SpoolBytes   int64  // bytes in the spool now
	SpoolCorrupt uint64 // damaged stretches of the spool skipped (torn writes)
	Dropped      uint64 // lost: spool full or disabled at shutdown
	Shed         uint64 // Live mode: dropped because the queue stayed full
	QueueDepth   int    // documents queued now
	Requests     uint64 // bulk requests sent
	Failures     uint64 // bulk requests that failed as a whole
}

// Tee writes every document to each sink in turn (NDJSON and Elasticsearch
// together); Close closes them all and returns the first error.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

func (t tee) Write(ctx context.Context, docs ...Document) error {
	for _, s := range t {
		if err := s.Write(ctx, docs...); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Close(ctx context.Context) error {
	var first error
	for _, s := range t {
		if err := s.Close(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ESSink ships documents to Elasticsearch data streams with the bulk API.
//
// Delivery: Write encodes each document as a bulk "create" record (op_type
// create, _id = Document.ID, index logs-<dataset>-<namespace>) and queues it;
// workers send batches of about FlushBytes. Per item: 200/201 is indexed, 409
// a duplicate (success), 429 and 5xx are retried with exponential backoff and
// full jitter, 401/403 stop delivery (see ESAuthError), any other 4xx (a
// mapping conflict) goes to the dead-letter file. Every kind of failure is
// logged once with its status and reason (in Live mode again at most once a
// minute).
//
// Nodes: each bulk goes to the next node of URLs (round robin). A node that
// fails at the network level (refused, reset, EOF, timeout) is marked dead
// and the bulk goes to another node at once; a dead node is tried again
// after a backoff (doubling, capped at BackoffMax) and rejoins when it
// answers ("unreachable" / "reachable again" are logged once each). Only
// when no node is reachable, or after RetryMax attempts with error answers,
// does a batch go to the disk spool; while the spool holds anything, new
// batches go behind it, and the drainer sends the spool oldest first in
// bulks of FlushBytes through Workers senders, as fast as normal sending.
//
// Why not esutil.BulkIndexer: its flush indexes the items of the answer into
// the items it sent without a length check, so an answer with more items than
// were sent panics in a worker goroutine, and one with fewer silently drops
// the callbacks of the rest (documents lost without a count); its retry is
// the client's whole-request retry on 502/503/504 only, with nothing per item
// for 429 or 5xx, and it cannot hand a failed batch to a spool in order. The
// sink therefore runs its own loop on esapi.BulkRequest, checks that the
// answer has exactly one item per record, and leaves the client's retry off
// (DisableRetry) so that one place decides.
type ESSink struct {
	opt   ESOptions
	nodes []*esNode
	rr    atomic.Uint64
	sp    *spool
	dl    *deadLetter
	logf  func(string, ...any)

	queue   chan []byte // bulk records: action line + body line
	closing chan struct{}
	final   chan struct{} // closed when Close wants the spool drained and the drainer gone
	signal  chan struct{} // wakes the drainer
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.RWMutex
	closed  bool
	writers sync.WaitGroup
	workers sync.WaitGroup
	drainWG sync.WaitGroup

	offline  atomic.Bool                 // no node reachable: batches go to the spool
	stopped  atomic.Pointer[ESAuthError] // delivery stopped for good
	inflight atomic.Int64

	repMu       sync.Mutex
	reported    map[string]*reportState
	reportEvery time.Duration

	whyMu   sync.Mutex
	whyStop string // why Close stopped waiting

	written, indexed, dups, retried, dead, spooled, corrupt, dropped, shed, requests, failures atomic.Uint64

	indexTLS, indexAlert string
	now                  func() time.Time // event.ingested
}

var _ Sink = (*ESSink)(nil)

// NewElasticsearch builds the sink and starts its workers. It does not
// contact Elasticsearch: an unreachable cluster at start is an outage like
// any other (documents spool). A spool left by an earlier run is drained.
func NewElasticsearch(opt ESOptions) (*ESSink, error) {
	if opt.Namespace == "" {
		opt.Namespace = "default"
	}
	setDefault(&opt.Workers, DefaultESWorkers)
	setDefault(&opt.FlushBytes, DefaultESFlushBytes)
	setDefault(&opt.QueueSize, 8192)
	setDefault(&opt.RetryMax, 5)
	setDefault(&opt.FlushInterval, time.Second)
	setDefault(&opt.RequestTimeout, 60*time.Second)
	setDefault(&opt.LiveMaxBlock, 50*time.Millisecond)
	setDefault(&opt.BackoffMin, 100*time.Millisecond)
	setDefault(&opt.BackoffMax, 30*time.Second)
	setDefault(&opt.DrainTimeout, 30*time.Second)
	setDefault(&opt.SpoolMaxBytes, 1<<30)
	setDefault(&opt.SpoolSegmentBytes, 16<<20)
	if opt.BackoffMax < opt.BackoffMin {
		opt.BackoffMax = opt.BackoffMin
	}
	if !validNamespace(opt.Namespace) {
		return nil, fmt.Errorf("output: elasticsearch: invalid namespace %q (lowercase letters, digits, _ and . only, at most 100)", opt.Namespace)
	}

	rt := opt.Transport
	if rt == nil {
		tr, err := esTransport(&opt)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	// One client per node: the sink picks the node (see ESSink), so that a
	// failed node is known and the bulk goes elsewhere at once.
	urls := opt.URLs
	if len(urls) == 0 {
		for _, u := range strings.Split(os.Getenv("ELASTICSEARCH_URL"), ",") {
			if u = strings.TrimSpace(u); u != "" {
				urls = append(urls, u)
			}
		}
	}
	if len(urls) == 0 {
		urls = []string{""} // the client's default: http://localhost:9200
	}
	var nodes []*esNode
	for _, u := range urls {
		cfg := elasticsearch.Config{
			APIKey:       opt.APIKey,
			Username:     opt.Username,
			Password:     opt.Password,
			Transport:    rt,
			DisableRetry: true,
		}
		if u != "" {
			cfg.Addresses = []string{u}
		}
		client, err := elasticsearch.NewClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("output: elasticsearch: %w", err)
		}
		name := u
		if name == "" {
			name = "the default URL"
		}
		nodes = append(nodes, &esNode{url: name, client: client})
	}
	s := &ESSink{
		opt:         opt,
		nodes:       nodes,
		reported:    map[string]*reportState{},
		reportEvery: time.Minute,
		logf:        opt.Logf,
		queue:       make(chan []byte, opt.QueueSize),
		closing:     make(chan struct{}),
		final:       make(chan struct{}),
		signal:      make(chan struct{}, 1),
		indexTLS:    "logs-" + DatasetTLS + "-" + opt.Namespace,
		indexAlert:  "logs-" + DatasetAlert + "-" + opt.Namespace,
		now:         opt.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if opt.SpoolDir != "" {
		var err error
		s.sp, err = openSpool(opt.SpoolDir, opt.SpoolMaxBytes, opt.SpoolSegmentBytes)
		if err != nil {
			return nil, err
		}
		if n := s.sp.size(); n > 0 {
			s.logf("elasticsearch: %d bytes left in spool %s by an earlier run; sending them first", n, opt.SpoolDir)
		}
	}
	if opt.DeadLetter != "" {
		s.dl = &deadLetter{path: opt.DeadLetter}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i := 0; i < opt.Workers; i++ {
		s.workers.Add(1)
		go s.worker()
	}
	if s.sp != nil {
		s.drainWG.Add(1)
		go s.drainer()
	}
	return s, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// validNamespace follows the data stream naming scheme: lowercase, no '-',
// none of the characters an index name forbids.
func validNamespace(ns string) bool {
	if ns == "" || len(ns) > 100 {
		return false
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// NewESTransport returns the HTTP transport the sink uses for opt: TLS 1.2 or
// later with verification on, opt.CACert added to the system roots, and the
// client certificate when set. tlsentry setup uses it for Kibana too.
func NewESTransport(opt ESOptions) (*http.Transport, error) {
	setDefault(&opt.Workers, DefaultESWorkers)
	setDefault(&opt.RequestTimeout, 60*time.Second)
	return esTransport(&opt)
}

func esTransport(opt *ESOptions) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = opt.Workers + 2
	tr.ResponseHeaderTimeout = opt.RequestTimeout
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(opt.CACert) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(opt.CACert) {
			return nil, errors.New("output: elasticsearch: CA certificate: no PEM certificate found")
		}
		tc.RootCAs = pool
	}
	if len(opt.ClientCert) > 0 || len(opt.ClientKey) > 0 {
		cert, err := tls.X509KeyPair(opt.ClientCert, opt.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("output: elasticsearch: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = tc
	return tr, nil
}

// Write queues documents. Without Live it blocks while the queue is full
// (back-pressure); with Live it sheds what does not fit within LiveMaxBlock.
// When ctx ends while Write waits (a flush deadline), the documents left
// go to the spool directly (counted dropped without a spool) and Write
// returns nil: they are accounted for, not lost. After a 401/403 Write
// returns the *ESAuthError. The sink copies what it keeps: the caller may
// reuse d.Body afterwards.
func (s *ESSink) Write(ctx context.Context, docs ...Document) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.writers.Add(1)
	s.mu.RUnlock()
	defer s.writers.Done()
	if err := s.authErr(); err != nil {
		return err
	}

	for i := range docs {
		rec := s.record(&docs[i])
		s.written.Add(1)
		if !s.opt.Live {
			select {
			case s.queue <- rec:
				continue
			case <-ctx.Done():
				s.aside(rec, docs[i+1:])
				return nil
			case <-s.closing:
				s.written.Add(^uint64(0))
				return ErrClosed
			}
		}
		select {
		case s.queue <- rec:
			continue
		default:
		}
		t := time.NewTimer(s.opt.LiveMaxBlock)
		select {
		case s.queue <- rec:
		case <-t.C:
			s.shed.Add(1)
		case <-ctx.Done():
			t.Stop()
			s.aside(rec, docs[i+1:])
			return nil
		case <-s.closing:
			t.Stop()
			s.written.Add(^uint64(0))
			return ErrClosed
		}
		t.Stop()
	}
	return nil
}

// aside spools rec (already counted written) and the rest of docs, past
// the queue: Write's context ended.
func (s *ESSink) aside(rec []byte, rest []Document) {
	buf := append([]byte(nil), rec...)
	for i := range rest {
		buf = append(buf, s.record(&rest[i])...)
	}
	n := uint64(1 + len(rest))
	s.written.Add(n - 1)
	s.spoolRecords(buf, n)
}

// record encodes one bulk "create" record in a single allocation.
func (s *ESSink) record(d *Document) []byte {
	index := s.indexTLS
	switch d.Dataset {
	case DatasetTLS, "":
	case DatasetAlert:
		index = s.indexAlert
	default:
		index = "logs-" + d.Dataset + "-" + s.opt.Namespace
	}
	body := d.Body
	if bytes.IndexByte(body, '\n') >= 0 || bytes.IndexByte(body, '\r') >= 0 {
		// The bulk format is line-based: compact a body that spans lines.
		var buf bytes.Buffer
		if err := json.Compact(&buf, body); err == nil {
			body = buf.Bytes()
		} else {
			// Not JSON: Elasticsearch will reject it and it will be
			// dead-lettered; keep the framing intact meanwhile.
			body = bytes.ReplaceAll(bytes.ReplaceAll(body, []byte{'\n'}, []byte{' '}), []byte{'\r'}, []byte{' '})
		}
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	rec := make([]byte, 0, len(`{"create":{"_index":"","_id":""}}`)+len(index)+len(d.ID)+8+len(body)+2)
	rec = append(rec, `{"create":{"_index":`...)
	rec = appendJSONString(rec, index)
	if d.ID != "" {
		rec = append(rec, `,"_id":`...)
		rec = appendJSONString(rec, d.ID)
	}
	rec = append(rec, "}}\n"...)
	rec = append(rec, body...)
	rec = append(rec, '\n')
	return rec
}

// Stats returns the counters.
func (s *ESSink) Stats() ESStats {
	st := ESStats{
		Written:      s.written.Load(),
		Indexed:      s.indexed.Load(),
		Duplicates:   s.dups.Load(),
		Retried:      s.retried.Load(),
		DeadLettered: s.dead.Load(),
		Spooled:      s.spooled.Load(),
		SpoolCorrupt: s.corrupt.Load(),
		Dropped:      s.dropped.Load(),
		Shed:         s.shed.Load(),
		QueueDepth:   len(s.queue),
		Requests:     s.requests.Load(),
		Failures:     s.failures.Load(),
	}
	if s.sp != nil {
		st.SpoolBytes = s.sp.size()
	}
	return st
}

// Close stops accepting documents, sends what is queued, then drains the
// spool. It goes on as long as Elasticsearch makes progress (documents
// indexed, rejected or spooled): a slow cluster that answers is waited for.
// It gives up when nothing moved for DrainTimeout (no node answers), or at
// once when ctx ends (a flush deadline): workers then stop retrying and
// spool what they hold, without waiting for answers. Whatever is not
// delivered stays in the spool directory, synced, for the next sink opened
// on it; Close then returns an *UndeliveredError saying how much and why.
// After an authentication or authorisation failure Close returns the
// *ESAuthError too.
func (s *ESSink) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	s.writers.Wait()
	close(s.queue)

	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go s.watch(ctx, stopWatch, watched)

	s.workers.Wait()
	if s.sp != nil {
		close(s.final)
		s.wake()
		s.drainWG.Wait()
	}
	close(stopWatch)
	<-watched
	s.cancel()

	var errs []error
	if aerr := s.authErr(); aerr != nil {
		errs = append(errs, aerr)
	}
	u := &UndeliveredError{SpoolDir: s.opt.SpoolDir, Dropped: s.dropped.Load(), Reason: s.why()}
	if s.sp != nil {
		if cerr := s.sp.close(); cerr != nil {
			errs = append(errs, cerr)
		}
		u.SpoolBytes = s.sp.size()
		u.Docs = s.Stats().Undelivered()
	}
	if cerr := s.dl.close(); cerr != nil {
		errs = append(errs, fmt.Errorf("output: dead letter: %w", cerr))
	}
	if u.SpoolBytes > 0 || u.Dropped > 0 {
		errs = append(errs, u)
	}
	return errors.Join(errs...)
}

// ErrUndelivered is matched (errors.Is) by an *UndeliveredError.
var ErrUndelivered = errors.New("output: elasticsearch: documents not delivered")

// UndeliveredError is Close's account of what Elasticsearch did not get:
// bytes left in the spool (sent by the next sink opened on it) and
// documents dropped (spool full, or no spool).
type UndeliveredError struct {
	SpoolDir   string
	SpoolBytes int64  // left in the spool
	Docs       uint64 // documents of this run among them (best effort)
	Dropped    uint64 // lost: spool full or no spool
	Reason     string // why Close stopped trying ("" : it did not)
}

func (e *UndeliveredError) Error() string {
	var parts []string
	if e.SpoolBytes > 0 {
		what := strconv.FormatInt(e.SpoolBytes, 10) + " bytes"
		if e.Docs > 0 {
			what = strconv.FormatUint(e.Docs, 10) + " documents (" + what + ")"
		}
		parts = append(parts, what+" not delivered stay in spool "+e.SpoolDir+" for the next start")
	}
	if e.Dropped > 0 {
		parts = append(parts, strconv.FormatUint(e.Dropped, 10)+" documents dropped (spool full or no spool)")
	}
	msg := "output: elasticsearch: " + strings.Join(parts, "; ")
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

func (e *UndeliveredError) Is(target error) bool { return target == ErrUndelivered }

// ErrAuth is matched (errors.Is) by an *ESAuthError.
var ErrAuth = errors.New("output: elasticsearch: not authorised")

// ESAuthError is Elasticsearch refusing the sink's credentials (401) or
// their privileges (403). Delivery stops at the first one: retrying cannot
// help, and spooling as if the cluster were down would hide the cause.
// Write returns it from then on.
type ESAuthError struct {
	Status int    // 401 or 403
	Node   string // the node that answered
	Reason string // Elasticsearch's type and reason
	Index  string // for a 403 on an item: the data stream refused
}

func (e *ESAuthError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "no reason given"
	}
	if e.Status == http.StatusUnauthorized {
		return "output: elasticsearch: authentication failed (401 Unauthorized) at " + e.Node + ": " + reason +
			"; check the API key (elasticsearch.api_key or ELASTICSEARCH_API_KEY: the base64 \"id:key\" Kibana shows, not expired or invalidated)" +
			" or the username and password; delivery stopped"
	}
	where := "the data streams logs-tlsentry.tls-<namespace> and logs-tlsentry.alert-<namespace>"
	if e.Index != "" {
		where = e.Index
	}
	return "output: elasticsearch: not authorised (403 Forbidden) at " + e.Node + ": " + reason +
		"; check the privileges of the API key or user: create_doc and auto_configure on " + where +
		" (and the index names: elasticsearch.namespace); delivery stopped"
}

func (e *ESAuthError) Is(target error) bool { return target == ErrAuth }

// Undelivered is how many of the documents written are neither indexed,
// duplicates, dead-lettered, dropped nor shed: still queued, in flight or
// in the spool. Documents an earlier run spooled and this one delivered
// make the count lower than the truth; it never goes below 0.
func (st ESStats) Undelivered() uint64 {
	done := st.Indexed + st.Duplicates + st.DeadLettered + st.Dropped + st.Shed
	if done >= st.Written {
		return 0
	}
	return st.Written - done
}

// watch ends the sink's retrying (s.cancel) when ctx ends or when nothing
// moved for DrainTimeout, until stop is closed.
func (s *ESSink) watch(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := min(max(s.opt.DrainTimeout/20, time.Millisecond), 250*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	last, since := s.progress(), time.Now()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				s.setWhy("the flush deadline passed")
			} else {
				s.setWhy("stopped at once")
			}
			s.cancel()
			return
		case now := <-t.C:
			if p := s.progress(); p != last {
				last, since = p, now
				continue
			}
			idle := now.Sub(since)
			if idle >= s.opt.DrainTimeout && (s.inflight.Load() == 0 || idle >= s.opt.DrainTimeout+s.opt.RequestTimeout) {
				s.setWhy("no progress for " + s.opt.DrainTimeout.String())
				s.cancel()
				return
			}
		}
	}
}

func (s *ESSink) progress() uint64 {
	return s.indexed.Load() + s.dups.Load() + s.dead.Load() + s.spooled.Load() + s.dropped.Load()
}

func (s *ESSink) setWhy(r string) {
	s.whyMu.Lock()
	if s.whyStop == "" {
		s.whyStop = r
	}
	s.whyMu.Unlock()
}

func (s *ESSink) why() string {
	s.whyMu.Lock()
	defer s.whyMu.Unlock()
	return s.whyStop
}

func (s *ESSink) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// batch is a bulk body and the spans of its records.
type batch struct {
	buf  []byte
	recs []span
	wire []byte // buf as sent: with event.ingested (ingested.go)
	alt  []byte // the other buffer, for rebuilding after partial failures
	arec []span
}

type span struct{ start, end int } // buf[start:end] is "action\nbody\n"

func (b *batch) add(rec []byte) {
	start := len(b.buf)
	b.buf = append(b.buf, rec...)
	b.recs = append(b.recs, span{start, len(b.buf)})
}

func (b *batch) reset() { b.buf, b.recs = b.buf[:0], b.recs[:0] }

// keep rebuilds the batch with only the records whose index is in idx.
func (b *batch) keep(idx []int) {
	nb, nr := b.alt[:0], b.arec[:0]
	for _, i := range idx {
		r := b.recs[i]
		start := len(nb)
		nb = append(nb, b.buf[r.start:r.end]...)
		nr = append(nr, span{start, len(nb)})
	}
	b.alt, b.arec = b.buf, b.recs
	b.buf, b.recs = nb, nr
}

// setRecords copies records read from the spool into the batch and frames them.
func (b *batch) setRecords(buf []byte) {
	b.buf = append(b.buf[:0], buf...)
	b.frame()
}

// frame finds the records of b.buf (read from the spool: whole records).
func (b *batch) frame() {
	b.recs = b.recs[:0]
	start, lines := 0, 0
	for i, c := range b.buf {
		if c != '\n' {
			continue
		}
		lines++
		if lines%2 == 0 {
			b.recs = append(b.recs, span{start, i + 1})
			start = i + 1
		}
	}
}

func (s *ESSink) worker() {
	defer s.workers.Done()
	var b batch
	t := time.NewTicker(s.opt.FlushInterval)
	defer t.Stop()
	for {
		select {
		case rec, ok := <-s.queue:
			if !ok {
				s.flush(&b)
				return
			}
			b.add(rec)
			if len(b.buf) >= s.opt.FlushBytes {
				s.flush(&b)
			}
		case <-t.C:
			s.flush(&b)
		}
	}
}

// flush delivers a batch, or spools it when no node is reachable, the
// spool still holds older documents, delivery was stopped (401/403), or
// Close gave up waiting.
func (s *ESSink) flush(b *batch) {
	if len(b.recs) == 0 {
		return
	}
	defer b.reset()
	if s.authErr() != nil || s.ctx.Err() != nil || s.sp != nil && (s.offline.Load() || s.sp.size() > 0) {
		s.spoolBatch(b)
		return
	}
	s.deliver(s.ctx, b, false)
}

func (s *ESSink) spoolBatch(b *batch) {
	n := uint64(len(b.recs))
	if n == 0 {
		return
	}
	s.spoolRecords(b.buf, n)
	b.recs = b.recs[:0]
}

// spoolRecords appends n whole records to the spool, or counts them dropped.
func (s *ESSink) spoolRecords(buf []byte, n uint64) {
	if s.sp == nil {
		s.dropped.Add(n)
		return
	}
	if err := s.sp.append(buf); err != nil {
		s.dropped.Add(n)
		s.report("spool", fmt.Sprintf("elasticsearch: documents dropped: %v", err))
		return
	}
	s.spooled.Add(n)
	s.wake()
}

// deliver sends b until every record is resolved, each attempt to the next
// live node (round robin); a node that fails at the network level is marked
// dead and the batch goes to another one at once. Online (drain false) it
// spools what is left when no node is reachable, after RetryMax attempts
// that got error answers, when delivery stops (401/403) or when ctx ends;
// draining, it retries (waiting for a node) until ctx ends or delivery
// stops, and reports whether it finished.
func (s *ESSink) deliver(ctx context.Context, b *batch, drain bool) bool {
	var retry []int
	giveUp := func() bool {
		if !drain {
			s.spoolBatch(b)
		}
		return false
	}
	attempt := 0 // attempts that got an answer with failures
	for {
		if len(b.recs) == 0 {
			return true
		}
		if s.authErr() != nil || ctx.Err() != nil {
			return giveUp()
		}
		nd, wait := s.pick()
		if nd == nil {
			if !drain && s.sp != nil {
				if !s.offline.Swap(true) {
					s.logf("elasticsearch: no node reachable; spooling to %s until one answers", s.opt.SpoolDir)
				}
				return giveUp()
			}
			sleepCtx(ctx, wait)
			continue
		}
		items, err := s.bulk(ctx, nd, b)
		if err != nil {
			s.failures.Add(1)
			var se *esStatusError
			if !errors.As(err, &se) {
				if ctx.Err() != nil {
					nd.release()
					continue
				}
				s.nodeDown(nd, err)
				s.retried.Add(uint64(len(b.recs)))
				continue // another node, at once
			}
			s.nodeUp(nd)
			if se.status == http.StatusUnauthorized || se.status == http.StatusForbidden {
				s.stop(&ESAuthError{Status: se.status, Node: nd.url, Reason: se.msg})
				continue
			}
			attempt++
			s.report("request "+se.kind(), fmt.Sprintf("elasticsearch: bulk request to %s failed: %s; retrying%s", nd.url, se.describe(), s.retryNote()))
		} else {
			s.nodeUp(nd)
			retry = retry[:0]
			var auth *ESAuthError
			for i, it := range items {
				switch {
				case it.Status == 200 || it.Status == 201:
					s.indexed.Add(1)
				case it.Status == 409:
					s.dups.Add(1)
				case it.Status == http.StatusUnauthorized || it.Status == http.StatusForbidden:
					retry = append(retry, i)
					if auth == nil {
						index, _ := recordMeta(b, i)
						auth = &ESAuthError{Status: it.Status, Node: nd.url, Reason: it.Error.String(), Index: index}
					}
				case it.Status == 429 || it.Status >= 500 || it.Status < 200:
					retry = append(retry, i)
					s.report(fmt.Sprintf("item %d %s", it.Status, it.Error.Type), fmt.Sprintf(
						"elasticsearch: documents refused for now: %d %s; retrying%s", it.Status, it.Error.String(), s.retryNote()))
				default:
					s.deadLetter(b, i, it)
				}
			}
			if len(retry) != len(b.recs) {
				b.keep(retry)
			}
			if auth != nil {
				s.stop(auth)
				continue
			}
			if len(b.recs) == 0 {
				return true
			}
			attempt++
		}
		if !drain && s.sp != nil && attempt > s.opt.RetryMax {
			s.report("give up", fmt.Sprintf("elasticsearch: still failing after %d attempts; spooling to %s", attempt, s.opt.SpoolDir))
			return giveUp()
		}
		s.retried.Add(uint64(len(b.recs)))
		sleepCtx(ctx, s.backoff(attempt))
	}
}

func (s *ESSink) retryNote() string {
	if s.sp == nil {
		return ""
	}
	return fmt.Sprintf(" (then spooling after %d attempts)", s.opt.RetryMax+1)
}

// stop ends delivery for good (401/403): Write and Close return the error
// (in Live mode it is logged too, once), batches go to the spool, the
// drainer stops.
func (s *ESSink) stop(err *ESAuthError) {
	if s.stopped.CompareAndSwap(nil, err) {
		if s.opt.Live {
			s.logf("%s", strings.TrimPrefix(err.Error(), "output: "))
		}
		s.wake()
	}
}

func (s *ESSink) authErr() error {
	if e := s.stopped.Load(); e != nil {
		return e
	}
	return nil
}

// recordMeta returns the index and _id of record i of b.
func recordMeta(b *batch, i int) (index, id string) {
	r := b.buf[b.recs[i].start:b.recs[i].end]
	nl := bytes.IndexByte(r, '\n')
	var a struct {
		Create struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		} `json:"create"`
	}
	_ = json.Unmarshal(r[:nl], &a)
	return a.Create.Index, a.Create.ID
}

func (s *ESSink) deadLetter(b *batch, i int, it esItemResult) {
	s.dead.Add(1)
	r := b.buf[b.recs[i].start:b.recs[i].end]
	nl := bytes.IndexByte(r, '\n')
	body := bytes.TrimSuffix(r[nl+1:], []byte{'\n'})
	index, id := recordMeta(b, i)
	where := "counted only (no dead-letter file)"
	if s.dl != nil {
		where = "kept in the dead-letter file " + s.opt.DeadLetter
	}
	s.report(fmt.Sprintf("item %d %s", it.Status, it.Error.Type), fmt.Sprintf(
		"elasticsearch: documents rejected: %d %s (first: %s/%s); %s", it.Status, it.Error.String(), index, id, where))
	if err := s.dl.write(index, id, it.Status, it.Error, body, time.Now()); err != nil {
		s.report("dead letter", fmt.Sprintf("elasticsearch: %v", err))
	}
}

// report logs msg the first time a kind of failure happens; in Live mode
// again at most once a minute per kind, with the count in between.
func (s *ESSink) report(kind, msg string) {
	s.repMu.Lock()
	defer s.repMu.Unlock()
	now := time.Now()
	k := s.reported[kind]
	if k == nil {
		s.reported[kind] = &reportState{last: now}
		s.logf("%s", msg)
		return
	}
	k.more++
	if s.opt.Live && now.Sub(k.last) >= s.reportEvery {
		s.logf("%s (%d more times in the last %s)", msg, k.more, now.Sub(k.last).Round(time.Second))
		k.last, k.more = now, 0
	}
}

type reportState struct {
	last time.Time
	more int
}

// backoff is exponential with full jitter in [d/2, d).
func (s *ESSink) backoff(attempt int) time.Duration {
	d := s.opt.BackoffMin
	for i := 1; i < attempt && d < s.opt.BackoffMax; i++ {
		d *= 2
	}
	if d > s.opt.BackoffMax {
		d = s.opt.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// esNode is one node of the cluster. A node that fails at the network
// level is dead until its backoff passes; then one request (a probe) may
// try it again, and an answer makes it live.
type esNode struct {
	url    string
	client *elasticsearch.Client

	mu        sync.Mutex
	dead      bool
	probing   bool
	fails     int
	deadUntil time.Time
}

// pick returns the next node, round robin: a live one, or a dead one due
// for a probe. nil when there is none; wait is then how long until one is.
func (s *ESSink) pick() (*esNode, time.Duration) {
	n := len(s.nodes)
	start := int(s.rr.Add(1) % uint64(n))
	now := time.Now()
	wait := s.opt.BackoffMax
	for i := range n {
		nd := s.nodes[(start+i)%n]
		nd.mu.Lock()
		switch {
		case !nd.dead:
			nd.mu.Unlock()
			return nd, 0
		case !nd.probing && !now.Before(nd.deadUntil):
			nd.probing = true
			nd.mu.Unlock()
			return nd, 0
		case nd.probing:
			wait = min(wait, s.opt.BackoffMin)
		default:
			wait = min(wait, nd.deadUntil.Sub(now))
		}
		nd.mu.Unlock()
	}
	return nil, max(wait, time.Millisecond)
}

func (s *ESSink) nodeDown(nd *esNode, err error) {
	nd.mu.Lock()
	was := nd.dead
	nd.dead, nd.probing = true, false
	nd.fails++
	nd.deadUntil = time.Now().Add(s.backoff(nd.fails))
	nd.mu.Unlock()
	if !was {
		others := "; sending to the other nodes"
		if len(s.nodes) == 1 {
			others = ""
		}
		s.logf("elasticsearch: node %s unreachable (%v)%s", nd.url, err, others)
	}
}

func (s *ESSink) nodeUp(nd *esNode) {
	nd.mu.Lock()
	was := nd.dead
	nd.dead, nd.probing, nd.fails = false, false, 0
	nd.mu.Unlock()
	if was {
		s.logf("elasticsearch: node %s reachable again", nd.url)
	}
}

// release ends a probe that was cut short by the sink (not the node's fault).
func (nd *esNode) release() {
	nd.mu.Lock()
	nd.probing = false
	nd.mu.Unlock()
}

// drainJob is one full-size bulk read from the spool.
type drainJob struct {
	b      *batch
	wg     *sync.WaitGroup
	failed *atomic.Bool
}

// drainer sends the spool, oldest segment first, in bulks of FlushBytes
// through Workers senders (the speed of normal sending). A segment is
// removed once every record in it was resolved.
func (s *ESSink) drainer() {
	defer s.drainWG.Done()
	jobs := make(chan drainJob)
	var senders sync.WaitGroup
	for range s.opt.Workers {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for j := range jobs {
				if !s.deliver(s.ctx, j.b, true) {
					j.failed.Store(true)
				}
				j.wg.Done()
			}
		}()
	}
	defer func() { close(jobs); senders.Wait() }()
	failures := 0
	for {
		if s.ctx.Err() != nil || s.authErr() != nil {
			return
		}
		seg, ok, err := s.sp.oldest()
		if err != nil {
			s.report("spool", fmt.Sprintf("elasticsearch: %v", err))
		}
		if !ok {
			if s.offline.Swap(false) {
				s.logf("elasticsearch: spool drained; sending directly again")
			}
			select {
			case <-s.signal:
				continue
			case <-s.final:
				// Close: the workers are done, so nothing more will be spooled.
				if _, more, _ := s.sp.oldest(); more {
					continue
				}
				return
			case <-s.ctx.Done():
				return
			}
		}
		if !s.drainSegment(seg, jobs) {
			if s.ctx.Err() != nil || s.authErr() != nil {
				return
			}
			failures++
			if !sleepCtx(s.ctx, s.backoff(failures)) {
				return
			}
			continue
		}
		failures = 0
	}
}

// drainSegment sends one segment; true when it is gone.
func (s *ESSink) drainSegment(seg spoolSegment, jobs chan<- drainJob) bool {
	r, err := openSpoolReader(seg.path)
	if err != nil {
		s.report("spool", fmt.Sprintf("elasticsearch: %v", err))
		return false
	}
	defer r.Close()
	var wg sync.WaitGroup
	var failed atomic.Bool
	for !failed.Load() && s.ctx.Err() == nil {
		b := &batch{}
		var n int
		var rerr error
		b.buf, n, rerr = r.next(nil, s.opt.FlushBytes)
		if n > 0 {
			b.frame()
			wg.Add(1)
			jobs <- drainJob{b: b, wg: &wg, failed: &failed}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			s.report("spool", fmt.Sprintf("elasticsearch: %v", rerr))
			failed.Store(true)
		}
	}
	wg.Wait()
	if failed.Load() || s.ctx.Err() != nil {
		return false
	}
	if r.corrupt > 0 {
		s.corrupt.Add(uint64(r.corrupt))
		s.logf("elasticsearch: skipped %d unreadable records in %s", r.corrupt, seg.path)
	}
	if err := s.sp.remove(seg); err != nil {
		s.report("spool", fmt.Sprintf("elasticsearch: %v", err))
	}
	return true
}

// esStatusError is a bulk request that failed as a whole with an HTTP status
// or a garbled answer (as opposed to a network error).
type esStatusError struct {
	status  int
	msg     string // Elasticsearch's type and reason, or what is wrong with the answer
	garbled bool   // a 2xx answer that does not fit the request
}

func (e *esStatusError) Error() string {
	return "output: elasticsearch: bulk: " + e.describe()
}

// describe is "500 Internal Server Error: type: reason".
func (e *esStatusError) describe() string {
	return "status " + strconv.Itoa(e.status) + " " + http.StatusText(e.status) + ": " + e.msg
}

// kind names the failure for report: the status, or the answer's defect.
func (e *esStatusError) kind() string {
	k := strconv.Itoa(e.status)
	if e.garbled {
		k += " " + strings.SplitN(e.msg, ":", 2)[0]
	}
	return k
}

type esItemResult struct {
	Status int         `json:"status"`
	Error  esItemError `json:"error"`
}

// esItemError is an item's error: an object with type and reason (or, from
// odd proxies, a bare string, kept as the reason).
type esItemError struct {
	Type   string `json:"type,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (e esItemError) String() string {
	switch {
	case e.Type == "" && e.Reason == "":
		return "no reason given"
	case e.Type == "":
		return e.Reason
	case e.Reason == "":
		return e.Type
	}
	return e.Type + ": " + e.Reason
}

func (e *esItemError) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, &e.Reason)
	}
	var v struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil // keep what we have; the status decides
	}
	e.Type, e.Reason = v.Type, v.Reason
	return nil
}

type esBulkResponse struct {
	Errors bool                      `json:"errors"`
	Items  []map[string]esItemResult `json:"items"`
}

// maxBulkResponse bounds how much of an answer is read.
const maxBulkResponse = 256 << 20

// bulk sends one request to nd and returns one result per record, or an
// error: a *esStatusError for an HTTP error status or an answer that does
// not match the request, anything else for a network error.
func (s *ESSink) bulk(ctx context.Context, nd *esNode, b *batch) ([]esItemResult, error) {
	s.requests.Add(1)
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	b.wire = stampIngested(b.wire[:0], b.buf, b.recs, s.now())
	res, err := esapi.BulkRequest{
		Body:       bytes.NewReader(b.wire),
		FilterPath: []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"},
	}.Do(ctx, nd.client)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBulkResponse))
	if err != nil {
		return nil, err
	}
	return parseBulkAnswer(res.StatusCode, data, len(b.recs))
}

// parseBulkAnswer checks a bulk answer against the number of records sent:
// one result per record, each with exactly one operation, or an
// *esStatusError. It never panics, whatever the bytes.
func parseBulkAnswer(status int, data []byte, nrec int) ([]esItemResult, error) {
	if status < 200 || status > 299 {
		return nil, &esStatusError{status: status, msg: describeAnswer(data)}
	}
	var br esBulkResponse
	if err := json.Unmarshal(data, &br); err != nil {
		msg := "unreadable answer: " + err.Error()
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '<' {
			msg = "unreadable answer: " + describeAnswer(data)
		} else if len(t) == 0 {
			msg = "unreadable answer: empty"
		}
		return nil, &esStatusError{status: status, msg: msg, garbled: true}
	}
	if len(br.Items) != nrec {
		return nil, &esStatusError{status: status, msg: fmt.Sprintf("wrong item count: answer has %d items for %d records", len(br.Items), nrec), garbled: true}
	}
	out := make([]esItemResult, len(br.Items))
	for i, m := range br.Items {
		if len(m) != 1 {
			return nil, &esStatusError{status: status, msg: fmt.Sprintf("bad item: item %d has %d operations", i, len(m)), garbled: true}
		}
		for _, v := range m {
			out[i] = v
		}
	}
	return out, nil
}

// describeAnswer says what an error answer holds: Elasticsearch's error
// type and reason, "an HTML page (title)" from a proxy or a wrong URL, or
// the first bytes.
func describeAnswer(data []byte) string {
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 0:
		return "empty answer"
	case t[0] == '<':
		title := ""
		low := bytes.ToLower(t)
		if i := bytes.Index(low, []byte("<title>")); i >= 0 {
			if j := bytes.Index(low[i:], []byte("</title>")); j > 0 {
				title = string(bytes.TrimSpace(t[i+len("<title>") : i+j]))
			}
		}
		if title == "" {
			title = Truncate(t, 80)
		}
		return "an HTML page, not an Elasticsearch answer (" + Truncate([]byte(title), 120) + "): a proxy in the way, or not the Elasticsearch URL?"
	}
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(t, &e) == nil && len(e.Error) > 0 {
		var ie esItemError
		_ = ie.UnmarshalJSON(e.Error)
		if ie.Type != "" || ie.Reason != "" {
			return Truncate([]byte(ie.String()), 300)
		}
	}
	return Truncate(t, 300)
}

// Truncate returns b as a string of at most n bytes, with "…" when cut:
// an Elasticsearch or Kibana answer quoted in an error message.
func Truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
