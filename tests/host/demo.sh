#!/bin/bash
# The README's first command, perf/demo, boots the guest, shows hmmnic0
# through rdma, ibv_devices and ibv_devinfo, and prints the short perf
# harness report: perftest tables, fault costs and the goals P1 to P6.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$("$top/perf/demo" 2>&1) || { echo "$out"; fail "perf/demo failed"; }
echo "$out"
grep -q '^link hmmnic0/1 state ACTIVE physical_state LINK_UP netdev eth0' <<<"$out" || fail "no rdma link line"
grep -Eq '^[[:space:]]+hmmnic0[[:space:]]+[0-9a-f]{16}' <<<"$out" || fail "ibv_devices does not list hmmnic0"
grep -q 'state:[[:space:]]*PORT_ACTIVE (4)' <<<"$out" || fail "ibv_devinfo shows no active port"
grep -Eq '^0: hmmnic0: pd [0-9]+ cq [0-9]+ qp [0-9]+' <<<"$out" || fail "no rdma resource line"
for g in P1 P2 P3 P4 P5 P6; do
	grep -Eq "^\| $g \| [^|]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|" <<<"$out" ||
		fail "no figures in the goals row $g"
done
grep -q '^## Fault costs' <<<"$out" || fail "no fault cost table"
grep -q '^## ib_write_bw' <<<"$out" || fail "no perftest table"
[ -s "$top/perf/results/plots/matrix-ib_write_bw.png" ] || fail "no plot"
echo "demo OK"
