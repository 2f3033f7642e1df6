package main

import (
	"fmt"
	"io"
	"log"

	"github.com/tlsentry/tlsentry/output"
)

// withElasticsearch adds the Elasticsearch sink beside nd when Elasticsearch
// is configured (--es, ELASTICSEARCH_URL or the config file); otherwise it
// returns nd. Documents go to Elasticsearch instead of stdout, or to both
// when an output file is configured. live selects shedding over blocking when the queue is full.
func withElasticsearch(cfg *Config, esFlag string, live bool, nd output.Sink, stderr io.Writer) (output.Sink, error) {
	opt, err := esOptions(cfg, esFlag, live)
	if err != nil {
		return nd, err
	}
	if len(opt.URLs) == 0 {
		return nd, nil
	}
	logger := log.New(stderr, "tlsentry: elasticsearch: ", 0)
	opt.Logf = logger.Printf
	es, err := output.NewElasticsearch(opt)
	if err != nil {
		return nd, fmt.Errorf("elasticsearch: %w", err)
	}
	if cfg.Output.File == "" {
		// Elasticsearch replaces stdout unless a file (-w) was asked for too.
		return es, nil
	}
	return output.Tee(nd, es), nil
}
