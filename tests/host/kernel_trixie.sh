#!/bin/bash
# Lane: the newest stock kernel Debian packages (trixie-backports'
# linux-image-amd64, 7.x, with CONFIG_DEVICE_PRIVATE), booted with a
# Debian 13 root (debootstrap; gcc 14, rdma-core 56.1, perftest) in which
# hmmnic is installed with that root's DKMS and the provider with
# configure, make, make install (tests/vm/kernel/debian). Checks that the
# module is the DKMS one and has its pool, then runs the data path, the
# ODP cases, the pool cases, pingpong, perftest and the ODP tools
# (rdma-core 56.1's test_odp among them). Nothing may skip.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/hmmnic-lane.XXXXXX)
tests=(datapath odp odp_tools pool pool_tools pingpong perftest)
"$top/tests/vm/run" --kernel trixie-backports --timeout 1800 --out "$out" -- bash -c '
	set -e
	echo "kernel $(uname -r), Debian $(cat /etc/debian_version)"
	modinfo -F filename hmmnic | grep -q /updates/dkms/ ||
		{ echo "FAIL: hmmnic is not the DKMS module: $(modinfo -F filename hmmnic)"; exit 1; }
	grep -qx "pool: yes" /sys/kernel/debug/hmmnic/features ||
		{ echo "FAIL: the pool is not there"; exit 1; }
	grep -qx "pool_thp: yes" /sys/kernel/debug/hmmnic/features ||
		{ echo "FAIL: the pool cannot stage THPs whole"; exit 1; }
	# THPs staged whole at path MTU 256 and 4096, and on the network
	# path (the suite'"'"'s pool case covers 1024 through the short cut)
	ip link set eth0 mtu 9000
	for m in 256 4096; do
		HMMNIC_TEST_MTU=$m tests/cases/pool thp ||
			{ echo "FAIL: pool thp at path MTU $m"; exit 1; }
	done
	ip link set eth0 mtu 1500
	echo N >/sys/module/hmmnic/parameters/local_shortcut
	tests/cases/pool thp || { echo "FAIL: pool thp on the network path"; exit 1; }
	echo Y >/sys/module/hmmnic/parameters/local_shortcut
	exec tests/suite "$@"' lane "${tests[@]}" | tee "$out/lane.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { echo "FAIL: lane trixie-backports (vm exit $rc), logs in $out"; exit 1; }
! grep -q '^skipped: ' "$out/lane.log" ||
	{ echo "FAIL: lane trixie-backports skipped $(sed -n 's/^skipped: //p' "$out/lane.log")"; exit 1; }
