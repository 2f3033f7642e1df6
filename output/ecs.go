package output

// The ECS document tree. Field order is the order in the JSON. Every field
// that can be absent carries omitempty/omitzero; booleans that are values
// whenever their parent was observed (tls.established, tls.resumed, ...) are
// *bool pointing at boolTrue/boolFalse, so false is written when known and
// nothing is written when unknown. Which fields exist, their Elasticsearch
// types and what they mean is listed once, in fields.go; a test keeps this
// tree, that table and the index templates in step.

// ECSVersion is written to ecs.version in every document.
const ECSVersion = "8.17.0"

var (
	boolTrue  = true
	boolFalse = false
)

func boolPtr(b bool) *bool {
	if b {
		return &boolTrue
	}
	return &boolFalse
}

type ecsDoc struct {
	Timestamp   string       `json:"@timestamp,omitempty"`
	ECS         ecsECS       `json:"ecs"`
	DataStream  ecsDataStrm  `json:"data_stream"`
	Event       ecsEvent     `json:"event"`
	Rule        *ecsRule     `json:"rule,omitempty"`
	Message     string       `json:"message,omitempty"`
	Source      ecsEndpoint  `json:"source,omitzero"`
	Destination ecsEndpoint  `json:"destination,omitzero"`
	Network     ecsNetwork   `json:"network,omitzero"`
	TLS         *ecsTLS      `json:"tls,omitempty"`
	Observer    ecsObserver  `json:"observer,omitzero"`
	TLSentry    tlsentryInfo `json:"tlsentry"`
}

type ecsECS struct {
	Version string `json:"version"`
}

type ecsDataStrm struct {
	Type    string `json:"type"`
	Dataset string `json:"dataset"`
}

type ecsEvent struct {
	Kind      string   `json:"kind"`
	Category  []string `json:"category"`
	Type      []string `json:"type"`
	Module    string   `json:"module"`
	Dataset   string   `json:"dataset"`
	ID        string   `json:"id"`
	Start     string   `json:"start,omitempty"`
	End       string   `json:"end,omitempty"`
	Duration  *int64   `json:"duration,omitempty"`
	Severity  int      `json:"severity,omitempty"`
	RiskScore *int     `json:"risk_score,omitempty"`
}

type ecsRule struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Category    string   `json:"category,omitempty"`
	Description string   `json:"description,omitempty"`
	Reference   []string `json:"reference,omitempty"`
	Ruleset     string   `json:"ruleset,omitempty"`
	Version     string   `json:"version,omitempty"`
}

// ecsEndpoint is source or destination. Bytes and packets are always
// written: they are counted for every session, and 0 (a silent server) is a
// measurement, not an absent value.
type ecsEndpoint struct {
	IP      string `json:"ip,omitempty"`
	Port    int    `json:"port,omitempty"`
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

type ecsNetwork struct {
	Type        string     `json:"type,omitempty"`
	Transport   string     `json:"transport,omitempty"`
	Protocol    string     `json:"protocol,omitempty"`
	CommunityID string     `json:"community_id,omitempty"`
	VLAN        ecsVLAN    `json:"vlan,omitzero"`
	Inner       ecsInnerNW `json:"inner,omitzero"`
}

type ecsVLAN struct {
	ID string `json:"id,omitempty"`
}

type ecsInnerNW struct {
	VLAN ecsVLAN `json:"vlan,omitzero"`
}

type ecsTLS struct {
	Version         string       `json:"version,omitempty"`
	VersionProtocol string       `json:"version_protocol,omitempty"`
	Cipher          string       `json:"cipher,omitempty"`
	Curve           string       `json:"curve,omitempty"`
	NextProtocol    string       `json:"next_protocol,omitempty"`
	Established     *bool        `json:"established,omitempty"`
	Resumed         *bool        `json:"resumed,omitempty"`
	Client          ecsTLSClient `json:"client,omitzero"`
	Server          ecsTLSServer `json:"server,omitzero"`
}

type ecsTLSClient struct {
	ServerName       string   `json:"server_name,omitempty"`
	JA3              string   `json:"ja3,omitempty"`
	SupportedCiphers []string `json:"supported_ciphers,omitempty"`
}

type ecsTLSServer struct {
	JA3S      string   `json:"ja3s,omitempty"`
	Hash      ecsHash  `json:"hash,omitzero"`
	NotBefore string   `json:"not_before,omitempty"`
	NotAfter  string   `json:"not_after,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Issuer    string   `json:"issuer,omitempty"`
	X509      *ecsX509 `json:"x509,omitempty"`
}

type ecsHash struct {
	SHA1   string `json:"sha1,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

type ecsX509 struct {
	AlternativeNames   []string    `json:"alternative_names,omitempty"`
	Issuer             ecsX509Name `json:"issuer,omitzero"`
	Subject            ecsX509Name `json:"subject,omitzero"`
	SerialNumber       string      `json:"serial_number,omitempty"`
	NotBefore          string      `json:"not_before,omitempty"`
	NotAfter           string      `json:"not_after,omitempty"`
	PublicKeyAlgorithm string      `json:"public_key_algorithm,omitempty"`
	PublicKeySize      int         `json:"public_key_size,omitempty"`
	PublicKeyCurve     string      `json:"public_key_curve,omitempty"`
	SignatureAlgorithm string      `json:"signature_algorithm,omitempty"`
	VersionNumber      string      `json:"version_number,omitempty"`
}

type ecsX509Name struct {
	CommonName        string `json:"common_name,omitempty"`
	DistinguishedName string `json:"distinguished_name,omitempty"`
}

type ecsObserver struct {
	Name     string `json:"name,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Type     string `json:"type,omitempty"`
}

// tlsentryInfo is what ECS has no field for.
type tlsentryInfo struct {
	Client     tlsentryClient      `json:"client,omitzero"`
	Server     tlsentryServer      `json:"server,omitzero"`
	Anomalies  []string            `json:"anomalies,omitempty"`
	Incomplete bool                `json:"incomplete"`
	Alerts     []tlsentryAlert     `json:"alerts,omitempty"`
	Heartbeats []tlsentryHeartbeat `json:"heartbeats,omitempty"`
	ParseError string              `json:"parse_error,omitempty"`
	QUIC       *tlsentryQUIC       `json:"quic,omitempty"`
	Intel      *tlsentryIntel      `json:"intel,omitempty"`
}

// tlsentryQUIC describes a QUIC connection.
type tlsentryQUIC struct {
	Version string `json:"version,omitempty"` // wire version, "0x00000001"
}

type tlsentryClient struct {
	JA4                 string   `json:"ja4,omitempty"`
	JA3String           string   `json:"ja3_string,omitempty"`
	Versions            []string `json:"versions,omitempty"`
	ALPN                []string `json:"alpn,omitempty"`
	Extensions          []string `json:"extensions,omitempty"`
	Groups              []string `json:"groups,omitempty"`
	KeyShareGroups      []string `json:"key_share_groups,omitempty"`
	SignatureAlgorithms []string `json:"signature_algorithms,omitempty"`
	ECH                 *bool    `json:"ech,omitempty"`
	HelloCount          int      `json:"hello_count,omitempty"`
	HelloRecords        int      `json:"hello_records,omitempty"`
	HelloSegments       int      `json:"hello_segments,omitempty"`
	Certificates        int      `json:"certificates,omitempty"`
}

type tlsentryServer struct {
	JA3SString        string          `json:"ja3s_string,omitempty"`
	Chain             []tlsentryChain `json:"chain,omitempty"`
	Validation        string          `json:"validation,omitempty"`
	HelloRetryRequest *bool           `json:"hello_retry_request,omitempty"`
	OCSPStapled       *bool           `json:"ocsp_stapled,omitempty"`
	DHPrimeBits       int             `json:"dh_prime_bits,omitempty"`
}

type tlsentryChain struct {
	Subject  string `json:"subject,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	SHA1     string `json:"sha1,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	NotAfter string `json:"not_after,omitempty"`
	Error    string `json:"error,omitempty"`
}

type tlsentryAlert struct {
	Direction   string `json:"direction"`
	Level       string `json:"level,omitempty"`
	Description string `json:"description,omitempty"`
	Encrypted   bool   `json:"encrypted"`
}

type tlsentryHeartbeat struct {
	Direction      string `json:"direction"`
	Type           string `json:"type"`
	DeclaredLength int    `json:"declared_length"`
	RecordLength   int    `json:"record_length"`
}

type tlsentryIntel struct {
	List  string `json:"list,omitempty"`
	Entry string `json:"entry,omitempty"`
	Field string `json:"field,omitempty"`
}
