#!/bin/bash
# Removing the netdev removes the hmmnic device on it, also while a process
# holds a context, which then sees IBV_EVENT_DEVICE_FATAL.
. "$(dirname "$0")/../lib/common.sh"

for i in 1 2 3; do
	ip link add vrm0 type veth peer name vrm1
	ip link set vrm0 up
	ip link set vrm1 up
	link_add hmmnicrm vrm0
	ibdev_exists hmmnicrm || fail "hmmnicrm missing"
	out=$(mktemp)
	holder=
	if [ "$i" != 1 ]; then
		"$HELPERS/hold_context" hmmnicrm 30 >"$out" &
		holder=$!
		wait_for 10 grep -q ready "$out" || fail "holder did not start"
	fi
	ip link del vrm0
	wait_for 10 ibdev_gone hmmnicrm || fail "hmmnicrm outlived its netdev"
	if [ -n "$holder" ]; then
		wait "$holder" || fail "holder failed: $(cat "$out")"
		grep -q 'event local catastrophic error' "$out" ||
			fail "no DEVICE_FATAL: $(cat "$out")"
		grep -q closed "$out" || fail "holder did not close: $(cat "$out")"
	fi
	ip link show vrm1 >/dev/null 2>&1 && fail "vrm1 outlived its peer"
done
# The netdev name can be reused with a new device.
ip link add vrm0 type veth peer name vrm1
link_add hmmnicrm vrm0
ibdev_exists hmmnicrm || fail "no device on the re-created netdev"
rdma link delete hmmnicrm
ip link del vrm0
log "device follows its netdev away, with and without open contexts"
