package output

import (
	"bytes"
	"time"
)

// event.ingested: when Elasticsearch took a document. Kibana Security's
// rules look back on it (falling back to @timestamp, which is packet time:
// a replayed capture or a spool drained after an outage lies outside every
// look-back window without it).
//
// Two places set it. "tlsentry setup" installs the ingest pipeline
// IngestPipeline as the templates' default pipeline, which sets it to the
// time the node indexes the document. A cluster without ingest nodes (or
// without the ingest-common module, such as the integ-test distribution)
// cannot run the pipeline: there the sink's own stamp stays. The sink
// stamps every bulk record when it sends it (each attempt, from the queue
// and from the spool alike); the pipeline, where there is one, overwrites
// the stamp with its own time. NDJSON carries none: the shipper's pipeline
// sets it.

// IngestPipeline is the name of the ingest pipeline "tlsentry setup"
// installs and names as the templates' index.default_pipeline.
const IngestPipeline = "tlsentry-ingested"

// IngestPipelineBody is its definition: one set processor.
func IngestPipelineBody() []byte {
	return []byte(`{"description":"tlsentry: event.ingested is the time the node indexed the document (installed by tlsentry setup)",` +
		`"processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}","override":true}}],` +
		`"_meta":{"managed_by":"tlsentry"}}`)
}

// eventObject is how an encoded document's event object begins.
var eventObject = []byte(`"event":{`)

// stampIngested appends to dst the bulk records of buf (spans recs, each an
// action line and a body line) with event.ingested set to at in each body:
// written first in the event object, or as an event object of its own
// after the body's opening brace when it has none. A body that is not a
// JSON object is copied as it is (Elasticsearch rejects it).
func stampIngested(dst, buf []byte, recs []span, at time.Time) []byte {
	var ts [len(timeLayout) + 2]byte
	stamp := append(ts[:0], '"')
	stamp = at.UTC().AppendFormat(stamp, timeLayout)
	stamp = append(stamp, '"')
	for _, r := range recs {
		rec := buf[r.start:r.end]
		nl := bytes.IndexByte(rec, '\n')
		if nl < 0 {
			dst = append(dst, rec...)
			continue
		}
		action, body := rec[:nl+1], rec[nl+1:]
		dst = append(dst, action...)
		dst = appendStamped(dst, body, stamp)
	}
	return dst
}

// appendStamped appends body with "ingested":stamp in its event object: the
// first `"event":{` of the body, which in tlsentry's documents is the
// top-level one, after @timestamp, ecs and data_stream (a JSON string
// cannot hold the sequence: its quotes would be escaped).
func appendStamped(dst, body, stamp []byte) []byte {
	if len(body) < 2 || body[0] != '{' {
		return append(dst, body...)
	}
	if i := bytes.Index(body, eventObject); i > 0 {
		at := i + len(eventObject)
		dst = append(dst, body[:at]...)
		dst = append(dst, `"ingested":`...)
		dst = append(dst, stamp...)
		if at < len(body) && body[at] != '}' {
			dst = append(dst, ',')
		}
		return append(dst, body[at:]...)
	}
	dst = append(dst, `{"event":{"ingested":`...)
	dst = append(dst, stamp...)
	dst = append(dst, '}')
	rest := bytes.TrimLeft(body[1:], " \t")
	if len(rest) > 0 && rest[0] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, rest...)
}
