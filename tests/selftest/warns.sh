#!/bin/sh
# Harness self-test fixture: passes, but makes the kernel WARN (lkdtm).
modprobe lkdtm || exit 1
echo WARNING >/sys/kernel/debug/provoke-crash/DIRECT
exit 0
