#!/usr/bin/env bash
# Installs what is missing, builds everything optimised (Release: -O3 and
# NDEBUG, where GCC finds warnings that -O2 does not; warnings are errors) and
# runs every test; then builds and runs the tests again in a Debug build under
# AddressSanitizer + UndefinedBehaviorSanitizer. Set KILN_SKIP_SANITIZE=1 to
# skip that second pass.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"

BUILD_DIR="$root/build" "$root/scripts/build.sh" -DKILN_BUILD_TESTS=ON -DKILN_BUILD_BENCH=ON \
  -DCMAKE_BUILD_TYPE=Release
(cd "$root/build" && ctest -j2 --output-on-failure --timeout 300)

if [ "${KILN_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  BUILD_DIR="$root/build-asan" "$root/scripts/build.sh" -DKILN_SANITIZE=ON -DKILN_BUILD_TESTS=ON \
    -DKILN_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 ctest -j2 --output-on-failure --timeout 600)
fi
