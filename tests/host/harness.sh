#!/bin/bash
# The test VM harness catches what it must: a failing test, a kernel
# WARNING in a test that passes, a hung guest; it passes exit codes
# through; a second guest reaches the first over the socket network; and
# stock modules load in the guest with plain modprobe.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
run() { "$top/tests/vm/run" --no-build -q "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# The harness does not depend on the kernel profile, and the debug kernel
# takes minutes per boot under TCG: check it once, on the default kernel.
if [ "${HMMNIC_PROFILE:-default}" != default ]; then
	echo "SKIP: harness self-test runs with the default kernel profile"
	exit 77
fi

# One boot: a suite with a broken test exits 1 and says so; then a test
# that passes but makes the kernel WARN fails, and the run ends with 125.
sel=$top/tests/selftest
out=$(run -- sh -c "'$top/tests/suite' --dir '$sel' passing broken; echo suite-exit=\$?; '$top/tests/suite' --dir '$sel' warns" 2>&1) && rc=0 || rc=$?
echo "$out"
echo "$out" | grep -qx 'suite-exit=1' || fail "suite with a broken test did not exit 1"
echo "$out" | grep -q '^FAIL  broken' || fail "broken test not reported"
echo "$out" | grep -qx '1 passed, 1 failed, 0 skipped' || fail "wrong summary"
echo "$out" | grep -q '^FAIL  warns.*kernel log report' || fail "WARNING not pinned on the test"
[ "$rc" = 125 ] || fail "a guest with a WARNING exited $rc, want 125"

# One boot: stock modules load with plain modprobe and rxe works; and the
# command's exit status (3, reached only if all that worked) comes back.
run -- sh -ec 'rdma link delete hmmnic0; modprobe rdma_rxe; modprobe test_hmm; lsmod | grep -q "^rdma_rxe "; lsmod | grep -q "^test_hmm "; rdma link add rxe0 type rxe netdev eth0; ibv_devices | grep -q rxe0; exit 3' && rc=0 || rc=$?
[ "$rc" = 3 ] || fail "stock modules or rxe do not work in the guest, or exit status 3 came back as $rc"

start=$(date +%s)
run --timeout 30 -- sleep 600 && rc=0 || rc=$?
[ "$rc" = 124 ] || fail "hung guest exited $rc, want 124"
[ $(($(date +%s) - start)) -lt 90 ] || fail "timeout took too long"

# Each guest pings the other, and stays up until both have done so.
b=$top/tests/vm/barrier
# (ping gives up on a peer that is still booting: retry it for up to three
# minutes, then show what the guest's side of the link looks like)
ping2="end=\$((\$(date +%s) + 180)); until ping -q -c 1 -W 1 \$HMMNIC_VM_PEER_ADDR >/dev/null 2>&1; do [ \$(date +%s) -lt \$end ] || { ping -c 1 -W 1 \$HMMNIC_VM_PEER_ADDR; ip -s link show eth0; ip addr show eth0; ip neigh; exit 1; }; done"
run --peer "($ping2) && $b signal peer && $b wait first 240" \
	-- sh -c "($ping2) && $b signal first && $b wait peer 240" ||
	fail "the two guests cannot reach each other"
echo "harness OK"
