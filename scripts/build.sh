#!/usr/bin/env bash
# Configures and builds shardd with CMake.
# Usage: scripts/build.sh [--type Release|Debug|RelWithDebInfo] [--sanitize address,undefined|thread]
#                         [--dir BUILD_DIR] [--werror] [--no-tests] [--no-bench]
set -euo pipefail
cd "$(dirname "$0")/.."

type=Release
sanitize=""
dir=""
extra=()
while (( $# )); do
  case "$1" in
    --type) type="$2"; shift 2 ;;
    --sanitize) sanitize="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --werror) extra+=(-DSHARDD_WERROR=ON); shift ;;
    --no-tests) extra+=(-DSHARDD_BUILD_TESTS=OFF); shift ;;
    --no-bench) extra+=(-DSHARDD_BUILD_BENCH=OFF); shift ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$dir" ]]; then
  dir="build/$(echo "$type" | tr '[:upper:]' '[:lower:]')${sanitize:+-${sanitize//,/-}}"
fi

jobs=$(nproc)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DSHARDD_SANITIZE="$sanitize" "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
echo "$dir"
