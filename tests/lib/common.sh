# Shell helpers for the hmmnic guest tests; source it from a test script.
# shellcheck shell=bash
set -euo pipefail

HMMNIC_TOP=${HMMNIC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HELPERS=$HMMNIC_TOP/tests/helpers

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
log() { echo "$*"; }

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds.
wait_for() {
	local limit=$(($1 * 10)) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$limit" ] || return 1
		sleep 0.1
	done
}

# require_feature NAME: skip the test where the module lacks an optional
# part (debugfs hmmnic/features says "absent: " and why); require_pool is
# require_feature pool.
require_feature() {
	local v
	v=$(sed -n "s/^$1: //p" /sys/kernel/debug/hmmnic/features)
	[ -n "$v" ] || fail "hmmnic/features does not list $1"
	[ "$v" = yes ] || skip "$1 is $v"
}
require_pool() { require_feature pool; }

ibdev_exists() { [ -e "/sys/class/infiniband/$1" ]; }
ibdev_gone() { [ ! -e "/sys/class/infiniband/$1" ]; }

# devinfo DEV FIELD: one field of "ibv_devinfo -v -d DEV", e.g. state.
devinfo() {
	ibv_devinfo -v -d "$1" | awk -v f="$2" '$1 == f":" { $1 = ""; sub(/^ /, ""); print; exit }'
}

# port_state DEV: the port state name from sysfs, e.g. ACTIVE or DOWN.
port_state() { awk '{print $2}' "/sys/class/infiniband/$1/ports/1/state"; }

# Links created by a test are deleted when it exits, pass or fail.
_links=()
link_add() {
	rdma link add "$1" type hmmnic netdev "$2"
	_links+=("$1")
}
_cleanup_links() {
	local l
	for l in "${_links[@]}"; do
		ibdev_exists "$l" && rdma link delete "$l" 2>/dev/null || true
	done
}
trap _cleanup_links EXIT

# hw_counter DEV NAME: one port counter from sysfs.
hw_counter() { cat "/sys/class/infiniband/$1/ports/1/hw_counters/$2"; }

# pair TIMEOUT CMD...: run CMD as a server in the background and again as
# a client of 127.0.0.1; both must succeed. Output in $pair_out.
pair_out=
pair() {
	local t=$1 srv cli rs rc
	shift
	srv=$(mktemp) cli=$(mktemp)
	timeout "$t" "$@" >"$srv" 2>&1 &
	local pid=$!
	sleep 1
	timeout "$t" "$@" 127.0.0.1 >"$cli" 2>&1
	rc=$?
	wait "$pid"
	rs=$?
	pair_out="== server: $* (status $rs)
$(cat "$srv")
== client: $* 127.0.0.1 (status $rc)
$(cat "$cli")"
	rm -f "$srv" "$cli"
	[ "$rs" = 0 ] && [ "$rc" = 0 ]
}
