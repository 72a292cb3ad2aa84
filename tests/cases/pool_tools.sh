#!/bin/bash
# The pool's observability: the three tracepoints fire while pages are
# staged, evicted and taken back by the CPU (tests/cases/pool.c cases read
# and evict), and perf/pool-state prints the pool, with the debugfs view
# and the rdma statistic view agreeing on every counter.
. "$(dirname "$0")/../lib/common.sh"
require_pool

tr=/sys/kernel/tracing
ev=$tr/events/hmmnic
for e in hmmnic_pool_stage hmmnic_pool_evict hmmnic_pool_migrate_to_ram; do
	[ -d "$ev/$e" ] || fail "no tracepoint $e"
	echo 1 >"$ev/$e/enable"
done
echo >"$tr/trace"
"$HMMNIC_TOP/tests/cases/pool" read evict >/dev/null || fail "pool read evict failed"
for e in hmmnic_pool_stage hmmnic_pool_evict hmmnic_pool_migrate_to_ram; do
	echo 0 >"$ev/$e/enable"
done
trace=$(cat "$tr/trace")
stage=$(echo "$trace" | grep -c 'hmmnic_pool_stage:.*staged=[1-9]' || true)
evict=$(echo "$trace" | grep -c 'hmmnic_pool_evict:.*evicted=[1-9]' || true)
m2r=$(echo "$trace" | grep -c 'hmmnic_pool_migrate_to_ram:.*moved=1' || true)
log "tracepoints: stage $stage, evict $evict, migrate_to_ram $m2r events"
[ "$stage" -ge 1 ] && [ "$evict" -ge 1 ] && [ "$m2r" -ge 64 ] ||
	fail "missing tracepoint events: $(echo "$trace" | tail -n 5)"

out=$("$HMMNIC_TOP/perf/pool-state" hmmnic0) || fail "pool-state failed"
echo "$out"
for c in pool_staged pool_stage_failures pool_evicted pool_migrate_to_ram \
	 pool_hits pool_pages_used pool_pages_free; do
	# once in each view (debugfs first, rdma statistic second), equal
	lines=$(echo "$out" | awk -v c=$c '$1 == c { print $2 }')
	[ "$(echo "$lines" | grep -c .)" = 2 ] ||
		fail "pool-state: $c is not in both views: $(echo $lines)"
	[ "$(echo "$lines" | sort -u | wc -l)" = 1 ] ||
		fail "pool-state: debugfs and rdma statistic differ on $c: $(echo $lines)"
done
[ "$(echo "$out" | awk '$1 == "pool_staged" { print $2; exit }')" -gt 0 ] ||
	fail "pool-state shows nothing staged"
"$HMMNIC_TOP/perf/pool-state" nosuchdev 2>/dev/null && fail "pool-state accepted a missing device"
log "pool-state: both views agree"
