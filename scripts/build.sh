#!/usr/bin/env bash
# Configures and builds shardd with CMake.
# Usage: scripts/build.sh [--type Release|Debug|RelWithDebInfo] [--sanitize address,undefined|thread]
#                         [--dir BUILD_DIR] [--werror] [--no-tests] [--no-bench]
#                         [--cxx-flags "FLAGS"]   (replaces the build type's optimisation flags)
set -euo pipefail
cd "$(dirname "$0")/.."

type=Release
sanitize=""
dir=""
cxx_flags=""
extra=()
while (( $# )); do
  case "$1" in
    --type) type="$2"; shift 2 ;;
    --sanitize) sanitize="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --werror) extra+=(-DSHARDD_WERROR=ON); shift ;;
    --no-tests) extra+=(-DSHARDD_BUILD_TESTS=OFF); shift ;;
    --no-bench) extra+=(-DSHARDD_BUILD_BENCH=OFF); shift ;;
    --cxx-flags) cxx_flags="$2"; shift 2 ;;
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

jobs=$(nproc)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DSHARDD_SANITIZE="$sanitize" "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
echo "$dir"
