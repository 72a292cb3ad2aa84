#!/bin/sh
# Harness self-test fixture: always passes.
exit 0
