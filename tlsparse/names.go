package tlsparse

// TODO(tlsparse): placeholder contract; replaced by generated IANA tables.

// VersionName returns the ECS tls.version and tls.version_protocol of a wire
// version: 0x0303 -> ("1.2", "tls"), 0x0300 -> ("3.0", "ssl"), 0x0002 -> ("2.0", "ssl").
func VersionName(v uint16) (version, protocol string) { return "", "" }

// CipherSuiteName returns the IANA name, or "0xXXXX" when unassigned.
func CipherSuiteName(id uint16) string { return "" }

// GroupName returns the IANA supported-group name (e.g. "x25519").
func GroupName(id uint16) string { return "" }

// SignatureSchemeName returns the IANA signature scheme name.
func SignatureSchemeName(id uint16) string { return "" }

// ExtensionName returns the IANA extension name.
func ExtensionName(id uint16) string { return "" }

// IsGREASE reports whether v is an RFC 8701 GREASE value (0x?A?A, both bytes equal).
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }
