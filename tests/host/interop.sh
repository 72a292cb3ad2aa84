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
# One boot of two guests runs the four phases in turn; each side runs the
# same phases in the same order, and each phase creates its devices afresh
# (so the counters printed after it are that phase's).
phases() { # role, then the driver of this side in the two rxe phases
	echo "rc=0; $h $1 $2 --phase rxe1 || rc=1; $h $1 $3 --phase rxe2 || rc=1;" \
		"$h $1 hmmnic --mtu4096 --phase mtu4096 || rc=1;" \
		"$h $1 hmmnic --loss 5 --big --phase loss || rc=1; exit \$rc"
}
run() { "$top/tests/vm/run" --no-build --timeout 1800 "$@"; }

out=$(run --peer "$(phases client rxe hmmnic)" -- bash -c "$(phases server hmmnic rxe)" 2>&1) && rc=0 || rc=$?
echo "$out" | grep -E ': ok|FAILED|counters|average'
[ "$rc" = 0 ] || { echo "$out" | tail -n 60; fail "a phase failed (exit $rc)"; }
# phase rxe1: hmmnic server, rxe client; rxe2: the other way round
echo "$out" | grep -q '^server rxe1.counters: link hmmnic0/1' || fail "rxe1: the server did not use hmmnic"
echo "$out" | grep -q 'peer: client rxe1.counters: link rxe0/1' || fail "rxe1: the client did not use rxe"
echo "$out" | grep -q '^server rxe2.counters: link rxe0/1' || fail "rxe2: the server did not use rxe"
echo "$out" | grep -q 'peer: client rxe2.counters: link hmmnic0/1' || fail "rxe2: the client did not use hmmnic"
[ "$(echo "$out" | grep -c 'received .* packets, .* bytes each on average')" = 2 ] ||
	fail "the path MTU 4096 phase did not report both sides' packet sizes"
retx=$(echo "$out" | grep 'loss.counters:' | grep -o 'retransmits [0-9]*' |
	awk '{ s += $2 } END { print s + 0 }')
[ "$retx" -gt 0 ] || fail "no retransmissions under 5% loss"
echo "interop OK ($retx retransmitted packets under loss)"
