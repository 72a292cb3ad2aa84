#!/bin/bash
# Port 1 follows its netdev: link state (with async events), MTU, and the
# RoCEv2 GID table built from the netdev's addresses.
. "$(dirname "$0")/../lib/common.sh"

dev=hmmnicv0
link_add $dev veth0
ip link set veth0 mtu 1500
wait_for 5 test "$(port_state $dev)" = ACTIVE || fail "not ACTIVE: $(port_state $dev)"
[ "$(devinfo $dev link_layer)" = Ethernet ] || fail "link_layer $(devinfo $dev link_layer)"

# MTU: the IB MTU is the largest that fits with RoCEv2 headers.
for pair in 1500:1024 9000:4096 4200:4096 4000:2048 1200:1024 1100:512 700:512 600:256; do
	mtu=${pair%%:*}
	want=${pair##*:}
	ip link set veth0 mtu "$mtu"
	got=$(devinfo $dev active_mtu | awk '{print $1}')
	[ "$got" = "$want" ] || fail "netdev MTU $mtu: active_mtu $got, want $want"
done
ip link set veth0 mtu 1500
log "active_mtu follows the netdev MTU"

# Link state, with one async event per transition.
out=$(mktemp)
"$HELPERS/hold_context" $dev 30 >"$out" &
holder=$!
wait_for 10 grep -q ready "$out" || fail "holder did not start"
ip link set veth0 down
wait_for 5 test "$(port_state $dev)" = DOWN || fail "still $(port_state $dev) with veth0 down"
[ "$(devinfo $dev phys_state)" = "DISABLED (3)" ] || fail "phys_state $(devinfo $dev phys_state)"
wait_for 5 grep -q 'event port error' "$out" || fail "no PORT_ERR event: $(cat "$out")"
ip link set veth0 up
wait_for 5 test "$(port_state $dev)" = ACTIVE || fail "not ACTIVE after up"
wait_for 5 grep -q 'event port active' "$out" || fail "no PORT_ACTIVE event: $(cat "$out")"
# Carrier loss on the peer also takes the port down.
ip link set veth1 down
wait_for 5 test "$(port_state $dev)" = DOWN || fail "ACTIVE without carrier"
ip link set veth1 up
wait_for 5 test "$(port_state $dev)" = ACTIVE || fail "not ACTIVE with carrier back"
[ "$(grep -c 'event port error' "$out")" = 2 ] || fail "events: $(cat "$out")"
[ "$(grep -c 'event port active' "$out")" = 2 ] || fail "events: $(cat "$out")"
rdma link delete $dev
wait "$holder" || fail "holder: $(cat "$out")"
grep -q closed "$out" || fail "holder did not see the device go: $(cat "$out")"
link_add $dev veth0
log "port state and events follow veth0"

# GIDs: one RoCE v2 entry per address, added and removed with it.
gids() {
	local f
	for f in /sys/class/infiniband/$dev/ports/1/gid_attrs/types/*; do
		t=$(cat "$f" 2>/dev/null) || continue
		[ -n "$t" ] || continue
		echo "$(cat "/sys/class/infiniband/$dev/ports/1/gids/${f##*/}") $t"
	done
}
# (grep on a captured list: with pipefail, grep -q closing a pipe early fails)
has_gid() { local g; g=$(gids); grep -q "$1 RoCE v2" <<<"$g"; }
wait_for 5 has_gid '0000:0000:0000:0000:0000:ffff:c633:6401' ||
	fail "no GID for 198.51.100.1: $(gids)"
ip addr add 203.0.113.7/24 dev veth0
wait_for 5 has_gid '0000:0000:0000:0000:0000:ffff:cb00:7107' ||
	fail "no GID for 203.0.113.7: $(gids)"
ip addr add 2001:db8::7/64 dev veth0 nodad
wait_for 5 has_gid '2001:0db8:0000:0000:0000:0000:0000:0007' ||
	fail "no GID for 2001:db8::7: $(gids)"
all=$(gids)
grep -q '^fe80:' <<<"$all" || fail "no link-local GID: $all"
grep -qv 'RoCE v2$' <<<"$all" && fail "non-RoCEv2 GID: $all"
ip addr del 203.0.113.7/24 dev veth0
ip addr del 2001:db8::7/64 dev veth0
wait_for 5 bash -c "! grep -q 'ffff:cb00:7107' /sys/class/infiniband/$dev/ports/1/gids/*" ||
	fail "GID for 203.0.113.7 stayed after the address went"
log "GID table: $(gids | wc -l) entries, all RoCE v2"
