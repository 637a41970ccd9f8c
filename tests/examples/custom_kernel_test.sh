#!/usr/bin/env bash
# The out-of-tree kernel example, end to end, as a kernel developer runs it:
#   1. install the Kiln build tree into a prefix (quietly);
#   2. configure and build examples/custom_kernel against it (find_package(Kiln));
#   3. run its bias_gelu_test on the host (the kernel loaded from the plugin);
#   4. run its simulated-TPC tests: the plugin loaded into a simulated device
#      and checked with the GoogleTest helper KernelMatchesReference, through
#      the installed Kiln::kernel_testing (required: they must exist and pass);
#   5. if the installed kiln has `kiln kernel run`, run the kernel on the
#      simulated TPC, found through KILN_KERNEL_PATH, and require PASS.
#
# usage: custom_kernel_test.sh KILN_BUILD_DIR EXAMPLE_SOURCE_DIR INSTALL_PREFIX EXAMPLE_BUILD_DIR
#                              [CMAKE] [CXX_COMPILER]
set -euo pipefail

source "$(dirname "$0")/example_build.sh"
install_and_build
lib="$example_build/libbias_gelu.so"
test -f "$lib"

test_bin="$example_build/bias_gelu_test"
tpc_tests="BiasGeluOnSimulatedTpc.*"

echo "== 3. bias_gelu_test on the host"
"$test_bin" --gtest_brief=1 --gtest_filter="-$tpc_tests"

echo "== 4. bias_gelu_test on the simulated TPC (Kiln::kernel_testing, KernelMatchesReference)"
listed=$("$test_bin" --gtest_list_tests --gtest_filter="$tpc_tests")
if ! grep -q "^BiasGeluOnSimulatedTpc\." <<<"$listed"; then
  echo "FAILED: bias_gelu_test has no $tpc_tests tests: was it built without Kiln::kernel_testing?" >&2
  exit 1
fi
"$test_bin" --gtest_brief=1 --gtest_filter="$tpc_tests"

echo "== 5. kiln kernel run on the simulated TPC"
kiln="$prefix/bin/kiln"
if ! "$kiln" kernel --help >/dev/null 2>&1; then
  echo "note: $kiln has no 'kernel' command yet; skipping the simulated run"
  exit 0
fi
run_kernel() {
  local out status=0
  echo "+ KILN_KERNEL_PATH=$(dirname "$lib") kiln kernel run --lib $lib --kernel bias_gelu $*"
  out=$(KILN_KERNEL_PATH="$(dirname "$lib")" "$kiln" kernel run --lib "$lib" --kernel bias_gelu "$@" 2>&1) || status=$?
  echo "$out"
  if [ "$status" -ne 0 ] || ! grep -q "PASS" <<<"$out"; then
    echo "FAILED: kiln kernel run (exit $status) did not report PASS" >&2
    exit 1
  fi
}
run_kernel --shape 300,64 --config tiny
if "$kiln" kernel --help 2>&1 | grep -q -- "--dtype"; then
  run_kernel --shape 300,64 --config tiny --dtype bf16
fi
