package sensor

import (
	"context"
	"errors"
	"io"
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
	// File is the NDJSON file (-w); documents are appended to it. "" and
	// "-" mean Stdout.
	File string
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
		sinks = append(sinks, NewSink(SinkElasticsearch, es))
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
