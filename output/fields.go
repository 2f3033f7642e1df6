package output

// field is one field of the documents: its dotted path, its Elasticsearch
// mapping type and what it holds. This table is the single list of fields:
// the index templates (elasticsearch/*.json) and FIELDS.md are generated
// from it (go test ./output -run TestGenerated -update), and tests check
// that the encoder emits exactly these fields with values of these types.
type field struct {
	Path  string
	Type  string // keyword, ip, date, long, float, boolean, text
	Alert bool   // only in alert documents (dataset tlsentry.alert)
	Doc   string
}

// ES mapping types used below. ECS prefers match_only_text for message and
// constant_keyword for data_stream.*; those types live in plugins
// (mapper-extras, constant-keyword) that minimal distributions such as the
// integ-test-zip used by CI lack, so the templates use their portable
// equivalents, text and keyword (what ECS's own legacy templates fall back
// to). Queries behave the same.
const (
	tKeyword = "keyword"
	tIP      = "ip"
	tDate    = "date"
	tLong    = "long"
	tFloat   = "float"
	tBool    = "boolean"
	tText    = "text"
)

var fields = []field{
	{Path: "@timestamp", Type: tDate, Doc: "time of the connection's first packet (packet time), RFC 3339 UTC with microseconds"},
	{Path: "data_stream.type", Type: tKeyword, Doc: "`logs`"},
	{Path: "data_stream.dataset", Type: tKeyword, Doc: "`tlsentry.tls` or `tlsentry.alert`, as event.dataset (the namespace is the sink's: not written)"},
	{Path: "ecs.version", Type: tKeyword, Doc: "ECS version the document follows"},

	{Path: "event.kind", Type: tKeyword, Doc: "`event` (session) or `alert`"},
	{Path: "event.category", Type: tKeyword, Doc: "`[\"network\"]`"},
	{Path: "event.type", Type: tKeyword, Doc: "`[\"connection\",\"protocol\"]`"},
	{Path: "event.module", Type: tKeyword, Doc: "`tlsentry`"},
	{Path: "event.dataset", Type: tKeyword, Doc: "`tlsentry.tls` or `tlsentry.alert`"},
	{Path: "event.id", Type: tKeyword, Doc: "deterministic id (22 base64url characters, 128 bits of SHA-256): session from flow, start and first packet; alert from session id, rule id and intel match. Also the Elasticsearch _id"},
	{Path: "event.start", Type: tDate, Doc: "first packet"},
	{Path: "event.end", Type: tDate, Doc: "last packet"},
	{Path: "event.duration", Type: tLong, Doc: "end - start in nanoseconds"},
	{Path: "event.severity", Type: tLong, Alert: true, Doc: "21 low, 47 medium, 73 high, 99 critical"},
	{Path: "event.risk_score", Type: tFloat, Alert: true, Doc: "the rule's risk score, 0-100"},

	{Path: "rule.id", Type: tKeyword, Alert: true, Doc: "e.g. `tls.deprecated_version`"},
	{Path: "rule.name", Type: tKeyword, Alert: true, Doc: "rule name"},
	{Path: "rule.category", Type: tKeyword, Alert: true, Doc: "protocol, cipher, certificate, intel, anomaly"},
	{Path: "rule.description", Type: tKeyword, Alert: true, Doc: "rule description"},
	{Path: "rule.reference", Type: tKeyword, Alert: true, Doc: "reference URLs (array)"},
	{Path: "rule.ruleset", Type: tKeyword, Alert: true, Doc: "`builtin` or the rule file"},
	{Path: "rule.version", Type: tKeyword, Alert: true, Doc: "rule version"},
	{Path: "message", Type: tText, Alert: true, Doc: "why the rule fired, in words"},

	{Path: "source.ip", Type: tIP, Doc: "the client (sent the ClientHello, else opened the flow)"},
	{Path: "source.port", Type: tLong, Doc: "client port"},
	{Path: "source.bytes", Type: tLong, Doc: "bytes client to server, counted even after bypass; always written"},
	{Path: "source.packets", Type: tLong, Doc: "packets client to server; always written"},
	{Path: "destination.ip", Type: tIP, Doc: "the server"},
	{Path: "destination.port", Type: tLong, Doc: "server port"},
	{Path: "destination.bytes", Type: tLong, Doc: "bytes server to client; always written (0: the server sent nothing)"},
	{Path: "destination.packets", Type: tLong, Doc: "packets server to client; always written"},

	{Path: "network.type", Type: tKeyword, Doc: "`ipv4` or `ipv6`"},
	{Path: "network.transport", Type: tKeyword, Doc: "`tcp` or `udp`"},
	{Path: "network.protocol", Type: tKeyword, Doc: "what the payload is: tls, quic, ssh, http, openvpn, unknown"},
	{Path: "network.community_id", Type: tKeyword, Doc: "Community ID v1, seed 0"},
	{Path: "network.vlan.id", Type: tKeyword, Doc: "outermost VLAN id"},
	{Path: "network.inner.vlan.id", Type: tKeyword, Doc: "second (inner, QinQ) VLAN id"},

	{Path: "tls.version", Type: tKeyword, Doc: "negotiated version: `1.2`, `3.0` (SSL); hex such as `0x7f17` when it has no name"},
	{Path: "tls.version_protocol", Type: tKeyword, Doc: "`tls` or `ssl`"},
	{Path: "tls.cipher", Type: tKeyword, Doc: "IANA name of the negotiated cipher suite"},
	{Path: "tls.curve", Type: tKeyword, Doc: "key exchange group: TLS 1.3 key_share, else the ServerKeyExchange named curve"},
	{Path: "tls.next_protocol", Type: tKeyword, Doc: "ALPN protocol chosen by the server"},
	{Path: "tls.established", Type: tBool, Doc: "both sides reached the encrypted phase without a fatal alert; present whenever TLS was seen"},
	{Path: "tls.resumed", Type: tBool, Doc: "session resumed (id, ticket or PSK); present whenever TLS was seen"},
	{Path: "tls.client.server_name", Type: tKeyword, Doc: "SNI"},
	{Path: "tls.client.ja3", Type: tKeyword, Doc: "JA3, MD5 hex"},
	{Path: "tls.client.supported_ciphers", Type: tKeyword, Doc: "offered cipher suites, IANA names, wire order, GREASE left out"},
	{Path: "tls.server.ja3s", Type: tKeyword, Doc: "JA3S, MD5 hex"},
	{Path: "tls.server.hash.sha1", Type: tKeyword, Doc: "SHA-1 of the leaf certificate DER, upper-case hex"},
	{Path: "tls.server.hash.sha256", Type: tKeyword, Doc: "SHA-256 of the leaf certificate DER, upper-case hex"},
	{Path: "tls.server.not_before", Type: tDate, Doc: "leaf validity start"},
	{Path: "tls.server.not_after", Type: tDate, Doc: "leaf validity end"},
	{Path: "tls.server.subject", Type: tKeyword, Doc: "leaf subject, RFC 4514"},
	{Path: "tls.server.issuer", Type: tKeyword, Doc: "leaf issuer, RFC 4514"},
	{Path: "tls.server.x509.alternative_names", Type: tKeyword, Doc: "leaf SANs: DNS names, IPs, e-mail addresses, URIs"},
	{Path: "tls.server.x509.issuer.common_name", Type: tKeyword, Doc: "leaf issuer CN"},
	{Path: "tls.server.x509.issuer.distinguished_name", Type: tKeyword, Doc: "leaf issuer DN"},
	{Path: "tls.server.x509.subject.common_name", Type: tKeyword, Doc: "leaf subject CN"},
	{Path: "tls.server.x509.subject.distinguished_name", Type: tKeyword, Doc: "leaf subject DN"},
	{Path: "tls.server.x509.serial_number", Type: tKeyword, Doc: "upper-case hex"},
	{Path: "tls.server.x509.not_before", Type: tDate, Doc: "leaf validity start"},
	{Path: "tls.server.x509.not_after", Type: tDate, Doc: "leaf validity end"},
	{Path: "tls.server.x509.public_key_algorithm", Type: tKeyword, Doc: "RSA, ECDSA, Ed25519, DSA"},
	{Path: "tls.server.x509.public_key_size", Type: tLong, Doc: "bits"},
	{Path: "tls.server.x509.public_key_curve", Type: tKeyword, Doc: "e.g. P-256"},
	{Path: "tls.server.x509.signature_algorithm", Type: tKeyword, Doc: "e.g. SHA256-RSA"},
	{Path: "tls.server.x509.version_number", Type: tKeyword, Doc: "X.509 version, e.g. `3`"},

	{Path: "tlsentry.client.ja4", Type: tKeyword, Doc: "JA4 (QUIC form starts with `q`)"},
	{Path: "tlsentry.client.ja3_string", Type: tKeyword, Doc: "JA3 string before hashing"},
	{Path: "tlsentry.client.versions", Type: tKeyword, Doc: "offered versions (`TLS 1.3`, `SSL 3.0`): supported_versions, else the legacy version; GREASE left out"},
	{Path: "tlsentry.client.alpn", Type: tKeyword, Doc: "offered ALPN protocols, wire order"},
	{Path: "tlsentry.client.extensions", Type: tKeyword, Doc: "extension names, wire order, GREASE left out"},
	{Path: "tlsentry.client.groups", Type: tKeyword, Doc: "supported_groups names, wire order, GREASE left out"},
	{Path: "tlsentry.client.key_share_groups", Type: tKeyword, Doc: "groups with a key share in the ClientHello"},
	{Path: "tlsentry.client.signature_algorithms", Type: tKeyword, Doc: "signature scheme names, wire order"},
	{Path: "tlsentry.client.ech", Type: tBool, Doc: "encrypted_client_hello present; written whenever a ClientHello was seen"},
	{Path: "tlsentry.client.hello_count", Type: tLong, Doc: "ClientHellos seen (2 after a HelloRetryRequest)"},
	{Path: "tlsentry.client.hello_records", Type: tLong, Doc: "records the first ClientHello spanned"},
	{Path: "tlsentry.client.hello_segments", Type: tLong, Doc: "TCP segments (or QUIC packets) the first ClientHello spanned"},
	{Path: "tlsentry.client.certificates", Type: tLong, Doc: "client certificates sent (mutual TLS)"},
	{Path: "tlsentry.server.ja3s_string", Type: tKeyword, Doc: "JA3S string before hashing"},
	{Path: "tlsentry.server.chain.subject", Type: tKeyword, Doc: "every certificate the server sent, in order: subject"},
	{Path: "tlsentry.server.chain.issuer", Type: tKeyword, Doc: "chain certificate issuer"},
	{Path: "tlsentry.server.chain.sha1", Type: tKeyword, Doc: "chain certificate SHA-1 (upper-case hex)"},
	{Path: "tlsentry.server.chain.sha256", Type: tKeyword, Doc: "chain certificate SHA-256 (upper-case hex)"},
	{Path: "tlsentry.server.chain.not_after", Type: tDate, Doc: "chain certificate validity end"},
	{Path: "tlsentry.server.chain.error", Type: tKeyword, Doc: "why the certificate did not parse"},
	{Path: "tlsentry.server.validation", Type: tKeyword, Doc: "`trusted`, `untrusted` or `not_checked`; written when certificates were seen"},
	{Path: "tlsentry.server.hello_retry_request", Type: tBool, Doc: "the server sent a HelloRetryRequest; written whenever a ServerHello was seen"},
	{Path: "tlsentry.server.ocsp_stapled", Type: tBool, Doc: "a CertificateStatus (stapled OCSP) message was seen; written whenever a ServerHello was seen"},
	{Path: "tlsentry.server.dh_prime_bits", Type: tLong, Doc: "finite-field DHE prime size"},
	{Path: "tlsentry.anomalies", Type: tKeyword, Doc: "what capture and tlsparse noticed, sorted, deduplicated"},
	{Path: "tlsentry.quic.version", Type: tKeyword, Doc: "QUIC wire version of the connection, hex (`0x00000001` v1, `0x6b3343cf` v2)"},
	{Path: "tlsentry.incomplete", Type: tBool, Doc: "a gap, a missing direction, or the capture ended mid-handshake; always written"},
	{Path: "tlsentry.alerts.direction", Type: tKeyword, Doc: "TLS alerts seen: `client` or `server` sent it"},
	{Path: "tlsentry.alerts.level", Type: tKeyword, Doc: "`warning` or `fatal` (cleartext alerts only)"},
	{Path: "tlsentry.alerts.description", Type: tKeyword, Doc: "IANA alert name, e.g. `handshake_failure` (cleartext alerts only)"},
	{Path: "tlsentry.alerts.encrypted", Type: tBool, Doc: "the alert was encrypted: level and description unknown"},
	{Path: "tlsentry.heartbeats.direction", Type: tKeyword, Doc: "cleartext heartbeat records: `client` or `server`"},
	{Path: "tlsentry.heartbeats.type", Type: tKeyword, Doc: "`request` or `response`"},
	{Path: "tlsentry.heartbeats.declared_length", Type: tLong, Doc: "payload_length field"},
	{Path: "tlsentry.heartbeats.record_length", Type: tLong, Doc: "bytes in the record (declared > record: Heartbleed)"},
	{Path: "tlsentry.parse_error", Type: tKeyword, Doc: "first TLS parse error; parsing stopped there"},
	{Path: "tlsentry.intel.list", Type: tKeyword, Alert: true, Doc: "threat-intel list that matched (name from the configuration)"},
	{Path: "tlsentry.intel.entry", Type: tKeyword, Alert: true, Doc: "the list entry as written"},
	{Path: "tlsentry.intel.field", Type: tKeyword, Alert: true, Doc: "what matched: ja3, ja4, cert_sha1, sni, cert_name, ip"},

	{Path: "observer.name", Type: tKeyword, Doc: "sensor name from the configuration"},
	{Path: "observer.hostname", Type: tKeyword, Doc: "sensor host name"},
	{Path: "observer.type", Type: tKeyword, Doc: "`ids`"},
}
