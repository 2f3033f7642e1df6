package output

import (
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Lean alert documents carry, of their session, only the fields
// schema/fields.go marks Triage (and tlsentry.session.id, the session
// document's event.id). Encode writes them once per session with alerts,
// with body in triage mode, and each alert copies them in. Where the triage
// fields of an object are the first of the session document's, or all of
// them (source, destination, network, tls.version to tls.cipher, related),
// body copies what it noted of them while writing the document
// (triageParts).
//
// In triage mode body writes the session document's body restricted to
// those fields: the same order, the same bytes, with objects and lists
// left empty left out. The schema is what decides: json_oracle_test.go's
// oracleLean picks the fields by path from the whole document with
// encoding/json, and the tests (fixtures, odd strings, FuzzEncode) hold
// the two to the same bytes, so a field marked Triage that triage mode
// does not write fails them.

// x509Triage writes the triage fields of a certificate's x509 object: the
// subject's common name, and the alternative names if sans.
func (w jsonWriter) x509Triage(c *tlsparse.CertSummary, sans bool) jsonWriter {
	m := len(w.b)
	w = w.open("x509")
	if sans {
		w = w.strs("alternative_names", c.AlternativeNames)
	}
	if c.SubjectCommonName != "" {
		w = w.open("subject")
		w = w.str("common_name", c.SubjectCommonName)
		w = w.close()
	}
	return w.closeOmit(m)
}

// tlsTriage writes the triage fields of tls: the session document's
// (triageParts), but for those of the certificates.
func (w jsonWriter) tlsTriage(st *encodeState, s *session.Session, cc *tlsparse.CertSummary) jsonWriter {
	tp := &st.triage
	w = w.open("tls")
	w = w.member(tp.negotiated)
	w = w.member(tp.tlsState)
	m := len(w.b)
	w = w.member(tp.tlsClient)
	if cc != nil && cc.Err == nil {
		w = w.x509Triage(cc, false)
	}
	w = w.closeOmit(m)
	m = len(w.b)
	w = w.member(tp.tlsServer)
	if c := leafOf(s); c != nil {
		w = w.serverCert(st, c)
	}
	w = w.closeOmit(m)
	return w.close()
}

// tlsentryTriage writes the triage fields of tlsentry.client and
// tlsentry.server.
func (w jsonWriter) tlsentryTriage(s *session.Session, v *detect.Verdict) jsonWriter {
	if s.TLS.ClientHello != nil && s.Fingerprints.JA4 != "" {
		w = w.open("client")
		w = w.str("ja4", s.Fingerprints.JA4)
		w = w.close()
	}
	m := len(w.b)
	w = w.open("server")
	a := len(w.b)
	w = w.openArray("chain")
	for i, c := range s.Certificates {
		if w.inChain(i, c) && c.SHA1 != "" {
			w = w.elem()
			w.b = append(w.b, '{')
			w = w.str("sha1", c.SHA1)
			w = w.close()
		}
	}
	w = w.closeArray(a)
	if len(s.Certificates) > 0 {
		w = w.strOmit("validation", v.Validation)
	}
	return w.closeOmit(m)
}
