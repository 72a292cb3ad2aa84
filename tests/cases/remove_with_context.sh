#!/bin/bash
# "rdma link delete" of a device that processes still use: the delete
# completes, every holder gets IBV_EVENT_DEVICE_FATAL and can clean up.
. "$(dirname "$0")/../lib/common.sh"

outs=()
pids=()
for i in 1 2 3; do
	out=$(mktemp)
	"$HELPERS/hold_context" hmmnic0 30 >"$out" &
	pids+=($!)
	outs+=("$out")
done
for out in "${outs[@]}"; do
	wait_for 10 grep -q ready "$out" || fail "holder did not start"
done
[ "$(rdma resource show hmmnic0 | sed -n 's/.* pd \([0-9]*\).*/\1/p')" -ge 3 ] ||
	fail "PDs of the holders not tracked: $(rdma resource show hmmnic0)"

timeout 20 rdma link delete hmmnic0 || fail "delete hung or failed"
ibdev_gone hmmnic0 || fail "hmmnic0 still there"
for i in 0 1 2; do
	wait "${pids[$i]}" || fail "holder $i: $(cat "${outs[$i]}")"
	grep -q 'event local catastrophic error' "${outs[$i]}" ||
		fail "holder $i saw no DEVICE_FATAL: $(cat "${outs[$i]}")"
done
rdma link add hmmnic0 type hmmnic netdev eth0
ibv_devinfo -d hmmnic0 >/dev/null || fail "hmmnic0 unusable after re-creation"
log "3 holders released on delete"
