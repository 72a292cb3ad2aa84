#!/bin/bash
# The two-guest part of perf/run: one side of the perftest matrix between
# two test guests (tests/vm/run --peer), first hmmnic0 to hmmnic0, then
# rxe0 to rxe0 on the same link.
#
#   two-guest.sh server|client OUTDIR [--short]
#
# The client writes matrix-two.csv into OUTDIR.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
barrier=$top/tests/vm/barrier
role=${1:?usage: two-guest.sh server|client OUTDIR [--short]}
out=${2:?usage: two-guest.sh server|client OUTDIR [--short]}
mx=(--sizes "8 512 4096 65536 1048576")
[ "${3:-}" != --short ] || mx=(--tools "ib_write_bw ib_send_lat" --sizes "8 65536" --scale 0.25)
mkdir -p "$out"
[ "$role" = server ] || rm -f "$out/matrix-two.csv"
for _ in $(seq 100); do
	ping -c1 -W1 "$HMMNIC_VM_PEER_ADDR" >/dev/null 2>&1 && break
	sleep 0.2
done
rc=0
"$top/perf/lib/matrix.sh" --role "$role" --setup two-guest --dev hmmnic0 \
	--modes pinned --out "$out/matrix-two.csv" "${mx[@]}" || rc=1
rdma link delete hmmnic0 && modprobe rdma_rxe &&
	rdma link add rxe0 type rxe netdev eth0 || { echo "rxe setup failed"; exit 1; }
"$barrier" signal "rxe-$role"
"$barrier" wait "rxe-$([ "$role" = server ] && echo client || echo server)" 300 || exit 1
"$top/perf/lib/matrix.sh" --role "$role" --setup two-guest --dev rxe0 \
	--modes pinned --out "$out/matrix-two.csv" "${mx[@]}" || rc=1
exit $rc
