package output

import (
	"crypto/sha256"

	"github.com/tlsentry/tlsentry/session"
)

// inventoryShared are the session document fields inventory documents
// carry too (the logs-tlsentry.inventory template maps them and the
// Inventory fields).
var inventoryShared = map[string]bool{
	"@timestamp": true, "data_stream.type": true, "data_stream.dataset": true, "ecs.version": true,
	"event.kind": true, "event.category": true, "event.type": true, "event.module": true, "event.dataset": true, "event.id": true,
	"destination.ip": true, "destination.port": true,
	"tls.client.server_name": true, "tls.client.ja3": true, "tlsentry.client.ja4": true,
	"tls.server.hash.sha256": true, "tls.server.not_before": true, "tls.server.not_after": true,
	"tls.server.subject": true, "tls.server.issuer": true, "tls.server.x509.alternative_names": true,
	"data_stream.namespace": true, "observer.name": true, "observer.hostname": true, "observer.type": true,
	"observer.vendor": true, "observer.product": true, "observer.version": true,
}

// inventoryEvent is the event object's kind, category and type of an
// inventory document.
const inventoryEvent = `"kind":"state","category":["network"],"type":["info"]`

func inventoryDocField(f field) bool { return f.Inventory || inventoryShared[f.Path] }

// inventoryDocs appends one tlsentry.inventory document (event.kind
// "state") per item s saw first (s.Inventory.Items): what the item is, when
// it was first and last seen and how often, and the destination, SNI,
// fingerprint and certificate fields that describe it, by their session
// document names.
func (w jsonWriter) inventoryDocs(st *encodeState, s *session.Session, obs *Observer, ns []byte) jsonWriter {
	if s.Inventory == nil {
		return w
	}
	for i := range s.Inventory.Items {
		it := &s.Inventory.Items[i]
		start := len(w.b)
		w.b = append(w.b, '{')
		w = w.timeOmit("@timestamp", it.FirstSeen)
		w = w.key("ecs")
		w.b = append(w.b, `{"version":"`+ECSVersion+`"}`...)
		w = w.key("data_stream")
		w.b = append(w.b, `{"type":"logs","dataset":`...)
		w = w.startEvent(DatasetInventory, ns, inventoryEvent, inventoryID(it))
		st.docs = append(st.docs, docSpan{start: start, id: len(w.b) - idLen - 1, dataset: DatasetInventory})
		w = w.close()
		if it.Kind == "server_certificate" {
			a := it.Server.Addr().Unmap()
			w = w.open("destination")
			w = w.str("ip", a.String())
			w = w.int("port", int64(it.Server.Port()))
			w = w.close()
		}
		m := len(w.b)
		w = w.open("tls")
		c := len(w.b)
		w = w.open("client")
		w = w.strOmit("server_name", it.SNI)
		if it.Kind == "client_ja3" {
			w = w.str("ja3", it.Value)
		}
		w = w.closeOmit(c)
		if ci := it.Certificate; ci != nil {
			w = w.open("server")
			w = w.open("hash")
			w = w.str("sha256", ci.SHA256)
			w = w.close()
			w = w.timeOmit("not_before", ci.NotBefore)
			w = w.timeOmit("not_after", ci.NotAfter)
			w = w.strOmit("subject", ci.Subject)
			w = w.strOmit("issuer", ci.Issuer)
			x := len(w.b)
			w = w.open("x509")
			w = w.strs("alternative_names", ci.AlternativeNames)
			w = w.closeOmit(x)
			w = w.close()
		}
		w = w.closeOmit(m)
		w = w.observer(obs)
		w = w.open("tlsentry")
		if it.Kind == "client_ja4" {
			w = w.open("client")
			w = w.str("ja4", it.Value)
			w = w.close()
		}
		w = w.open("inventory")
		w = w.str("kind", it.Kind)
		w = w.str("value", it.Value)
		w = w.timeOmit("first_seen", it.FirstSeen)
		w = w.timeOmit("last_seen", it.LastSeen)
		w = w.uint("count", it.Count)
		w = w.bool("learned", s.Inventory.Learning)
		if it.Certificate != nil {
			w = w.bool("self_signed", it.Certificate.SelfSigned)
		}
		w.b = append(w.b, "}}}"...)
		st.docs[len(st.docs)-1].end = len(w.b)
	}
	return w
}

// inventoryID hashes what identifies an item (kind, value, server, SNI,
// joined by NUL: inventory.DocumentID's hash, of which event.id keeps 128
// bits), so that every sensor and every replay gives an item the same id.
func inventoryID(it *session.InventoryItem) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(it.Kind))
	h.Write([]byte{0})
	h.Write([]byte(it.Value))
	h.Write([]byte{0})
	if it.Kind == "server_certificate" {
		h.Write([]byte(it.Server.String()))
	}
	h.Write([]byte{0})
	h.Write([]byte(it.SNI))
	var id [sha256.Size]byte
	h.Sum(id[:0])
	return id
}
