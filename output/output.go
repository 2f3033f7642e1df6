// Package output turns sessions and verdicts into ECS documents and delivers
// them to sinks: NDJSON (stdout or a file) and Elasticsearch.
package output

import (
	"context"
	"time"
)

// Datasets, which also name the data streams logs-<dataset>-<namespace>.
const (
	DatasetTLS   = "tlsentry.tls"
	DatasetAlert = "tlsentry.alert"
	// DatasetInventory documents are inventory items first seen
	// (session.Inventory.Items), one each.
	DatasetInventory = "tlsentry.inventory"
)

// Document is one encoded ECS document.
type Document struct {
	ID        string    // event.id, deterministic; the Elasticsearch _id
	Dataset   string    // DatasetTLS, DatasetAlert or DatasetInventory
	Timestamp time.Time // @timestamp
	Body      []byte    // one JSON object, no trailing newline
}

// Sink delivers documents. Write may block for back-pressure; it is safe for
// concurrent use. Close flushes everything still queued.
type Sink interface {
	Write(ctx context.Context, docs ...Document) error
	Close(ctx context.Context) error
}
