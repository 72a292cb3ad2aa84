#!/bin/bash
# librdmacm programs connect through the kernel's RDMA CM, whose CM MADs
# travel over hmmnic0's GSI QP (QP 1, a kernel UD QP), then move data on
# user-space QPs: rping (every buffer verified), ucmatose (RC) and udaddy
# (UD, through the CM's UD service resolution).
. "$(dirname "$0")/../lib/common.sh"

set +e
a=192.0.2.1
srvcli() {
	local srv=$1 cli=$2 out rc srv_rc
	timeout 60 $srv >/tmp/cm-srv.log 2>&1 &
	local pid=$!
	sleep 2
	out=$(timeout 60 $cli 2>&1)
	rc=$?
	wait "$pid"
	srv_rc=$?
	[ $rc = 0 ] && [ $srv_rc = 0 ] ||
		fail "$cli (status $rc, server status $srv_rc): $out // server: $(cat /tmp/cm-srv.log)"
	log "$cli: ok"
}
srvcli "rping -s -a $a -C 10 -S 4000" "rping -c -a $a -C 10 -S 4000 -V"
srvcli "ucmatose -b $a -C 20" "ucmatose -s $a -C 20"
srvcli "udaddy -b $a -C 20" "udaddy -s $a -C 20"
