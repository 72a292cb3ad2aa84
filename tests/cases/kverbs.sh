#!/bin/bash
# Kernel verbs only a kernel consumer can use: fast registration
# (IB_WR_REG_MR), IB_WR_LOCAL_INV and SEND with Invalidate. The test module
# tests/kmod/hmmnic_ktest.ko runs its cases on hmmnic0 when it is loaded
# (data compared byte for byte, completion status and order checked); this
# script loads it at path MTU 256, 1024 and 4096 (eth0's MTU raised for
# 4096), reports its cases and checks the port counters moved.
. "$(dirname "$0")/../lib/common.sh"

ko=$HMMNIC_TOP/tests/kmod/hmmnic_ktest.ko
[ -f "$ko" ] || fail "$ko is not built"
c() { hw_counter hmmnic0 "$1"; }
trap 'ip link set eth0 mtu 1500; _cleanup_links' EXIT

for mtu in 256 1024 4096; do
	[ "$mtu" = 4096 ] && { ip link set eth0 mtu 9000 || fail "eth0 mtu 9000"; }
	f0=$(c fast_reg) l0=$(c local_invalidate) r0=$(c remote_invalidate)
	mark="hmmnic_ktest start $$ $mtu"
	echo "$mark" >/dev/kmsg
	rc=0
	insmod "$ko" dev=hmmnic0 mtu="$mtu" || rc=$?
	out=$(dmesg | sed -n "/$mark/,\$p" | grep -o 'hmmnic_ktest: .*' || true)
	rmmod hmmnic_ktest 2>/dev/null || true
	echo "path MTU $mtu:"
	echo "$out"
	[ "$rc" = 0 ] || fail "hmmnic_ktest mtu=$mtu failed (insmod status $rc)"
	echo "$out" | grep -q '^hmmnic_ktest: [1-9][0-9]* passed, 0 failed$' ||
		fail "no summary from hmmnic_ktest mtu=$mtu"
	sleep 0.2	# the core caches counters for a few ms
	f1=$(c fast_reg) l1=$(c local_invalidate) r1=$(c remote_invalidate)
	log "fast_reg +$((f1 - f0)) local_invalidate +$((l1 - l0)) remote_invalidate +$((r1 - r0))"
	# what the cases execute successfully: 11 registrations, 5 local
	# invalidations, 1 remote invalidation (the failed ones do not count)
	[ $((f1 - f0)) = 11 ] || fail "fast_reg moved by $((f1 - f0)), expected 11"
	[ $((l1 - l0)) = 5 ] || fail "local_invalidate moved by $((l1 - l0)), expected 5"
	[ $((r1 - r0)) = 1 ] || fail "remote_invalidate moved by $((r1 - r0)), expected 1"
done
