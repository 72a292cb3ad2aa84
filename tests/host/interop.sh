#!/bin/bash
# Two guests on the runner's socket network:
#  - hmmnic talks RoCEv2 to the kernel's rxe, with hmmnic as the server
#    and as the client: RC and UD pingpong (received data checked) and
#    perftest write, read and send bandwidth;
#  - hmmnic to hmmnic with MTU 9000 links and path MTU 4096: every
#    perftest tool (write, read, send and atomic; bw and lat) and the
#    pingpongs, and the received packets are full 4096-byte ones;
#  - hmmnic to hmmnic with netem dropping 5% of the packets on both sides:
#    RC traffic still delivers every byte (ibv_rc_pingpong -c and rping -V
#    check the buffers, rping's through RDMA READ and WRITE; perftest
#    write, read and send complete), and the counters show the
#    retransmissions that took.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "${HMMNIC_PROFILE:-default}" = default ] ||
	{ echo "SKIP: two-guest runs are too slow in the ${HMMNIC_PROFILE} profile"; exit 77; }
h=$top/tests/helpers/two_guest.sh
run() { "$top/tests/vm/run" --no-build --timeout 900 "$@"; }

out=$(run --peer "$h client rxe" -- "$h" server hmmnic 2>&1) ||
	{ echo "$out"; fail "hmmnic server, rxe client"; }
echo "$out" | grep -E ': ok|FAILED'
echo "$out" | grep -q 'peer: client counters: link rxe0/1' || fail "the client did not use rxe"

out=$(run --peer "$h client hmmnic" -- "$h" server rxe 2>&1) ||
	{ echo "$out"; fail "rxe server, hmmnic client"; }
echo "$out" | grep -E ': ok|FAILED'

out=$(run --peer "$h client hmmnic --mtu4096" -- "$h" server hmmnic --mtu4096 2>&1) ||
	{ echo "$out"; fail "path MTU 4096"; }
echo "$out" | grep -E ': ok|FAILED|average'

out=$(run --peer "$h client hmmnic --loss 5 --big" -- "$h" server hmmnic --loss 5 --big 2>&1) ||
	{ echo "$out"; fail "5% loss"; }
echo "$out" | grep -E ': ok|FAILED|counters'
retx=$(echo "$out" | grep -o 'retransmits [0-9]*' | awk '{ s += $2 } END { print s + 0 }')
[ "$retx" -gt 0 ] || fail "no retransmissions under 5% loss"
echo "interop OK ($retx retransmitted packets under loss)"
