#!/usr/bin/env bash
# The out-of-tree custom-op example, end to end, as an op developer runs it:
#   1. install the Kiln build tree into a prefix (quietly);
#   2. configure and build examples/custom_op against it (find_package(Kiln)):
#      the plugin libswish_op.so (kernel + op) and the program swish_demo;
#   3. run swish_demo: the op in eager and lazy mode and a composition using
#      it, every value checked against the host; it must print PASS.
#
# usage: custom_op_test.sh KILN_BUILD_DIR EXAMPLE_SOURCE_DIR INSTALL_PREFIX EXAMPLE_BUILD_DIR
#                          [CMAKE] [CXX_COMPILER]
set -euo pipefail

kiln_build=$1
example_src=$2
prefix=$3
example_build=$4
cmake=${5:-cmake}
cxx=${6:-}

quiet() {  # runs a command, showing its output only when it fails
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    rm -f "$log"
    echo "FAILED: $*" >&2
    exit 1
  fi
  rm -f "$log"
}

echo "== 1. install $kiln_build -> $prefix"
rm -rf "$prefix"
quiet "$cmake" --install "$kiln_build" --prefix "$prefix"
test -f "$prefix/lib/cmake/Kiln/KilnConfig.cmake"
test -f "$prefix/include/kiln/runtime/custom_op.h"

echo "== 2. build $example_src against the installed Kiln"
rm -rf "$example_build"
configure=("$cmake" -S "$example_src" -B "$example_build" -DCMAKE_PREFIX_PATH="$prefix"
           -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ -n "$cxx" ]; then configure+=(-DCMAKE_CXX_COMPILER="$cxx"); fi
quiet "${configure[@]}"
quiet "$cmake" --build "$example_build" -j"${JOBS:-2}"
test -f "$example_build/libswish_op.so"

echo "== 3. swish_demo (eager and lazy, checked against the host)"
out=$("$example_build/swish_demo" 2>&1) || { echo "$out"; echo "FAILED: swish_demo exited $?" >&2; exit 1; }
echo "$out"
grep -q "^PASS$" <<<"$out" || { echo "FAILED: swish_demo did not print PASS" >&2; exit 1; }
