#!/bin/bash
# Device creation that fails at an allocation undoes what it did, once:
# with slab and page allocations failing (failslab, fail_page_alloc) under
# one of hmmnic's setup functions, or under any of hmmnic's code at the
# Nth allocation (N = 1 to 24), `rdma link add` fails with an error or succeeds, the
# kernel reports nothing (a double free would be a WARNING or BUG here),
# and a device made afterwards works.
. "$(dirname "$0")/../lib/common.sh"

dbg=/sys/kernel/debug
for f in failslab fail_page_alloc; do
	[ -w "$dbg/$f/probability" ] ||
		fail "no $f in debugfs: the test kernel must have CONFIG_FAILSLAB and CONFIG_FAIL_PAGE_ALLOC"
done

# sym_range FUNC: "start end" of hmmnic's function FUNC (decimal), from
# kallsyms: from its address to the next symbol's (decimal, unsigned)
sym_range() {
	local addr type name mod start= sorted
	sorted=$(grep -F '[hmmnic]' /proc/kallsyms | sort)
	while read -r addr type name mod; do
		[ "$mod" = "[hmmnic]" ] || continue
		if [ -n "$start" ]; then
			printf '%u %u\n' "$start" "$((16#$addr))"
			return
		fi
		[ "$name" = "$1" ] && start=$((16#$addr))
	done <<<"$sorted"
}

# module_range: "start end" of hmmnic's text (decimal)
module_range() {
	local addr type name mod a lo=0 hi=0 syms
	syms=$(grep -F '[hmmnic]' /proc/kallsyms)
	while read -r addr type name mod; do
		[ "$mod" = "[hmmnic]" ] || continue
		case $type in t|T) ;; *) continue ;; esac
		a=$((16#$addr))
		{ [ "$lo" = 0 ] || [ "$a" -lt "$lo" ]; } && lo=$a
		{ [ "$hi" = 0 ] || [ "$a" -gt "$hi" ]; } && hi=$a
	done <<<"$syms"
	# kernel addresses are negative as bash's signed 64-bit numbers
	printf '%u %u\n' "$lo" "$((hi + 65536))"
}

# arm START END INTERVAL [KINDS]: fail every INTERVALth allocation of this
# shell's children whose stack holds an address in [START, END), of the
# KINDS given (default: failslab and fail_page_alloc)
arm() {
	local f
	for f in ${4:-failslab fail_page_alloc}; do
		echo "$1" >"$dbg/$f/require-start"
		echo "$2" >"$dbg/$f/require-end"
		echo Y >"$dbg/$f/task-filter"
		echo 0 >"$dbg/$f/verbose"
		echo "$3" >"$dbg/$f/interval"
		echo 1000000 >"$dbg/$f/times"
		echo 0 >"$dbg/$f/space"
		echo 100 >"$dbg/$f/probability"
	done
	echo N >"$dbg/failslab/ignore-gfp-wait"
	echo N >"$dbg/fail_page_alloc/ignore-gfp-wait"
	echo 0 >"$dbg/fail_page_alloc/min-order"
}
disarm() {
	local f
	for f in failslab fail_page_alloc; do
		echo 0 >"$dbg/$f/probability"
		echo 0 >"$dbg/$f/require-start"
	done
}
trap 'disarm; _cleanup_links' EXIT

# try_add: rdma link add hmmnicf0 with injection on, in a child that alone
# has make-it-fail set; prints ok or failed
try_add() {
	if timeout 60 bash -c 'echo 1 >/proc/self/make-it-fail &&
		exec rdma link add hmmnicf0 type hmmnic netdev veth0' 2>/dev/null; then
		echo ok
	else
		echo failed
	fi
}

check_after() {
	disarm
	if ibdev_exists hmmnicf0; then
		rdma link delete hmmnicf0 || fail "$1: cannot delete hmmnicf0"
	fi
	wait_for 5 ibdev_gone hmmnicf0 || fail "$1: hmmnicf0 stays"
}

failures=0
for func in hmmnic_pool_init hmmnic_register; do
	read -r lo hi <<<"$(sym_range "$func")"
	[ -n "$lo" ] || fail "no $func in /proc/kallsyms"
	arm "$lo" "$hi" 1
	r=$(try_add)
	check_after "$func"
	log "every allocation under $func fails: link add $r"
	[ "$r" = failed ] || fail "link add succeeded although $func could not allocate"
	failures=$((failures + 1))
done

# slab allocations alone: the pool's 64 KiB queue (a page allocation)
# succeeds and the smaller arrays fail, so the error path has something
# to free (it used to free it twice)
read -r lo hi <<<"$(sym_range hmmnic_pool_init)"
arm "$lo" "$hi" 1 failslab
r=$(try_add)
check_after "slab under hmmnic_pool_init"
log "every slab allocation under hmmnic_pool_init fails: link add $r"
[ "$r" = failed ] || fail "link add succeeded although the pool's arrays could not be allocated"
failures=$((failures + 1))

read -r lo hi <<<"$(module_range)"
start=$(date +%s)
for n in $(seq 1 24); do
	arm "$lo" "$hi" "$n"
	r=$(try_add)
	check_after "interval $n"
	log "every ${n}th allocation in hmmnic fails: link add $r ($(($(date +%s) - start)) s)"
	[ "$r" = failed ] && failures=$((failures + 1))
done
log "$failures refusals in all"

# nothing is left over, and a device works
link_add hmmnicf1 veth0
ibv_devinfo -d hmmnicf1 | grep -q PORT_ACTIVE || fail "hmmnicf1 is not active"
log "link add after the faults works"
