#!/bin/bash
# dkms.conf builds the module: DKMS builds hmmnic for the pinned kernel
# from the sources "make dkms-source" installs, in private trees (the
# host's own DKMS state is not touched).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v dkms >/dev/null || fail "dkms is not installed"
kdir=$(grep -o "with-linux=[^' ]*" "$top/config.status" | head -n1 | cut -d= -f2)
kver=$(cat "$kdir/include/config/kernel.release")
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf")
[ "$version" = "$(sed -n "s/^PACKAGE_VERSION = //p" "$top/Makefile")" ] ||
	fail "dkms.conf version $version differs from configure's"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make -s -C "$top" dkms-source DESTDIR="$tmp/root"
src=$tmp/root/usr/src
mkdir -p "$tmp/dkms"
dkms add -m hmmnic -v "$version" --sourcetree "$src" --dkmstree "$tmp/dkms"
dkms build -m hmmnic -v "$version" -k "$kver" --kernelsourcedir "$kdir" \
	--sourcetree "$src" --dkmstree "$tmp/dkms" || {
	cat "$tmp/dkms/hmmnic/$version/build/make.log" >&2 || true
	fail "dkms build failed"
}
ko=$(find "$tmp/dkms/hmmnic/$version/$kver" -name 'hmmnic.ko*' | head -n1)
[ -n "$ko" ] || fail "dkms built no hmmnic.ko"
modinfo -F vermagic "$ko" | grep -q "^$kver " || fail "wrong vermagic: $(modinfo -F vermagic "$ko")"
echo "dkms built $ko"
