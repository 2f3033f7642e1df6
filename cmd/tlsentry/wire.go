package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tlsentry/tlsentry/sensor"
)

// openSinks opens the sensor's sinks from the configuration: NDJSON (-w, or
// stdout unless Elasticsearch replaces it) and Elasticsearch when configured
// (--es, ELASTICSEARCH_URL or the config file). live selects shedding over
// blocking when the Elasticsearch queue is full; logf receives the
// Elasticsearch sink's messages.
//
// The NDJSON file is emptied first unless appendTo (--append; the live
// sensor always appends).
func openSinks(cfg *Config, esFlag string, live, appendTo bool, stdout io.Writer, logf func(string, ...any)) (sensor.Sinks, error) {
	opt, err := esOptions(cfg, esFlag, live)
	if err != nil {
		return nil, err
	}
	sc := sensor.SinkConfig{File: cfg.Output.File, Append: appendTo || live, Stdout: stdout}
	if len(opt.URLs) > 0 {
		opt.Logf = logf
		sc.ES = &opt
	}
	sinks, err := sensor.OpenSinks(sc)
	var se *sensor.SinkError
	if errors.As(err, &se) && se.Sink == sensor.SinkNDJSON {
		return nil, fmt.Errorf("%w: -w: %v", errUsage, se.Err)
	}
	return sinks, err
}

// outputError is the error of a run whose sink failed ("output: ..."), or
// nil when err is no sink's. named keeps the sink's name in the message
// (the live sensor's several sinks).
func outputError(err error, named bool) error {
	var se *sensor.SinkError
	if !errors.As(err, &se) {
		return nil
	}
	if named {
		return fmt.Errorf("output: %w", err)
	}
	if strings.HasPrefix(se.Err.Error(), "output: ") {
		return se.Err
	}
	return fmt.Errorf("output: %w", se.Err)
}
