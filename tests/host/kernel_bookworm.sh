#!/bin/bash
# Lane: Debian 12's stock kernel, the one linux-image-amd64 installs (6.1
# LTS, without CONFIG_DEVICE_PRIVATE). Its headers come from apt-get and
# hmmnic from the host's "dkms install" into the image's module tree, with
# DKMS trees of the lane's own (tests/vm/kernel/debian); the guest boots the stock image with the
# host's root, and "modprobe hmmnic" loads the DKMS-built module. Checks
# that the module reports the pool absent (modinfo and debugfs), then
# runs device creation, the data path, the ODP cases, pingpong, perftest
# and the ODP tools (rdma-core's test_odp among them); the pool tests must
# skip, and say why.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/hmmnic-lane.XXXXXX)
tests=(link_add_delete datapath odp odp_tools pingpong perftest pool pool_tools)
"$top/tests/vm/run" --kernel bookworm --timeout 1500 --out "$out" -- bash -c '
	set -e
	echo "kernel $(uname -r)"
	modinfo -F filename hmmnic | grep -q /updates/dkms/ ||
		{ echo "FAIL: hmmnic is not the DKMS module: $(modinfo -F filename hmmnic)"; exit 1; }
	modinfo -F pool hmmnic
	grep -qx "pool: absent: this kernel was built without CONFIG_DEVICE_PRIVATE" \
		/sys/kernel/debug/hmmnic/features ||
		{ echo "FAIL: the pool is not reported absent"; exit 1; }
	exec tests/suite "$@"' lane "${tests[@]}" | tee "$out/lane.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { echo "FAIL: lane bookworm (vm exit $rc), logs in $out"; exit 1; }
# The pool's tests skip here, and nothing else does.
skipped=$(sed -n 's/^skipped: //p' "$out/lane.log" | tail -n 1)
[ "$skipped" = "pool pool_tools" ] ||
	{ echo "FAIL: lane bookworm skipped '$skipped', want 'pool pool_tools'"; exit 1; }
