#!/bin/bash
# perftest runs unmodified over hmmnic0 in loopback: every bandwidth and
# latency tool completes and reports a result line with non-zero
# figures.
. "$(dirname "$0")/../lib/common.sh"

set +e
for t in ib_write_bw ib_read_bw ib_send_bw ib_atomic_bw \
	 ib_write_lat ib_read_lat ib_send_lat ib_atomic_lat; do
	args=(-d hmmnic0 -x 1 -F -n 200)
	case $t in
	*_bw) [ $t = ib_atomic_bw ] || args+=(-s 65536) ;;
	esac
	pair 120 "$t" "${args[@]}" || fail "$t: $pair_out"
	# a result line starts with the message size
	line=$(echo "$pair_out" | awk '/client/ { c = 1 } c && /^ *[0-9]+ +[0-9]+ +[0-9.]+/ { print; exit }')
	[ -n "$line" ] || fail "$t printed no result: $pair_out"
	# the average bandwidth and the message rate (perftest's peak of a
	# SEND test can read 0.00), or the latencies (min, max, typical): a
	# zero means no data moved or no time was measured
	# (on a -debug kernel 8-byte atomics run below 5,000 a second, which
	# reads 0.00 MB/s: there the message rate alone says whether any moved)
	case $t-$(uname -r) in
	ib_atomic_bw-*-debug*) ok='$5 > 0' ;;
	*_bw-*) ok='$4 > 0 && $5 > 0' ;;
	*) ok='$3 > 0 && $4 > 0 && $5 > 0' ;;
	esac
	echo "$line" | awk "{ exit !($ok) }" || fail "$t reported a zero: $line"
	log "$t: $line"
done
