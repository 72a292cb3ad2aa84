#!/bin/bash
# rdma link add/delete: devices appear in sysfs, rdma and libibverbs, and
# bad requests fail with an error instead of creating anything.
. "$(dirname "$0")/../lib/common.sh"

rdma link show hmmnic0/1 | grep -q 'state ACTIVE physical_state LINK_UP netdev eth0' ||
	fail "hmmnic0/1: $(rdma link show hmmnic0/1)"
ibv_devices | grep -q hmmnic0 || fail "ibv_devices does not list hmmnic0"

link_add hmmnicv0 veth0
link_add hmmnicv1 veth1
for d in hmmnicv0 hmmnicv1; do
	ibdev_exists $d || fail "$d missing from sysfs"
	ibv_devices | grep -q "$d" || fail "ibv_devices does not list $d"
done
rdma link show hmmnicv1/1 | grep -q 'netdev veth1' || fail "hmmnicv1 not on veth1"

# Refusals, each with a clear error and no device created.
! rdma link add hmmnicv0 type hmmnic netdev eth0 2>/dev/null ||
	fail "a second device named hmmnicv0 was accepted"
! rdma link add hmmnicdup type hmmnic netdev veth0 2>/dev/null ||
	fail "a second device on veth0 was accepted"
ibdev_gone hmmnicdup || fail "hmmnicdup exists"
! rdma link add hmmnicx type hmmnic netdev nosuchdev 2>/dev/null ||
	fail "a device on a missing netdev was accepted"
! rdma link add hmmniclo type hmmnic netdev lo 2>/dev/null ||
	fail "a device on lo (not Ethernet) was accepted"
ibdev_gone hmmniclo || fail "hmmniclo exists"
dmesg | grep -q 'lo is not an Ethernet device' || fail "no reason logged for lo"

# Delete: gone everywhere, and the name and netdev are free again.
rdma link delete hmmnicv0
ibdev_gone hmmnicv0 || fail "hmmnicv0 still in sysfs"
ibv_devices | grep -q hmmnicv0 && fail "ibv_devices still lists hmmnicv0"
link_add hmmnicv0 veth0
rdma link delete hmmnicv0
rdma link delete hmmnicv1
! rdma link delete hmmnicv1 2>/dev/null || fail "deleting a deleted device worked"

# Many add/delete cycles leave nothing behind.
for i in $(seq 1 20); do
	rdma link add hmmniccyc type hmmnic netdev veth0
	rdma link delete hmmniccyc
done
ibdev_gone hmmniccyc || fail "hmmniccyc left behind"
log "20 add/delete cycles"
