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

fake "$tmp/nohmm" 6.12.117 DEVICE_PRIVATE HMM_MIRROR
conf "$tmp/nohmm" "$tmp/out1"
grep -q 'CONFIG_HMM_MIRROR: on-demand paging' "$tmp/out1" || fail "HMM_MIRROR not explained"
grep -q 'CONFIG_DEVICE_PRIVATE:' "$tmp/out1" &&
	fail "DEVICE_PRIVATE reported as needed (only the pool needs it)"

fake "$tmp/old" 5.19.0-1-amd64
conf "$tmp/old" "$tmp/out2"
grep -q 'hmmnic needs Linux 6.1 or newer' "$tmp/out2" || fail "old kernel not explained"

# Debian 12's stock kernel (its headers, as tests/setup installs them):
# accepted, with the pool reported absent and the probes' answers shown.
kver=$("$top/tests/vm/kernel/debian" --prepare-only bookworm | xargs -I{} cat {}/kver)
(cd "$tmp/src" && ./configure --with-linux="/lib/modules/$kver/build") >"$tmp/out6" 2>&1 ||
	{ cat "$tmp/out6"; fail "configure refused Debian's $kver"; }
sed -n '/^configure:$/,$p' "$tmp/out6"
grep -q "pool:       no: CONFIG_DEVICE_PRIVATE is off" "$tmp/out6" ||
	fail "configure for $kver does not say the pool is absent"
grep -q "lacks:      .*create_cq_attrs" "$tmp/out6" ||
	fail "configure for $kver does not list what the probes found missing"
(cd "$tmp/src" && make -s module) >"$tmp/out7" 2>&1 ||
	{ cat "$tmp/out7"; fail "the module does not build against $kver"; }
modinfo -F pool "$tmp/src/hmmnic.ko" | grep -q '^absent: ' ||
	fail "modinfo does not say the pool is absent"

conf "$tmp/none" "$tmp/out3"
grep -q 'no such directory' "$tmp/out3" || fail "missing directory not explained"
# --with-rdma-core: a tree whose private ABI differs from the installed
# libibverbs is refused by name; the cached tree given explicitly works.
fakerc=$tmp/rdma-core-33
mkdir -p "$fakerc/libibverbs" "$fakerc/build/include/infiniband" "$fakerc/build/include/kernel-abi"
echo 'set(IBVERBS_PABI_VERSION "33")' >"$fakerc/CMakeLists.txt"
touch "$fakerc/libibverbs/driver.h" "$fakerc/build/include/infiniband/driver.h"
if (cd "$tmp/src" && ./configure --with-linux="$kdir" --with-rdma-core="$fakerc") >"$tmp/out4" 2>&1; then
	fail "configure accepted an rdma-core tree with PABI 33"
fi
grep -q 'rdma-core tree has PABI 33 but the installed libibverbs uses 34' "$tmp/out4" ||
	{ cat "$tmp/out4"; fail "PABI mismatch not explained"; }
rc=$(sed -n "s/.*--with-rdma-core=\([^' ]*\).*/\1/p" "$top/config.status" | head -n1)
rc=${rc:-$(cd "$top" && userspace-provider/rdma-core-tree | cut -d' ' -f1)}
(cd "$tmp/src" && ./configure --with-linux="$kdir" --with-rdma-core="$rc") >"$tmp/out5" 2>&1 ||
	{ cat "$tmp/out5"; fail "configure --with-rdma-core=$rc failed"; }
grep -q "rdma-core:  $rc (PABI 34)" "$tmp/out5" || fail "--with-rdma-core=$rc not used"
echo "configure explains missing options, old kernels, bad paths and PABI mismatches, and accepts Debian 12's kernel without the pool"
