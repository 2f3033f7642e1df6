#!/usr/bin/env bash
# Whole-process benchmark of `tlsentry -r` on a large generated capture,
# beside a decode-only baseline (read and decode, nothing else) in the same
# run. Prints packets/s, MB/s, max RSS and the ratio of the two.
#
#   scripts/bench.sh [MB] [WORKERS]      defaults: 600 MB, number of cores
#
# Environment: BENCH_DIR (default /tmp/tlsentry-bench) holds the capture and
# the binary; the capture is reused when it exists with the same size.
# Uses hyperfine when installed (3 runs each), else /usr/bin/time -v (1 run).
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${1:-600}
WORKERS=${2:-$(nproc)}
DIR=${BENCH_DIR:-/tmp/tlsentry-bench}
PCAP=$DIR/large-${MB}mb.pcap
BIN=$DIR/tlsentry
mkdir -p "$DIR"

go build -o "$BIN" ./cmd/tlsentry
if [ ! -s "$PCAP" ]; then
	echo "generating $PCAP ($MB MB) ..." >&2
	go run ./internal/cmd/genlarge -o "$PCAP" -mb "$MB" >&2
fi
SIZE=$(stat -c %s "$PCAP")

# measure CMD...: prints "seconds max_rss_kb" of one run (wall clock)
measure() {
	/usr/bin/time -o "$DIR/time.out" -f '%e %M %U %S' "$@" >/dev/null 2>/dev/null || true
	tail -1 "$DIR/time.out"
}

declare -A SECS RSS CPU
run_case() {
	local name=$1; shift
	if command -v hyperfine >/dev/null; then
		hyperfine --warmup 1 --runs 3 --export-json "$DIR/$name.json" -N "$*" >&2
		SECS[$name]=$(python3 -c "import json;print(json.load(open('$DIR/$name.json'))['results'][0]['mean'])")
		read -r _ r u sy < <(measure "$@")
		RSS[$name]=$r
		CPU[$name]=$(python3 -c "print($u+$sy)")
	else
		"$@" >/dev/null 2>/dev/null || true # warm the page cache
		read -r s r u sy < <(measure "$@")
		SECS[$name]=$s
		RSS[$name]=$r
		CPU[$name]=$(python3 -c "print($u+$sy)")
	fi
}

run_case decode "$BIN" -progress never -decode-only -r "$PCAP"
run_case full "$BIN" -progress never --workers "$WORKERS" -r "$PCAP" -w /dev/null

# packet count from the summary line of one run
PKTS=$("$BIN" -progress never -decode-only -r "$PCAP" 2>&1 >/dev/null | sed -n 's/.*decode only: \([0-9]*\) packets.*/\1/p')
SUMMARY=$("$BIN" -progress never --workers "$WORKERS" -r "$PCAP" -w /dev/null 2>&1 >/dev/null | head -2)

python3 - "$SIZE" "$PKTS" "${SECS[decode]}" "${RSS[decode]}" "${SECS[full]}" "${RSS[full]}" "$WORKERS" "$(nproc)" "${CPU[decode]}" "${CPU[full]}" <<'PY'
import sys
size, pkts = int(sys.argv[1]), int(sys.argv[2])
ds, dr, fs, fr = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
workers, cores = sys.argv[7], sys.argv[8]
dc, fc = float(sys.argv[9]), float(sys.argv[10])
print(f"capture: {size/1e6:.0f} MB, {pkts} packets; {cores} cores, --workers {workers}")
print(f"{'':12} {'wall s':>7} {'Mpkt/s':>7} {'MB/s':>6} {'CPU s':>6} {'MB/CPU-s':>8} {'max RSS MB':>10}")
for name, s, r, c in (("decode-only", ds, dr, dc), ("tlsentry -r", fs, fr, fc)):
    print(f"{name:12} {s:7.2f} {pkts/s/1e6:7.2f} {size/s/1e6:6.0f} {c:6.2f} {size/max(c,0.01)/1e6:8.0f} {r/1024:10.0f}")
print(f"ratio full / decode-only: wall {fs/ds:.2f}, CPU {fc/max(dc,0.01):.2f}")
PY
echo "$SUMMARY"
