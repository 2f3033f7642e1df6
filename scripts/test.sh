#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs what is missing, starts
# real Elasticsearch instances on 127.0.0.1 for the integration tests, runs
# every Go test (unit, corpus agreement, golden files, fuzz seed corpora, live
# capture in a network namespace when root), and stops them afterwards.
# Arguments go to go test (bash scripts/test.sh -run 'ES|Setup' -v).
#
# The instances, started in parallel (internal/estest reads the variables):
#   TLSENTRY_ES_URL           8.19.x, one node                        (port 9200)
#   TLSENTRY_ES9_URL          9.x, one node (Java 21+)                (port 9201)
#   TLSENTRY_ES_OUTAGE_URL    8.19.x, one node the outage test stops  (port 9202)
#   TLSENTRY_ES_CLUSTER_URLS  8.19.x, three nodes, comma-separated    (ports 9210-9212)
#   TLSENTRY_ES_SECURE_URL    9.x, one node, TLS + security           (port 9220)
#   TLSENTRY_ES_SECURE_CA     its CA certificate (PEM file)
#   TLSENTRY_ES_SECURE_PASSWORD_FILE  file holding the elastic user's password
# A variable set beforehand is kept and its instance not started;
# TLSENTRY_SKIP_ES=1 starts none. TLSENTRY_ES_PORT_BASE moves all ports
# (default 9200) when another checkout's nodes use them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

base=${TLSENTRY_ES_PORT_BASE:-9200}
started=()
cleanup() {
	local a
	for a in "${started[@]}"; do
		# shellcheck disable=SC2086 # a holds the instance's options
		bash scripts/elasticsearch.sh stop $a || true &
	done
	wait
	rm -rf "${es_tmp:-}"
}
trap cleanup EXIT

es_tmp=$(mktemp -d) # each instance's URL and start log
launch() { # launch NAME OPTIONS...: start an instance in the background
	local name=$1
	shift
	started+=("$*")
	bash scripts/elasticsearch.sh start --fresh "$@" >"$es_tmp/$name.url" 2>"$es_tmp/$name.log" &
}
result() { # result NAME: the URL(s), or fail with the instance's log
	if [ ! -s "$es_tmp/$1.url" ]; then
		cat "$es_tmp/$1.log" >&2
		echo "test.sh: Elasticsearch instance $1 did not start" >&2
		exit 1
	fi
	cat "$es_tmp/$1.url"
}

if [ "${TLSENTRY_SKIP_ES:-}" != 1 ]; then
	t0=$SECONDS
	[ -n "${TLSENTRY_ES_URL:-}" ] || launch es8 --version 8 --port "$base"
	[ -n "${TLSENTRY_ES9_URL:-}" ] || launch es9 --version 9 --port $((base + 1))
	[ -n "${TLSENTRY_ES_OUTAGE_URL:-}" ] || launch outage --version 8 --port $((base + 2))
	[ -n "${TLSENTRY_ES_CLUSTER_URLS:-}" ] || launch cluster --version 8 --port $((base + 10)) --nodes 3
	[ -n "${TLSENTRY_ES_SECURE_URL:-}" ] || launch secure --version 9 --port $((base + 20)) --secure
	wait
	[ -n "${TLSENTRY_ES_URL:-}" ] || TLSENTRY_ES_URL=$(result es8)
	[ -n "${TLSENTRY_ES9_URL:-}" ] || TLSENTRY_ES9_URL=$(result es9)
	[ -n "${TLSENTRY_ES_OUTAGE_URL:-}" ] || TLSENTRY_ES_OUTAGE_URL=$(result outage)
	[ -n "${TLSENTRY_ES_CLUSTER_URLS:-}" ] || TLSENTRY_ES_CLUSTER_URLS=$(result cluster)
	if [ -z "${TLSENTRY_ES_SECURE_URL:-}" ]; then
		TLSENTRY_ES_SECURE_URL=$(result secure)
		TLSENTRY_ES_SECURE_CA=$(bash scripts/elasticsearch.sh ca --port $((base + 20)) --secure)
		TLSENTRY_ES_SECURE_PASSWORD_FILE=$(bash scripts/elasticsearch.sh password-file --port $((base + 20)) --secure)
	fi
	echo "test.sh: Elasticsearch instances up in $((SECONDS - t0))s" >&2
	# The cluster test restarts a node it killed with the same start command.
	export TLSENTRY_ES_CLUSTER_START="--version 8 --port $((base + 10)) --nodes 3"
fi
export TLSENTRY_ES_URL=${TLSENTRY_ES_URL:-} TLSENTRY_ES9_URL=${TLSENTRY_ES9_URL:-} TLSENTRY_ES_OUTAGE_URL=${TLSENTRY_ES_OUTAGE_URL:-}
export TLSENTRY_ES_CLUSTER_URLS=${TLSENTRY_ES_CLUSTER_URLS:-} TLSENTRY_ES_SECURE_URL=${TLSENTRY_ES_SECURE_URL:-}
export TLSENTRY_ES_SECURE_CA=${TLSENTRY_ES_SECURE_CA:-} TLSENTRY_ES_SECURE_PASSWORD_FILE=${TLSENTRY_ES_SECURE_PASSWORD_FILE:-}
# The integration tests read these variables, not ELASTICSEARCH_URL (which
# would make every sensor run in the suite ship to Elasticsearch too).
unset ELASTICSEARCH_URL ELASTICSEARCH_API_KEY ELASTICSEARCH_USERNAME ELASTICSEARCH_PASSWORD ELASTICSEARCH_CA_CERT

go vet ./...
go test -count=1 -timeout 60m "$@" ./...

# The packages that run goroutines, again under the race detector (the
# Elasticsearch, live and corpus tests, which add nothing racy, are left
# out of this pass to keep CI's time).
if [ $# -eq 0 ]; then
	go test -count=1 -race -timeout 30m -skip 'ES|Elastic|Setup|Live|Netns|Corpus' \
		./capture ./detect/... ./output ./sensor ./inventory ./quic
fi
