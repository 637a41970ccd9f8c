#!/usr/bin/env bash
# Installs what is missing, builds everything optimised (Release: -O3 and
# NDEBUG, where GCC finds warnings that -O2 does not; warnings are errors) and
# runs every test; then builds and runs the tests again in a Debug build (-O1) under
# AddressSanitizer + UndefinedBehaviorSanitizer; then builds the libFuzzer
# targets with clang-14 in build-fuzz/ and runs each for a short pass
# (scripts/fuzz.sh: FUZZ_RUNS inputs each, 10000 by default, and at most
# FUZZ_MAX_TIME seconds each, 30 by default, so the pass takes a few minutes
# at most on 2 cores; a crash, hang or sanitizer report fails it). Set
# KILN_SKIP_SANITIZE=1 or KILN_SKIP_FUZZ=1 to skip those passes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"

BUILD_DIR="$root/build" "$root/scripts/build.sh" -DKILN_BUILD_TESTS=ON -DKILN_BUILD_BENCH=ON \
  -DCMAKE_BUILD_TYPE=Release
(cd "$root/build" && ctest -j2 --output-on-failure --timeout 300)

if [ "${KILN_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  # Debug (assertions on) at -O1, as the sanitizers' authors advise: several
  # times faster than -O0 under ASan and it still reports every error (the
  # test files themselves at -O0: cmake/KilnTargets.cmake). -g1: line tables
  # are all a sanitizer report needs, and full debug info made the objects
  # twice as large and the build a third slower.
  BUILD_DIR="$root/build-asan" "$root/scripts/build.sh" -DKILN_SANITIZE=ON -DKILN_BUILD_TESTS=ON \
    -DKILN_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1"
  # The `heavy` tests (whole CNNs computed on the host, the 7B graph) run in
  # the Release pass above; here they would only cost time.
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest -j2 --output-on-failure --timeout 600 -LE heavy)
fi

if [ "${KILN_SKIP_FUZZ:-0}" != "1" ]; then
  echo "== fuzz targets, ${FUZZ_RUNS:-10000} inputs or ${FUZZ_MAX_TIME:-30} s each (docs/fuzzing.md)"
  FUZZ_RUNS="${FUZZ_RUNS:-10000}" FUZZ_MAX_TIME="${FUZZ_MAX_TIME:-30}" BUILD_DIR="$root/build-fuzz" \
    "$root/scripts/fuzz.sh"
fi
