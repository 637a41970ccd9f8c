#!/usr/bin/env bash
# The main job: install what is missing, build, and run ONNX models end to
# end on the simulated gaudi2 with `kiln run`: a model from Debian's
# libonnx-testdata checked against the outputs it ships, then ResNet-18
# (torchvision's architecture, random weights) exported by
# tests/models/export_models.py and checked against PyTorch's outputs, in
# graph-replay mode, with the report (latency first vs steady, host vs
# device, engine utilisation, top ops, critical path) and the trace. Then
# the device summary and the driver example (host -> HBM -> HBM -> host on
# two queues ordered by the sync manager).
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
data=/usr/share/libonnx-testdata/data/pytorch-operator/test_operator_conv
echo "== kiln run $data/model.onnx (libonnx-testdata: a PyTorch convolution and its expected outputs)"
"$root/build/tools/kiln" run "$data/model.onnx" --inputs "$data/test_data_set_0" --check "$data/test_data_set_0" \
  --mode graph --iterations 3 --trace "$out/operator_conv.pb"
echo
echo "== ResNet-18 (torchvision, random weights) exported to ONNX with PyTorch's outputs, run and checked"
if /usr/bin/python3 "$root/tests/models/export_models.py" --out "$out/models" --only resnet18; then
  model="$out/models/resnet18"
  "$root/build/tools/kiln" run "$model/model.onnx" --inputs "$model/test_data_set_0" --check "$model/test_data_set_0" \
    --mode graph --iterations 3 --trace "$out/resnet18.pb"
  "$root/build/tools/kiln" trace report "$out/resnet18.pb" -o "$out/resnet18.html"
  echo "ResNet-18's timeline: $out/resnet18.html (or $out/resnet18.pb via kiln trace export)"
else
  echo "(skipped: exporting needs Debian's python3-torch, python3-torchvision and python3-onnx; scripts/setup.sh installs them)"
fi
echo
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
