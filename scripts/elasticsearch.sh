#!/usr/bin/env bash
# Provision and run Elasticsearch instances on 127.0.0.1 for tlsentry's tests.
#
#   scripts/elasticsearch.sh start  [OPTIONS]  fetch (once), unpack, start, wait until every node answers, print the URL(s)
#   scripts/elasticsearch.sh stop   [OPTIONS]  stop the instance's nodes and wait until they are gone
#   scripts/elasticsearch.sh status [OPTIONS]  print the URL(s) and exit 0 if every node answers, exit 1 otherwise
#   scripts/elasticsearch.sh url    [OPTIONS]  print the URL(s), comma-separated
#   scripts/elasticsearch.sh ca     [OPTIONS]  print the CA certificate's path (--secure)
#   scripts/elasticsearch.sh password-file [OPTIONS]  print the path of the file holding the elastic user's password (--secure)
#   scripts/elasticsearch.sh pid    [OPTIONS] --node I   print node I's pid (0-based), exit 1 when it is not running
#
# Options (the same for every command; an instance is named by its first HTTP port):
#   --version V   8 (newest 8.19.x, the default), 9 (ES9_VERSION, below), or an exact X.Y.Z
#   --port P      first HTTP port (default 9200); node I listens on P+I, transport on P+100+I
#   --nodes N     N nodes in one cluster (default 1): discovery.seed_hosts and cluster.initial_master_nodes
#   --secure      security on: TLS on HTTP with a CA this script makes with openssl, the elastic user's
#                 password random and set at start (bootstrap.password); `ca` and `password-file` print
#                 where they are
#   --fresh       delete the nodes' data before starting (only when none of them is running)
#   --heap SIZE   heap per node (default 512m, 384m per node with --nodes > 1)
#
# The distribution is org.elasticsearch.distribution.integ-test-zip:elasticsearch from Maven Central,
# fetched with mvn. It is the minimal distribution Elasticsearch's own integration tests use: of the
# modules only transport-netty4, apm, x-pack-core and x-pack-security (no data-streams, ingest,
# rest-root, ILM...): enough to index, search, use index templates, TLS, users and API keys.
# Maven Central's metadata for this artifact stops at 8.19.x, so 9.x is named exactly (ES9_VERSION);
# not every 9.x patch release is there (on 2026-12-02: 9.2.0, 9.2.4, 9.2.8, 9.3.2, 9.5.0, 9.5.2-4 were;
# 9.2.1-3, 9.2.5-7, 9.3.0-1, 9.3.3-6, 9.4.0-2, 9.5.1, 9.5.5-6, 9.6.0-1, 9.7.0 were not).
#
# Java: 8.19 runs on 17+, 9.x needs 21+. The script takes ES_JAVA_HOME when set, else the oldest JDK
# new enough among JAVA_HOME, the java on PATH and /usr/lib/jvm/* (Debian 12 has only openjdk-17;
# this kind of machine has a Temurin 25 JDK in /usr/lib/jvm/temurin-25-jdk-amd64). Without one it
# fails and says so. Nodes run as the unprivileged user tlsentry-es when started by root
# (Elasticsearch refuses to run as root). Idempotent: start starts only the nodes that are not
# running (so a node killed with kill -9 is brought back by the same start command), stop when
# stopped succeeds. Several instances run side by side (different --port).
#
# Environment:
#   ES_HOME           work directory (default <repo>/.es): distributions, instances (i<port>/)
#   ES_VERSION        exact version for --version 8 (default: newest 8.19.x on Maven Central)
#   ES9_VERSION       exact version for --version 9 (default 9.5.4, the newest 9.x found there)
#   ES_PORT, ES_HEAP  defaults for --port and --heap
#   ES_USER           user to run as when started by root (default tlsentry-es)
#   ES_START_TIMEOUT  seconds to wait for the nodes to answer (default 240)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ES_HOME="${ES_HOME:-$repo/.es}"
ES_USER="${ES_USER:-tlsentry-es}"
ES_START_TIMEOUT="${ES_START_TIMEOUT:-240}"
ES9_VERSION="${ES9_VERSION:-9.5.4}"

log() { echo "elasticsearch.sh[${port:-}]: $*" >&2; }
die() {
	log "$*"
	exit 1
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
version=8 port="${ES_PORT:-9200}" nodes=1 secure=0 fresh=0 heap="${ES_HEAP:-}" node=
while [[ $# -gt 0 ]]; do
	case "$1" in
	--version) version="${2:?--version needs a value}"; shift 2 ;;
	--port) port="${2:?--port needs a value}"; shift 2 ;;
	--nodes) nodes="${2:?--nodes needs a value}"; shift 2 ;;
	--heap) heap="${2:?--heap needs a value}"; shift 2 ;;
	--node) node="${2:?--node needs a value}"; shift 2 ;;
	--secure) secure=1; shift ;;
	--fresh) fresh=1; shift ;;
	*) die "unknown option $1" ;;
	esac
done
[[ "$port" =~ ^[0-9]+$ && "$nodes" =~ ^[1-9]$ ]] || die "bad --port $port or --nodes $nodes"
if [[ -z "$heap" ]]; then
	heap=512m
	((nodes > 1)) && heap=384m
fi
inst="$ES_HOME/i$port"
scheme=http
((secure)) && scheme=https

node_url() { echo "$scheme://127.0.0.1:$((port + $1))"; }
urls() {
	local i out=()
	for ((i = 0; i < nodes; i++)); do out+=("$(node_url "$i")"); done
	local IFS=,
	echo "${out[*]}"
}
pidfile() { echo "$inst/node$1/es.pid"; }

# es_curl calls a node; with --secure it trusts the instance's CA and sends the elastic user's
# password through curl's config on stdin, never on a command line.
es_curl() {
	local i="$1" path="$2"
	shift 2
	if ((secure)); then
		[[ -f "$inst/elastic.password" ]] || return 1
		printf 'user = "elastic:%s"\n' "$(cat "$inst/elastic.password")" |
			curl -fsS -K - --cacert "$inst/ca.crt" "$@" "$(node_url "$i")$path" 2>/dev/null
	else
		curl -fsS "$@" "$(node_url "$i")$path" 2>/dev/null
	fi
}

answers() {
	# The integ-test-zip has no rest-root module (GET / is a 405), so ask for the cluster health.
	es_curl "$1" /_cluster/health --max-time 3 | grep -q '"cluster_name"'
}

healthy() {
	es_curl "$1" "/_cluster/health?wait_for_status=yellow&wait_for_nodes=$nodes&timeout=2s" --max-time 5 |
		grep -Eq '"status":"(green|yellow)"'
}

running_pid() {
	local f pid
	f="$(pidfile "$1")"
	[[ -f "$f" ]] || return 1
	pid="$(cat "$f" 2>/dev/null || true)"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

# java_major prints the feature version of the JDK (or JRE) in $1.
java_major() {
	[[ -x "$1/bin/java" ]] || return 1
	"$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1
}

# find_java prints a Java home of feature version >= $1: ES_JAVA_HOME if set, else the oldest
# such among JAVA_HOME, the java on PATH and /usr/lib/jvm/*.
find_java() {
	local min="$1" best="" bestv=999 c v
	if [[ -n "${ES_JAVA_HOME:-}" ]]; then
		v="$(java_major "$ES_JAVA_HOME" || true)"
		[[ -n "$v" ]] && ((v >= min)) && { echo "$ES_JAVA_HOME"; return 0; }
		die "ES_JAVA_HOME=$ES_JAVA_HOME is Java ${v:-?}; Elasticsearch $ver needs Java $min or newer"
	fi
	local cands=()
	[[ -n "${JAVA_HOME:-}" ]] && cands+=("$JAVA_HOME")
	command -v java >/dev/null && cands+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
	for c in /usr/lib/jvm/*; do [[ -L "$c" ]] || cands+=("$c"); done
	for c in "${cands[@]}"; do
		v="$(java_major "$c" || true)"
		[[ -n "$v" ]] || continue
		if ((v >= min && v < bestv)); then best="$c" bestv="$v"; fi
	done
	[[ -n "$best" ]] || return 1
	echo "$best"
}

need_tools() {
	local missing=()
	command -v curl >/dev/null || missing+=(curl)
	command -v unzip >/dev/null || missing+=(unzip)
	command -v mvn >/dev/null || missing+=(maven)
	command -v openssl >/dev/null || missing+=(openssl)
	if ! command -v java >/dev/null; then missing+=(openjdk-17-jre-headless); fi
	if ((${#missing[@]})); then
		[[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]})"
		log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# fetch leaves the distribution zip in $ES_HOME/dist and prints its path. Called under the lock.
fetch() {
	mkdir -p "$ES_HOME/dist"
	local want range existing mvndir
	case "$version" in
	8)
		want="${ES_VERSION:-}"
		range="[8.19.0,8.20.0)"
		;;
	9) want="$ES9_VERSION" ;;
	[0-9]*.*.*) want="$version" ;;
	*) die "--version $version: want 8, 9 or X.Y.Z" ;;
	esac
	if [[ -n "$want" ]]; then
		# An exact version, not a range "[X.Y.Z]": a range is resolved through Maven's metadata,
		# which does not list 9.x.
		range="$want"
		existing="$ES_HOME/dist/elasticsearch-$want.zip"
		[[ -f "$existing" ]] && { echo "$existing"; return; }
	else
		# Reuse what we have; set ES_VERSION or remove $ES_HOME/dist to pick up a newer patch release.
		existing="$(find "$ES_HOME/dist" -name 'elasticsearch-8.19.*.zip' | sort -V | tail -n 1)"
		[[ -n "$existing" ]] && { echo "$existing"; return; }
	fi
	mvndir="$ES_HOME/mvn-${want:-8.19}"
	mkdir -p "$mvndir"
	cat >"$mvndir/pom.xml" <<EOF
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
	(cd "$mvndir" && mvn -B -q dependency:copy-dependencies -DexcludeTransitive=true \
		-DoutputDirectory="$ES_HOME/dist" >&2) || die "mvn could not fetch elasticsearch ${range}"
	if [[ -n "$want" ]]; then
		existing="$ES_HOME/dist/elasticsearch-$want.zip"
	else
		existing="$(find "$ES_HOME/dist" -name 'elasticsearch-8.19.*.zip' | sort -V | tail -n 1)"
	fi
	[[ -f "$existing" ]] || die "no distribution zip after mvn"
	echo "$existing"
}

# provision fetches and unpacks the distribution (once, under a lock: several instances may start
# at the same time) and sets dist and ver.
provision() {
	mkdir -p "$ES_HOME"
	exec 9>"$ES_HOME/.lock"
	flock 9
	if [[ $(id -u) -eq 0 ]] && ! id "$ES_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir "$ES_HOME" --shell /usr/sbin/nologin "$ES_USER"
	fi
	local zip
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
	flock -u 9
	exec 9>&-
}

# as_user runs a command as the unprivileged user when we are root.
as_user() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$ES_USER" -- "$@"
	else
		"$@"
	fi
}

# make_certs makes the instance's CA and one HTTP certificate for 127.0.0.1/localhost (once).
make_certs() {
	[[ -f "$inst/ca.crt" && -f "$inst/http.crt" && -f "$inst/http.key" ]] && return 0
	log "making a CA and an HTTP certificate with openssl"
	local tmp
	tmp="$(mktemp -d)"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tlsentry test CA $port" \
		-keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$tmp/http.key" -out "$tmp/http.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tmp/ext"
	openssl x509 -req -in "$tmp/http.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
		-days 3650 -extfile "$tmp/ext" -out "$tmp/http.crt" 2>/dev/null
	cp "$tmp/ca.crt" "$tmp/http.crt" "$tmp/http.key" "$inst/"
	rm -rf "$tmp"
}

# configure writes node I's config directory: the distribution's config, an elasticsearch.yml,
# and with --secure the certificates and a keystore holding bootstrap.password.
configure() {
	local i="$1" nd="$inst/node$1"
	rm -rf "$nd/config"
	mkdir -p "$nd/data" "$nd/logs"
	cp -r "$dist/config" "$nd/config"
	local seeds=() masters=() j
	for ((j = 0; j < nodes; j++)); do
		seeds+=("127.0.0.1:$((port + 100 + j))")
		masters+=("node-$port-$j")
	done
	{
		echo "cluster.name: tlsentry-test-$port"
		echo "node.name: node-$port-$i"
		echo "network.host: 127.0.0.1"
		echo "http.port: $((port + i))"
		echo "transport.port: $((port + 100 + i))"
		echo "path.data: $nd/data"
		echo "path.logs: $nd/logs"
		if ((nodes == 1)); then
			echo "discovery.type: single-node"
		else
			(IFS=,; echo "discovery.seed_hosts: [${seeds[*]}]")
			(IFS=,; echo "cluster.initial_master_nodes: [${masters[*]}]")
		fi
		echo "cluster.routing.allocation.disk.threshold_enabled: false"
		echo "action.destructive_requires_name: false"
		if ((secure)); then
			echo "xpack.security.enabled: true"
			echo "xpack.security.http.ssl.enabled: true"
			echo "xpack.security.http.ssl.certificate: certs/http.crt"
			echo "xpack.security.http.ssl.key: certs/http.key"
			echo "xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]"
			echo "xpack.security.authc.api_key.enabled: true"
		else
			echo "xpack.security.enabled: false"
		fi
	} >"$nd/config/elasticsearch.yml"
	if ((secure)); then
		mkdir -p "$nd/config/certs"
		cp "$inst/ca.crt" "$inst/http.crt" "$inst/http.key" "$nd/config/certs/"
	fi
	[[ $(id -u) -eq 0 ]] && chown -R "$ES_USER" "$nd"
	if ((secure)); then
		as_user env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$nd/config" "$dist/bin/elasticsearch-keystore" create >/dev/null
		as_user env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$nd/config" "$dist/bin/elasticsearch-keystore" add -x -f bootstrap.password \
			<"$inst/elastic.password" >/dev/null
	fi
}

start_node() {
	local i="$1" nd="$inst/node$1"
	configure "$i"
	rm -f "$(pidfile "$i")"
	log "starting Elasticsearch $ver node $i on $(node_url "$i") (Java $(java_major "$java_home"), heap $heap, logs in $nd/logs)"
	as_user env ES_JAVA_HOME="$java_home" ES_PATH_CONF="$nd/config" ES_JAVA_OPTS="-Xms$heap -Xmx$heap" \
		"$dist/bin/elasticsearch" -d -p "$(pidfile "$i")" >"$nd/logs/stdout.log" 2>&1 || {
		tail -n 50 "$nd/logs/stdout.log" >&2
		die "Elasticsearch node $i did not start"
	}
}

start() {
	local i all=1 any=0
	for ((i = 0; i < nodes; i++)); do
		if running_pid "$i" >/dev/null; then any=1; else all=0; fi
	done
	if ((all)); then
		for ((i = 0; i < nodes; i++)); do answers "$i" || all=0; done
		if ((all)); then
			urls
			return 0
		fi
	fi
	if ((!any)); then
		for ((i = 0; i < nodes; i++)); do
			if es_curl "$i" /_cluster/health --max-time 3 >/dev/null || curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$((port + i))" ||
				curl -sk --max-time 2 -o /dev/null "https://127.0.0.1:$((port + i))"; then
				die "something else already listens on port $((port + i)); not starting another node there"
			fi
		done
	fi
	need_tools
	provision
	local major="${ver%%.*}" minjava=17
	((major >= 9)) && minjava=21
	if ! java_home="$(find_java "$minjava")"; then
		if ((minjava == 17)) && [[ $(id -u) -eq 0 ]]; then
			apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
			java_home="$(find_java 17)" || die "no Java 17+ after installing openjdk-17-jre-headless"
		else
			die "Elasticsearch $ver needs Java $minjava or newer and none was found (ES_JAVA_HOME, JAVA_HOME, PATH, /usr/lib/jvm/*). Debian 12 has only openjdk-17; install a JDK $minjava+ (Temurin 21 or 25, say) and set ES_JAVA_HOME, or use --version 8"
		fi
	fi
	mkdir -p "$inst"
	if ((!any && fresh)); then
		for ((i = 0; i < nodes; i++)); do rm -rf "$inst/node$i/data"; done
	fi
	if ((secure)); then
		make_certs
		if ((!any)) || [[ ! -s "$inst/elastic.password" ]]; then
			(umask 077 && openssl rand -hex 18 >"$inst/elastic.password")
		fi
	fi
	# The nodes start at once: with -d each start waits until its node is up, and a cluster's
	# first node is up only when enough of the others are there to elect a master.
	local starting=()
	for ((i = 0; i < nodes; i++)); do
		if ! running_pid "$i" >/dev/null; then
			start_node "$i" &
			starting+=($!)
		fi
	done
	for i in "${starting[@]}"; do
		wait "$i" || die "a node did not start"
	done
	local t0=$SECONDS deadline=$((SECONDS + ES_START_TIMEOUT))
	for ((i = 0; i < nodes; i++)); do
		until answers "$i" && healthy "$i"; do
			if ((SECONDS > deadline)); then
				tail -n 50 "$inst/node$i/logs"/*.log >&2 || true
				die "Elasticsearch node $i did not answer within ${ES_START_TIMEOUT}s"
			fi
			if [[ -f "$(pidfile "$i")" ]] && ! running_pid "$i" >/dev/null; then
				tail -n 50 "$inst/node$i/logs"/*.log >&2 || true
				die "Elasticsearch node $i exited during start"
			fi
			sleep 1
		done
	done
	log "up after $((SECONDS - t0))s: $(urls)"
	urls
}

stop() {
	local i pid pids=()
	for ((i = 0; i < nodes; i++)); do
		if pid="$(running_pid "$i")"; then
			log "stopping node $i (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	local deadline=$((SECONDS + 60))
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null; do
			if ((SECONDS > deadline)); then
				log "pid $pid still running after 60s; killing"
				kill -KILL "$pid" 2>/dev/null || true
			fi
			sleep 0.5
		done
	done
	for ((i = 0; i < nodes; i++)); do rm -f "$(pidfile "$i")"; done
}

status() {
	local i ok=1
	for ((i = 0; i < nodes; i++)); do
		if ! answers "$i"; then
			log "node $i not answering on $(node_url "$i")"
			ok=0
		fi
	done
	((ok)) || return 1
	urls
}

case "$cmd" in
start) start ;;
stop) stop ;;
status) status ;;
url) urls ;;
ca) echo "$inst/ca.crt" ;;
password-file) echo "$inst/elastic.password" ;;
pid)
	[[ "$node" =~ ^[0-9]+$ ]] || die "pid needs --node I"
	running_pid "$node"
	;;
*)
	echo "usage: $0 start|stop|status|url|ca|password-file|pid [--version 8|9|X.Y.Z] [--port P] [--nodes N] [--secure] [--fresh] [--heap SIZE] [--node I]" >&2
	exit 2
	;;
esac
