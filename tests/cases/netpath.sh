#!/bin/bash
# Local traffic through the network path rather than the local short cut
# (module parameter local_shortcut=N: ICRC, ip_local_out(), lo, the UDP
# socket), first clean, then with netem on lo losing 5% of the packets,
# duplicating 2%, corrupting 1% and reordering a quarter: the C data-path,
# ODP and pool tests deliver every byte (they compare it), with
# retransmissions, duplicate requests (READs answered again after their
# pages were invalidated, migrated or staged) and ICRC drops counted,
# at path MTU 1024 and (a subset under netem) 256.
# suite-timeout: 1200
. "$(dirname "$0")/../lib/common.sh"

param=/sys/module/hmmnic/parameters/local_shortcut
floor=/sys/module/hmmnic/parameters/min_ack_timeout_ms
cleanup() {
	tc qdisc del dev lo root 2>/dev/null || true
	echo Y >"$param"
	echo 0 >"$floor"
	_cleanup_links
}
trap cleanup EXIT
c() { hw_counter hmmnic0 "$1"; }
cases=$HMMNIC_TOP/tests/cases
odp="ops implicit munmap dontneed migrate rnr busy race_munmap"
pool="read write cpu_write evict queue"
run() { # what, then the test and its cases
	local what=$1 t0=$SECONDS
	shift
	# shellcheck disable=SC2068
	"$cases"/$@ || fail "${1%% *} $what"
	log "${1%% *} $what: ok ($((SECONDS - t0)) s)"
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
# An ACK timeout of at least 250 ms, as between two guests: under TCG a
# READ of 4096 responses at MTU 256 can sit in netem's queue behind a
# stale copy of itself for longer than eight 67 ms timeouts. On a -debug
# kernel (KASAN, lockdep, kmemleak) faults and packets cost many times
# more, and eight 250 ms timeouts ran out on a READ right after
# compaction: 1500 ms there, six times as long, as the C tests' waits.
ack_floor=250
case "$(uname -r)" in *-debug*) ack_floor=1500 ;; esac
echo "$ack_floor" >"$floor"
# Not busy (it counts one UD datagram that netem may lose); not
# race_munmap (even with a 268 ms ACK timeout it did only 20 ops in its
# two minutes under TCG; tests/soak --net runs it under loss).
run "under netem" odp ops implicit munmap dontneed migrate rnr
run "under netem" pool $pool
# Multi-packet messages at path MTU 256 (four times the packets, so four
# times the losses and reorderings per message) into regions being
# unmapped and staged. A READ request here stands for 2048 responses:
# the responder must take the requester's copy of it while they go out
# (fuzz dup_read_stream), or every response lost or reordered costs the
# rest of the stream again.
HMMNIC_TEST_MTU=256 run "under netem at path MTU 256" odp ops munmap
HMMNIC_TEST_MTU=256 run "under netem at path MTU 256" pool write
sleep 0.1
r1=$(c retransmits) d1=$(c duplicate_requests) i1=$(c drop_icrc)
log "netem: retransmits +$((r1 - r0)), duplicate_requests +$((d1 - d0)), drop_icrc +$((i1 - i0))"
[ $((r1 - r0)) -gt 0 ] || fail "no retransmission under 5% loss"
[ $((d1 - d0)) -gt 0 ] || fail "no duplicate request under loss and duplication"
[ $((i1 - i0)) -gt 0 ] || fail "no ICRC drop with 1% corruption"
