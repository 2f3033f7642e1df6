package output

import (
	"github.com/tlsentry/tlsentry/detect"
	"github.com/tlsentry/tlsentry/session"
	"github.com/tlsentry/tlsentry/tlsparse"
)

// Lean alert documents carry, of their session, only the fields
// schema/fields.go marks Triage (and tlsentry.session.id, the session
// document's event.id). Encode writes them once per session with alerts
// (triage), and each alert copies them in.
//
// triage is body restricted to those fields: the same order, the same
// bytes, with objects and lists that are left empty left out. The
// schema is what decides; json_oracle_test.go's oracleLean picks the
// fields by path from the whole document with encoding/json, and the
// tests (fixtures, odd strings, FuzzEncode) hold the two to the same
// bytes, so a field marked Triage that triage does not write fails them.

// triage writes the triage fields of the body that body wrote into doc,
// from source to tlsentry, leaving the tlsentry object open as body does.
// The network object, all of whose fields are triage ones, is copied from
// doc, and observer is the observer member; the rest is written from s, v
// and cc (the client's leaf certificate, or nil).
func (w jsonWriter) triage(st *encodeState, doc []byte, s *session.Session, v *detect.Verdict, observer []byte, cc *tlsparse.CertSummary) jsonWriter {
	ca, sa := s.Client.Addr().Unmap(), s.Server.Addr().Unmap()
	w = w.endpoint("source", ca, s.Client.Port(), "", s.ClientBytes, s.ClientPackets, false)
	w = w.endpoint("destination", sa, s.Server.Port(), serverName(s), s.ServerBytes, s.ServerPackets, false)
	w = w.member(doc[st.network.start:st.network.end])
	tls := isTLS(s)
	if tls {
		w = w.tlsTriage(s, cc)
	}
	w = w.related(s, ca, sa, cc, false)
	w = w.member(observer)

	w = w.open("tlsentry")
	if tls {
		w = w.tlsentryTriage(s, v)
	}
	w = w.strs("anomalies", st.names)
	return w.bool("incomplete", s.Incomplete)
}

// member copies a member ("k":v) written elsewhere, without the comma
// that may precede it there; nothing if m is empty.
func (w jsonWriter) member(m []byte) jsonWriter {
	if len(m) > 0 && m[0] == ',' {
		m = m[1:]
	}
	if len(m) == 0 {
		return w
	}
	w = w.sep()
	w.b = append(w.b, m...)
	return w
}

// tlsTriage writes the triage fields of the tls object.
func (w jsonWriter) tlsTriage(s *session.Session, cc *tlsparse.CertSummary) jsonWriter {
	hs := s.TLS
	sh := hs.ServerHello
	w = w.open("tls")
	w = w.negotiated(sh)
	if sh != nil {
		w = w.strOmit("next_protocol", sh.ALPN)
	}
	w = w.bool("established", hs.Established)
	w = w.bool("resumed", hs.Resumed)

	m := len(w.b)
	w = w.open("client")
	if ch := hs.ClientHello; ch != nil {
		w = w.strOmit("server_name", ch.ServerName)
		w = w.strOmit("ja3", s.Fingerprints.JA3)
	}
	if cc != nil && cc.Err == nil {
		w = w.x509Triage(cc, false)
	}
	w = w.closeOmit(m)

	m = len(w.b)
	w = w.open("server")
	if sh != nil {
		w = w.strOmit("ja3s", s.Fingerprints.JA3S)
	}
	if c := leafOf(s); c != nil {
		w = w.certHashes(c)
		if c.Err == nil {
			w = w.x509Triage(c, true)
		}
	}
	w = w.closeOmit(m)
	return w.close()
}

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
