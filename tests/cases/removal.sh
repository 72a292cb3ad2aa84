#!/bin/bash
# Device removal in the middle of ODP traffic: a process runs RDMA WRITE
# and READ on an ODP region whose pages are staged in hmmnic0's pool
# (tests/cases/mm --traffic); "rdma link delete hmmnic0", then rmmod,
# while it runs. Neither hangs; the process sees its work requests fail
# and IBV_EVENT_DEVICE_FATAL, and finds every byte that a completed WRITE
# put into the region, the staged pages back in system memory.
. "$(dirname "$0")/../lib/common.sh"

remove_under_traffic() { # how: delete or rmmod
	local ready out pid
	ready=$(mktemp -u) out=$(mktemp)
	"$HMMNIC_TOP/tests/cases/mm" --traffic "$ready" >"$out" 2>&1 &
	pid=$!
	wait_for 60 test -e "$ready" || fail "no traffic: $(cat "$out")"
	sleep 1
	if [ "$1" = rmmod ]; then
		timeout 60 rmmod hmmnic || fail "rmmod failed or hung"
	else
		timeout 60 rdma link delete hmmnic0 || fail "link delete failed or hung"
	fi
	ibdev_gone hmmnic0 || fail "hmmnic0 survived $1"
	timeout 60 tail --pid="$pid" -f /dev/null || fail "the process hung after $1"
	wait "$pid" || fail "after $1: $(cat "$out")"
	log "$1: $(grep traffic: "$out")"
	rm -f "$ready" "$out"
	modprobe hmmnic
	ibdev_exists hmmnic0 || rdma link add hmmnic0 type hmmnic netdev eth0
	wait_for 10 sh -c 'ibv_devinfo -d hmmnic0 | grep -q PORT_ACTIVE' ||
		fail "hmmnic0 not usable again"
}
remove_under_traffic delete
remove_under_traffic rmmod
