#!/bin/bash
# The stock rdma-core tools see hmmnic0 through the installed provider.
. "$(dirname "$0")/../lib/common.sh"

provider=$(echo /usr/lib/*/libibverbs/libhmmnic-rdmav34.so)
[ -e "$provider" ] || fail "provider not installed"
# One file: libibverbs opens it through the symlink, programs that call
# the direct verbs by its SONAME.
# (awk reads to the end: a reader that stops early kills ldconfig with
# SIGPIPE, which pipefail turns into this script's exit status)
lib=$(ldconfig -p | awk '$1 == "libhmmnic.so.1" && !n++ { print $NF }')
[ -n "$lib" ] || fail "libhmmnic.so.1 is not in the ld.so cache"
[ -L "$provider" ] && [ "$(readlink -f "$provider")" = "$(readlink -f "$lib")" ] ||
	fail "$provider is not a symlink to $lib"
grep -qx 'driver hmmnic' /etc/libibverbs.d/hmmnic.driver || fail "hmmnic.driver missing"
env | grep -q '^IBV_\|^RDMAV_' && fail "verbs environment variables set"

ibv_devices | grep -q hmmnic0 || fail "ibv_devices: $(ibv_devices)"
info=$(ibv_devinfo -v -d hmmnic0)
echo "$info"
check() { echo "$info" | grep -Eq "$1" || fail "ibv_devinfo lacks /$1/"; }
check '^hca_id:[[:space:]]+hmmnic0'
check 'transport:[[:space:]]+InfiniBand \(0\)'
check 'vendor_id:[[:space:]]+0xffffff'
check 'vendor_part_id:[[:space:]]+18509'
check 'phys_port_cnt:[[:space:]]+1'
check 'state:[[:space:]]+PORT_ACTIVE \(4\)'
check 'link_layer:[[:space:]]+Ethernet'
check 'max_mtu:[[:space:]]+4096 \(5\)'
check 'active_mtu:[[:space:]]+1024 \(3\)'
check 'GID\[ *0\]:.*fe80:.*, RoCE v2'
check 'GID\[ *[0-9]+\]:.*::ffff:192\.0\.2\.1, RoCE v2'
# node GUID: the EUI-64 of the MAC (universal/local bit flipped, ff:fe).
IFS=: read -r m0 m1 m2 m3 m4 m5 </sys/class/net/eth0/address
want=$(printf '%02x%s:%s%s:%s%s:%s%s' $((0x$m0 ^ 2)) "$m1" "$m2" ff fe "$m3" "$m4" "$m5")
guid=$(cat /sys/class/infiniband/hmmnic0/node_guid)
[ "$guid" = "$want" ] || fail "node_guid $guid, want $want"
echo "$info" | grep -q "node_guid:[[:space:]]*$guid" || fail "ibv_devinfo node_guid"
rdma dev show hmmnic0 | grep -q "node_guid $guid" || fail "rdma dev show"
log "ibv_devices, ibv_devinfo and rdma agree on hmmnic0"
