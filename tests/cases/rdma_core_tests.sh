#!/bin/bash
# rdma-core's own pyverbs test suite, as Debian ships it, passes on
# hmmnic0 for the modules the data path covers: device, PD, MR (the
# non-ODP parts), CQ, CQ events, extended CQ, QP, extended QP, atomics,
# shared PD, rdma_cm and addresses. Every module must end "OK" (skips
# are allowed: ODP, DM, MW and features hmmnic does not claim).
. "$(dirname "$0")/../lib/common.sh"

src=/usr/share/doc/rdma-core/tests
[ -f "$src/run_tests.py" ] || skip "rdma-core's tests are not installed"
/usr/bin/python3 -c 'import pyverbs' 2>/dev/null || skip "no pyverbs for /usr/bin/python3"

work=$(mktemp -d)
trap 'rm -rf "$work"; _cleanup_links' EXIT
cp -r "$src" "$work/"
find "$work" -name '*.gz' -exec gunzip {} +
cd "$work"

set +e
bad=0
for m in test_device test_pd test_mr test_cq test_cq_events test_cqex \
	 test_qp test_qpex test_atomic test_shared_pd test_rdmacm test_addr; do
	out=$(timeout 300 /usr/bin/python3 tests/run_tests.py --dev hmmnic0 \
	      --gid 1 -v "tests.$m" 2>&1)
	result=$(echo "$out" | grep -E '^(OK|FAILED)' | tail -1)
	log "$m: $(echo "$out" | grep -E '^Ran ' | tail -1), $result"
	if [[ "$result" != OK* ]]; then
		echo "$out" | grep -E '^(FAIL|ERROR):' >&2
		bad=1
	fi
done
[ $bad = 0 ] || fail "rdma-core tests failed on hmmnic0"
