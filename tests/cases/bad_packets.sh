#!/bin/bash
# Malformed and unexpected RoCEv2 packets sent to hmmnic0's UDP port are
# dropped and counted by reason; the device keeps working.
. "$(dirname "$0")/../lib/common.sh"

c() { hw_counter hmmnic0 "$1"; }
# counters are cached by the core for a few ms
settle() { sleep 0.2; }
send() {
	/usr/bin/python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes.fromhex(sys.argv[1]), ("192.0.2.1", 4791))
PY
}
bth() { # opcode qpn psn -> 12-byte BTH
	printf '%02x00ffff00%06x00%06x' "$1" "$2" "$3"
}
pad() { printf '%0*d' $(($1 * 2)) 0; }

m0=$(c drop_malformed) i0=$(c drop_icrc) o0=$(c drop_opcode)
send "0011"                                # shorter than a BTH
send "$(bth 4 2 0)"                        # no room for the ICRC
send "$(bth 0x15 2 0)$(pad 4)"             # reserved opcode (dropped before the ICRC)
send "$(bth 4 2 0)$(pad 8)"                # SEND_ONLY with a wrong ICRC
settle
m1=$(c drop_malformed) i1=$(c drop_icrc) o1=$(c drop_opcode)
log "drop_malformed +$((m1 - m0)) drop_icrc +$((i1 - i0)) drop_opcode +$((o1 - o0))"
[ $((m1 - m0)) -ge 2 ] || fail "short packets not counted as malformed"
[ $((o1 - o0)) -ge 1 ] || fail "bad opcode not counted"
[ $((i1 - i0)) -ge 1 ] || fail "bad ICRC not counted"

# still works
pair 60 ibv_rc_pingpong -d hmmnic0 -g 1 -n 5 -s 4096 -c || fail "after bad packets: $pair_out"
log "device still works"
