#!/usr/bin/env bash
# Live capture benchmark: the highest drop-free replay rate of `tlsentry -i`
# on this machine, with 1 and with 2 workers (AF_PACKET fanout sockets).
#
#   sudo scripts/live-bench.sh [MB] [RING_MB]      defaults: 100 MB capture, 32 MiB ring per socket
#
# A generated capture (internal/cmd/genlarge) is replayed with tcpreplay into
# one end of a veth pair in a network namespace made for the run; tlsentry
# captures on the other end. A rate passes when the kernel dropped nothing
# (tlsentry_kernel_drops_total == 0), the sensor read every packet sent, and
# it wrote as many documents as `tlsentry -r` over the same capture. Binary
# search over tcpreplay --pps between 10 kpps and what tcpreplay reaches at
# --topspeed; prints one line per trial and the result per worker count.
#
# Needs root, iproute2, tcpreplay, curl. Environment: BENCH_DIR (default
# /tmp/tlsentry-bench) keeps the capture and the binary between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${1:-100}
RING=${2:-32}
DIR=${BENCH_DIR:-/tmp/tlsentry-bench}
PCAP=$DIR/live-${MB}mb.pcap
BIN=$DIR/tlsentry
NS=tlsentry-bench-$$
ADDR=127.0.0.1:9464
mkdir -p "$DIR"
[ "$(id -u)" = 0 ] || { echo "live-bench: run as root (network namespace, AF_PACKET)" >&2; exit 2; }
for t in ip tcpreplay curl; do command -v $t >/dev/null || { echo "live-bench: $t not installed" >&2; exit 2; }; done

go build -o "$BIN" ./cmd/tlsentry
if [ ! -s "$PCAP" ]; then
	echo "generating $PCAP ($MB MB) ..." >&2
	go run ./internal/cmd/genlarge -o "$PCAP" -mb "$MB" -ipv6 10 >&2
fi
WANT_DOCS=$("$BIN" -r "$PCAP" -progress never -workers 1 2>/dev/null | wc -l)

SENSOR=
cleanup() {
	[ -n "$SENSOR" ] && kill "$SENSOR" 2>/dev/null && wait "$SENSOR" 2>/dev/null
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link add va type veth peer name vb
for d in va vb; do
	ip -n "$NS" link set "$d" mtu 9000
	ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$d.disable_ipv6=1"
done
for d in lo va vb; do ip -n "$NS" link set "$d" up; done

metric() { # metric NAME: the sum of a metric's samples
	ip netns exec "$NS" curl -sf "http://$ADDR/metrics" |
		awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f\n", s }'
}

# trial WORKERS PPS: replays at PPS (or "top"), prints "ok|DROP|LOSS achieved_pps ..."
trial() {
	local w=$1 pps=$2 out=$DIR/live-out.ndjson rate
	rm -f "$out"
	ip netns exec "$NS" "$BIN" -i vb -w "$out" --workers "$w" --ring-size-mb "$RING" \
		--metrics-addr "$ADDR" --stats-interval 0 2>"$DIR/sensor.log" &
	SENSOR=$!
	for _ in $(seq 100); do metric tlsentry_packets_total >/dev/null 2>&1 && break; sleep 0.05; done
	if [ "$pps" = top ]; then rate=--topspeed; else rate=--pps=$pps; fi
	local rep sent achieved
	rep=$(ip netns exec "$NS" tcpreplay -i va $rate "$PCAP" 2>&1)
	sent=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' <<<"$rep")
	achieved=$(sed -n 's/.*Rated: .* \([0-9.]*\) pps.*/\1/p' <<<"$rep")
	# wait until the sensor has read what the kernel delivered
	local read kern drops last=-1
	for _ in $(seq 200); do
		read=$(metric tlsentry_packets_total); kern=$(metric tlsentry_kernel_packets_total)
		drops=$(metric tlsentry_kernel_drops_total)
		[ "$read" = "$((kern - drops))" ] && [ "$read" = "$last" ] && break
		last=$read; sleep 0.1
	done
	kill -TERM "$SENSOR"; wait "$SENSOR" || true; SENSOR=
	local docs; docs=$(wc -l <"$out")
	local verdict=ok
	if [ "$drops" != 0 ]; then verdict=DROP; elif [ "$read" != "$sent" ] || [ "$docs" != "$WANT_DOCS" ]; then verdict=LOSS; fi
	printf '%s %s sent=%s read=%s kernel_drops=%s docs=%s/%s\n' "$verdict" "${achieved%.*}" "$sent" "$read" "$drops" "$docs" "$WANT_DOCS"
}

echo "capture: $PCAP ($(stat -c %s "$PCAP") bytes, $WANT_DOCS documents offline); ring $RING MiB per socket; $(nproc) cores"
declare -A BEST
for w in 1 2; do
	top=$(trial "$w" top)
	echo "workers=$w topspeed: $top"
	max=$(awk '{print $2}' <<<"$top")
	if [[ $top == ok* ]]; then BEST[$w]="$max (tcpreplay's top speed: the sensor was not the limit)"; continue; fi
	lo=10000 hi=$max
	r=$(trial "$w" $lo); echo "workers=$w pps=$lo: $r"
	if [[ $r != ok* ]]; then BEST[$w]="below $lo"; continue; fi
	while [ $((hi - lo)) -gt $((lo / 20)) ]; do # to within 5%
		mid=$(((lo + hi) / 2))
		r=$(trial "$w" $mid); echo "workers=$w pps=$mid: $r"
		if [[ $r == ok* ]]; then lo=$mid; else hi=$mid; fi
	done
	BEST[$w]=$lo
done
echo "highest drop-free replay rate (pps): 1 worker: ${BEST[1]}; 2 workers: ${BEST[2]}"
