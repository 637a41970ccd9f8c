#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/fuzzing.md) in their own build
# directory with clang-14 and runs each for FUZZ_RUNS inputs, starting from a
# copy of its seed corpus in fuzz/corpus/<target>/ (the committed corpus
# never grows). Fails if any target crashes, hangs, runs out of memory or reports
# a sanitizer finding; the input that did it is kept in the run directory.
#
#   scripts/fuzz.sh                 every target, FUZZ_RUNS inputs each
#   scripts/fuzz.sh decoder mme     only these
#   scripts/fuzz.sh seeds           rewrite fuzz/corpus/ with fuzz/make_seeds.cpp
#
# Environment: FUZZ_RUNS (inputs per target, default 20000), FUZZ_MAX_TIME
# (seconds per target, a safety net behind the input count; default 1800),
# BUILD_DIR (default build-fuzz), FUZZ_OUT (run directories and logs; default
# $BUILD_DIR/fuzz-runs), FUZZ_KEEP_CORPUS=1 to keep the corpus a run grew (in
# $FUZZ_OUT/<target>/corpus), JOBS (build jobs, default 2).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build-fuzz}"
out="${FUZZ_OUT:-$build/fuzz-runs}"
runs="${FUZZ_RUNS:-20000}"
max_time="${FUZZ_MAX_TIME:-1800}"
all_targets=(validator config decoder mme kernel_args onnx_model onnx_tensor)

# Inputs longer than a target reads are only mutated tails: cap them.
max_len() {
  case "$1" in
    mme) echo 256 ;;           # mode, descriptor (184), bindings (1 + 4 x 8)
    kernel_args) echo 946 ;;   # kernel, cores, the largest argument block (944)
    config) echo 8192 ;;       # the shipped configs are about 5.5 KiB
    *) echo 4096 ;;
  esac
}

# libFuzzer flags per target. The device targets drive a whole simulated
# device: each input runs through much of the simulator and leaves state
# behind it (queues, completions, caches). The entropic schedule's
# per-feature bookkeeping and the per-input leak check (LeakSanitizer scans
# the heap whenever an input's mallocs and frees differ) took over 90% of the
# MME target's CPU time, for the same coverage (docs/fuzzing.md). They run
# with the classic schedule and no per-input leak check; a leak that grows
# with inputs still ends at -rss_limit_mb, and LeakSanitizer still runs at
# exit. The ONNX model target holds a runtime on such a device (its recipe
# cache grows with the inputs): the same. The validator, configs and tensor
# files hold no state: everything on.
flags() {
  case "$1" in
    decoder|mme|kernel_args|onnx_model) echo "-entropic=0 -detect_leaks=0" ;;
    *) echo "" ;;
  esac
}

build_targets() {
  # Only the targets named are built (the directory may hold the tests too:
  # scripts/test.sh runs its sanitizer pass there); the Fuzz build type is
  # -O1 with line tables and assertions on (CMakeLists.txt).
  CXX="${CXX:-clang++-14}" cmake -S "$root" -B "$build" -DKILN_FUZZ=ON -DCMAKE_BUILD_TYPE=Fuzz >/dev/null
  local t=()
  for name in "$@"; do t+=(--target "$name"); done
  cmake --build "$build" -j"${JOBS:-2}" "${t[@]}"
}

if [ "${1:-}" = "seeds" ]; then
  build_targets make_seeds
  rm -rf "$root/fuzz/corpus.new"
  "$build/fuzz/make_seeds" "$root/fuzz/corpus.new"
  # Findings kept beside the generated seeds (named found_*) stay.
  for dir in "$root"/fuzz/corpus/*/; do
    [ -d "$dir" ] || continue
    for f in "$dir"found_*; do
      [ -e "$f" ] && cp "$f" "$root/fuzz/corpus.new/$(basename "$dir")/"
    done
  done
  rm -rf "$root/fuzz/corpus"
  mv "$root/fuzz/corpus.new" "$root/fuzz/corpus"
  echo "fuzz: seeds written to fuzz/corpus/"
  exit 0
fi

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
bins=()
for t in "${targets[@]}"; do bins+=("${t}_fuzz"); done
build_targets "${bins[@]}"

mkdir -p "$out"
failed=()
printf '%-12s %9s %8s %9s %7s %8s  %s\n' target inputs seconds "exec/s" cov features result
for t in "${targets[@]}"; do
  dir="$out/$t"
  rm -rf "$dir"
  mkdir -p "$dir/corpus"
  cp "$root/fuzz/corpus/$t/"* "$dir/corpus/"
  start=$(date +%s)
  set +e
  # -timeout: one input taking longer is a hang. -rss_limit_mb: the device
  # targets hold a simulated device, ASan's quarantine and the corpus.
  # -print_final_stats: the figures below. The device is opened once per
  # process, so no -fork/-jobs (each process would open its own).
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    "$build/fuzz/${t}_fuzz" -runs="$runs" -max_total_time="$max_time" -timeout=60 -rss_limit_mb=3072 \
    -max_len="$(max_len "$t")" $(flags "$t") -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" \
    >"$dir.log" 2>&1
  rc=$?
  set -e
  seconds=$(($(date +%s) - start))
  done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir.log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir.log")
  last=$(grep -E '^#[0-9]+' "$dir.log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc; $dir.log; input: $(ls "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -1 || true))"
    failed+=("$t")
  elif [ "${done_runs:-0}" -lt "$runs" ]; then
    # The safety net stopped it first: not a failure, but not the figure asked for.
    result="stopped by FUZZ_MAX_TIME at ${done_runs:-0} inputs"
  fi
  printf '%-12s %9s %8s %9s %7s %8s  %s\n' "$t" "${done_runs:-?}" "$seconds" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
  [ "${FUZZ_KEEP_CORPUS:-0}" = "1" ] || rm -rf "$dir/corpus"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} failed; reproduce with build-fuzz/fuzz/<target>_fuzz <input>" >&2
  exit 1
fi
