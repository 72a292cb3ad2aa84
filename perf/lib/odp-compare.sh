#!/bin/bash
# In the guest of a kernel whose rxe has ODP (7.x; perf/odp-compare boots
# one): hmmnic's ODP and rxe's ODP measured the same way, one after the
# other, in the same boot.
#
#   perf/lib/odp-compare.sh OUTDIR
#
# For hmmnic0, then rxe0 on the same eth0 (hmmnic0 is deleted first: both
# drivers bind UDP port 4791):
#   - the ODP capabilities ibv_devinfo -v reports;
#   - perftest ib_write_bw, ib_read_bw and ib_send_bw at 64 KiB, pinned
#     and --odp (cold: every page faults on first access), in loopback
#     (perf/lib/matrix.sh);
#   - perf/fault-cost -s cpu,touch,warm: first touch per 4 KiB and per
#     2 MiB page on the responder (WRITE) and the requester (READ) side
#     against a CPU fault, and a warm ODP WRITE against a pinned one (-g
#     for rxe0: no hmmnic counters or tracepoints; hmmnic in its sync mode);
#   - rdma-core's test_odp (pyverbs), with 64 huge pages set up.
# Writes caps-DEV.txt, matrix.csv, fault-DEV.txt, test_odp-DEV.txt and
# summary.md (the side-by-side table) to OUTDIR.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:?usage: odp-compare.sh OUTDIR}
mkdir -p "$out"
rm -f "$out/matrix.csv"

measure() { # DEV [fault-cost flags]
	local dev=$1 w
	shift
	ibv_devinfo -v -d "$dev" | sed -n '/odp_caps\|ODP\|general_odp/,+12p' \
		>"$out/caps-$dev.txt"
	echo "== $dev: perftest"
	"$top/perf/lib/matrix.sh" --dev "$dev" --out "$out/matrix.csv" \
		--tools "ib_write_bw ib_read_bw ib_send_bw" --sizes 65536 \
		--modes "pinned odp-cold" || echo "matrix on $dev failed"
	echo "== $dev: fault-cost"
	"$top/perf/fault-cost" -d "$dev" "$@" -s cpu,touch,warm -p 128 -H 8 -r 3 \
		>"$out/fault-$dev.txt" 2>&1 || echo "fault-cost on $dev failed"
	echo "== $dev: rdma-core test_odp"
	w=$(mktemp -d)
	cp -r /usr/share/doc/rdma-core/tests "$w/"
	find "$w" -name '*.gz' -exec gunzip {} +
	echo 64 >/proc/sys/vm/nr_hugepages
	(cd "$w" && timeout 600 /usr/bin/python3 tests/run_tests.py --dev "$dev" \
		--gid 1 -v tests.test_odp) >"$out/test_odp-$dev.txt" 2>&1
	echo 0 >/proc/sys/vm/nr_hugepages
	rm -rf "$w"
}

measure hmmnic0
rdma link delete hmmnic0
modprobe rdma_rxe && rdma link add rxe0 type rxe netdev eth0 || {
	echo "odp-compare: no rxe0" >&2
	exit 1
}
# its GID 1 (the IPv4-mapped address) appears a moment later
for _ in $(seq 50); do
	[ -n "$(cat /sys/class/infiniband/rxe0/ports/1/gids/1 2>/dev/null |
		grep -v '^0000:0000:0000:0000:0000:0000:0000:0000$')" ] && break
	sleep 0.1
done
measure rxe0 -g
rdma link delete rxe0
modprobe -r rdma_rxe

# The table: p50 first-touch costs, ratios to a CPU fault, bandwidths.
p50() { sed -n "s/^dist name=$2 p50=\([0-9]*\) .*/\1/p" "$out/fault-$1.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }
bw() { awk -F, -v d="$1" -v m="$2" -v t="$3" '$2 == d && $3 == m && $4 == t && $10 == "ok" { print $8; exit }' "$out/matrix.csv"; }
odp_result() {
	local f=$out/test_odp-$1.txt
	printf '%s; %s' "$(grep -E '^Ran ' "$f" | tail -1)" "$(grep -E '^(OK|FAILED)' "$f" | tail -1)"
}
{
	echo "| measure | hmmnic0 | rxe0 | hmmnic0 / rxe0 |"
	echo "| --- | --- | --- | --- |"
	for n in cpu_4k cpu_2m responder_sync_4k requester_4k responder_sync_2m requester_2m \
		 write_1m_warm_odp write_1m_pinned; do
		h=$(p50 hmmnic0 "$n") r=$(p50 rxe0 "$n")
		echo "| $n p50 (ns per page or op) | ${h:--} | ${r:--} | $(ratio "$h" "$r") |"
	done
	for n in responder_sync_4k requester_4k; do
		h=$(p50 hmmnic0 "$n") r=$(p50 rxe0 "$n")
		echo "| $n / cpu_4k | $(ratio "$h" "$(p50 hmmnic0 cpu_4k)") | $(ratio "$r" "$(p50 rxe0 cpu_4k)") | |"
	done
	for n in responder_sync_2m requester_2m; do
		h=$(p50 hmmnic0 "$n") r=$(p50 rxe0 "$n")
		echo "| $n / cpu_2m | $(ratio "$h" "$(p50 hmmnic0 cpu_2m)") | $(ratio "$r" "$(p50 rxe0 cpu_2m)") | |"
	done
	for t in ib_write_bw ib_read_bw ib_send_bw; do
		for m in pinned odp-cold; do
			h=$(bw hmmnic0 "$m" "$t") r=$(bw rxe0 "$m" "$t")
			echo "| $t 64 KiB $m (MB/s) | ${h:--} | ${r:--} | $(ratio "$h" "$r") |"
		done
	done
	echo "| rdma-core test_odp | $(odp_result hmmnic0) | $(odp_result rxe0) | |"
} >"$out/summary.md"
cat "$out/summary.md"
