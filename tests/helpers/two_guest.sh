#!/bin/bash
# One side of a two-guest test (tests/vm/run --peer): runs a list of
# rdma-core and perftest programs in step with the other guest, the server
# side in the first guest, the client side in the peer.
#
#   two_guest.sh server|client hmmnic|rxe [--loss PCT] [--big] [--mtu4096]
#                [--only WORD] [--phase NAME]
#
# The device is created afresh, so that its counters start from zero: with
# rxe, hmmnic0 (or an rxe0 of an earlier phase) is deleted (both bind UDP
# port 4791) and rxe0 is created on eth0; with hmmnic, rdma_rxe is unloaded
# (it binds the port at load) and hmmnic0 is created again. eth0's MTU is
# 1500 unless --mtu4096. --phase names this run's barriers, so that one
# boot can run several phases in turn (each side runs the same phases in
# the same order). --loss puts netem loss on eth0. --big runs large RC
# transfers whose data is checked. --mtu4096 sets eth0's MTU to 9000, checks
# that the port's active MTU is 4096, and runs every perftest tool (bw and
# lat of write, read, send and atomic) with path MTU 4096, then checks that
# the packets received were full 4096-byte ones. --only runs just the
# programs whose command line contains WORD. Prints one line per
# program ("server|client NAME: ok|FAILED (status N)") and the port
# counters, and exits non-zero if a program failed.
set -uo pipefail
b=$(dirname "$0")/../vm/barrier
role=$1 drv=$2
shift 2
loss="" big=0 mtu=0 only="" phase=""
while [ $# -gt 0 ]; do
	case $1 in
	--loss) loss=$2; shift 2 ;;
	--big) big=1; shift ;;
	--mtu4096) mtu=1; shift ;;
	--only) only=$2; shift 2 ;;
	--phase) phase=$2.; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

for d in hmmnic0 rxe0; do
	[ ! -e /sys/class/infiniband/$d ] || rdma link delete $d ||
		{ echo "cannot delete $d"; exit 1; }
done
[ $mtu = 1 ] || ip link set eth0 mtu 1500
dev=hmmnic0
if [ "$drv" = rxe ]; then
	modprobe rdma_rxe && rdma link add rxe0 type rxe netdev eth0 ||
		{ echo "rxe setup failed"; exit 1; }
	dev=rxe0
else
	# rxe holds UDP port 4791 from module load to unload
	modprobe -r rdma_rxe && rdma link add hmmnic0 type hmmnic netdev eth0 ||
		{ echo "hmmnic setup failed"; exit 1; }
fi
# The programs use GID 1, eth0's IPv4 address, which the core adds to a new
# device's table a moment after it is created.
gid1=/sys/class/infiniband/$dev/ports/1/gids/1
for _ in $(seq 50); do
	grep -qv '^0000:0000:0000:0000:0000:0000:0000:0000$' $gid1 2>/dev/null && break
	sleep 0.1
done
for _ in $(seq 100); do
	ping -c1 -W1 "$HMMNIC_VM_PEER_ADDR" >/dev/null 2>&1 && break
	sleep 0.2
done
if [ -n "$loss" ]; then
	tc qdisc add dev eth0 root netem loss "$loss%"
	# The test is about delivery under loss, not about how long a TCG
	# guest may stall: ibv_rc_pingpong's 67 ms ACK timeout with 7
	# retries gives up when the peer guest does not run for half a
	# second, which a loaded 2-core host does now and then.
	[ "$drv" = rxe ] || echo 250 >/sys/module/hmmnic/parameters/min_ack_timeout_ms
fi
if [ $mtu = 1 ]; then
	ip link set eth0 mtu 9000 || { echo "cannot set MTU 9000 on eth0"; exit 1; }
	for _ in $(seq 50); do
		ibv_devinfo -d $dev | grep -q 'active_mtu:.*4096' && break
		sleep 0.1
	done
	ibv_devinfo -d $dev | grep -q 'active_mtu:.*4096' ||
		{ echo "active_mtu is not 4096 with netdev MTU 9000"; exit 1; }
	ping -c1 -W2 -M "do" -s 8000 "$HMMNIC_VM_PEER_ADDR" >/dev/null ||
		{ echo "the link does not carry 9000-byte frames"; exit 1; }
fi

other=$([ "$role" = server ] && echo client || echo server)
n=0 failed=0
step() {
	local out rc
	n=$((n + 1))
	if [ -n "$only" ] && [[ "$*" != *"$only"* ]]; then return; fi
	if [ "$role" = server ]; then
		"$b" signal "${phase}s$n"
		# (see below: rping's server may wait for a lost DREQ)
		out=$(timeout "$([ -n "$loss" ] && [ "$1" = rping ] && echo 150 || echo 300)" "$@" 2>&1)
	else
		"$b" wait "${phase}s$n" 300 || { echo "$role: the server never reached step $n"; exit 1; }
		sleep 1
		out=$(timeout 300 "$@" "$HMMNIC_VM_PEER_ADDR" 2>&1)
	fi
	rc=$?
	[ $rc != 0 ] || [ "$role" != client ] || "$b" signal "${phase}ok$n.client"
	# rping's server only ends on the CM's DISCONNECTED event. Under
	# loss the client's DREQ can be dropped, and the CM cancels its
	# retransmission when the client destroys its id right after: then
	# the server waits forever. The client has checked every byte by
	# then (each of its iterations waits for the server's reply), so a
	# server that is only left waiting for that event has done its part.
	if [ $rc = 124 ] && [ -n "$loss" ] && [ "$1" = rping ] &&
	   "$b" wait "${phase}ok$n.client" 1 2>/dev/null; then
		echo "$role $*: ok (the client verified every byte; the server never saw the disconnect, a lost DREQ)"
	elif [ $rc = 0 ]; then
		echo "$role $*: ok"
	else
		echo "$role $*: FAILED (status $rc)"
		echo "$out" | tail -"${HMMNIC_TAIL:-5}"
		failed=1
	fi
	"$b" signal "${phase}done$n.$role"
	"$b" wait "${phase}done$n.$other" 400 || { echo "$role: the $other is stuck in step $n"; exit 1; }
}

if [ $mtu = 1 ]; then
	c=/sys/class/infiniband/$dev/ports/1/hw_counters
	p0=$(cat $c/rx_packets) b0=$(cat $c/rx_bytes)
	step ibv_rc_pingpong -d $dev -g 1 -m 4096 -n 20 -s 65536 -c
	step ibv_ud_pingpong -d $dev -g 1 -n 10 -s 4000
	for t in write read send; do
		step ib_${t}_bw -d $dev -x 1 -F -m 4096 -n 100 -s 65536
		step ib_${t}_lat -d $dev -x 1 -F -m 4096 -n 100 -s 8192
	done
	step ib_atomic_bw -d $dev -x 1 -F -m 4096 -n 200
	step ib_atomic_lat -d $dev -x 1 -F -m 4096 -n 100
	p1=$(cat $c/rx_packets) b1=$(cat $c/rx_bytes)
	# Requests arrive in both directions here (send and write bw run
	# from the client, read responses flow back), and ACKs and atomics
	# are small: at 1024-byte packets the mean could not pass 2048.
	avg=$(( (b1 - b0) / (p1 - p0 + 1) ))
	echo "$role received $((p1 - p0)) packets, $avg bytes each on average"
	[ "$avg" -gt 2048 ] || { echo "$role: packets were not 4096-byte ones"; failed=1; }
elif [ $big = 1 ]; then
	step ibv_rc_pingpong -d $dev -g 1 -n 40 -s 65536 -c
	step ibv_rc_pingpong -d $dev -g 1 -n 200 -s 4000 -c
	# rping -V: the server RDMA READs the client's buffer and RDMA
	# WRITEs it back; both sides compare every byte.
	# shellcheck disable=SC2046
	step rping -V -C 50 -S 60000 $([ "$role" = server ] && echo "-s -a 0.0.0.0" || echo "-c -a")
	step ib_write_bw -d $dev -x 1 -F -n 200 -s 65536
	step ib_read_bw -d $dev -x 1 -F -n 200 -s 65536
	step ib_send_bw -d $dev -x 1 -F -n 200 -s 65536
else
	step ibv_rc_pingpong -d $dev -g 1 -n 10 -s 4096 -c
	step ibv_ud_pingpong -d $dev -g 1 -n 10 -s 1000
	step ib_write_bw -d $dev -x 1 -F -n 100 -s 65536
	step ib_read_bw -d $dev -x 1 -F -n 100 -s 65536
	step ib_send_bw -d $dev -x 1 -F -n 100 -s 65536
fi
echo "$role ${phase}counters: $(rdma statistic show link $dev/1)"
exit $failed
