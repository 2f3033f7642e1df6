package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// deadLetter appends documents that Elasticsearch rejected for themselves (a
// mapping conflict, a document that does not parse) to an NDJSON file, one
// object per line:
//
//	{"@timestamp":"<when rejected>","index":"logs-tlsentry.tls-default","_id":"…",
//	 "status":400,"error":{"type":"document_parsing_exception","reason":"…"},
//	 "document":{…the document as it was sent…}}
//
// A document that is not valid JSON is kept as a string in "document_raw".
// The file is opened for appending on first use; nil or a "" path keeps no
// file (the rejections are still counted).
type deadLetter struct {
	path string
	mu   sync.Mutex
	f    *os.File
	buf  bytes.Buffer
}

type deadLetterEntry struct {
	Timestamp string          `json:"@timestamp"`
	Index     string          `json:"index,omitempty"`
	ID        string          `json:"_id,omitempty"`
	Status    int             `json:"status"`
	Error     esItemError     `json:"error"`
	Document  json.RawMessage `json:"document,omitempty"`
	Raw       string          `json:"document_raw,omitempty"`
}

func (d *deadLetter) write(index, id string, status int, e esItemError, body []byte, now time.Time) error {
	if d == nil || d.path == "" {
		return nil
	}
	ent := deadLetterEntry{Timestamp: now.UTC().Format(time.RFC3339Nano), Index: index, ID: id, Status: status, Error: e}
	if json.Valid(body) {
		ent.Document = body
	} else {
		ent.Raw = string(body)
	}
	line, err := json.Marshal(ent)
	if err != nil {
		return fmt.Errorf("output: dead letter: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("output: dead letter: %w", err)
		}
		d.f = f
	}
	d.buf.Reset()
	d.buf.Write(line)
	d.buf.WriteByte('\n')
	if _, err := d.f.Write(d.buf.Bytes()); err != nil {
		return fmt.Errorf("output: dead letter: %w", err)
	}
	return nil
}

func (d *deadLetter) close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
