// Package schema is the one table of field names: the fields tlsentry's
// documents carry and the fields its rules read. A rule reads a value by the
// name documents give it (tls.client.server_name, destination.ip,
// tls.server.x509.not_after); values only rules need (a cipher suite's key
// exchange, whether the leaf had expired at packet time, intel list hits)
// are named under tlsentry.* and marked RuleOnly: they are never written to
// documents.
//
// output generates the Elasticsearch index templates and output/FIELDS.md
// from this table and checks the encoder against it; detect checks its rule
// variables against it. The package imports nothing, so both can use it.
package schema

import "slices"

// Field is one field: its dotted path, its type, where it appears and what
// it holds.
type Field struct {
	Path  string
	Type  string // Elasticsearch mapping type: keyword, ip, date, long, float, boolean, text
	List  bool   // a list of Type: an array in documents, list(T) for rules
	Alert bool   // only in alert documents (dataset tlsentry.alert)
	// Inventory fields are only in inventory documents (dataset
	// tlsentry.inventory, one per item when first seen).
	Inventory bool
	Full      bool // only in full documents (output.detail: full); lean ones, the default, leave it out
	// Triage session fields are what lean alert documents (the default)
	// carry of their session: what an analyst triages with, the fields the
	// Kibana objects show alerts by, and every field an intel match can name
	// (threat.enrichments.matched.field). Alert documents carry the session's
	// other fields only with output.detail: full; tlsentry.session.id links
	// an alert to its session document, which has them all.
	Triage bool
	Rule   Access // whether rules read it, and whether documents carry it
	Doc    string
}

// Access says whether rules can read a field.
type Access uint8

const (
	// DocOnly fields are in documents; rules cannot read them.
	DocOnly Access = iota
	// RuleRead fields are in documents, and rules read them by the same name.
	RuleRead
	// RuleOnly fields are for rules only: documents never carry them.
	RuleOnly
)

// InLeanAlerts reports whether lean alert documents carry f: the alert's
// own fields and the Triage session fields.
func (f Field) InLeanAlerts() bool {
	return f.InDocuments() && !f.Inventory && (f.Alert || f.Triage)
}

// InDocuments reports whether documents carry f.
func (f Field) InDocuments() bool { return f.Rule != RuleOnly }

// RuleReadable reports whether rules can read f.
func (f Field) RuleReadable() bool { return f.Rule != DocOnly }

// Field types (Elasticsearch mapping types). Rule-only fields use them too:
// rules see keyword, ip and text as string, long as int, float as double,
// boolean as bool and date as timestamp.
//
// ECS prefers match_only_text for message and constant_keyword for
// data_stream.*; those types live in plugins (mapper-extras,
// constant-keyword) that minimal distributions such as the integ-test-zip
// used by CI lack, so the templates use their portable equivalents, text and
// keyword (what ECS's own legacy templates fall back to). Queries behave the
// same.
const (
	Keyword = "keyword"
	IP      = "ip"
	Date    = "date"
	Long    = "long"
	Float   = "float"
	Bool    = "boolean"
	Text    = "text"
	// Nested is a list of objects queried each on its own
	// (threat.enrichments); its fields are the rows under its path.
	Nested = "nested"
)

// All returns every field, document fields first, in table order.
func All() []Field { return slices.Clone(fields) }

// Documents returns the fields documents carry (All without the RuleOnly
// ones), in table order.
func Documents() []Field {
	out := make([]Field, 0, len(fields))
	for _, f := range fields {
		if f.InDocuments() {
			out = append(out, f)
		}
	}
	return out
}

// Lookup finds a field by path.
func Lookup(path string) (Field, bool) {
	for _, f := range fields {
		if f.Path == path {
			return f, true
		}
	}
	return Field{}, false
}

// fields is the table. Rule-only names follow the document's layout under
// tlsentry.*: tlsentry.client.* (the ClientHello), tlsentry.server.* (the
// server), tlsentry.server.x509.* (the leaf certificate), tlsentry.cipher.*
// and tlsentry.version.* (the negotiated suite and version taken apart),
// tlsentry.heartbeats.* (heartbeat facts), tlsentry.intel.<list type>.*
// (threat-intel hits). A typed variant of a document field (numbers where
// the document has names) is named <field>_ids. A field absent from a
// document reads, in rules, as its type's zero value: "", 0, false, [],
// timestamp 0.
var fields = []Field{

	{Path: "@timestamp", Type: Date, Triage: true, Doc: "time of the connection's first packet (packet time), RFC 3339 UTC with microseconds"},
	{Path: "data_stream.type", Type: Keyword, Triage: true, Doc: "`logs`"},
	{Path: "data_stream.dataset", Type: Keyword, Triage: true, Doc: "`tlsentry.tls` or `tlsentry.alert`, as event.dataset"},
	{Path: "data_stream.namespace", Type: Keyword, Triage: true, Doc: "the data stream's namespace: `elasticsearch.namespace` (or TLSENTRY_ES_NAMESPACE), default `default`; written in NDJSON too"},
	{Path: "ecs.version", Type: Keyword, Triage: true, Doc: "ECS version the document follows"},

	{Path: "event.kind", Type: Keyword, Triage: true, Doc: "`event` (session) or `alert`"},
	{Path: "event.category", Type: Keyword, List: true, Triage: true, Doc: "`[\"network\"]`; alerts `[\"network\",\"intrusion_detection\"]`"},
	{Path: "event.type", Type: Keyword, List: true, Triage: true, Doc: "`[\"connection\",\"protocol\"]`; alerts `[\"info\"]` (the ECS value both categories allow: a passive sensor neither allows nor denies)"},
	{Path: "event.module", Type: Keyword, Triage: true, Doc: "`tlsentry`"},
	{Path: "event.dataset", Type: Keyword, Triage: true, Doc: "`tlsentry.tls` or `tlsentry.alert`"},
	{Path: "event.id", Type: Keyword, Triage: true, Doc: "deterministic id (22 base64url characters, 128 bits of SHA-256): session from flow, start and first packet; alert from session id, rule id and intel match. Also the Elasticsearch _id"},
	{Path: "event.start", Type: Date, Rule: RuleRead, Triage: true, Doc: "first packet"},
	{Path: "event.end", Type: Date, Triage: true, Doc: "last packet"},
	{Path: "event.duration", Type: Long, Triage: true, Doc: "end - start in nanoseconds"},
	{Path: "event.severity", Type: Long, Alert: true, Doc: "21 low, 47 medium, 73 high, 99 critical"},
	{Path: "event.risk_score", Type: Float, Alert: true, Doc: "the rule's risk score, 0-100"},
	{Path: "event.reason", Type: Keyword, Alert: true, Doc: "why the rule fired on this session, in words (the rule's message), with the matches the alert stands for: `... (and 41 more matches in the last 1h)`"},
	{Path: "event.ingested", Type: Date, Triage: true, Doc: "when Elasticsearch took the document: set by the ingest pipeline `tlsentry setup` installs (`tlsentry-ingested`), else by the sink when it sends (also from the spool); not in NDJSON (the shipper's pipeline sets it)"},

	{Path: "rule.id", Type: Keyword, Alert: true, Doc: "e.g. `tls.deprecated_version`"},
	{Path: "rule.name", Type: Keyword, Alert: true, Doc: "rule name"},
	{Path: "rule.category", Type: Keyword, Alert: true, Doc: "protocol, cipher, certificate, intel, anomaly"},
	{Path: "rule.description", Type: Keyword, Alert: true, Full: true, Doc: "rule description"},
	{Path: "rule.reference", Type: Keyword, List: true, Alert: true, Full: true, Doc: "reference URLs (array)"},
	{Path: "rule.ruleset", Type: Keyword, Alert: true, Doc: "`builtin` or the rule file"},
	{Path: "rule.version", Type: Keyword, Alert: true, Doc: "rule version"},
	{Path: "message", Type: Text, Alert: true, Doc: "the rule's name, as rule.name: Kibana Security names alerts by it (the per-session text is event.reason)"},

	{Path: "source.ip", Type: IP, Rule: RuleRead, Triage: true, Doc: "the client (sent the ClientHello, else opened the flow)"},
	{Path: "source.port", Type: Long, Rule: RuleRead, Triage: true, Doc: "client port"},
	{Path: "source.bytes", Type: Long, Rule: RuleRead, Doc: "bytes client to server, counted even after bypass; always written"},
	{Path: "source.packets", Type: Long, Doc: "packets client to server; always written"},
	{Path: "destination.ip", Type: IP, Rule: RuleRead, Triage: true, Doc: "the server"},
	{Path: "destination.port", Type: Long, Rule: RuleRead, Triage: true, Doc: "server port"},
	{Path: "destination.domain", Type: Keyword, Triage: true, Doc: "the SNI (tls.client.server_name), as ECS asks"},
	{Path: "destination.bytes", Type: Long, Rule: RuleRead, Doc: "bytes server to client; always written (0: the server sent nothing)"},
	{Path: "destination.packets", Type: Long, Doc: "packets server to client; always written"},

	{Path: "network.type", Type: Keyword, Triage: true, Doc: "`ipv4` or `ipv6`"},
	{Path: "network.transport", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "`tcp` or `udp`"},
	{Path: "network.protocol", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "what the payload is: tls, quic, ssh, http, openvpn, unknown"},
	{Path: "network.community_id", Type: Keyword, Triage: true, Doc: "Community ID v1, seed 0"},
	{Path: "network.vlan.id", Type: Keyword, Triage: true, Doc: "outermost VLAN id"},
	{Path: "network.inner.vlan.id", Type: Keyword, Triage: true, Doc: "second (inner, QinQ) VLAN id"},

	{Path: "tls.version", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "negotiated version: `1.2`, `3.0` (SSL); hex such as `0x7f17` when it has no name"},
	{Path: "tls.version_protocol", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "`tls` or `ssl`"},
	{Path: "tls.cipher", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "IANA name of the negotiated cipher suite"},
	{Path: "tls.curve", Type: Keyword, Rule: RuleRead, Doc: "key exchange group: TLS 1.3 key_share, else the ServerKeyExchange named curve"},
	{Path: "tls.next_protocol", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "ALPN protocol chosen by the server"},
	{Path: "tls.established", Type: Bool, Rule: RuleRead, Triage: true, Doc: "both sides reached the encrypted phase without a fatal alert; present whenever TLS was seen"},
	{Path: "tls.resumed", Type: Bool, Rule: RuleRead, Triage: true, Doc: "session resumed (id, ticket or PSK); present whenever TLS was seen"},
	{Path: "tls.client.server_name", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "SNI"},
	{Path: "tls.client.ja3", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "JA3, MD5 hex"},
	{Path: "tls.client.supported_ciphers", Type: Keyword, List: true, Full: true, Doc: "offered cipher suites, IANA names, wire order, GREASE left out"},
	{Path: "tls.client.hash.sha1", Type: Keyword, Doc: "SHA-1 of the client's leaf certificate DER (mutual TLS), upper-case hex"},
	{Path: "tls.client.hash.sha256", Type: Keyword, Doc: "SHA-256 of the client's leaf certificate DER, upper-case hex"},
	{Path: "tls.client.x509.alternative_names", Type: Keyword, List: true, Doc: "client leaf SANs"},
	{Path: "tls.client.x509.issuer.common_name", Type: Keyword, Doc: "client leaf issuer CN"},
	{Path: "tls.client.x509.issuer.distinguished_name", Type: Keyword, Doc: "client leaf issuer DN"},
	{Path: "tls.client.x509.subject.common_name", Type: Keyword, Triage: true, Doc: "client leaf subject CN"},
	{Path: "tls.client.x509.subject.distinguished_name", Type: Keyword, Doc: "client leaf subject DN"},
	{Path: "tls.client.x509.serial_number", Type: Keyword, Doc: "upper-case hex"},
	{Path: "tls.client.x509.not_before", Type: Date, Doc: "client leaf validity start"},
	{Path: "tls.client.x509.not_after", Type: Date, Doc: "client leaf validity end"},
	{Path: "tls.client.x509.public_key_algorithm", Type: Keyword, Doc: "RSA, ECDSA, Ed25519, DSA"},
	{Path: "tls.client.x509.public_key_size", Type: Long, Doc: "bits"},
	{Path: "tls.client.x509.public_key_curve", Type: Keyword, Doc: "e.g. P-256"},
	{Path: "tls.client.x509.signature_algorithm", Type: Keyword, Doc: "e.g. SHA256-RSA"},
	{Path: "tls.client.x509.version_number", Type: Keyword, Doc: "X.509 version, e.g. `3`"},
	{Path: "tls.server.ja3s", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "JA3S, MD5 hex"},
	{Path: "tls.server.hash.sha1", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "SHA-1 of the leaf certificate DER, upper-case hex"},
	{Path: "tls.server.hash.sha256", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "SHA-256 of the leaf certificate DER, upper-case hex"},
	{Path: "tls.server.not_before", Type: Date, Doc: "leaf validity start"},
	{Path: "tls.server.not_after", Type: Date, Doc: "leaf validity end"},
	{Path: "tls.server.subject", Type: Keyword, Doc: "leaf subject, RFC 4514"},
	{Path: "tls.server.issuer", Type: Keyword, Doc: "leaf issuer, RFC 4514"},
	{Path: "tls.server.x509.alternative_names", Type: Keyword, List: true, Triage: true, Doc: "leaf SANs: DNS names, IPs, e-mail addresses, URIs"},
	{Path: "tls.server.x509.issuer.common_name", Type: Keyword, Rule: RuleRead, Doc: "leaf issuer CN"},
	{Path: "tls.server.x509.issuer.distinguished_name", Type: Keyword, Rule: RuleRead, Doc: "leaf issuer DN"},
	{Path: "tls.server.x509.subject.common_name", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "leaf subject CN"},
	{Path: "tls.server.x509.subject.distinguished_name", Type: Keyword, Rule: RuleRead, Doc: "leaf subject DN"},
	{Path: "tls.server.x509.serial_number", Type: Keyword, Doc: "upper-case hex"},
	{Path: "tls.server.x509.not_before", Type: Date, Rule: RuleRead, Doc: "leaf validity start"},
	{Path: "tls.server.x509.not_after", Type: Date, Rule: RuleRead, Doc: "leaf validity end"},
	{Path: "tls.server.x509.public_key_algorithm", Type: Keyword, Rule: RuleRead, Doc: "RSA, ECDSA, Ed25519, DSA"},
	{Path: "tls.server.x509.public_key_size", Type: Long, Rule: RuleRead, Doc: "bits"},
	{Path: "tls.server.x509.public_key_curve", Type: Keyword, Rule: RuleRead, Doc: "e.g. P-256"},
	{Path: "tls.server.x509.signature_algorithm", Type: Keyword, Rule: RuleRead, Doc: "e.g. SHA256-RSA"},
	{Path: "tls.server.x509.version_number", Type: Keyword, Doc: "X.509 version, e.g. `3`"},

	{Path: "tlsentry.client.ja4", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "JA4 (QUIC form starts with `q`)"},
	{Path: "tlsentry.client.ja3_string", Type: Keyword, Full: true, Doc: "JA3 string before hashing"},
	{Path: "tlsentry.client.versions", Type: Keyword, List: true, Doc: "offered versions (`TLS 1.3`, `SSL 3.0`): supported_versions, else the legacy version; GREASE left out"},
	{Path: "tlsentry.client.alpn", Type: Keyword, List: true, Rule: RuleRead, Doc: "offered ALPN protocols, wire order"},
	{Path: "tlsentry.client.extensions", Type: Keyword, List: true, Full: true, Doc: "extension names, wire order, GREASE left out"},
	{Path: "tlsentry.client.groups", Type: Keyword, List: true, Full: true, Doc: "supported_groups names, wire order, GREASE left out"},
	{Path: "tlsentry.client.key_share_groups", Type: Keyword, List: true, Full: true, Doc: "groups with a key share in the ClientHello (a subset of the supported groups the JA3 string carries)"},
	{Path: "tlsentry.client.signature_algorithms", Type: Keyword, List: true, Full: true, Doc: "signature scheme names, wire order"},
	{Path: "tlsentry.client.ech", Type: Bool, Rule: RuleRead, Doc: "encrypted_client_hello present; written whenever a ClientHello was seen"},
	{Path: "tlsentry.client.hello_count", Type: Long, Rule: RuleRead, Doc: "ClientHellos seen (2 after a HelloRetryRequest)"},
	{Path: "tlsentry.client.hello_records", Type: Long, Rule: RuleRead, Doc: "records the first ClientHello spanned"},
	{Path: "tlsentry.client.hello_segments", Type: Long, Rule: RuleRead, Doc: "TCP segments (or QUIC packets) the first ClientHello spanned"},
	{Path: "tlsentry.client.certificates", Type: Long, Doc: "client certificates sent (mutual TLS)"},
	{Path: "tlsentry.server.ja3s_string", Type: Keyword, Full: true, Doc: "JA3S string before hashing"},
	{Path: "tlsentry.server.chain.subject", Type: Keyword, List: true, Doc: "the certificates the server sent, in order: subject. Lean documents leave out the leaf, which tls.server.* describes (unless it did not parse); full ones list every certificate"},
	{Path: "tlsentry.server.chain.issuer", Type: Keyword, List: true, Doc: "chain certificate issuer"},
	{Path: "tlsentry.server.chain.sha1", Type: Keyword, List: true, Triage: true, Doc: "chain certificate SHA-1 (upper-case hex)"},
	{Path: "tlsentry.server.chain.sha256", Type: Keyword, List: true, Doc: "chain certificate SHA-256 (upper-case hex)"},
	{Path: "tlsentry.server.chain.not_after", Type: Date, List: true, Doc: "chain certificate validity end"},
	{Path: "tlsentry.server.chain.error", Type: Keyword, List: true, Doc: "why the certificate did not parse"},
	{Path: "tlsentry.server.validation", Type: Keyword, Rule: RuleRead, Triage: true, Doc: "`trusted`, `untrusted` or `not_checked`; written when certificates were seen"},
	{Path: "tlsentry.server.hello_retry_request", Type: Bool, Full: true, Doc: "the server sent a HelloRetryRequest; written whenever a ServerHello was seen (lean: tlsentry.client.hello_count is 2 after one)"},
	{Path: "tlsentry.server.ocsp_stapled", Type: Bool, Doc: "a CertificateStatus (stapled OCSP) message was seen; written whenever a ServerHello of TLS 1.2 or earlier was seen (TLS 1.3 carries the OCSP response inside the encrypted Certificate message)"},
	{Path: "tlsentry.server.dh_prime_bits", Type: Long, Rule: RuleRead, Doc: "finite-field DHE prime size"},
	{Path: "tlsentry.anomalies", Type: Keyword, List: true, Rule: RuleRead, Triage: true, Doc: "what capture and tlsparse noticed, sorted, deduplicated"},
	{Path: "tlsentry.quic.version", Type: Keyword, Doc: "QUIC wire version of the connection, hex (`0x00000001` v1, `0x6b3343cf` v2)"},
	{Path: "tlsentry.incomplete", Type: Bool, Rule: RuleRead, Triage: true, Doc: "a gap, a missing direction, or the capture ended mid-handshake; always written"},
	{Path: "tlsentry.alerts.direction", Type: Keyword, List: true, Doc: "TLS alerts seen: `client` or `server` sent it"},
	{Path: "tlsentry.alerts.level", Type: Keyword, List: true, Doc: "`warning` or `fatal` (cleartext alerts only)"},
	{Path: "tlsentry.alerts.description", Type: Keyword, List: true, Doc: "IANA alert name, e.g. `handshake_failure` (cleartext alerts only)"},
	{Path: "tlsentry.alerts.encrypted", Type: Bool, List: true, Doc: "the alert was encrypted: level and description unknown"},
	{Path: "tlsentry.heartbeats.direction", Type: Keyword, List: true, Doc: "cleartext heartbeat records: `client` or `server`"},
	{Path: "tlsentry.heartbeats.type", Type: Keyword, List: true, Doc: "`request` or `response`"},
	{Path: "tlsentry.heartbeats.declared_length", Type: Long, List: true, Doc: "payload_length field"},
	{Path: "tlsentry.heartbeats.record_length", Type: Long, List: true, Doc: "bytes in the record (declared > record: Heartbleed)"},
	{Path: "tlsentry.parse_error", Type: Keyword, Doc: "first TLS parse error; parsing stopped there"},
	{Path: "tlsentry.session.id", Type: Keyword, Alert: true, Doc: "the event.id of the alert's session document (dataset `tlsentry.tls`), which carries every session field; lean alerts (the default) carry only the fields marked `triage`"},
	{Path: "tlsentry.alert.count", Type: Long, Alert: true, Doc: "matches of the rule the alert stands for: 1, plus those of the same key its suppress or threshold block held back (rules/README.md); always written"},
	{Path: "tlsentry.alert.first", Type: Date, Alert: true, Doc: "packet time of the first match counted in tlsentry.alert.count, when it is over 1"},

	{Path: "related.ip", Type: IP, List: true, Triage: true, Doc: "client and server addresses"},
	{Path: "related.hosts", Type: Keyword, List: true, Triage: true, Doc: "the SNI"},
	{Path: "related.hash", Type: Keyword, List: true, Doc: "JA3, JA4, JA3S, and the SHA-256 of the server's and the client's leaf certificates"},

	{Path: "threat.framework", Type: Keyword, Alert: true, Doc: "`MITRE ATT&CK`, when the rule names techniques (`mitre:` in rule files)"},
	{Path: "threat.technique.id", Type: Keyword, List: true, Alert: true, Doc: "ATT&CK technique ids, e.g. `T1573`; the parent of a sub-technique"},
	{Path: "threat.technique.name", Type: Keyword, List: true, Alert: true, Doc: "technique names, e.g. `Encrypted Channel`"},
	{Path: "threat.technique.reference", Type: Keyword, List: true, Alert: true, Doc: "attack.mitre.org pages of the techniques"},
	{Path: "threat.technique.subtechnique.id", Type: Keyword, List: true, Alert: true, Doc: "sub-technique ids, e.g. `T1071.001`"},
	{Path: "threat.technique.subtechnique.name", Type: Keyword, List: true, Alert: true, Doc: "sub-technique names"},
	{Path: "threat.technique.subtechnique.reference", Type: Keyword, List: true, Alert: true, Doc: "attack.mitre.org pages of the sub-techniques"},
	{Path: "threat.feed.name", Type: Keyword, Alert: true, Doc: "intel alerts: the list that matched (name from the configuration)"},
	{Path: "threat.enrichments", Type: Nested, List: true, Alert: true, Doc: "intel alerts: one enrichment, the list entry that matched"},
	{Path: "threat.enrichments.indicator.type", Type: Keyword, List: true, Alert: true, Doc: "`software` (JA3, JA4), `x509-certificate` (cert_sha1), `domain-name`, `ipv4-addr` or `ipv6-addr`"},
	{Path: "threat.enrichments.indicator.name", Type: Keyword, List: true, Alert: true, Doc: "the list entry as written (an address, a CIDR, a domain, a hash)"},
	{Path: "threat.enrichments.indicator.description", Type: Keyword, List: true, Alert: true, Doc: "the list's reason for the entry (abuse.ch Listingreason), if any"},
	{Path: "threat.enrichments.feed.name", Type: Keyword, List: true, Alert: true, Doc: "the list that matched"},
	{Path: "threat.enrichments.matched.atomic", Type: Keyword, List: true, Alert: true, Doc: "the session's value that matched the entry (the address a CIDR covers, the subdomain a listed domain covers)"},
	{Path: "threat.enrichments.matched.field", Type: Keyword, List: true, Alert: true, Doc: "the document field holding it: tls.client.ja3, tlsentry.client.ja4, tls.server.hash.sha1, tlsentry.server.chain.sha1, tls.client.server_name, tls.server.x509.alternative_names, tls.server.x509.subject.common_name, destination.ip or source.ip"},
	{Path: "threat.enrichments.matched.type", Type: Keyword, List: true, Alert: true, Doc: "`indicator_match_rule`"},

	{Path: "tlsentry.inventory.kind", Type: Keyword, Inventory: true, Doc: "inventory documents (dataset `tlsentry.inventory`, `event.kind: state`, one per item when first seen): `client_ja4`, `client_ja3`, `certificate` (a leaf certificate, on any server) or `server_certificate` (a certificate on one destination.ip, destination.port and tls.client.server_name)"},
	{Path: "tlsentry.inventory.value", Type: Keyword, Inventory: true, Doc: "the fingerprint (also in tlsentry.client.ja4 or tls.client.ja3), or the certificate's SHA-256 (also in tls.server.hash.sha256)"},
	{Path: "tlsentry.inventory.first_seen", Type: Date, Inventory: true, Doc: "packet time the item was first seen (also @timestamp)"},
	{Path: "tlsentry.inventory.last_seen", Type: Date, Inventory: true, Doc: "packet time it was last seen when the document was written (the end of the first session)"},
	{Path: "tlsentry.inventory.count", Type: Long, Inventory: true, Doc: "sessions that showed it when the document was written (1)"},
	{Path: "tlsentry.inventory.learned", Type: Bool, Inventory: true, Doc: "first seen during the learning period (no alert was raised)"},
	{Path: "tlsentry.inventory.self_signed", Type: Bool, Inventory: true, Doc: "certificates: subject equals issuer (and the key ids agree)"},

	{Path: "observer.name", Type: Keyword, Triage: true, Doc: "sensor name from the configuration"},
	{Path: "observer.hostname", Type: Keyword, Triage: true, Doc: "sensor host name"},
	{Path: "observer.type", Type: Keyword, Triage: true, Doc: "`ids`"},
	{Path: "observer.vendor", Type: Keyword, Triage: true, Doc: "`tlsentry`"},
	{Path: "observer.product", Type: Keyword, Triage: true, Doc: "`tlsentry`"},
	{Path: "observer.version", Type: Keyword, Triage: true, Doc: "the build (`tlsentry version`)"},

	// Rule-only: not in documents.
	{Path: "tlsentry.network.protocol_name", Type: Keyword, Rule: RuleOnly, Doc: "display name of network.protocol: \"TLS\", \"QUIC\", \"SSH\", \"HTTP\", \"OpenVPN\", \"unknown\""},
	{Path: "tlsentry.server.display", Type: Keyword, Rule: RuleOnly, Doc: "\"sni (ip:port)\", or \"ip:port\" without SNI: for messages"},
	{Path: "tlsentry.client.hello", Type: Bool, Rule: RuleOnly, Doc: "a ClientHello was parsed"},
	{Path: "tlsentry.server.hello", Type: Bool, Rule: RuleOnly, Doc: "a ServerHello was parsed (version and cipher are negotiated)"},
	{Path: "tlsentry.version.id", Type: Long, Rule: RuleOnly, Doc: "negotiated wire version (0x0303 for TLS 1.2); 0 without ServerHello"},
	{Path: "tlsentry.cipher.id", Type: Long, Rule: RuleOnly, Doc: "negotiated suite value"},
	{Path: "tlsentry.cipher.kx", Type: Keyword, Rule: RuleOnly, Doc: "key exchange of the suite: \"RSA\", \"DHE\", \"ECDHE\", \"DH\", \"ECDH\", \"PSK\", ...; \"\" for TLS 1.3 suites"},
	{Path: "tlsentry.cipher.auth", Type: Keyword, Rule: RuleOnly, Doc: "authentication: \"RSA\", \"ECDSA\", \"DSS\", \"anon\", ..."},
	{Path: "tlsentry.cipher.enc", Type: Keyword, Rule: RuleOnly, Doc: "bulk cipher as tlsparse.CipherSuiteInfo names it: \"AES-GCM\", \"AES-CBC\", \"CHACHA20-POLY1305\", \"RC4\", \"DES\", \"3DES\", \"RC2\", \"NULL\", ..."},
	{Path: "tlsentry.cipher.mac", Type: Keyword, Rule: RuleOnly, Doc: "MAC: \"SHA\" (SHA-1), \"SHA256\", \"SHA384\", \"MD5\"; \"\" for AEAD suites"},
	{Path: "tlsentry.cipher.export", Type: Bool, Rule: RuleOnly, Doc: "an EXPORT suite"},
	{Path: "tlsentry.cipher.anon", Type: Bool, Rule: RuleOnly, Doc: "an anonymous (unauthenticated) suite"},
	{Path: "tlsentry.client.cipher_ids", Type: Long, List: true, Rule: RuleOnly, Doc: "cipher suites the client offered, wire order, GREASE included"},
	{Path: "tlsentry.client.extension_ids", Type: Long, List: true, Rule: RuleOnly, Doc: "extension types the client sent, wire order"},
	{Path: "tlsentry.client.version_ids", Type: Long, List: true, Rule: RuleOnly, Doc: "supported_versions the client offered"},
	{Path: "tlsentry.client.group_ids", Type: Long, List: true, Rule: RuleOnly, Doc: "supported_groups the client offered"},
	{Path: "tlsentry.client.esni", Type: Bool, Rule: RuleOnly, Doc: "draft encrypted_server_name (0xffce) offered: the SNI is encrypted, not missing"},
	{Path: "tlsentry.client.sslv2_hello", Type: Bool, Rule: RuleOnly, Doc: "the ClientHello used the SSLv2 record format"},
	{Path: "tlsentry.client.hello_bytes", Type: Long, Rule: RuleOnly, Doc: "bytes of the first ClientHello (its handshake body)"},
	{Path: "tlsentry.client.unexpected_hello_bytes", Type: Long, Rule: RuleOnly, Doc: "bytes of the first ClientHello no HelloRetryRequest asked for (anomaly duplicate_client_hello); 0 without one"},
	{Path: "tlsentry.client.unexpected_hello_server_name", Type: Keyword, Rule: RuleOnly, Doc: "server_name of that ClientHello (the session's values are the first hello's)"},
	{Path: "tlsentry.evasion.tcp_overlap.direction", Type: Keyword, Rule: RuleOnly, Doc: "\"client\" or \"server\": the direction of the first TCP overlap with different bytes (anomaly tcp_overlap); \"\" without one"},
	{Path: "tlsentry.evasion.tcp_overlap.offset", Type: Long, Rule: RuleOnly, Doc: "stream offset (bytes from the direction's first byte) of that overlap; the first-arrived bytes were used"},
	{Path: "tlsentry.evasion.tcp_overlap.length", Type: Long, Rule: RuleOnly, Doc: "bytes of that overlap"},
	{Path: "tlsentry.evasion.fragment_overlap.offset", Type: Long, Rule: RuleOnly, Doc: "offset in the datagram's payload of the first IP fragment overlap with different bytes (anomaly ip_fragment_overlap); the first-arrived bytes were used"},
	{Path: "tlsentry.evasion.fragment_overlap.length", Type: Long, Rule: RuleOnly, Doc: "bytes of that overlap"},
	{Path: "tlsentry.heartbeats.requests", Type: Long, Rule: RuleOnly, Doc: "cleartext heartbeat requests"},
	{Path: "tlsentry.heartbeats.overflow", Type: Bool, Rule: RuleOnly, Doc: "a heartbeat request declared more payload than its record holds"},
	{Path: "tlsentry.heartbeats.overflow_declared_length", Type: Long, Rule: RuleOnly, Doc: "largest payload_length of an overflowing request"},
	{Path: "tlsentry.heartbeats.overflow_record_length", Type: Long, Rule: RuleOnly, Doc: "record length of that request"},
	{Path: "tlsentry.parse_anomalies", Type: Keyword, List: true, Rule: RuleOnly, Doc: "what tlsparse noticed (tlsentry.anomalies less what capture noticed)"},
	{Path: "tlsentry.server.x509.present", Type: Bool, Rule: RuleOnly, Doc: "the server's leaf certificate is visible and parsed (false for TLS 1.3, resumptions, capture gaps); rules read tls.server.x509.* and tls.server.hash.* only then"},
	{Path: "tlsentry.server.x509.expired", Type: Bool, Rule: RuleOnly, Doc: "not_after before the session's start (packet time)"},
	{Path: "tlsentry.server.x509.not_yet_valid", Type: Bool, Rule: RuleOnly, Doc: "not_before after the session's start (packet time)"},
	{Path: "tlsentry.server.x509.self_signed", Type: Bool, Rule: RuleOnly, Doc: "the leaf is signed by its own key"},
	{Path: "tlsentry.server.x509.validity_days", Type: Float, Rule: RuleOnly, Doc: "not_after minus not_before, in days"},
	{Path: "tlsentry.server.x509.names", Type: Keyword, List: true, Rule: RuleOnly, Doc: "SAN DNS names, or the subject CN when the leaf has no SAN DNS names (RFC 6125 reference identifiers)"},
	{Path: "tlsentry.server.untrusted_reason", Type: Keyword, Rule: RuleOnly, Doc: "why validation failed: \"unknown_authority\", \"expired\", \"not_yet_valid\", \"invalid_signature\", \"insecure_algorithm\", \"constraint\", \"other\""},
	{Path: "tlsentry.server.chain.length", Type: Long, Rule: RuleOnly, Doc: "certificates the server sent"},
	{Path: "tlsentry.server.x509.expiring_soon", Type: Bool, Rule: RuleOnly, Doc: "the leaf is valid at the session's start (packet time) and its not_after is within the expiring window (rules.expiring_days, default 30 days)"},
	{Path: "tlsentry.server.x509.days_left", Type: Float, Rule: RuleOnly, Doc: "days from the session's start (packet time) to the leaf's not_after; negative once expired, 0 without a leaf"},
	{Path: "tlsentry.inventory.learning", Type: Bool, Rule: RuleOnly, Doc: "the session fell in the inventory's learning period (nothing is reported new then); false without an inventory"},
	{Path: "tlsentry.inventory.new_client_ja4", Type: Bool, Rule: RuleOnly, Doc: "the inventory had never seen the client's JA4 (false during learning)"},
	{Path: "tlsentry.inventory.new_client_ja3", Type: Bool, Rule: RuleOnly, Doc: "the inventory had never seen the client's JA3 (false during learning)"},
	{Path: "tlsentry.inventory.new_certificate", Type: Bool, Rule: RuleOnly, Doc: "the inventory had never seen the server's leaf certificate, on any server (false during learning)"},
	{Path: "tlsentry.inventory.new_server_certificate", Type: Bool, Rule: RuleOnly, Doc: "the inventory had never seen this leaf certificate on this (server address, port, SNI) (false during learning)"},
	{Path: "tlsentry.inventory.change", Type: Keyword, Rule: RuleOnly, Doc: "with new_server_certificate: \"first\" (no certificate known for the server and SNI), \"renewal\" (same issuer, subject and names, newer or replacing one near expiry) or \"change\"; \"\" otherwise"},
	{Path: "tlsentry.inventory.change_reasons", Type: Keyword, List: true, Rule: RuleOnly, Doc: "how a \"change\" differs from the certificate before: issuer_changed, subject_changed, names_changed, became_self_signed, not_newer"},
	{Path: "tlsentry.inventory.previous_issuer", Type: Keyword, Rule: RuleOnly, Doc: "issuer DN of the certificate the server and SNI showed before (\"renewal\" and \"change\")"},
	{Path: "tlsentry.doh.resolver", Type: Keyword, Rule: RuleOnly, Doc: "the DNS-over-HTTPS resolver list entry (name, or address) a TLS or QUIC session's SNI (or a parent domain of it) or server address matches; \"\" when none (list: rules/doh-resolvers.txt or rules.doh_resolvers)"},
	{Path: "tlsentry.tunnel.kind", Type: Keyword, Rule: RuleOnly, Doc: "\"long_flow\" or \"tls_in_tls\" when a TLS session's shape after its handshake says tunnel (detect/tunnel.go); \"\" otherwise"},
	{Path: "tlsentry.tunnel.reason", Type: Keyword, Rule: RuleOnly, Doc: "the evidence for tlsentry.tunnel.kind, in words (durations, packet counts and sizes)"},
	{Path: "tlsentry.intel.ja3.list", Type: Keyword, Rule: RuleOnly, Doc: "threat-intel list that holds the client's JA3; \"\" when none does"},
	{Path: "tlsentry.intel.ja3.entry", Type: Keyword, Rule: RuleOnly, Doc: "the entry, as written in the list"},
	{Path: "tlsentry.intel.ja4.list", Type: Keyword, Rule: RuleOnly, Doc: "list that holds the client's JA4"},
	{Path: "tlsentry.intel.ja4.entry", Type: Keyword, Rule: RuleOnly, Doc: "the entry"},
	{Path: "tlsentry.intel.cert_sha1.list", Type: Keyword, Rule: RuleOnly, Doc: "list that holds a certificate the server sent (SHA-1)"},
	{Path: "tlsentry.intel.cert_sha1.entry", Type: Keyword, Rule: RuleOnly, Doc: "the entry"},
	{Path: "tlsentry.intel.domain.list", Type: Keyword, Rule: RuleOnly, Doc: "list that holds the SNI or a certificate name (or a parent domain)"},
	{Path: "tlsentry.intel.domain.entry", Type: Keyword, Rule: RuleOnly, Doc: "the entry"},
	{Path: "tlsentry.intel.domain.value", Type: Keyword, Rule: RuleOnly, Doc: "the name that matched it"},
	{Path: "tlsentry.intel.domain.field", Type: Keyword, Rule: RuleOnly, Doc: "\"sni\" or \"cert_name\""},
	{Path: "tlsentry.intel.ip.list", Type: Keyword, Rule: RuleOnly, Doc: "list that holds the server or client address"},
	{Path: "tlsentry.intel.ip.entry", Type: Keyword, Rule: RuleOnly, Doc: "the entry (address or CIDR)"},
	{Path: "tlsentry.intel.ip.value", Type: Keyword, Rule: RuleOnly, Doc: "the address that matched it"},
}
