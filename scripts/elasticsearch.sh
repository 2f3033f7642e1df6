#!/usr/bin/env bash
# Provision and run a single-node Elasticsearch 8.19 for tlsentry's tests.
#
#   scripts/elasticsearch.sh start    fetch (once), unpack, start, wait until it answers, print the URL
#   scripts/elasticsearch.sh stop     stop it and wait until it is gone
#   scripts/elasticsearch.sh status   print the URL and exit 0 if it answers, exit 1 otherwise
#   scripts/elasticsearch.sh url      print the URL
#
# The distribution is org.elasticsearch.distribution.integ-test-zip:elasticsearch:<8.19.x> from Maven
# Central, fetched with mvn (the newest 8.19.x unless ES_VERSION is set). It runs with the machine's
# Java 17+ (openjdk-17-jre-headless is installed with apt-get when java is missing), as the unprivileged
# user tlsentry-es (Elasticsearch refuses to run as root), on 127.0.0.1, single node, security off,
# a small heap. Idempotent: start when running prints the URL; stop when stopped succeeds.
#
# Environment:
#   ES_PORT           HTTP port (default 9200)
#   ES_HOME           work directory (default <repo>/.es): distribution, data, logs, pid file
#   ES_VERSION        exact 8.19.x version (default: newest 8.19.x on Maven Central)
#   ES_HEAP           heap size (default 512m)
#   ES_USER           user to run as when started by root (default tlsentry-es)
#   ES_START_TIMEOUT  seconds to wait for the node to answer (default 180)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ES_PORT="${ES_PORT:-9200}"
ES_HOME="${ES_HOME:-$repo/.es}"
ES_HEAP="${ES_HEAP:-512m}"
ES_USER="${ES_USER:-tlsentry-es}"
ES_START_TIMEOUT="${ES_START_TIMEOUT:-180}"
url="http://127.0.0.1:${ES_PORT}"
pidfile="$ES_HOME/run/es-${ES_PORT}.pid"

log() { echo "elasticsearch.sh: $*" >&2; }
die() { log "$*"; exit 1; }

answers() {
	# The integ-test-zip has no rest-root module (GET / is a 405), so ask for the cluster health.
	curl -fsS --max-time 3 "$url/_cluster/health" 2>/dev/null | grep -q '"cluster_name"'
}

healthy() {
	curl -fsS --max-time 5 "$url/_cluster/health?wait_for_status=yellow&timeout=2s" 2>/dev/null |
		grep -Eq '"status":"(green|yellow)"'
}

running_pid() {
	[[ -f "$pidfile" ]] || return 1
	local pid
	pid="$(cat "$pidfile" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

need_tools() {
	local missing=()
	command -v curl >/dev/null || missing+=(curl)
	command -v unzip >/dev/null || missing+=(unzip)
	command -v mvn >/dev/null || missing+=(maven)
	if ! command -v java >/dev/null || ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])'; then
		missing+=(openjdk-17-jre-headless)
	fi
	if ((${#missing[@]})); then
		[[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]})"
		log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# resolve_version prints the newest 8.19.x (or ES_VERSION) and leaves the zip in $ES_HOME/dist.
fetch() {
	mkdir -p "$ES_HOME/dist" "$ES_HOME/mvn"
	local range="[8.19.0,8.20.0)"
	[[ -n "${ES_VERSION:-}" ]] && range="[${ES_VERSION}]"
	local existing
	if [[ -n "${ES_VERSION:-}" ]]; then
		existing="$ES_HOME/dist/elasticsearch-${ES_VERSION}.zip"
		[[ -f "$existing" ]] && { echo "$existing"; return; }
	else
		existing="$(ls -1 "$ES_HOME"/dist/elasticsearch-8.19.*.zip 2>/dev/null | sort -V | tail -1 || true)"
		# Reuse what we have; set ES_VERSION or remove $ES_HOME/dist to pick up a newer patch release.
		[[ -n "$existing" ]] && { echo "$existing"; return; }
	fi
	cat >"$ES_HOME/mvn/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tlsentry</groupId><artifactId>es-fetch</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies><dependency>
    <groupId>org.elasticsearch.distribution.integ-test-zip</groupId><artifactId>elasticsearch</artifactId>
    <version>${range}</version><type>zip</type>
  </dependency></dependencies>
</project>
EOF
	log "fetching org.elasticsearch.distribution.integ-test-zip:elasticsearch:${range} with mvn"
	(cd "$ES_HOME/mvn" && mvn -B -q dependency:copy-dependencies -DexcludeTransitive=true \
		-DoutputDirectory="$ES_HOME/dist" >&2) || die "mvn could not fetch the distribution"
	existing="$(ls -1 "$ES_HOME"/dist/elasticsearch-8.19.*.zip 2>/dev/null | sort -V | tail -1 || true)"
	[[ -n "$existing" ]] || die "no distribution zip after mvn"
	echo "$existing"
}

ensure_user() {
	[[ $(id -u) -eq 0 ]] || return 0
	if ! id "$ES_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir "$ES_HOME" --shell /usr/sbin/nologin "$ES_USER"
	fi
}

# as_user runs a command as the unprivileged user when we are root.
as_user() {
	if [[ $(id -u) -eq 0 ]]; then
		if command -v runuser >/dev/null; then
			runuser -u "$ES_USER" -- "$@"
		else
			su -s /bin/bash "$ES_USER" -c "$(printf '%q ' "$@")"
		fi
	else
		"$@"
	fi
}

start() {
	if running_pid >/dev/null && answers; then
		echo "$url"
		return 0
	fi
	if answers; then
		log "something else already answers on $url; not starting another node"
		echo "$url"
		return 0
	fi
	need_tools
	ensure_user
	local zip ver dist
	zip="$(fetch)"
	ver="$(basename "$zip" .zip)"
	ver="${ver#elasticsearch-}"
	dist="$ES_HOME/elasticsearch-$ver"
	if [[ ! -x "$dist/bin/elasticsearch" ]]; then
		log "unpacking $zip"
		rm -rf "$dist.tmp"
		mkdir -p "$dist.tmp"
		unzip -q "$zip" -d "$dist.tmp"
		mv "$dist.tmp/elasticsearch-$ver" "$dist"
		rm -rf "$dist.tmp"
	fi
	local data="$ES_HOME/data-$ES_PORT" logs="$ES_HOME/logs-$ES_PORT"
	mkdir -p "$data" "$logs" "$ES_HOME/run"
	if [[ $(id -u) -eq 0 ]]; then
		# The node writes its keystore into config/, its data and logs, and the pid file.
		chown -R "$ES_USER" "$dist/config" "$data" "$logs" "$ES_HOME/run"
		# Every directory above ES_HOME must be traversable by the user.
		local d="$ES_HOME"
		while [[ "$d" != "/" ]]; do
			if ! as_user test -x "$d"; then die "$ES_USER cannot reach $d; set ES_HOME to a world-traversable place"; fi
			d="$(dirname "$d")"
		done
	fi
	rm -f "$pidfile"
	local java_home
	java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
	log "starting Elasticsearch $ver on $url (heap $ES_HEAP, logs in $logs)"
	as_user env ES_JAVA_HOME="$java_home" ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
		"$dist/bin/elasticsearch" -d -p "$pidfile" \
		-Ecluster.name=tlsentry-test \
		-Enode.name=tlsentry-es-"$ES_PORT" \
		-Ediscovery.type=single-node \
		-Enetwork.host=127.0.0.1 \
		-Ehttp.port="$ES_PORT" \
		-Etransport.port=$((ES_PORT + 100)) \
		-Epath.data="$data" \
		-Epath.logs="$logs" \
		-Expack.security.enabled=false \
		-Ecluster.routing.allocation.disk.threshold_enabled=false \
		-Eaction.destructive_requires_name=false \
		>"$logs/stdout.log" 2>&1 || {
		tail -n 50 "$logs/stdout.log" >&2
		die "Elasticsearch did not start"
	}
	local deadline=$((SECONDS + ES_START_TIMEOUT))
	until answers && healthy; do
		if ((SECONDS > deadline)); then
			tail -n 50 "$logs"/*.log >&2 || true
			die "Elasticsearch did not answer within ${ES_START_TIMEOUT}s"
		fi
		if [[ -f "$pidfile" ]] && ! running_pid >/dev/null; then
			tail -n 50 "$logs"/*.log >&2 || true
			die "Elasticsearch exited during start"
		fi
		sleep 1
	done
	log "up after $((SECONDS - deadline + ES_START_TIMEOUT))s"
	echo "$url"
}

stop() {
	local pid
	if ! pid="$(running_pid)"; then
		rm -f "$pidfile"
		return 0
	fi
	log "stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS > deadline)); then
			log "still running after 60s; killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		sleep 0.5
	done
	rm -f "$pidfile"
}

status() {
	if answers; then
		echo "$url"
		return 0
	fi
	log "not answering on $url"
	return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
url) echo "$url" ;;
*)
	echo "usage: $0 start|stop|status|url" >&2
	exit 2
	;;
esac
