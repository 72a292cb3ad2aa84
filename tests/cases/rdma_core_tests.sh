#!/bin/bash
# rdma-core's own pyverbs test suite, as Debian ships it, passes on
# hmmnic0 for the modules the data path covers: device, PD, MR (the
# non-ODP parts), CQ, CQ events, extended CQ, QP, extended QP, atomics,
# shared PD, rdma_cm and addresses. Every module must end "OK", run the
# number of tests docs/testing.md lists, and skip no more than it lists
# there (ODP, DM, MW and features hmmnic does not claim): a case that
# starts skipping is a regression.
. "$(dirname "$0")/../lib/common.sh"

src=/usr/share/doc/rdma-core/tests
# tests/check installs both: missing, they are a setup failure
[ -f "$src/run_tests.py" ] || fail "rdma-core's tests are not installed"
/usr/bin/python3 -c 'import pyverbs' 2>/dev/null || fail "no pyverbs for /usr/bin/python3"

work=$(mktemp -d)
trap 'rm -rf "$work"; _cleanup_links' EXIT
cp -r "$src" "$work/"
find "$work" -name '*.gz' -exec gunzip {} +
cd "$work"

set +e
bad=0
# module, tests it runs, skips allowed (docs/testing.md)
for spec in test_device:22:9 test_pd:4:0 test_mr:27:26 test_cq:4:0 \
	    test_cq_events:2:0 test_cqex:5:1 test_qp:26:10 test_qpex:20:4 \
	    test_atomic:9:2 test_shared_pd:1:1 test_rdmacm:10:10 test_addr:3:0; do
	IFS=: read -r m want_ran max_skip <<<"$spec"
	out=$(timeout 300 /usr/bin/python3 tests/run_tests.py --dev hmmnic0 \
	      --gid 1 -v "tests.$m" 2>&1)
	result=$(echo "$out" | grep -E '^(OK|FAILED)' | tail -1)
	ran=$(echo "$out" | sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' | tail -1)
	skipped=$(echo "$result" | sed -n 's/.*skipped=\([0-9]*\).*/\1/p')
	skipped=${skipped:-0}
	log "$m: ran ${ran:-?} (want $want_ran), skipped $skipped (at most $max_skip), $result"
	if [[ "$result" != OK* ]]; then
		echo "$out" | grep -E '^(FAIL|ERROR):' >&2
		bad=1
	elif [ "${ran:-0}" != "$want_ran" ] || [ "$skipped" -gt "$max_skip" ]; then
		echo "$out" | grep -E 'skipped ' >&2
		bad=1
	fi
done
[ $bad = 0 ] || fail "rdma-core tests failed on hmmnic0"
