#!/usr/bin/env bash
# Installs the Debian 12 packages Kiln builds against. Idempotent and quiet
# when everything is present. Run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libsystemc-dev          # SystemC 2.3.4: the device model's kernel
  libboost-dev            # Boost headers
  libtbb-dev              # oneTBB: host-side parallelism
  libopenblas-dev         # MME values: fp32 GEMM after widening bf16
  libprotobuf-dev protobuf-compiler  # device configs, traces, recipes
  libgtest-dev libgmock-dev          # tests
  libbenchmark-dev        # bench/
  libonnx-dev             # frontend/: ONNX protobuf classes, checker, shape inference
  libonnx-testdata        # tests/frontend: ONNX backend node tests (932 cases)
  clang-14 libclang-rt-14-dev        # fuzz/: clang and its libFuzzer/sanitizer runtimes
  python3                 # trace JSON checks in the demo
  python3-torch python3-torchvision python3-onnx  # tests/models: architectures exported from torch, their references
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
