// Package estest is test support for the tests that run against a real
// Elasticsearch. Import it only from _test.go files.
package estest

import (
	"os"
	"strings"
	"testing"
)

// URL returns the Elasticsearch base URL for a test: the first address in
// TLSENTRY_ES_URL, else ELASTICSEARCH_URL, without a trailing slash. With
// neither set it fails the test when CI=true (in CI a missing server is a
// failure) and skips it otherwise. scripts/elasticsearch.sh start provisions
// one.
func URL(tb testing.TB) string {
	tb.Helper()
	for _, k := range []string{"TLSENTRY_ES_URL", "ELASTICSEARCH_URL"} {
		if v := os.Getenv(k); v != "" {
			return strings.TrimRight(strings.Split(v, ",")[0], "/")
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("CI=true but no Elasticsearch: set ELASTICSEARCH_URL (scripts/elasticsearch.sh start)")
	}
	tb.Skip("no Elasticsearch: set ELASTICSEARCH_URL (scripts/elasticsearch.sh start) to run")
	return ""
}
