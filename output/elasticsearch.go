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
	"strconv"
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
	// 429 or 5xx) is retried in memory before it goes to the spool; default 5.
	// Without a spool, retries go on until Close gives up.
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

	// DrainTimeout bounds how long Close drains the spool; default 30s (and
	// Close's context bounds it too). What is left stays for the next start.
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
// full jitter, any other 4xx (a mapping conflict) goes to the dead-letter
// file. A network error, a garbled answer, or RetryMax failed attempts send
// the batch to the disk spool and mark Elasticsearch unreachable; while the
// spool holds anything, new batches go behind it, and one drainer sends the
// spool oldest first (retrying forever with capped backoff) until it is empty.
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
	opt    ESOptions
	client *elasticsearch.Client
	sp     *spool
	dl     *deadLetter
	logf   func(string, ...any)

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

	offline atomic.Bool

	written, indexed, dups, retried, dead, spooled, corrupt, dropped, shed, requests, failures atomic.Uint64

	indexTLS, indexAlert string
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
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:    opt.URLs,
		APIKey:       opt.APIKey,
		Username:     opt.Username,
		Password:     opt.Password,
		Transport:    rt,
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("output: elasticsearch: %w", err)
	}
	s := &ESSink{
		opt:        opt,
		client:     client,
		logf:       opt.Logf,
		queue:      make(chan []byte, opt.QueueSize),
		closing:    make(chan struct{}),
		final:      make(chan struct{}),
		signal:     make(chan struct{}, 1),
		indexTLS:   "logs-" + DatasetTLS + "-" + opt.Namespace,
		indexAlert: "logs-" + DatasetAlert + "-" + opt.Namespace,
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if opt.SpoolDir != "" {
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
// The sink copies what it keeps: the caller may reuse d.Body afterwards.
func (s *ESSink) Write(ctx context.Context, docs ...Document) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.writers.Add(1)
	s.mu.RUnlock()
	defer s.writers.Done()

	for i := range docs {
		rec := s.record(&docs[i])
		s.written.Add(1)
		if !s.opt.Live {
			select {
			case s.queue <- rec:
				continue
			case <-ctx.Done():
				s.written.Add(^uint64(0))
				return ctx.Err()
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
			s.written.Add(^uint64(0))
			return ctx.Err()
		case <-s.closing:
			t.Stop()
			s.written.Add(^uint64(0))
			return ErrClosed
		}
		t.Stop()
	}
	return nil
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
// spool for at most DrainTimeout (and until ctx ends). Whatever could not be
// delivered by then stays in the spool directory and is sent by the next
// sink opened on it; Close then returns an error saying how much is left.
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

	done := make(chan struct{})
	go func() { s.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel() // workers stop retrying and spool (or drop) what they hold
		<-done
	}

	var err error
	if s.sp != nil {
		close(s.final)
		s.wake()
		t := time.NewTimer(s.opt.DrainTimeout)
		drained := make(chan struct{})
		go func() { s.drainWG.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-t.C:
			s.cancel()
			<-drained
		case <-ctx.Done():
			s.cancel()
			<-drained
		}
		t.Stop()
		if cerr := s.sp.close(); cerr != nil {
			err = cerr
		}
		if left := s.sp.size(); left > 0 && err == nil {
			err = fmt.Errorf("output: elasticsearch: %d bytes not delivered stay in spool %s for the next start", left, s.opt.SpoolDir)
		}
	}
	s.cancel()
	if cerr := s.dl.close(); cerr != nil && err == nil {
		err = fmt.Errorf("output: dead letter: %w", cerr)
	}
	if n := s.dropped.Load(); n > 0 && err == nil {
		err = fmt.Errorf("output: elasticsearch: %d documents dropped", n)
	}
	return err
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
	b.buf, b.recs = append(b.buf[:0], buf...), b.recs[:0]
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

// flush delivers a batch, or spools it when Elasticsearch is away or the
// spool still holds older documents.
func (s *ESSink) flush(b *batch) {
	if len(b.recs) == 0 {
		return
	}
	defer b.reset()
	if s.sp != nil && (s.offline.Load() || s.sp.size() > 0) {
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
	if s.sp == nil {
		s.dropped.Add(n)
		return
	}
	if err := s.sp.append(b.buf); err != nil {
		s.dropped.Add(n)
		s.logf("elasticsearch: %d documents dropped: %v", n, err)
		return
	}
	s.spooled.Add(n)
	s.wake()
}

// deliver sends b until every record is resolved. Online (drain false), it
// gives up after RetryMax attempts or at a network error and spools what is
// left; draining, it retries until ctx ends and reports whether it finished.
func (s *ESSink) deliver(ctx context.Context, b *batch, drain bool) bool {
	var retry []int
	for attempt := 0; ; attempt++ {
		if len(b.recs) == 0 {
			return true
		}
		if attempt > 0 {
			s.retried.Add(uint64(len(b.recs)))
			if !sleepCtx(ctx, s.backoff(attempt)) {
				if !drain {
					s.spoolBatch(b)
				}
				return false
			}
		}
		items, err := s.bulk(ctx, b)
		if err != nil {
			s.failures.Add(1)
			var se *esStatusError
			network := !errors.As(err, &se)
			if network && ctx.Err() == nil && !s.offline.Swap(true) {
				s.logf("elasticsearch: unreachable (%v); spooling", err)
			}
			if !drain && (s.sp != nil && (network || attempt >= s.opt.RetryMax) || ctx.Err() != nil) {
				s.spoolBatch(b)
				return false
			}
			if ctx.Err() != nil {
				return false
			}
			continue
		}
		if s.offline.Load() && s.sp == nil {
			s.offline.Store(false)
		}
		retry = retry[:0]
		for i, it := range items {
			switch {
			case it.Status == 200 || it.Status == 201:
				s.indexed.Add(1)
			case it.Status == 409:
				s.dups.Add(1)
			case it.Status == 429 || it.Status >= 500 || it.Status < 200:
				retry = append(retry, i)
			default:
				s.deadLetter(b, i, it)
			}
		}
		if len(retry) == len(b.recs) {
			// nothing changed; keep the batch as it is
		} else {
			b.keep(retry)
		}
		if len(b.recs) > 0 && !drain && s.sp != nil && attempt >= s.opt.RetryMax {
			s.spoolBatch(b)
			return false
		}
	}
}

func (s *ESSink) deadLetter(b *batch, i int, it esItemResult) {
	s.dead.Add(1)
	r := b.buf[b.recs[i].start:b.recs[i].end]
	nl := bytes.IndexByte(r, '\n')
	action, body := r[:nl], bytes.TrimSuffix(r[nl+1:], []byte{'\n'})
	var a struct {
		Create struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		} `json:"create"`
	}
	_ = json.Unmarshal(action, &a)
	if err := s.dl.write(a.Create.Index, a.Create.ID, it.Status, it.Error, body, time.Now()); err != nil {
		s.logf("elasticsearch: %v", err)
	}
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

// drainer sends the spool, oldest segment first.
func (s *ESSink) drainer() {
	defer s.drainWG.Done()
	var b batch
	var buf []byte
	failures := 0
	for {
		seg, ok, err := s.sp.oldest()
		if err != nil {
			s.logf("elasticsearch: %v", err)
		}
		if !ok {
			if s.offline.Swap(false) {
				s.logf("elasticsearch: reachable again; spool drained")
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
		if !s.drainSegment(seg, &b, &buf) {
			if s.ctx.Err() != nil {
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
func (s *ESSink) drainSegment(seg spoolSegment, b *batch, buf *[]byte) bool {
	r, err := openSpoolReader(seg.path)
	if err != nil {
		s.logf("elasticsearch: %v", err)
		return false
	}
	defer r.Close()
	for {
		var n int
		var rerr error
		*buf, n, rerr = r.next((*buf)[:0], s.opt.FlushBytes)
		if n > 0 {
			b.setRecords(*buf)
			if !s.deliver(s.ctx, b, true) {
				return false
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			s.logf("elasticsearch: %v", rerr)
			return false
		}
	}
	if r.corrupt > 0 {
		s.corrupt.Add(uint64(r.corrupt))
		s.logf("elasticsearch: skipped %d unreadable records in %s", r.corrupt, seg.path)
	}
	if err := s.sp.remove(seg); err != nil {
		s.logf("elasticsearch: %v", err)
	}
	return true
}

// esStatusError is a bulk request that failed as a whole with an HTTP status
// or a garbled answer (as opposed to a network error).
type esStatusError struct {
	status int
	msg    string
}

func (e *esStatusError) Error() string {
	return "output: elasticsearch: bulk: status " + strconv.Itoa(e.status) + ": " + e.msg
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

// bulk sends one request and returns one result per record, or an error: a
// *esStatusError for an HTTP error status or an answer that does not match
// the request, anything else for a network error.
func (s *ESSink) bulk(ctx context.Context, b *batch) ([]esItemResult, error) {
	s.requests.Add(1)
	ctx, cancel := context.WithTimeout(ctx, s.opt.RequestTimeout)
	defer cancel()
	res, err := esapi.BulkRequest{
		Body:       bytes.NewReader(b.buf),
		FilterPath: []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"},
	}.Do(ctx, s.client)
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
		return nil, &esStatusError{status: status, msg: Truncate(data, 300)}
	}
	var br esBulkResponse
	if err := json.Unmarshal(data, &br); err != nil {
		return nil, &esStatusError{status: status, msg: "unreadable answer: " + err.Error()}
	}
	if len(br.Items) != nrec {
		return nil, &esStatusError{status: status, msg: fmt.Sprintf("answer has %d items for %d records", len(br.Items), nrec)}
	}
	out := make([]esItemResult, len(br.Items))
	for i, m := range br.Items {
		if len(m) != 1 {
			return nil, &esStatusError{status: status, msg: fmt.Sprintf("item %d has %d operations", i, len(m))}
		}
		for _, v := range m {
			out[i] = v
		}
	}
	return out, nil
}

// Truncate returns b as a string of at most n bytes, with "…" when cut:
// an Elasticsearch or Kibana answer quoted in an error message.
func Truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
