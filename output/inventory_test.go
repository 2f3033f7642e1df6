package output

import (
	"net/netip"
	"testing"

	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/inventory"
	"github.com/tlsentry/tlsentry/session"
)

func inventorySession() *session.Session {
	s := sessionTLS12()
	first, last := mustTime("2024-03-01T10:00:00Z"), mustTime("2024-03-01T10:00:02.5Z")
	srv := netip.MustParseAddrPort("[::ffff:192.0.2.7]:8443")
	cert := &session.InventoryCertificate{SHA256: "AB12", Subject: "CN=a.example", Issuer: "CN=CA \"1\"",
		NotBefore: mustTime("2024-01-01T00:00:00Z"), NotAfter: mustTime("2024-04-01T00:00:00Z"),
		AlternativeNames: []string{"a.example", "b.example"}}
	s.Inventory = &session.Inventory{
		NewClientJA4: true, NewClientJA3: true, NewCertificate: true, NewServerCertificate: true, Change: "first",
		Items: []session.InventoryItem{
			{Kind: "client_ja4", Value: "t13d1516h2_8daaf6152771_e5627efa2ab1", FirstSeen: first, LastSeen: last, Count: 1},
			{Kind: "client_ja3", Value: "0123456789abcdef0123456789abcdef", FirstSeen: first, LastSeen: last, Count: 1},
			{Kind: "certificate", Value: "AB12", FirstSeen: first, LastSeen: last, Count: 1, Certificate: cert},
			{Kind: "server_certificate", Value: "AB12", Server: srv, SNI: "a.example", FirstSeen: first, LastSeen: last, Count: 1, Certificate: &session.InventoryCertificate{SHA256: "AB12", SelfSigned: true}},
		},
	}
	return s
}

func TestInventoryDocuments(t *testing.T) {
	s := inventorySession()
	for _, obs := range []Observer{testObserver, {}} {
		compareWithOracle(t, "inventory", oracleEncode(obs, s, verdictLegacy()), NewEncoder(obs).Encode(s, verdictLegacy()))
	}
	docs := NewEncoder(testObserver).Encode(s, detect.Verdict{})
	var inv []Document
	for _, d := range docs {
		if d.Dataset == DatasetInventory {
			inv = append(inv, d)
		}
	}
	if len(inv) != 4 {
		t.Fatalf("%d inventory documents, want 4", len(inv))
	}
	kinds := map[string]inventory.Kind{"client_ja4": inventory.ClientJA4, "client_ja3": inventory.ClientJA3,
		"certificate": inventory.Certificate, "server_certificate": inventory.ServerCertificate}
	for i, d := range inv {
		it := s.Inventory.Items[i]
		m := decode(t, d.Body)
		leaf := leaves(m)
		if got := leaf["tlsentry.inventory.kind"]; len(got) != 1 || got[0] != it.Kind {
			t.Errorf("doc %d: kind %v", i, got)
		}
		if got := leaf["event.kind"]; len(got) != 1 || got[0] != "state" {
			t.Errorf("doc %d: event.kind %v", i, got)
		}
		// event.id is the first 128 bits of inventory.DocumentID's hash:
		// their base64url encodings agree on the first 21 characters.
		k := inventory.Key{Kind: kinds[it.Kind], Value: it.Value, Server: it.Server, SNI: it.SNI}
		if want := inventory.DocumentID(k); d.ID[:21] != want[:21] {
			t.Errorf("doc %d: id %s, inventory.DocumentID %s", i, d.ID, want)
		}
		for p := range leaf {
			f, ok := lookupField(p)
			if !ok {
				t.Errorf("doc %d: field %s is not in schema/fields.go", i, p)
			} else if f.Alert {
				t.Errorf("doc %d: alert-only field %s", i, p)
			}
		}
	}
	if got := leaves(decode(t, inv[3].Body))["destination.ip"]; len(got) != 1 || got[0] != "192.0.2.7" {
		t.Errorf("server_certificate destination.ip %v", got)
	}
	// The session document carries no inventory field.
	for p := range leaves(decode(t, docs[0].Body)) {
		if f, ok := lookupField(p); ok && f.Inventory {
			t.Errorf("session document carries inventory field %s", p)
		}
	}
}

func lookupField(p string) (field, bool) {
	for _, f := range fields {
		if f.Path == p {
			return f, true
		}
	}
	return field{}, false
}
