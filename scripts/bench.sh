#!/usr/bin/env bash
# Whole-process benchmark of `tlsentry -r` on two generated workloads, beside
# a decode-only baseline (read and decode, nothing else) and nDPI
# (`ndpiReader -i FILE -q`, Debian libndpi-bin) on the same files:
#
#   handshake  genlarge -mode handshake: 50,000 TLS connections, 1 KB each way (~270 MB)
#   bulk       genlarge (bulk mode): handshakes then bulk data (600 MB)
#
# Cases per workload: decode-only, ndpiReader, tlsentry --workers 1 and
# --workers 2, run in turn (alternating) for ROUNDS rounds after one warm-up
# of each; prints the medians of wall, CPU (user+sys) and max RSS, and the
# ratios issue #10 sets targets for.
#
#   scripts/bench.sh                      (the real run: ≥ 250 MB per workload)
#   HS_CONNS=5000 BULK_MB=60 ROUNDS=1 scripts/bench.sh   (a quick look)
#
# Environment: BENCH_DIR (default /tmp/tlsentry-bench) holds the captures
# and the binary; a capture is reused when it exists. WORKLOADS="handshake
# bulk" picks the workloads. Without ndpiReader its rows and ratios are left
# out (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

HS_CONNS=${HS_CONNS:-50000}
BULK_MB=${BULK_MB:-600}
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-handshake bulk}
DIR=${BENCH_DIR:-/tmp/tlsentry-bench}
BIN=$DIR/tlsentry
mkdir -p "$DIR"

go build -o "$BIN" ./cmd/tlsentry
NDPI=$(command -v ndpiReader || true)
[ -n "$NDPI" ] || echo "bench: ndpiReader not found (apt-get install libndpi-bin): nDPI left out" >&2

capture() { # capture WORKLOAD: prints the path, generating it when missing
	local p
	case $1 in
	handshake)
		p=$DIR/handshake-${HS_CONNS}.pcap
		[ -s "$p" ] || go run ./internal/cmd/genlarge -mode handshake -conns "$HS_CONNS" -o "$p" >&2
		;;
	bulk)
		p=$DIR/bulk-${BULK_MB}mb.pcap
		[ -s "$p" ] || go run ./internal/cmd/genlarge -mb "$BULK_MB" -o "$p" >&2
		;;
	*)
		echo "bench: unknown workload $1" >&2
		exit 2
		;;
	esac
	echo "$p"
}

# once NAME PCAP: one run of case NAME; appends "wall cpu rss_kb" to $DIR/NAME.runs
once() {
	local name=$1 pcap=$2 cmd
	case $name in
	decode) cmd=("$BIN" -progress never -decode-only -r "$pcap") ;;
	ndpi) cmd=("$NDPI" -i "$pcap" -q) ;;
	w1) cmd=("$BIN" -progress never --workers 1 -r "$pcap" -w /dev/null) ;;
	w2) cmd=("$BIN" -progress never --workers 2 -r "$pcap" -w /dev/null) ;;
	esac
	/usr/bin/time -o "$DIR/time.out" -f '%e %U %S %M' "${cmd[@]}" >/dev/null 2>"$DIR/$name.err" ||
		{ echo "bench: $name failed:" >&2; tail -3 "$DIR/$name.err" >&2; exit 1; }
	read -r e u s m <"$DIR/time.out"
	echo "$e $(python3 -c "print($u+$s)") $m" >>"$DIR/$name.runs"
}

for wl in $WORKLOADS; do
	PCAP=$(capture "$wl")
	cases=(decode w1 w2)
	[ -n "$NDPI" ] && cases=(decode ndpi w1 w2)
	for c in "${cases[@]}"; do
		rm -f "$DIR/$c.runs"
		once "$c" "$PCAP" # warm-up (page cache), not counted
		rm -f "$DIR/$c.runs"
	done
	for ((r = 1; r <= ROUNDS; r++)); do
		for c in "${cases[@]}"; do
			once "$c" "$PCAP"
		done
	done
	# The replay's own summary line (grep, not head: closing the pipe early
	# would kill the replay and, with pipefail, the script).
	SUMMARY=$("$BIN" -progress never --workers 1 -r "$PCAP" -w /dev/null 2>&1 >/dev/null | grep ' packets, ' || true)
	python3 - "$wl" "$PCAP" "$(stat -c %s "$PCAP")" "$DIR" "$ROUNDS" "$(nproc)" "${cases[@]}" <<'PY'
import statistics, sys
wl, pcap, size, d, rounds, cores, cases = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:]
names = {"decode": "decode-only", "ndpi": "ndpiReader -q", "w1": "tlsentry -w1", "w2": "tlsentry -w2"}
med = {}
for c in cases:
    runs = [tuple(map(float, l.split())) for l in open(f"{d}/{c}.runs")]
    med[c] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
print(f"\n{wl}: {pcap}, {size/1e6:.0f} MB; {cores} cores; medians of {rounds} alternating rounds")
print(f"{'':15} {'wall s':>7} {'CPU s':>7} {'MB/s':>7} {'max RSS MB':>10}")
for c in cases:
    w, cpu, rss = med[c]
    print(f"{names[c]:15} {w:7.2f} {cpu:7.2f} {size/max(w,1e-3)/1e6:7.0f} {rss/1024:10.0f}")
w1, w2, dec = med["w1"], med["w2"], med["decode"]
r = []
if "ndpi" in med:
    n = med["ndpi"]
    r.append(f"CPU tlsentry-w1/nDPI {w1[1]/n[1]:.2f} (target <= 0.33)")
    r.append(f"wall tlsentry-w2/nDPI {w2[0]/n[0]:.2f} (target <= 0.20)")
r.append(f"throughput vs decode-only: w1 {dec[0]/w1[0]:.2f}, w2 {dec[0]/w2[0]:.2f} (targets: handshake >= 0.40, bulk w1 >= 0.75)")
r.append(f"wall w2/w1 {w2[0]/w1[0]:.2f} (target <= 0.65)")
r.append(f"max RSS w1 {w1[2]/1024:.0f} MB, w2 {w2[2]/1024:.0f} MB (target <= 100)")
print("ratios: " + "\n        ".join(r))
PY
	echo "$SUMMARY"
done
