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

if [ -z "${ELASTICSEARCH_URL:-}" ] && [ "${TLSENTRY_SKIP_ES:-}" != 1 ]; then
	ELASTICSEARCH_URL=$(bash scripts/elasticsearch.sh start)
	es_started=1
fi
export ELASTICSEARCH_URL=${ELASTICSEARCH_URL:-}

go vet ./...
go test -count=1 -timeout 60m "$@" ./...
