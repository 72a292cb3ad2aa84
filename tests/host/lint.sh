#!/bin/bash
# The kernel code is clean: checkpatch --strict, sparse (C=2) and W=1 give
# no warnings for driver/, include/uapi/ and the test modules in tests/kmod/,
# and scripts/kernel-doc -Wall none for driver/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
fail() { echo "FAIL: $*" >&2; exit 1; }

# checkpatch exits non-zero for any complaint, and when it cannot run
out=$(make -s checkpatch 2>&1) || fail "checkpatch --strict complains: $out"
echo "$out"
echo "$out" | grep -qE 'ERROR|WARNING|CHECK' && fail "checkpatch --strict complains"

out=$(make -s kerneldoc 2>&1) || fail "kernel-doc failed: $out"
echo "$out"
echo "$out" | grep -q 'warning' && fail "kernel-doc -Wall warns"

out=$(make -s sparse 2>&1) || fail "sparse build failed: $out"
echo "$out"
echo "$out" | grep -E 'warning|error' | grep -E 'driver/|include/uapi|tests/kmod' &&
	fail "sparse or W=1 warnings"
# Leave a normal build behind.
make -s module >/dev/null
echo "checkpatch, kernel-doc, sparse and W=1 clean"
