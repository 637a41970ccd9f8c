#!/usr/bin/env bash
# The main job: install what is missing, build, print the gaudi2 device
# summary, run the driver example (host -> HBM -> HBM -> host on two queues
# ordered by the sync manager) and show the trace it wrote.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
# Only what the demo runs, in the Release configuration scripts/test.sh
# builds in the same directory; the other options stay as they are, so the
# test build that follows only builds what is missing.
TARGETS="kiln driver_copy" BUILD_DIR="$root/build" "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=Release >/dev/null
export KILN_CONFIG_PATH="$root/configs"
out="$root/out"
mkdir -p "$out"
echo "== kiln info --config gaudi2"
"$root/build/tools/kiln" info --config gaudi2
echo
echo "== driver example"
"$root/build/examples/driver_copy" --config gaudi2 --trace "$out/driver_copy"
echo
echo "== kiln trace summary $out/driver_copy.pb"
"$root/build/tools/kiln" trace summary "$out/driver_copy.pb"
"$root/build/tools/kiln" trace report "$out/driver_copy.pb" -o "$out/driver_copy.html"
echo
echo "Open $out/driver_copy.json in https://ui.perfetto.dev to see the timeline,"
echo "or $out/driver_copy.html in any browser for the timeline and the tables above."
