#!/bin/bash
# rmmod hmmnic with devices present, one of them in use: the devices go
# away, the user gets IBV_EVENT_DEVICE_FATAL, and the module loads again.
. "$(dirname "$0")/../lib/common.sh"

rdma link add hmmnicv0 type hmmnic netdev veth0
rdma link add hmmnicv1 type hmmnic netdev veth1
out=$(mktemp)
"$HELPERS/hold_context" hmmnicv0 30 >"$out" &
holder=$!
wait_for 10 grep -q ready "$out" || fail "holder did not start"

timeout 30 rmmod hmmnic || fail "rmmod failed or hung"
for d in hmmnic0 hmmnicv0 hmmnicv1; do
	ibdev_gone $d || fail "$d survived rmmod"
done
wait "$holder" || fail "holder: $(cat "$out")"
grep -q 'event local catastrophic error' "$out" || fail "no DEVICE_FATAL: $(cat "$out")"
ibv_devices | grep -q hmmnic && fail "ibv_devices still lists hmmnic devices"

modprobe hmmnic
rdma link add hmmnic0 type hmmnic netdev eth0
ibv_devinfo -d hmmnic0 | grep -q PORT_ACTIVE || fail "hmmnic0 not usable after reload"
log "rmmod removed 3 devices, one in use"

# Unload races: a netdev removed just before rmmod leaves its device's
# unregistration queued in the core, and unregistering the netdev notifier
# replays NETDEV_UNREGISTER for every netdev. rmmod must wait for all of it.
for i in 1 2 3 4 5; do
	ip link add vrmm0 type veth peer name vrmm1
	ip link set vrmm0 up
	ip link set vrmm1 up
	rdma link add hmmnicr0 type hmmnic netdev vrmm0
	rdma link add hmmnicr1 type hmmnic netdev vrmm1
	rdma link add hmmnicv0 type hmmnic netdev veth0
	ip link del vrmm0
	timeout 30 rmmod hmmnic || fail "rmmod $i failed or hung"
	lsmod | grep -q '^hmmnic ' && fail "hmmnic still loaded after rmmod $i"
	modprobe hmmnic
	rdma link add hmmnic0 type hmmnic netdev eth0
done
ibv_devinfo -d hmmnic0 | grep -q PORT_ACTIVE || fail "hmmnic0 not usable after the unload loop"
log "5 unloads with a queued unregistration: no crash"
