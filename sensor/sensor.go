// Package sensor is the runtime of tlsentry, assembled once for replay
// (-r), live capture (-i) and "rules test": packets from capture sources go
// through a capture.Pipeline; every finished session is judged (rules),
// encoded and written to the sinks (NDJSON and/or Elasticsearch, each
// counted); at the end the sinks are flushed and closed and the counters
// returned.
//
// It does not parse flags, read configuration, handle signals, serve
// metrics or drop privileges: the command does, and hands the sensor what
// it built (a Judge, SinkConfig, capture.Config, sources).
package sensor

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/tlsentry/tlsentry/capture"
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/output"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Judge gives a session its verdict: a *detect.Reloader or *detect.Engine.
// It is called from several goroutines at once, unless Config.Ordered.
type Judge interface {
	Evaluate(*session.Session) detect.Verdict
}

// A Stage sees every session before the judge, in judging order and one
// session at a time (never concurrently): an inventory that sets facts
// rules read plugs in here. With Config.Ordered the order does not depend
// on the number of workers; without it (live capture) it is the order
// sessions arrive in.
type Stage interface {
	Observe(*session.Session)
}

// StageFunc adapts a function to Stage.
type StageFunc func(*session.Session)

// Observe calls f(s).
func (f StageFunc) Observe(s *session.Session) { f(s) }

// Config assembles a Sensor.
type Config struct {
	Capture capture.Config // workers, flow limit, filter
	// Judge judges every session; nil: no rules, every verdict is
	// detect.ValidationNotChecked without alerts.
	Judge Judge
	// JudgeReady, when set, is called once, before the first session is
	// judged, and returns when Judge can judge: a replay reads and
	// reassembles while its rules compile. Its error ends the run with that
	// error, and no session reaches a stage or a sink.
	JudgeReady func() error
	// ObserverName is observer.name in documents (observer.hostname is
	// this host's name).
	ObserverName string
	// Version is observer.version (the build); Namespace is
	// data_stream.namespace ("" is "default"), the Elasticsearch sink's.
	Version, Namespace string
	// Detail is the documents' detail level ("" is output.DetailLean).
	Detail output.Detail
	// Sinks receive the documents and are closed by Run. Without sinks
	// sessions are judged but not encoded.
	Sinks Sinks
	// Ordered judges sessions in the order of their packet-time order keys
	// (order.go), so that a replay's documents do not depend on the number
	// of workers even where rules keep state (suppress and threshold
	// blocks). Replay sets it; live capture judges in arrival order.
	Ordered bool
	// OrderMemory bounds the sessions the ordering holds, in bytes
	// (default DefaultOrderMemory); past it the oldest are judged early.
	OrderMemory int64
	// Stages see every session, in judging order, before the judge (an
	// *inventory.Inventory, which sets session.Inventory).
	Stages []Stage
	// OnVerdict, when set, sees every session and its verdict before the
	// documents are written ("rules test" collects alerts with it).
	OnVerdict func(*session.Session, detect.Verdict)
	// CaptureDone, when set, is called by Run once every session has been
	// handled and before the sinks are closed: the place to stop a
	// progress bar or release live sockets.
	CaptureDone func()
	// FlushCtx bounds the final flush: the sinks' writes that wait (a slow
	// Elasticsearch) and their Close end when it ends, and what is not
	// delivered by then is spooled (see output.ESSink.Close). It is not
	// Run's ctx, which stops the sources: a stopping sensor still writes
	// the sessions it holds. nil: no bound.
	FlushCtx context.Context
}

// Sensor runs packets from sources to sinks. Run it once.
type Sensor struct {
	cfg   Config
	judge Judge
	ready func() error // Config.JudgeReady, once; nil: ready
	enc   *output.Encoder
	// scratch holds *output.Scratch: the documents of a session are
	// written to the sinks (which copy what they keep) and dropped, so the
	// encoder's buffers serve the next session.
	scratch sync.Pool
	p       *capture.Pipeline
	order   *orderStage // with Config.Ordered
	// stageMu serialises the Stages when sessions are not ordered (they
	// come from several workers then).
	stageMu sync.Mutex

	ctx  context.Context // Run's, for the sinks' writes
	fail func(error)     // records the first sink failure and ends the run
}

// New assembles a sensor: the judge, the encoder, the sinks and a
// capture.Pipeline whose session handler evaluates, encodes and writes.
func New(c Config) *Sensor {
	host, _ := os.Hostname()
	s := &Sensor{
		cfg:   c,
		judge: c.Judge,
		enc:   output.NewEncoder(output.Observer{Name: c.ObserverName, Hostname: host, Version: c.Version, Namespace: c.Namespace}),
		ctx:   context.Background(),
		fail:  func(error) {},
	}
	s.enc.SetDetail(c.Detail)
	if s.judge == nil {
		s.judge = noJudge{}
	}
	if c.JudgeReady != nil {
		s.ready = sync.OnceValue(c.JudgeReady)
	}
	if c.Ordered {
		s.order = newOrderStage(s.handle, c.OrderMemory)
		s.p = capture.NewPipeline(c.Capture, s.order)
	} else {
		s.p = capture.NewPipeline(c.Capture, session.HandlerFunc(s.handle))
	}
	return s
}

type noJudge struct{}

func (noJudge) Evaluate(*session.Session) detect.Verdict {
	return detect.Verdict{Validation: detect.ValidationNotChecked}
}

// handle is the session handler: the stages, then evaluate, then encode,
// then write to every sink in order.
func (s *Sensor) handle(ss *session.Session) {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			s.fail(err)
			return
		}
	}
	if len(s.cfg.Stages) > 0 {
		if s.order == nil {
			s.stageMu.Lock()
		}
		for _, st := range s.cfg.Stages {
			st.Observe(ss)
		}
		if s.order == nil {
			s.stageMu.Unlock()
		}
	}
	v := s.judge.Evaluate(ss)
	if s.cfg.OnVerdict != nil {
		s.cfg.OnVerdict(ss, v)
	}
	if len(s.cfg.Sinks) == 0 {
		return
	}
	sc, _ := s.scratch.Get().(*output.Scratch)
	if sc == nil {
		sc = new(output.Scratch)
	}
	err := s.cfg.Sinks.write(s.ctx, s.enc.EncodeScratch(sc, ss, v))
	s.scratch.Put(sc)
	if err != nil {
		s.fail(err)
	}
}

// Stats are the pipeline's live counters (for progress, logs and metrics).
func (s *Sensor) Stats() *capture.Stats { return s.p.Stats() }

// CertStats are the counters of the pipeline's server certificate cache
// (for metrics).
func (s *Sensor) CertStats() tlsparse.CertCacheStats { return s.p.CertStats() }

// OrderStats are the judging stage's counters (zero without
// Config.Ordered).
func (s *Sensor) OrderStats() OrderStats {
	if s.order == nil {
		return OrderStats{}
	}
	return s.order.o.stats()
}

// Sinks are the sensor's sinks (for logs and metrics).
func (s *Sensor) Sinks() Sinks { return s.cfg.Sinks }

// Run reads srcs until they end, fail, or ctx is done, hands every session
// to the judge and the sinks, calls CaptureDone, then closes the sinks and
// returns the final counters.
//
// Sinks write with Config.FlushCtx, not ctx: when ctx ends the sources
// stop, and the sessions still held are written and flushed within
// FlushCtx.
//
// When a sink fails, the run stops: ctx of the pipeline is cancelled and
// sources with a Stop method (live sockets) are stopped. They are also
// stopped when ctx is done. The error is, in this order of precedence, the
// first sink write failure (a *SinkError) or Config.JudgeReady's error, the
// sources' error, or the sinks' Close errors (joined *SinkError).
func (s *Sensor) Run(ctx context.Context, srcs []capture.Source) (capture.Snapshot, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	flushCtx := s.cfg.FlushCtx
	if flushCtx == nil {
		flushCtx = context.Background()
	}
	wctx, wcancel := context.WithCancel(flushCtx)
	defer wcancel()
	var sinkErr error
	var once sync.Once
	s.ctx = wctx
	s.fail = func(err error) { once.Do(func() { sinkErr = err; cancel(); wcancel() }) }

	ended := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			for _, src := range srcs {
				if st, ok := src.(interface{ Stop() }); ok {
					st.Stop()
				}
			}
		case <-ended:
		}
	}()
	runErr := s.p.Run(ctx, srcs)
	if s.order != nil {
		s.order.finish()
	}
	close(ended)
	<-stopped
	if s.cfg.CaptureDone != nil {
		s.cfg.CaptureDone()
	}
	closeErr := s.cfg.Sinks.Close(flushCtx)
	snap := s.p.Stats().Snapshot()
	// p.Run waited for every handler: sinkErr is no longer written.
	switch {
	case sinkErr != nil:
		return snap, sinkErr
	case runErr != nil:
		return snap, runErr
	}
	return snap, closeErr
}

// DecodeOnly reads and decodes every packet of src, nothing else: the
// baseline the benchmark compares the whole pipeline with. A nil filter
// keeps every packet.
func DecodeOnly(src capture.Source, filter capture.PacketFilter) (packets, bytes, failed uint64, err error) {
	dec := capture.NewDecoder()
	var p capture.Packet
	for {
		data, ci, rerr := src.ReadPacket()
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			return
		}
		packets++
		bytes += uint64(ci.Length)
		if filter != nil && !filter.Match(src.LinkType(), data, ci) {
			continue
		}
		if !dec.Decode(data, ci, src.LinkType(), &p) {
			failed++
		}
	}
}
