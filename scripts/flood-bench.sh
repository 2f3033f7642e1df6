#!/usr/bin/env bash
# Flood benchmark of the memory budget (issue 9): a 300,000-SYN flood and a
# 400,000-half-open-flow flood (SYN + the first 100 bytes of a ClientHello),
# each with 50 real TLS sessions spread through it, read by `tlsentry -r`
# with 1 and 2 workers under /usr/bin/time. Prints peak RSS and how many of
# the real sessions (SNI real-N.example.test) gave a document; fails when
# one is missing or a peak is over its target (250 MB SYN flood, 400 MB
# half-open flood).
#
#   scripts/flood-bench.sh
#
# Environment: FLOOD_DIR (default /tmp/tlsentry-flood) holds the captures
# (reused when present) and the binary; SYN_FLOWS, HALF_FLOWS, REAL set the
# sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${FLOOD_DIR:-/tmp/tlsentry-flood}
SYN_FLOWS=${SYN_FLOWS:-300000}
HALF_FLOWS=${HALF_FLOWS:-400000}
REAL=${REAL:-50}
BIN=$DIR/tlsentry
mkdir -p "$DIR"
go build -o "$BIN" ./cmd/tlsentry

fail=0
# bench MODE FLOWS TARGET_MB
bench() {
	local mode=$1 flows=$2 target=$3
	local pcap=$DIR/$mode-$flows-$REAL.pcap
	if [ ! -s "$pcap" ]; then
		go run ./internal/cmd/genflood -mode "$mode" -flows "$flows" -real "$REAL" -o "$pcap" >&2
	fi
	for workers in 1 2; do
		local docs=$DIR/$mode-w$workers.ndjson
		rm -f "$docs" # -w appends
		/usr/bin/time -o "$DIR/time.out" -f %M "$BIN" -r "$pcap" -workers "$workers" -w "$docs" -progress never 2>"$DIR/stderr.out" || {
			echo "$mode workers=$workers: tlsentry failed:" >&2
			cat "$DIR/stderr.out" >&2
			fail=1
			continue
		}
		local rss_kb found ndocs
		rss_kb=$(tail -1 "$DIR/time.out")
		ndocs=$(wc -l <"$docs")
		found=0
		for ((i = 0; i < REAL; i++)); do
			if grep -q "\"server_name\":\"real-$i.example.test\"" "$docs"; then
				found=$((found + 1))
			fi
		done
		local rss_mb=$((rss_kb / 1024)) verdict=ok
		if [ "$found" -ne "$REAL" ] || [ "$rss_mb" -gt "$target" ]; then
			verdict=FAIL
			fail=1
		fi
		printf '%-9s flows=%-7d workers=%d  peak RSS %4d MB (target %d)  real sessions %d/%d  documents %d  %s\n' \
			"$mode" "$flows" "$workers" "$rss_mb" "$target" "$found" "$REAL" "$ndocs" "$verdict"
	done
}

bench synflood "$SYN_FLOWS" 250
bench halfopen "$HALF_FLOWS" 400
exit $fail
