#!/bin/bash
# Local traffic through the network path rather than the local short cut
# (module parameter local_shortcut=N: ICRC, ip_local_out(), lo, the UDP
# socket), first clean, then with netem on lo losing 5% of the packets,
# duplicating 2%, corrupting 1% and reordering a quarter: the C data-path,
# ODP and pool tests deliver every byte (they compare it), with
# retransmissions, duplicate requests (READs answered again after their
# pages were invalidated, migrated or staged) and ICRC drops counted.
# suite-timeout: 1200
. "$(dirname "$0")/../lib/common.sh"

param=/sys/module/hmmnic/parameters/local_shortcut
cleanup() {
	tc qdisc del dev lo root 2>/dev/null || true
	echo Y >"$param"
	_cleanup_links
}
trap cleanup EXIT
c() { hw_counter hmmnic0 "$1"; }
cases=$HMMNIC_TOP/tests/cases
odp="ops implicit munmap dontneed migrate rnr busy race_munmap"
pool="read write cpu_write evict queue"
run() { # what, then the test and its cases
	local what=$1
	shift
	# shellcheck disable=SC2068
	"$cases"/$@ || fail "${1%% *} $what"
	log "${1%% *} $what: ok"
}

echo N >"$param"
l0=$(c local_packets) i0=$(c drop_icrc) t0=$(c tx_packets)
run "on the network path" datapath
run "on the network path" odp $odp
run "on the network path" pool $pool
sleep 0.1
l1=$(c local_packets) i1=$(c drop_icrc) t1=$(c tx_packets)
[ "$l1" = "$l0" ] || fail "local_packets moved by $((l1 - l0)) with the short cut off"
[ "$i1" = "$i0" ] || fail "drop_icrc moved by $((i1 - i0)) on a clean path"
[ $((t1 - t0)) -gt 10000 ] || fail "tx_packets moved by only $((t1 - t0))"
log "network path: tx_packets +$((t1 - t0)), local_packets +0, drop_icrc +0"

tc qdisc add dev lo root netem delay 1ms reorder 25% 50% loss 5% \
	duplicate 2% corrupt 1% limit 10000 || fail "netem on lo"
r0=$(c retransmits) d0=$(c duplicate_requests) i0=$(c drop_icrc)
# a fatal NAK may be lost too: the requester then times out (rctest.c)
export HMMNIC_TEST_LOSSY=1
# not busy (it counts one UD datagram that netem may lose), not
# race_munmap (with its 4 s ACK timeout a lost last packet costs 4 s: 7
# ops in 2 minutes, too few for a race)
run "under netem" odp ops implicit munmap dontneed migrate rnr
run "under netem" pool $pool
sleep 0.1
r1=$(c retransmits) d1=$(c duplicate_requests) i1=$(c drop_icrc)
log "netem: retransmits +$((r1 - r0)), duplicate_requests +$((d1 - d0)), drop_icrc +$((i1 - i0))"
[ $((r1 - r0)) -gt 0 ] || fail "no retransmission under 5% loss"
[ $((d1 - d0)) -gt 0 ] || fail "no duplicate request under loss and duplication"
[ $((i1 - i0)) -gt 0 ] || fail "no ICRC drop with 1% corruption"
