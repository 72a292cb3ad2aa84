#!/bin/bash
# rdma-core's example programs move data over hmmnic0 in loopback: RC
# (several sizes, with the received buffer checked, and with completion
# events), UD and SRQ. The port counters account for the packets, all of
# which take the local short cut.
. "$(dirname "$0")/../lib/common.sh"

set +e
d="-d hmmnic0 -g 1"
# Port counters as "name value" lines; earlier tests leave theirs behind.
counters() { rdma statistic show link hmmnic0/1 | tr ' ' '\n' | paste - - | tail -n +2; }
before=$(counters)
tx0=$(hw_counter hmmnic0 tx_packets)
local0=$(hw_counter hmmnic0 local_packets)
for s in 1 1024 1025 4096 65536; do
	pair 60 ibv_rc_pingpong $d -n 20 -s "$s" -c ||
		fail "ibv_rc_pingpong -s $s -c: $pair_out"
	log "ibv_rc_pingpong -s $s -c: ok"
done
pair 60 ibv_rc_pingpong $d -n 20 -s 4096 -e -c ||
	fail "ibv_rc_pingpong -e: $pair_out"
log "ibv_rc_pingpong -e (completion channel): ok"
pair 60 ibv_ud_pingpong $d -n 20 -s 1000 ||
	fail "ibv_ud_pingpong: $pair_out"
log "ibv_ud_pingpong: ok"
pair 60 ibv_srq_pingpong $d -n 20 -s 4096 -q 4 ||
	fail "ibv_srq_pingpong: $pair_out"
log "ibv_srq_pingpong (4 QPs on one SRQ): ok"

tx1=$(hw_counter hmmnic0 tx_packets)
local1=$(hw_counter hmmnic0 local_packets)
# 2 x 20 RC exchanges of 64 KiB alone are 2 x 20 x 64 packets
[ $((tx1 - tx0)) -ge 2560 ] || fail "tx_packets grew by $((tx1 - tx0)) only"
[ $((local1 - local0)) = $((tx1 - tx0)) ] ||
	fail "loopback packets did not all take the local short cut"
after=$(counters)
# Deltas over this test, and the losses among them: nothing is lost in
# loopback, so no drop of any kind and no sequence NAK. (A retransmission
# after a timeout can still happen when the TCG guest stalls longer than
# the QP's 67 ms timeout; that is not a loss.)
delta=$(awk 'NR == FNR { old[$1] = $2; next } { print $1, $2 - old[$1] }' \
	<(echo "$before") <(echo "$after"))
for c in rx_packets retransmits timeouts rnr_naks_rcvd; do
	log "$(grep "^$c " <<<"$delta")"
done
lost=$(awk '($1 ~ /^drop_/ || $1 == "seq_naks_sent") && $2 != 0' <<<"$delta")
[ -z "$lost" ] || fail "packets lost in loopback: $lost"
