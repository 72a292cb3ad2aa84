#!/bin/bash
# The perf harness cannot rot: the short form of perf/run's guest part
# (perf/lib/guest-bench.sh --short: the perftest matrix in every memory
# mode on hmmnic0 and pinned on rxe0, fault-cost, pool-cost, migrate-load)
# runs here, and perf/lib/report.py turns it into the CSV files, goals,
# report and plots. report.py fails on malformed output, on counters that
# disagree with the memory mode of a perftest run (faults where pinned,
# none where cold, faults beyond the prefetched pages where warm), on
# fault-cost figures whose counted and traced faults differ, and on
# migrate-load mismatches; fault-cost and migrate-load check their own
# counters too. Here: the expected rows, goals and plots exist.
# suite-timeout: 900
. "$(dirname "$0")/../lib/common.sh"

out=$(mktemp -d /tmp/perf-harness.XXXXXX)
raw=$out/raw/vm1/results
"$HMMNIC_TOP/perf/lib/guest-bench.sh" "$raw" --short --restore ||
	fail "guest-bench failed"
/usr/bin/python3 "$HMMNIC_TOP/perf/lib/report.py" "$out/raw" "$out/res" ||
	fail "report.py found problems"

rows() { awk -F, -v d="$1" '$2 == d && $10 == "ok"' "$out/res/matrix.csv" | wc -l; }
[ "$(rows hmmnic0)" = 24 ] || fail "$(rows hmmnic0) good hmmnic0 rows, want 24 (2 tools x 2 sizes x 6 modes)"
[ "$(rows rxe0)" = 4 ] || fail "$(rows rxe0) good rxe0 rows, want 4"
for g in P1 P2 P3 P4 P5 P6; do
	awk -F, -v g="$g" '$1 == g && $5 + 0 > 0 { ok = 1 } END { exit !ok }' \
		"$out/res/goals.csv" || fail "goal $g has no ratio"
done
for p in matrix-ib_write_bw matrix-ib_send_lat fault-cost migrate-load; do
	f=$out/res/plots/$p.png
	head -c 8 "$f" 2>/dev/null | od -An -c | grep -q 'P   N   G' ||
		fail "no PNG $p"
done
n=$(($(wc -l <"$out/res/migrate.csv") - 1))
[ "$n" -ge 8 ] || fail "migrate-load wrote $n one-second rows for 10 s"
grep -E '^\| P[1-6]' "$out/res/report.md"
rm -rf "$out"
log "perf harness OK"
