#!/bin/bash
# ODP through the ecosystem's own programs on hmmnic0, in loopback:
# ibv_rc_pingpong -o (ODP), -O (implicit ODP) and -P (prefetch), perftest
# --odp for ib_{write,read,send}_{bw,lat}, and rdma-core's test_odp and
# test_fork (pyverbs, /usr/bin/python3) with huge pages configured. Each
# run must fault pages in (page_faults grows), and the rdma-core modules
# must end "OK" with no test skipped except XRC (hmmnic has no XRC).
. "$(dirname "$0")/../lib/common.sh"

set +e
d="-d hmmnic0 -g 1"
grown() { # counter, old value
	local v
	v=$(hw_counter hmmnic0 "$1")
	[ "$v" -gt "$2" ]
}
for o in -o "-o -O" "-o -P" "-o -O -P"; do
	f0=$(hw_counter hmmnic0 page_faults)
	p0=$(hw_counter hmmnic0 page_prefetch)
	# shellcheck disable=SC2086
	pair 60 ibv_rc_pingpong $d $o -n 20 -s 65536 -c ||
		fail "ibv_rc_pingpong $o: $pair_out"
	case $o in
	*-P*) wait_for 5 grown page_prefetch "$p0" ||
		fail "ibv_rc_pingpong $o: page_prefetch did not grow" ;;
	*) wait_for 5 grown page_faults "$f0" ||
		fail "ibv_rc_pingpong $o: page_faults did not grow" ;;
	esac
	log "ibv_rc_pingpong $o -c: ok"
done

for t in ib_write_bw ib_read_bw ib_send_bw ib_write_lat ib_read_lat \
	 ib_send_lat; do
	f0=$(hw_counter hmmnic0 page_faults)
	pair 120 "$t" -d hmmnic0 -x 1 -F --odp -n 200 -s 65536 ||
		fail "$t --odp: $pair_out"
	wait_for 5 grown page_faults "$f0" ||
		fail "$t --odp: page_faults did not grow"
	log "$t --odp: ok"
done

src=/usr/share/doc/rdma-core/tests
[ -f "$src/run_tests.py" ] || skip "rdma-core's tests are not installed"
/usr/bin/python3 -c 'import pyverbs' 2>/dev/null ||
	skip "no pyverbs for /usr/bin/python3"
work=$(mktemp -d)
trap 'rm -rf "$work"; echo 0 >/proc/sys/vm/nr_hugepages; _cleanup_links' EXIT
cp -r "$src" "$work/"
find "$work" -name '*.gz' -exec gunzip {} +
cd "$work" || fail "cd $work"
echo 64 >/proc/sys/vm/nr_hugepages
bad=0
for m in test_odp test_fork; do
	out=$(timeout 600 /usr/bin/python3 tests/run_tests.py --dev hmmnic0 \
	      --gid 1 -v "tests.$m" 2>&1)
	result=$(echo "$out" | grep -E '^(OK|FAILED)' | tail -1)
	log "$m: $(echo "$out" | grep -E '^Ran ' | tail -1), $result"
	echo "$out" | grep -E ' \.\.\. skipped' | sed 's/^/  /'
	if [[ "$result" != OK* ]]; then
		echo "$out" | grep -E '^(FAIL|ERROR):' >&2
		bad=1
	fi
	if echo "$out" | grep ' \.\.\. skipped' | grep -qv xrc; then
		bad=1
		echo "$m: a test other than XRC was skipped" >&2
	fi
done
[ $bad = 0 ] || fail "rdma-core ODP tests failed on hmmnic0"
