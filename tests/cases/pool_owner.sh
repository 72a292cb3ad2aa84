#!/bin/bash
# Two hmmnic devices never touch each other's pool pages: hmmnic0 stages
# pages, then hmmnicp0 (on veth0) reads the same memory through its own
# ODP region. Its faults run with its own owner, so the pages come back to
# system memory through hmmnic0's migrate_to_ram, and the data is right
# (tests/cases/pool.c, case "owner").
. "$(dirname "$0")/../lib/common.sh"
require_pool

link_add hmmnicp0 veth0
wait_for 10 sh -c 'ibv_devinfo -d hmmnicp0 | grep -q PORT_ACTIVE' ||
	fail "hmmnicp0 not active"
HMMNIC_DEV2=hmmnicp0 "$HMMNIC_TOP/tests/cases/pool" owner
