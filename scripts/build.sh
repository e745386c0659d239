#!/usr/bin/env bash
# Configures and builds shardd with CMake and Ninja, through ccache when it is
# installed (see scripts/ccache-env.sh for the cache settings).
# Usage: scripts/build.sh [--type Release|Debug|RelWithDebInfo] [--sanitize address,undefined|thread]
#                         [--dir BUILD_DIR] [--werror] [--no-tests] [--no-bench]
#                         [--no-integration] [--test-faults]
#                         [--cxx-flags "FLAGS"]   (replaces the build type's optimisation flags)
#                         [--test-code-flags "FLAGS"]  (appended for test code only)
#                         [--target TARGET]...    (default: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh

type=Release
sanitize=""
dir=""
cxx_flags=""
extra=()
targets=()
while (( $# )); do
  case "$1" in
    --type) type="$2"; shift 2 ;;
    --sanitize) sanitize="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --werror) extra+=(-DSHARDD_WERROR=ON); shift ;;
    --no-tests) extra+=(-DSHARDD_BUILD_TESTS=OFF); shift ;;
    --no-bench) extra+=(-DSHARDD_BUILD_BENCH=OFF); shift ;;
    --no-integration) extra+=(-DSHARDD_BUILD_INTEGRATION=OFF); shift ;;
    --test-faults) extra+=(-DSHARDD_TEST_FAULTS=ON); shift ;;
    --cxx-flags) cxx_flags="$2"; shift 2 ;;
    --test-code-flags) extra+=("-DSHARDD_TEST_CODE_FLAGS=$2"); shift 2 ;;
    --target) targets+=(--target "$2"); shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$dir" ]]; then
  dir="build/$(echo "$type" | tr '[:upper:]' '[:lower:]')${sanitize:+-${sanitize//,/-}}"
fi

if [[ -n "$cxx_flags" ]]; then
  upper=$(echo "$type" | tr '[:lower:]' '[:upper:]')
  extra+=("-DCMAKE_CXX_FLAGS_${upper}=${cxx_flags}")
fi
if command -v ccache >/dev/null; then
  extra+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

# A directory configured by an older script with another generator is
# reconfigured from scratch.
if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=Ninja" "$dir/CMakeCache.txt"; then
  rm -rf "$dir"
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DSHARDD_SANITIZE="$sanitize" \
  "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
echo "$dir"
