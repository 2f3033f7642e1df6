package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/tlsentry/tlsentry/output"
)

// Names of the sinks, as Sink.Name, SinkError.Sink, metric labels and log
// keys report them.
const (
	SinkNDJSON        = "ndjson"
	SinkElasticsearch = "elasticsearch"
)

// SinkConfig chooses the sinks.
type SinkConfig struct {
	// File is the NDJSON file (-w); "" and "-" mean Stdout. It is emptied
	// first unless Append is set (a second replay into the same file must
	// not double it; a live sensor appends, for shippers that tail it).
	File   string
	Append bool
	// Stdout receives NDJSON when File is "" and Elasticsearch is not
	// configured, or when File is "-" (NDJSON on stdout besides
	// Elasticsearch).
	Stdout io.Writer
	// ES configures the Elasticsearch sink; nil: no Elasticsearch.
	ES *output.ESOptions
}

// SinkError is a sink that could not be opened, take documents or flush.
type SinkError struct {
	Sink string // SinkNDJSON or SinkElasticsearch
	Err  error
}

func (e *SinkError) Error() string { return e.Sink + ": " + e.Err.Error() }
func (e *SinkError) Unwrap() error { return e.Err }

// Sink is an output.Sink that counts the documents it accepted and refused.
type Sink struct {
	sink       output.Sink
	name       string
	ok, failed atomic.Uint64

	spoolDir, deadLetter string // Elasticsearch, for Delivery
}

// Delivery is what a sink did with the documents of a run: the summary
// line and the exit status come from it.
type Delivery struct {
	Sink    string // SinkNDJSON or SinkElasticsearch
	Written uint64 // accepted by Write
	Failed  uint64 // refused by Write

	// Elasticsearch only (ES true): the sink's account. Every document
	// written is indexed, a duplicate, rejected, dropped or undelivered;
	// spooled counts passages through the spool.
	ES          bool
	Indexed     uint64
	Duplicates  uint64 // already there (409 on create)
	Rejected    uint64 // rejected for themselves, to the dead-letter file
	Spooled     uint64
	Dropped     uint64 // lost: spool full, no spool, or shed (live)
	Undelivered uint64 // still in the spool at the end (sent at the next start)
	SpoolBytes  int64  // bytes in the spool at the end
	SpoolDir    string
	DeadLetter  string // "" none: rejections counted only
}

// Delivery returns the sink's counters (see Delivery).
func (s *Sink) Delivery() Delivery {
	ok, failed := s.Docs()
	d := Delivery{Sink: s.name, Written: ok, Failed: failed}
	es, isES := s.sink.(*output.ESSink)
	if !isES {
		return d
	}
	st := es.Stats()
	d.ES = true
	d.Indexed, d.Duplicates, d.Rejected, d.Spooled = st.Indexed, st.Duplicates, st.DeadLettered, st.Spooled
	d.Dropped = st.Dropped + st.Shed
	d.Undelivered = st.Undelivered()
	d.SpoolBytes, d.SpoolDir, d.DeadLetter = st.SpoolBytes, s.spoolDir, s.deadLetter
	return d
}

// Lost reports whether documents were dropped or left undelivered.
func (d Delivery) Lost() bool {
	return d.Failed > 0 || d.Dropped > 0 || d.Undelivered > 0 || d.SpoolBytes > 0
}

// NewSink wraps s, named name, with counters.
func NewSink(name string, s output.Sink) *Sink { return &Sink{sink: s, name: name} }

// Name is SinkNDJSON or SinkElasticsearch (or the name given to NewSink).
func (s *Sink) Name() string { return s.name }

// Docs returns how many documents Write accepted and refused.
func (s *Sink) Docs() (ok, failed uint64) { return s.ok.Load(), s.failed.Load() }

// Unwrap returns the sink counted (an *output.ESSink for Elasticsearch).
func (s *Sink) Unwrap() output.Sink { return s.sink }

// Write writes docs to the sink and counts them.
func (s *Sink) Write(ctx context.Context, docs ...output.Document) error {
	err := s.sink.Write(ctx, docs...)
	if err != nil {
		s.failed.Add(uint64(len(docs)))
	} else {
		s.ok.Add(uint64(len(docs)))
	}
	return err
}

// Close flushes and closes the sink.
func (s *Sink) Close(ctx context.Context) error { return s.sink.Close(ctx) }

// Sinks is the sink set of a sensor, in the order documents are written.
type Sinks []*Sink

// OpenSinks opens the sinks c asks for: NDJSON (File, else Stdout unless
// Elasticsearch replaces it) and Elasticsearch, in that order. Errors are
// *SinkError; on error nothing stays open.
func OpenSinks(c SinkConfig) (Sinks, error) {
	var sinks Sinks
	switch {
	case c.File != "" && c.File != "-":
		if !c.Append {
			if err := emptyFile(c.File); err != nil {
				return nil, &SinkError{SinkNDJSON, fmt.Errorf("output: %w", err)}
			}
		}
		s, err := output.CreateNDJSONFile(c.File)
		if err != nil {
			return nil, &SinkError{SinkNDJSON, err}
		}
		sinks = append(sinks, NewSink(SinkNDJSON, s))
	case c.ES == nil || c.File == "-":
		sinks = append(sinks, NewSink(SinkNDJSON, output.NewNDJSON(c.Stdout)))
	}
	if c.ES != nil {
		es, err := output.NewElasticsearch(*c.ES)
		if err != nil {
			sinks.Close(context.Background())
			return nil, &SinkError{SinkElasticsearch, err}
		}
		sk := NewSink(SinkElasticsearch, es)
		sk.spoolDir, sk.deadLetter = c.ES.SpoolDir, c.ES.DeadLetter
		sinks = append(sinks, sk)
	}
	return sinks, nil
}

// Close closes every sink; the error joins a *SinkError per sink that
// failed.
func (ss Sinks) Close(ctx context.Context) error {
	var errs []error
	for _, s := range ss {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, &SinkError{s.name, err})
		}
	}
	return errors.Join(errs...)
}

// Delivery returns every sink's Delivery, in order.
func (ss Sinks) Delivery() []Delivery {
	out := make([]Delivery, len(ss))
	for i, s := range ss {
		out[i] = s.Delivery()
	}
	return out
}

// write writes docs to every sink and returns the first failure.
func (ss Sinks) write(ctx context.Context, docs []output.Document) error {
	var first error
	for _, s := range ss {
		if err := s.Write(ctx, docs...); err != nil && first == nil {
			first = &SinkError{s.name, err}
		}
	}
	return first
}

// emptyFile truncates path when it is a regular file; a missing file is
// created later, and a device or pipe (-w /dev/null, a FIFO) is written as
// it is.
func emptyFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return nil
	}
	return os.Truncate(path, 0)
}
