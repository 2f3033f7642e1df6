#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs what is missing, starts a
# real Elasticsearch on 127.0.0.1 for the integration tests, runs every Go
# test (unit, corpus agreement, golden files, fuzz seed corpora, live capture
# in a network namespace when root), and stops Elasticsearch afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

es_started=
cleanup() {
	if [ -n "$es_started" ]; then bash scripts/elasticsearch.sh stop || true; fi
}
trap cleanup EXIT

# The integration tests read TLSENTRY_ES_URL (not ELASTICSEARCH_URL, which would
# make every sensor run in the suite ship to Elasticsearch too).
if [ -z "${TLSENTRY_ES_URL:-}" ] && [ "${TLSENTRY_SKIP_ES:-}" != 1 ]; then
	TLSENTRY_ES_URL=$(bash scripts/elasticsearch.sh start)
	es_started=1
fi
export TLSENTRY_ES_URL=${TLSENTRY_ES_URL:-}
unset ELASTICSEARCH_URL

go vet ./...
go test -count=1 -timeout 60m "$@" ./...
