#!/usr/bin/env bash
# The out-of-tree custom-op example, end to end, as an op developer runs it:
#   1. install the Kiln build tree into a prefix (quietly);
#   2. configure and build examples/custom_op against it (find_package(Kiln)):
#      the plugin libswish_op.so (kernel + op) and the program swish_demo;
#   3. run swish_demo: the op in eager and lazy mode and under graph capture, and a composition using
#      it, every value checked against the host; it must print PASS.
#
# usage: custom_op_test.sh KILN_BUILD_DIR EXAMPLE_SOURCE_DIR INSTALL_PREFIX EXAMPLE_BUILD_DIR
#                          [CMAKE] [CXX_COMPILER]
set -euo pipefail

source "$(dirname "$0")/example_build.sh"
install_and_build include/kiln/runtime/custom_op.h
test -f "$example_build/libswish_op.so"

echo "== 3. swish_demo (eager, lazy and a captured graph, checked against the host)"
out=$("$example_build/swish_demo" 2>&1) || { echo "$out"; echo "FAILED: swish_demo exited $?" >&2; exit 1; }
echo "$out"
grep -q "^PASS$" <<<"$out" || { echo "FAILED: swish_demo did not print PASS" >&2; exit 1; }
