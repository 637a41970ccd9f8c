#!/usr/bin/env bash
# Installs what is missing, builds everything optimised (Release: -O3 and
# NDEBUG, where GCC finds warnings that -O2 does not; warnings are errors) and
# runs every test; then builds everything again with clang-14 in build-fuzz/,
# instrumented for libFuzzer and under AddressSanitizer + UndefinedBehaviorSanitizer
# (the Fuzz build type: -O1, assertions on), runs the tests there, and runs
# each libFuzzer target of that same build for a short pass (scripts/fuzz.sh:
# FUZZ_RUNS inputs each, 10000 by default, and at most FUZZ_MAX_TIME seconds
# each, 20 by default, so the pass takes a few minutes at most on 2 cores; a
# crash, hang or sanitizer report fails it). Set KILN_SKIP_SANITIZE=1 or
# KILN_SKIP_FUZZ=1 to skip those passes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"

BUILD_DIR="$root/build" "$root/scripts/build.sh" -DKILN_BUILD_TESTS=ON -DKILN_BUILD_BENCH=ON \
  -DCMAKE_BUILD_TYPE=Release
(cd "$root/build" && ctest -j2 --output-on-failure --timeout 300)

sanitize=1; fuzz=1
[ "${KILN_SKIP_SANITIZE:-0}" = "1" ] && sanitize=0
[ "${KILN_SKIP_FUZZ:-0}" = "1" ] && fuzz=0

# One instrumented build serves both the sanitizer tests and the fuzz
# targets: a second one (GCC's sanitizers) took longer than the rest of CI.
# Its test files compile unoptimised (cmake/KilnTargets.cmake); the libraries
# at -O1, as the sanitizers' authors advise. The coverage hooks the fuzzer
# reads are empty functions outside a fuzz target.
if [ $sanitize = 1 ] || [ $fuzz = 1 ]; then
  tests=OFF
  [ $sanitize = 1 ] && tests=ON
  CXX=clang++-14 BUILD_DIR="$root/build-fuzz" "$root/scripts/build.sh" -DKILN_FUZZ=ON \
    -DKILN_BUILD_TESTS=$tests -DCMAKE_BUILD_TYPE=Fuzz
fi

if [ $sanitize = 1 ]; then
  echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer (clang, build-fuzz/)"
  # The `heavy` tests (whole CNNs computed on the host, the 7B graph) run in
  # the Release pass above; here they would only cost time.
  (cd "$root/build-fuzz" && ASAN_OPTIONS=detect_leaks=1 ctest -j2 --output-on-failure --timeout 600 -LE heavy)
fi

if [ $fuzz = 1 ]; then
  echo "== fuzz targets, ${FUZZ_RUNS:-10000} inputs or ${FUZZ_MAX_TIME:-20} s each (docs/fuzzing.md)"
  FUZZ_RUNS="${FUZZ_RUNS:-10000}" FUZZ_MAX_TIME="${FUZZ_MAX_TIME:-20}" BUILD_DIR="$root/build-fuzz" \
    "$root/scripts/fuzz.sh"
fi
