#!/bin/bash
# The README's first command, perf/demo, boots the guest, shows hmmnic0
# through rdma, ibv_devices and ibv_devinfo, and prints the short perf
# harness report: perftest tables, fault costs and the goals P1 to P6.
# It is also the perf harness's own test, so the harness cannot rot: the
# short guest part (perf/lib/guest-bench.sh --short: the perftest matrix in
# every memory mode on hmmnic0 and pinned on rxe0, fault-cost, pool-cost,
# migrate-load) ran, and perf/lib/report.py, which fails on malformed
# output, on counters that disagree with the memory mode of a perftest run
# and on fault-cost or migrate-load mismatches, turned it into the CSV
# files, goals, report and plots checked here.
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
res=$top/perf/results
rows() { awk -F, -v d="$1" '$2 == d && $10 == "ok"' "$res/matrix.csv" | wc -l; }
[ "$(rows hmmnic0)" = 24 ] || fail "$(rows hmmnic0) good hmmnic0 rows, want 24 (2 tools x 2 sizes x 6 modes)"
[ "$(rows rxe0)" = 4 ] || fail "$(rows rxe0) good rxe0 rows, want 4"
for g in P1 P2 P3 P4 P5 P6; do
	awk -F, -v g="$g" '$1 == g && $5 + 0 > 0 { ok = 1 } END { exit !ok }' \
		"$res/goals.csv" || fail "goal $g has no ratio"
done
for p in matrix-ib_write_bw matrix-ib_send_lat fault-cost migrate-load; do
	head -c 8 "$res/plots/$p.png" 2>/dev/null | od -An -c | grep -q 'P   N   G' ||
		fail "no PNG $p"
done
n=$(($(wc -l <"$res/migrate.csv") - 1))
[ "$n" -ge 8 ] || fail "migrate-load wrote $n one-second rows for 10 s"
echo "demo OK"
