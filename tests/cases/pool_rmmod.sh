#!/bin/bash
# rmmod with staged pages loses no data: a process stages 64 pages of a
# pattern into hmmnic0's pool and waits; rmmod hmmnic moves every staged
# page back to system memory before the pool goes; the process then reads
# its pattern back with the CPU (tests/cases/pool.c --hold). The same for
# "rdma link delete".
. "$(dirname "$0")/../lib/common.sh"
require_pool

run_hold() { # how: rmmod or delete
	local ready out pid
	ready=$(mktemp -u) out=$(mktemp)
	"$HMMNIC_TOP/tests/cases/pool" --hold "$ready" >"$out" 2>&1 &
	pid=$!
	wait_for 60 test -e "$ready" || fail "holder did not stage: $(cat "$out")"
	local used
	used=$(hw_counter hmmnic0 pool_pages_used)
	[ "$used" -ge 64 ] || fail "pool_pages_used $used with 64 pages staged"
	if [ "$1" = rmmod ]; then
		timeout 60 rmmod hmmnic || fail "rmmod failed or hung"
	else
		timeout 60 rdma link delete hmmnic0 || fail "link delete failed or hung"
	fi
	ibdev_gone hmmnic0 || fail "hmmnic0 survived $1"
	kill -USR1 "$pid"
	wait "$pid" || fail "holder after $1: $(cat "$out")"
	log "$1: $(grep hold: "$out")"
	rm -f "$ready" "$out"
	modprobe hmmnic
	rdma link add hmmnic0 type hmmnic netdev eth0
	wait_for 10 sh -c 'ibv_devinfo -d hmmnic0 | grep -q PORT_ACTIVE' ||
		fail "hmmnic0 not usable again"
}
run_hold rmmod
run_hold delete
