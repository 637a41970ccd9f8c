#!/usr/bin/env bash
# Configures and builds Kiln into ${BUILD_DIR:-build}. Extra arguments go to cmake,
# after the default build type RelWithDebInfo: -DCMAKE_BUILD_TYPE=Release (or
# Debug) among them wins. TARGETS (space-separated) builds only those targets.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
# Ninja keeps both cores busy across targets (make's recursion idles one
# while a library links); a directory configured before with another
# generator keeps it.
generator=()
if command -v ninja >/dev/null && { [ ! -f "$build/CMakeCache.txt" ] || grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build/CMakeCache.txt"; }; then
  generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"${JOBS:-2}" "${targets[@]}"
