#!/bin/bash
# hmmnic loads and unloads cleanly, and "rdma link add" loads it on demand
# (request_module through the rdma-link-hmmnic alias).
. "$(dirname "$0")/../lib/common.sh"

rdma link delete hmmnic0
rmmod hmmnic
lsmod | grep -q '^hmmnic ' && fail "hmmnic still loaded after rmmod"
modinfo hmmnic | grep -q 'alias: *rdma-link-hmmnic' || fail "no rdma-link alias"

for i in 1 2 3; do
	modprobe hmmnic
	lsmod | grep -q '^hmmnic ' || fail "modprobe did not load hmmnic"
	modprobe -r hmmnic
done
log "3 load/unload cycles"

# The core asks for the module itself when the link type is unknown.
link_add hmmnicauto eth0
lsmod | grep -q '^hmmnic ' || fail "link add did not load hmmnic"
ibdev_exists hmmnicauto || fail "hmmnicauto missing"
[ "$(cat /sys/class/infiniband_verbs/uverbs*/ibdev | grep -c hmmnicauto)" = 1 ] ||
	fail "no uverbs device for hmmnicauto"
abi=$(cat "$(grep -l hmmnicauto /sys/class/infiniband_verbs/uverbs*/ibdev | xargs dirname)/abi_version")
[ "$abi" = 1 ] || fail "uverbs abi_version $abi, want 1"
log "module loaded on demand, ABI version $abi"
