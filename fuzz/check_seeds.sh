#!/usr/bin/env bash
# Fails when the committed seed corpus (fuzz/corpus/) is not what
# fuzz/make_seeds writes today: seeds go stale when a format or the kernel
# list changes (kernel_args picks its kernel by index into the list), and a
# stale seed starts the fuzzer somewhere other than where its name says.
# Findings kept beside the seeds (found_*) are not generated and stay.
#   check_seeds.sh MAKE_SEEDS CORPUS_DIR
set -euo pipefail
make_seeds="$1"
corpus="$2"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$make_seeds" "$out" >/dev/null
status=0
while IFS= read -r f; do
  if ! cmp -s "$out/$f" "$corpus/$f"; then
    echo "stale or missing seed: fuzz/corpus/$f"
    status=1
  fi
done < <(cd "$out" && find . -type f -printf '%P\n' | sort)
while IFS= read -r f; do
  if [ ! -e "$out/$f" ]; then
    echo "committed seed no longer generated: fuzz/corpus/$f"
    status=1
  fi
done < <(cd "$corpus" && find . -type f ! -name 'found_*' -printf '%P\n' | sort)
if [ $status != 0 ]; then
  echo "regenerate them with: scripts/fuzz.sh seeds"
fi
exit $status
