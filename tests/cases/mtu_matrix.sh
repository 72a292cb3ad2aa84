#!/bin/bash
# The C data-path, ODP and pool tests at path MTU 256 and 4096
# (HMMNIC_TEST_MTU; their own runs are at 1024, kverbs runs all three):
# every message size around the MTU, multi-packet WRITE, READ and SEND
# into ODP regions being faulted, invalidated, migrated and staged, each
# byte compared by the tests themselves. eth0's MTU is raised to 9000 so
# that the port offers 4096.
# suite-timeout: 900
. "$(dirname "$0")/../lib/common.sh"

trap 'ip link set eth0 mtu 1500; _cleanup_links' EXIT
ip link set eth0 mtu 9000 || fail "cannot set eth0's MTU to 9000"
cases=$HMMNIC_TOP/tests/cases
odp="ops implicit munmap dontneed mremap fork thp shmem migrate rnr busy race_munmap"
pool="read write cpu_write fork munmap evict queue"
for mtu in 256 4096; do
	for t in datapath "odp $odp" "pool $pool"; do
		# shellcheck disable=SC2086
		HMMNIC_TEST_MTU=$mtu "$cases"/$t ||
			fail "${t%% *} at path MTU $mtu"
		log "${t%% *} at path MTU $mtu: ok"
	done
done
