#!/bin/bash
# The single-guest part of perf/run, inside a test guest:
#
#   guest-bench.sh OUTDIR [--short] [--restore]
#
# 1. the perftest matrix on hmmnic0 in loopback (matrix-hmmnic.csv),
#    then the cells the goals use (ib_write_bw 64 KiB pinned and ODP
#    warm, ib_send_lat 8 B pinned) GOAL_REPEAT times more, interleaved;
# 2. perf/fault-cost (fault.txt);
# 3. perf/pool-cost with test_hmm loaded (pool.txt);
# 4. perf/migrate-load (migrate.csv, migrate.txt);
# 5. hmmnic0 deleted (both drivers bind UDP port 4791), rxe0 created on
#    the same eth0, and the pinned matrix on it (matrix-rxe.csv), with
#    its goal cells repeated the same way.
# --short runs a small matrix and short runs of the rest (perf/demo uses
# it). --restore deletes rxe0 and creates hmmnic0 again at the end, for a
# caller that runs more tests in the same guest. Progress goes to stdout; a step that fails makes the exit
# status non-zero, but the later steps still run.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:?usage: guest-bench.sh OUTDIR [--short] [--restore]}
shift
short=0 restore=0
while [ $# -gt 0 ]; do
	case $1 in
	--short) short=1; shift ;;
	--restore) restore=1; shift ;;
	*) echo "guest-bench: unknown option $1" >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
rc=0
step() {
	local name=$1 start=$SECONDS
	shift
	echo "== $name"
	if "$@"; then
		echo "== $name: done in $((SECONDS - start)) s"
	else
		echo "== $name: FAILED (status $?)"
		rc=1
	fi
}

if [ $short = 1 ]; then
	mx=(--tools "ib_write_bw ib_send_lat" --sizes "8 65536" --scale 0.25)
	goal_repeat=0
	fc=(-p 64 -H 4 -r 3)
	pc=(-m 4 -r 3 -s 1024)
	ml=(-t 10 -P 2)	# a small pool: eviction runs even on a slow host
else
	mx=()
	goal_repeat=${GOAL_REPEAT:-4}
	fc=(-p 256 -H 16 -r 5)
	pc=(-r 15)
	ml=(-t 60)
fi

rm -f "$out/matrix-hmmnic.csv" "$out/matrix-rxe.csv"
step "perftest matrix on hmmnic0" "$top/perf/lib/matrix.sh" --dev hmmnic0 \
	--out "$out/matrix-hmmnic.csv" "${mx[@]}"
# the goal cells again: each is then the median of 1 + goal_repeat runs
goal_cells() {
	local dev=$1 csv=$2 bwmodes=$3
	[ "$goal_repeat" -gt 0 ] || return 0
	"$top/perf/lib/matrix.sh" --dev "$dev" --out "$csv" \
		--tools ib_write_bw --sizes 65536 --modes "$bwmodes" \
		--repeat "$goal_repeat" &&
	"$top/perf/lib/matrix.sh" --dev "$dev" --out "$csv" \
		--tools ib_send_lat --sizes 8 --modes pinned \
		--repeat "$goal_repeat"
}
step "goal cells on hmmnic0" goal_cells hmmnic0 "$out/matrix-hmmnic.csv" \
	"pinned odp-warm"
fault_cost() { "$top/perf/fault-cost" -d hmmnic0 "${fc[@]}" >"$out/fault.txt"; }
pool_cost() {
	modprobe test_hmm && "$top/perf/pool-cost" -d hmmnic0 "${pc[@]}" >"$out/pool.txt"
}
migrate_load() {
	"$top/perf/migrate-load" -d hmmnic0 -o "$out/migrate.csv" "${ml[@]}" >"$out/migrate.txt"
}
step "fault-cost" fault_cost
cat "$out/fault.txt"
step "pool-cost" pool_cost
grep -E '^(RATIO|BW|STAGE)' "$out/pool.txt"
step "migrate-load" migrate_load
cat "$out/migrate.txt"

echo "== rxe0 instead of hmmnic0"
if rdma link delete hmmnic0 && modprobe rdma_rxe &&
   rdma link add rxe0 type rxe netdev eth0; then
	step "perftest matrix on rxe0" "$top/perf/lib/matrix.sh" --dev rxe0 \
		--modes pinned --out "$out/matrix-rxe.csv" "${mx[@]}"
	step "goal cells on rxe0" goal_cells rxe0 "$out/matrix-rxe.csv" pinned
else
	echo "== rxe setup FAILED"
	rc=1
fi
if [ $restore = 1 ]; then
	# rdma_rxe keeps UDP port 4791 until it is unloaded
	rdma link delete rxe0 2>/dev/null
	modprobe -r rdma_rxe
	rdma link add hmmnic0 type hmmnic netdev eth0 || rc=1
fi
exit $rc
