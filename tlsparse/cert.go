package tlsparse

// CertCache summarises DER certificates, caching summaries by SHA-256 of the
// DER in a bounded LRU. It is safe for concurrent use.
// TODO(tlsparse): placeholder contract.
type CertCache struct{}

// NewCertCache returns a cache holding at most size summaries.
func NewCertCache(size int) *CertCache { return &CertCache{} }

// Summary returns the summary of der, from the cache when present.
// The result is shared and must not be modified.
func (c *CertCache) Summary(der []byte) *CertSummary { return &CertSummary{} }
