#!/bin/bash
# configure explains what a kernel lacks: missing options by name and
# purpose, and too-old kernels, instead of failing later in the build.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
kdir=$(grep -o "with-linux=[^' ]*" "$top/config.status" | head -n1 | cut -d= -f2)
[ -f "$kdir/.config" ] || fail "no configured kernel in config.status"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# configure runs in a copy: the checkout itself stays configured.
cp -a "$top" "$tmp/src"
conf() {  # conf KERNEL_DIR OUTPUT: run configure, expecting it to fail
	if (cd "$tmp/src" && ./configure --with-linux="$1") >"$2" 2>&1; then
		cat "$2"
		fail "configure accepted $1"
	fi
	cat "$2"
}

fake() {  # fake DIR RELEASE [OPTION...]: a kernel tree without OPTIONs
	local d=$1 rel=$2
	shift 2
	mkdir -p "$d/include/config"
	cp "$kdir/Makefile" "$d/"
	echo "$rel" >"$d/include/config/kernel.release"
	cp "$kdir/.config" "$d/.config"
	for o in "$@"; do
		sed -i "/^CONFIG_$o=/d" "$d/.config"
	done
}

fake "$tmp/nodp" 6.12.117 DEVICE_PRIVATE HMM_MIRROR
conf "$tmp/nodp" "$tmp/out1"
grep -q 'CONFIG_DEVICE_PRIVATE: the NIC memory pool is MEMORY_DEVICE_PRIVATE' "$tmp/out1" ||
	fail "DEVICE_PRIVATE not explained"
grep -q 'CONFIG_HMM_MIRROR: on-demand paging' "$tmp/out1" || fail "HMM_MIRROR not explained"
grep -q 'CONFIG_ZONE_DEVICE:' "$tmp/out1" && fail "ZONE_DEVICE reported though present"

fake "$tmp/old" 6.1.0-56-amd64
conf "$tmp/old" "$tmp/out2"
grep -q 'hmmnic needs Linux 6.12 or newer' "$tmp/out2" || fail "old kernel not explained"

conf "$tmp/none" "$tmp/out3"
grep -q 'no such directory' "$tmp/out3" || fail "missing directory not explained"
echo "configure explains missing options, old kernels and bad paths"
