package detect

import (
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
)

// renamed maps the variable names rules used before they took the names
// documents carry (tls.sni is now tls.client.server_name, cert.not_after
// tls.server.x509.not_after) to the new ones. An old name is refused at load
// with a "did you mean" naming the new one: there are no aliases.
var renamed = map[string]string{
	"network.protocol_name":  "tlsentry.network.protocol_name",
	"server.ip":              "destination.ip",
	"server.port":            "destination.port",
	"client.ip":              "source.ip",
	"client.port":            "source.port",
	"server.display":         "tlsentry.server.display",
	"client.bytes":           "source.bytes",
	"server.bytes":           "destination.bytes",
	"session.incomplete":     "tlsentry.incomplete",
	"session.start":          "event.start",
	"anomalies":              "tlsentry.anomalies",
	"tls.client_hello":       "tlsentry.client.hello",
	"tls.server_hello":       "tlsentry.server.hello",
	"tls.version_id":         "tlsentry.version.id",
	"tls.cipher_id":          "tlsentry.cipher.id",
	"tls.cipher_kx":          "tlsentry.cipher.kx",
	"tls.cipher_auth":        "tlsentry.cipher.auth",
	"tls.cipher_enc":         "tlsentry.cipher.enc",
	"tls.cipher_mac":         "tlsentry.cipher.mac",
	"tls.cipher_export":      "tlsentry.cipher.export",
	"tls.cipher_anon":        "tlsentry.cipher.anon",
	"tls.dh_bits":            "tlsentry.server.dh_prime_bits",
	"tls.sni":                "tls.client.server_name",
	"tls.alpn":               "tlsentry.client.alpn",
	"tls.ja3":                "tls.client.ja3",
	"tls.ja3s":               "tls.server.ja3s",
	"tls.ja4":                "tlsentry.client.ja4",
	"tls.client_ciphers":     "tlsentry.client.cipher_ids",
	"tls.client_extensions":  "tlsentry.client.extension_ids",
	"tls.client_versions":    "tlsentry.client.version_ids",
	"tls.client_groups":      "tlsentry.client.group_ids",
	"tls.ech":                "tlsentry.client.ech",
	"tls.esni":               "tlsentry.client.esni",
	"tls.sslv2_hello":        "tlsentry.client.sslv2_hello",
	"tls.hello_records":      "tlsentry.client.hello_records",
	"tls.hello_chunks":       "tlsentry.client.hello_segments",
	"tls.hello_bytes":        "tlsentry.client.hello_bytes",
	"tls.client_hello_count": "tlsentry.client.hello_count",
	"tls.heartbeat_requests": "tlsentry.heartbeats.requests",
	"tls.heartbeat_overflow": "tlsentry.heartbeats.overflow",
	"tls.heartbeat_declared": "tlsentry.heartbeats.overflow_declared_length",
	"tls.heartbeat_record":   "tlsentry.heartbeats.overflow_record_length",
	"tls.anomalies":          "tlsentry.parse_anomalies",
	"cert.present":           "tlsentry.server.x509.present",
	"cert.expired":           "tlsentry.server.x509.expired",
	"cert.not_yet_valid":     "tlsentry.server.x509.not_yet_valid",
	"cert.self_signed":       "tlsentry.server.x509.self_signed",
	"cert.validation":        "tlsentry.server.validation",
	"cert.untrusted_reason":  "tlsentry.server.untrusted_reason",
	"cert.key_alg":           "tls.server.x509.public_key_algorithm",
	"cert.key_bits":          "tls.server.x509.public_key_size",
	"cert.curve":             "tls.server.x509.public_key_curve",
	"cert.sig_alg":           "tls.server.x509.signature_algorithm",
	"cert.validity_days":     "tlsentry.server.x509.validity_days",
	"cert.not_before":        "tls.server.x509.not_before",
	"cert.not_after":         "tls.server.x509.not_after",
	"cert.names":             "tlsentry.server.x509.names",
	"cert.subject":           "tls.server.x509.subject.distinguished_name",
	"cert.issuer":            "tls.server.x509.issuer.distinguished_name",
	"cert.subject_cn":        "tls.server.x509.subject.common_name",
	"cert.issuer_cn":         "tls.server.x509.issuer.common_name",
	"cert.sha1":              "tls.server.hash.sha1",
	"cert.sha256":            "tls.server.hash.sha256",
	"chain.length":           "tlsentry.server.chain.length",
	"intel.ja3":              "tlsentry.intel.ja3.list",
	"intel.ja3_entry":        "tlsentry.intel.ja3.entry",
	"intel.ja4":              "tlsentry.intel.ja4.list",
	"intel.ja4_entry":        "tlsentry.intel.ja4.entry",
	"intel.cert_sha1":        "tlsentry.intel.cert_sha1.list",
	"intel.cert_sha1_entry":  "tlsentry.intel.cert_sha1.entry",
	"intel.domain":           "tlsentry.intel.domain.list",
	"intel.domain_entry":     "tlsentry.intel.domain.entry",
	"intel.domain_value":     "tlsentry.intel.domain.value",
	"intel.domain_field":     "tlsentry.intel.domain.field",
	"intel.ip":               "tlsentry.intel.ip.list",
	"intel.ip_entry":         "tlsentry.intel.ip.entry",
	"intel.ip_value":         "tlsentry.intel.ip.value",
}

// renamedPrefix returns the old variable name that starts the qualified
// name ("tls.sni" for "tls.sni.size"), with its new name.
func renamedPrefix(name string) (old, now string, ok bool) {
	for p := name; ; {
		if n, ok := renamed[p]; ok {
			return p, n, true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return "", "", false
		}
		p = p[:i]
	}
}

// oldRef is an old variable name in an expression.
type oldRef struct {
	old, now string
	loc      common.Location
}

// oldNames finds the old variable names an expression uses (it parses
// without checking, so it works on expressions that do not compile).
func oldNames(env *cel.Env, src string) []oldRef {
	past, iss := env.Parse(src)
	if iss != nil && iss.Err() != nil {
		return nil
	}
	a := past.NativeRep()
	var out []oldRef
	seen := map[int64]bool{} // root identifiers already reported
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		name, root, ok := qualifiedName(e)
		if !ok || seen[root] {
			return
		}
		if _, declared := variableIndex[name]; declared {
			return
		}
		if old, now, ok := renamedPrefix(name); ok {
			seen[root] = true
			out = append(out, oldRef{old, now, a.SourceInfo().GetStartLocation(root)})
		}
	}))
	return out
}

// qualifiedName is the dotted name of an identifier or a chain of field
// selections on one ("tls.sni"), with the id of the identifier.
func qualifiedName(e celast.Expr) (name string, root int64, ok bool) {
	switch e.Kind() {
	case celast.IdentKind:
		return e.AsIdent(), e.ID(), true
	case celast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return "", 0, false
		}
		name, root, ok := qualifiedName(sel.Operand())
		if !ok {
			return "", 0, false
		}
		return name + "." + sel.FieldName(), root, true
	}
	return "", 0, false
}
