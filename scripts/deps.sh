#!/usr/bin/env bash
# Installs what building and testing tlsentry needs on a fresh Debian machine.
# Idempotent: installs only what is missing. Needs root for apt-get.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in libpcap-dev tshark tcpreplay iproute2 unzip curl ca-certificates time openssl libndpi-bin; do
	have_pkg "$pkg" || need+=("$pkg")
done
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)

# Elasticsearch 9.x (scripts/elasticsearch.sh --version 9) needs Java 21+. Debian 12 has only
# openjdk-17; where Debian has a newer one, install it, else a JDK 21+ must be in /usr/lib/jvm (this
# kind of machine has Temurin 25 there) or ES_JAVA_HOME, and elasticsearch.sh says so when it is not.
java21() {
	local j v
	for j in ${ES_JAVA_HOME:-} /usr/lib/jvm/*; do
		[ -x "$j/bin/java" ] || continue
		v=$("$j/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
		[ -n "$v" ] && [ "$v" -ge 21 ] && return 0
	done
	return 1
}
if ! java21; then
	for pkg in openjdk-25-jre-headless openjdk-21-jre-headless; do
		if apt-cache show "$pkg" >/dev/null 2>&1; then
			need+=("$pkg")
			break
		fi
	done
fi

if ((${#need[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${need[*]} (run as root, or apt-get install them)" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# tshark asks whether non-root users may capture; answer no, non-interactively.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download
