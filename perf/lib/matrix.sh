#!/bin/bash
# The perftest matrix, run inside a test guest (perf/run starts it):
#
#   matrix.sh --dev DEV --out CSV [--role local|server|client]
#             [--setup NAME] [--tools "T..."] [--sizes "S..."]
#             [--modes "M..."] [--scale F] [--repeat N]
#
# For every memory mode, tool and message size, runs one perftest server
# and client pair on DEV and appends a CSV row; --repeat N runs the whole
# set N times, interleaved (the report takes the median of a cell's
# rows). --role local runs both in this guest over 127.0.0.1; server
# and client run one side each, in step with the other guest through
# tests/vm/barrier (the client connects to $HMMNIC_VM_PEER_ADDR and
# writes the rows). Modes:
#
#   pinned        plain registration
#   odp-cold      --odp: every page faults in on its first access, inside
#                 the measured iterations (HMMNIC_ODP_MODE=fault)
#   odp-warm      --odp with HMMNIC_ODP_MODE=warm: registration prefetches
#                 and waits, the run takes no fault
#   odp-prefetch  --odp with HMMNIC_ODP_MODE=prefetch: asynchronous
#                 prefetch at registration, racing the first iterations
#   odp-implicit  --odp with HMMNIC_ODP_MODE=implicit: the buffers are
#                 views of the PD's implicit ODP region
#   odp-staged    odp-cold with the NIC-private pool's staging on (the
#                 other ODP modes run with staging off)
#
# The number of iterations shrinks with the message size (about
# 32 MiB per bandwidth run, 8 MiB per latency run, times --scale). Each row
# also carries how much the device's page_faults, page_prefetch,
# pool_staged and pool_hits counters moved during the run (both sides, in
# local role; empty where the device has no such counter).
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
barrier=$top/tests/vm/barrier
dev="" out="" role=local setup=loopback scale=1 repeat=1
tools="ib_write_bw ib_read_bw ib_send_bw ib_write_lat ib_read_lat ib_send_lat"
sizes="8 64 512 4096 65536 262144 1048576"
modes="pinned odp-cold odp-warm odp-prefetch odp-implicit odp-staged"
while [ $# -gt 0 ]; do
	case $1 in
	--dev) dev=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--role) role=$2; shift 2 ;;
	--setup) setup=$2; shift 2 ;;
	--tools) tools=$2; shift 2 ;;
	--sizes) sizes=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	--scale) scale=$2; shift 2 ;;
	--repeat) repeat=$2; shift 2 ;;
	*) echo "matrix: unknown option $1" >&2; exit 2 ;;
	esac
done
[ -n "$dev" ] && [ -n "$out" ] || { echo "matrix: --dev and --out are required" >&2; exit 2; }
case $role in local|server|client) ;; *) echo "matrix: bad role $role" >&2; exit 2 ;; esac

counters="page_faults page_prefetch pool_staged pool_hits"
dbg=/sys/kernel/debug/hmmnic/$dev
if [ "$role" != server ] && [ ! -s "$out" ]; then
	echo "setup,device,mode,tool,size,iterations,metric,value,p99,status,retries,$(echo $counters | tr ' ' ,)" >"$out"
fi

counter() {
	local f=/sys/class/infiniband/$dev/ports/1/hw_counters/$1
	[ -r "$f" ] && cat "$f"
}
# snapshot: the counters, "-" for those the device does not have
snapshot() {
	local c v
	for c in $counters; do
		v=$(counter "$c") || v=-
		printf '%s ' "$v"
	done
}
# deltas "before" "after": comma-separated differences, empty if unknown
deltas() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		n = split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= n; i++)
			printf "%s%s", (i > 1 ? "," : ""), (x[i] == "-" ? "" : y[i] - x[i])
	}'
}

iterations() {
	local tool=$1 size=$2 bytes min max n
	case $tool in
	*_bw) bytes=$((32 << 20)) min=128 max=5000 ;;
	*) bytes=$((8 << 20)) min=32 max=1000 ;;
	esac
	n=$(awk -v b="$bytes" -v s="$size" -v f="$scale" 'BEGIN { printf "%d", b / s * f }')
	[ "$n" -ge "$min" ] || n=$min
	[ "$n" -le "$max" ] || n=$max
	# perftest wants at least 5 latency iterations and tx_depth bw ones
	echo "$n"
}

# mode_setup MODE: sets the perftest flags and environment for a mode.
mode_setup() {
	flags=() odpmode=fault staging=0
	case $1 in
	pinned) ;;
	odp-cold) flags=(--odp) ;;
	odp-warm) flags=(--odp) odpmode=warm ;;
	odp-prefetch) flags=(--odp) odpmode=prefetch ;;
	odp-implicit) flags=(--odp) odpmode=implicit ;;
	odp-staged) flags=(--odp) staging=1 ;;
	*) echo "matrix: unknown mode $1" >&2; exit 2 ;;
	esac
	if [ -w "$dbg/staging" ]; then
		echo "$staging" >"$dbg/staging"
	elif [ "$staging" = 1 ]; then
		echo "matrix: $dev has no staging knob" >&2
		return 1
	fi
}

# result TOOL SIZE OUTPUT: "value p99" from a perftest client's output
result() {
	case $1 in
	*_bw) awk -v s="$2" '$1 == s && NF >= 5 { print $4, ""; exit }' <<<"$3" ;;
	*) awk -v s="$2" '$1 == s && NF >= 8 { print $5, $8; exit }' <<<"$3" ;;
	esac
}

# parse TOOL SIZE: sets val and p99 from $o; fails unless both are numbers
# and val is not 0 (perftest prints inf, nan or 0.00 when its calibration
# of the CPU clock goes wrong, which happens now and then under TCG)
parse() {
	read -r val p99 <<<"$(result "$1" "$2" "$o")"
	[[ $val =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ ${p99:-0} =~ ^[0-9]+(\.[0-9]+)?$ ]] &&
		awk -v v="$val" 'BEGIN { exit !(v > 0) }'
}

step=0
run_one() {
	local mode=$1 tool=$2 size=$3 n cmd status=fail val="" p99="" before after o try
	local retries=0 exits
	n=$(iterations "$tool" "$size")
	cmd=("$tool" -d "$dev" -x 1 -F -s "$size" -n "$n" "${flags[@]}")
	step=$((step + 1))
	case $role in
	local)
		# Up to three tries, but only for perftest's own flakiness:
		# both ends exit 0 and the figure is inf, nan or 0.00 (its
		# clock calibration is not reliable under TCG). A run that
		# fails is a data-path failure and is not tried again. Tries
		# are counted in the retries column.
		for try in 1 2 3; do
			before=$(snapshot)
			HMMNIC_ODP_MODE=$odpmode timeout 600 "${cmd[@]}" >/dev/null 2>&1 &
			sleep 1
			exits=ok
			if o=$(HMMNIC_ODP_MODE=$odpmode timeout 600 "${cmd[@]}" 127.0.0.1 2>&1); then
				wait $! || exits=fail
			else
				exits=fail
				kill $! 2>/dev/null
				wait $!
			fi
			after=$(snapshot)
			[ $exits = ok ] && parse "$tool" "$size" && status=ok
			[ $status = fail ] || break
			echo "matrix: $mode $tool $size, try $try failed:" >&2
			tail -n 5 <<<"$o" >&2
			[ $exits = ok ] || break
			[ "$try" = 3 ] || retries=$((retries + 1))
		done ;;
	server)
		"$barrier" signal "m-$dev-$step"
		HMMNIC_ODP_MODE=$odpmode timeout 600 "${cmd[@]}" >/dev/null 2>&1
		"$barrier" wait "m-$dev-$step.done" 900 || exit 1
		return ;;
	client)
		"$barrier" wait "m-$dev-$step" 900 || exit 1
		sleep 1
		before=$(snapshot)
		o=$(HMMNIC_ODP_MODE=$odpmode timeout 600 "${cmd[@]}" "$HMMNIC_VM_PEER_ADDR" 2>&1) &&
			parse "$tool" "$size" && status=ok
		after=$(snapshot)
		"$barrier" signal "m-$dev-$step.done"
		[ $status = ok ] || { echo "matrix: $mode $tool $size failed:" >&2; tail -n 5 <<<"$o" >&2; } ;;
	esac
	local metric=bw_MBps
	case $tool in *_lat) metric=lat_usec ;; esac
	echo "$setup,$dev,$mode,$tool,$size,$n,$metric,$val,$p99,$status,$retries,$(deltas "$before" "$after")" >>"$out"
	printf 'matrix: %-12s %-12s %-8s %8s %s\n' "$mode" "$tool" "$size" "$val" "$status"
}

for ((r = 0; r < repeat; r++)); do
	for mode in $modes; do
		mode_setup "$mode" || exit 1
		for tool in $tools; do
			for size in $sizes; do
				run_one "$mode" "$tool" "$size"
			done
		done
	done
done
# staging back on, the driver's default
[ ! -w "$dbg/staging" ] || echo 1 >"$dbg/staging"
exit 0
