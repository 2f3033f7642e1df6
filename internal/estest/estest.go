// Package estest is test support for the tests that run against a real
// Elasticsearch. Import it only from _test.go files.
//
// scripts/test.sh starts the instances and sets the variables read here (see
// its header); scripts/elasticsearch.sh starts any one by hand. Each helper
// fails the test when CI=true and its variable is unset (in CI a missing
// server is a failure) and skips it otherwise.
//
// What the instances are: the integ-test-zip distribution from Maven Central,
// whose only modules are transport-netty4, apm, x-pack-core and
// x-pack-security. They index, search, hold index templates, speak TLS and
// check users and passwords; they have no data-streams, ingest or
// analysis-common module, so data streams are plain indices there, and the
// security index (native users, API keys) cannot be created: API keys are
// tested against fakes, for the shape of the requests only.
package estest

import (
	"os"
	"strings"
	"testing"
)

func missing(tb testing.TB, what, env string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true but no %s: set %s (scripts/test.sh starts it)", what, env)
	}
	tb.Skipf("no %s: set %s (scripts/test.sh starts it) to run", what, env)
}

// URL returns the base URL of the Elasticsearch 8.19 node: the first address
// in TLSENTRY_ES_URL, else ELASTICSEARCH_URL, without a trailing slash.
func URL(tb testing.TB) string {
	tb.Helper()
	for _, k := range []string{"TLSENTRY_ES_URL", "ELASTICSEARCH_URL"} {
		if v := os.Getenv(k); v != "" {
			return strings.TrimRight(strings.Split(v, ",")[0], "/")
		}
	}
	missing(tb, "Elasticsearch", "TLSENTRY_ES_URL")
	return ""
}

// OutageURL returns the 8.19 node that the outage test stops and starts
// (TLSENTRY_ES_OUTAGE_URL, started by scripts/test.sh on a port of its own
// so that the tests of other packages, which run at the same time, keep
// theirs), else URL's node.
func OutageURL(tb testing.TB) string {
	tb.Helper()
	if v := os.Getenv("TLSENTRY_ES_OUTAGE_URL"); v != "" {
		return strings.TrimRight(strings.Split(v, ",")[0], "/")
	}
	return URL(tb)
}

// URL9 returns the base URL of the Elasticsearch 9.x node (TLSENTRY_ES9_URL).
func URL9(tb testing.TB) string {
	tb.Helper()
	if v := os.Getenv("TLSENTRY_ES9_URL"); v != "" {
		return strings.TrimRight(strings.Split(v, ",")[0], "/")
	}
	missing(tb, "Elasticsearch 9", "TLSENTRY_ES9_URL")
	return ""
}

// Version is one Elasticsearch node a test runs against.
type Version struct {
	Name string // "8.19", "9"
	URL  string // "" until resolved by the test: call Resolve in the subtest
	env  string
}

// Versions lists the single nodes of each major version, for
// t.Run(v.Name, ...) with v.Resolve(t) inside the subtest: a missing node
// then fails (CI) or skips only its own subtest.
func Versions() []Version {
	return []Version{{Name: "8.19", env: "TLSENTRY_ES_URL"}, {Name: "9", env: "TLSENTRY_ES9_URL"}}
}

// Resolve returns the node's URL, failing or skipping like URL.
func (v Version) Resolve(tb testing.TB) string {
	tb.Helper()
	if v.env == "TLSENTRY_ES_URL" {
		return URL(tb)
	}
	return URL9(tb)
}

// ClusterURLs returns the three-node cluster's URLs (TLSENTRY_ES_CLUSTER_URLS,
// comma-separated).
func ClusterURLs(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, u := range strings.Split(os.Getenv("TLSENTRY_ES_CLUSTER_URLS"), ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			out = append(out, u)
		}
	}
	if len(out) < 2 {
		missing(tb, "Elasticsearch cluster", "TLSENTRY_ES_CLUSTER_URLS")
	}
	return out
}

// Secure is the node with security on: HTTPS with a CA of its own, the
// elastic user's password in a file.
type Secure struct {
	URL          string
	CAFile       string // PEM
	Password     string // the elastic user's; never log it
	PasswordFile string
}

// SecureNode returns the secured node (TLSENTRY_ES_SECURE_URL,
// TLSENTRY_ES_SECURE_CA, TLSENTRY_ES_SECURE_PASSWORD_FILE).
func SecureNode(tb testing.TB) Secure {
	tb.Helper()
	s := Secure{
		URL:          strings.TrimRight(os.Getenv("TLSENTRY_ES_SECURE_URL"), "/"),
		CAFile:       os.Getenv("TLSENTRY_ES_SECURE_CA"),
		PasswordFile: os.Getenv("TLSENTRY_ES_SECURE_PASSWORD_FILE"),
	}
	if s.URL == "" || s.CAFile == "" || s.PasswordFile == "" {
		missing(tb, "secured Elasticsearch", "TLSENTRY_ES_SECURE_URL, TLSENTRY_ES_SECURE_CA and TLSENTRY_ES_SECURE_PASSWORD_FILE")
		return s
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		tb.Fatalf("secured Elasticsearch: %v", err)
	}
	s.Password = strings.TrimSpace(string(b))
	return s
}
