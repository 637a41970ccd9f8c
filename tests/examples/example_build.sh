# Shared by the out-of-tree example tests (sourced, after `set -euo pipefail`,
# with the test's arguments): KILN_BUILD_DIR EXAMPLE_SOURCE_DIR INSTALL_PREFIX
# EXAMPLE_BUILD_DIR [CMAKE] [CXX_COMPILER]. Sets kiln_build, example_src,
# prefix, example_build, cmake and cxx; defines quiet and install_and_build.

kiln_build=$1
example_src=$2
prefix=$3
example_build=$4
cmake=${5:-cmake}
cxx=${6:-}

quiet() {  # runs a command, showing its output only when it fails
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log"
    rm -f "$log"
    echo "FAILED: $*" >&2
    exit 1
  fi
  rm -f "$log"
}

# Steps 1 and 2 of every example test: install the Kiln build tree into the
# prefix (quietly), then configure and build the example against it
# (find_package(Kiln)). Arguments: files the installed tree must have.
install_and_build() {
  echo "== 1. install $kiln_build -> $prefix"
  rm -rf "$prefix"
  quiet "$cmake" --install "$kiln_build" --prefix "$prefix"
  test -f "$prefix/lib/cmake/Kiln/KilnConfig.cmake"
  local f
  for f in "$@"; do test -f "$prefix/$f"; done

  echo "== 2. build $example_src against the installed Kiln"
  rm -rf "$example_build"
  local configure=("$cmake" -S "$example_src" -B "$example_build" -DCMAKE_PREFIX_PATH="$prefix"
                   -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  if [ -n "$cxx" ]; then configure+=(-DCMAKE_CXX_COMPILER="$cxx"); fi
  quiet "${configure[@]}"
  quiet "$cmake" --build "$example_build" -j"${JOBS:-2}"
}
