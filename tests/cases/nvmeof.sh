#!/bin/bash
# NVMe over Fabrics over hmmnic0, in loopback: the kernel's NVMe/RDMA
# target (nvmet-rdma, a namespace on a loop device) and host (nvme-rdma) in
# one guest. The host maps every I/O with fast registration and the target
# invalidates it remotely with SEND with Invalidate; the target moves the
# data with RDMA READ/WRITE on its local DMA key. Data written through the
# block device is read back through it and from the backing file, byte for
# byte, at several I/O sizes; the fast-registration counters must move.
. "$(dirname "$0")/../lib/common.sh"

addr=192.0.2.1
nqn=nqn.2026-11.org.hmmnic:loopback
cfs=/sys/kernel/config/nvmet
work=$(mktemp -d)
backing=$work/backing.img
inst=
loop=

cleanup() {
	set +e
	[ -n "$inst" ] && [ -e "/sys/class/nvme/nvme$inst" ] &&
		echo 1 >"/sys/class/nvme/nvme$inst/delete_controller"
	rm -f "$cfs/ports/1/subsystems/$nqn" 2>/dev/null
	rmdir "$cfs/ports/1" 2>/dev/null
	[ -d "$cfs/subsystems/$nqn/namespaces/1" ] &&
		echo 0 >"$cfs/subsystems/$nqn/namespaces/1/enable"
	rmdir "$cfs/subsystems/$nqn/namespaces/1" 2>/dev/null
	rmdir "$cfs/subsystems/$nqn" 2>/dev/null
	[ -n "$loop" ] && losetup -d "$loop"
	modprobe -r nvme-rdma nvmet-rdma 2>/dev/null
	rm -rf "$work"
	_cleanup_links
}
trap cleanup EXIT

modprobe nvmet-rdma || fail "cannot load nvmet-rdma"
modprobe nvme-rdma || fail "cannot load nvme-rdma"
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
c() { hw_counter hmmnic0 "$1"; }
f0=$(c fast_reg) r0=$(c remote_invalidate)

# target: one subsystem, one namespace, one RDMA port. The namespace is a
# loop device over a 64 MiB file: nvmet's file backend reported a size of
# 0 for a file on the guest's overlay /tmp.
truncate -s 64M "$backing"
loop=$(losetup -f --show "$backing") || fail "losetup failed"
mkdir "$cfs/subsystems/$nqn"
echo 1 >"$cfs/subsystems/$nqn/attr_allow_any_host"
mkdir "$cfs/subsystems/$nqn/namespaces/1"
echo "$loop" >"$cfs/subsystems/$nqn/namespaces/1/device_path"
echo 1 >"$cfs/subsystems/$nqn/namespaces/1/enable"
mkdir "$cfs/ports/1"
echo rdma >"$cfs/ports/1/addr_trtype"
echo ipv4 >"$cfs/ports/1/addr_adrfam"
echo "$addr" >"$cfs/ports/1/addr_traddr"
echo 4420 >"$cfs/ports/1/addr_trsvcid"
ln -s "$cfs/subsystems/$nqn" "$cfs/ports/1/subsystems/$nqn"

# host: connect through the fabrics device, as nvme-cli does
exec 3<>/dev/nvme-fabrics
echo "transport=rdma,traddr=$addr,trsvcid=4420,nqn=$nqn" >&3 ||
	fail "connect failed: $(dmesg | tail -n 5)"
read -r reply <&3
exec 3>&-
inst=$(echo "$reply" | sed -n 's/^instance=\([0-9]*\),.*/\1/p')
[ -n "$inst" ] || fail "unexpected connect reply: $reply"
log "connected: $reply ($(cat "/sys/class/nvme/nvme$inst/transport"))"
bdev=
find_bdev() {
	local b
	for b in /sys/class/nvme/nvme"$inst"/nvme*n1 /sys/block/nvme"$inst"n1; do
		[ -e "$b" ] || continue
		b=/dev/${b##*/}
		[ -b "$b" ] && bdev=$b && return 0
	done
	return 1
}
wait_for 20 find_bdev || fail "no namespace block device appeared"
# with native multipath the head device is nvmeXnY; use it if present
[ -b "/dev/nvme${inst}n1" ] && bdev=/dev/nvme${inst}n1
size=$(blockdev --getsize64 "$bdev")
log "namespace: $bdev ($((size >> 20)) MiB)"
[ "$size" = $((64 << 20)) ] || fail "namespace size $size, expected 64 MiB"

check() { # BYTES WHAT: the device and the backing file hold the data
	dd if="$bdev" of="$work/back" bs=1M count=$(($1 >> 20)) iflag=direct status=none ||
		fail "$2: read back failed"
	cmp -n "$1" "$work/data" "$work/back" || fail "$2: data read back differs"
	cmp -n "$1" "$work/data" "$backing" || fail "$2: backing file differs"
}
# I/O size in bytes : MiB written at that size
for spec in 4096:8 16384:16 131072:48 1048576:48; do
	bs=${spec%%:*} mib=${spec#*:}
	head -c "${mib}M" /dev/urandom >"$work/data"
	dd if="$work/data" of="$bdev" bs="$bs" count=$((mib * 1048576 / bs)) \
		oflag=direct status=none || fail "write bs=$bs failed"
	check $((mib << 20)) "bs=$bs"
	log "bs=$bs: $mib MiB written and read back, identical"
done
# reads at small sizes too, from an offset
dd if="$bdev" of="$work/back" bs=4k skip=1000 count=2000 iflag=direct status=none ||
	fail "4k reads failed"
dd if="$work/data" of="$work/want" bs=4k skip=1000 count=2000 status=none
cmp "$work/back" "$work/want" || fail "4k reads differ"
log "4k reads at an offset: identical"

sleep 0.2
f1=$(c fast_reg) r1=$(c remote_invalidate)
log "fast_reg +$((f1 - f0)) remote_invalidate +$((r1 - r0))"
[ $((f1 - f0)) -ge 1000 ] || fail "the host did not use fast registration"
[ $((r1 - r0)) -ge 1000 ] || fail "the target did not invalidate remotely"

echo 1 >"/sys/class/nvme/nvme$inst/delete_controller"
wait_for 20 test ! -e "/sys/class/nvme/nvme$inst" || fail "controller not deleted"
inst=
