#!/usr/bin/env bash
# Runs chosen tests many times in a row, in parallel with each other as CI
# does, to show they are not flaky: stops at the first failure.
#
# Usage: scripts/repeat-test.sh [--build DIR] [--times N] [--jobs J] REGEX
#   --build DIR  a configured build directory (default build/test-thread, the
#                TSan build: timing problems show there first)
#   --times N    runs of each matching test (default 20)
#   --jobs J     ctest -j (default 2)
#   REGEX        ctest -R regular expression (test names as `ctest -N` lists)
#
# The sanitizer options (and, for a sanitizer build, SHARDD_BIN for the
# integration tests of build/test) are set the way scripts/test.sh sets them.
# Integration tests are built once, in build/test: give that directory with
# --build and the TSan server is used when build/test-thread/shardd exists.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build/test-thread
times=20
jobs=2
regex=""
while (( $# )); do
  case "$1" in
    --build) dir="$2"; shift 2 ;;
    --times) times="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "repeat-test: unknown option $1" >&2; exit 2 ;;
    *) regex="$1"; shift ;;
  esac
done
[[ -n "$regex" ]] || { echo "repeat-test: give a test name regex (see --help)" >&2; exit 2; }
[[ -f "$dir/CMakeCache.txt" ]] || { echo "repeat-test: $dir is not a build directory" >&2; exit 2; }

sanitize=$(sed -n 's/^SHARDD_SANITIZE:[A-Z]*=//p' "$dir/CMakeCache.txt")
envs=()
if [[ "$sanitize" == *address* ]]; then
  envs+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=8
         UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
fi
if [[ "$sanitize" == *thread* ]]; then
  envs+=(TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp")
fi
if [[ -n "$sanitize" ]]; then
  envs+=(SHARDD_TEST_SANITIZER="$sanitize" SHARDD_BIN="$PWD/$dir/shardd")
fi

count=$(cd "$dir" && ctest -N -R "$regex" | sed -n 's/^Total Tests: //p')
if [[ "${count:-0}" == 0 ]]; then
  # Integration tests live in the normal build; run them against $dir/shardd.
  if [[ "$dir" != build/test && -f build/test/CMakeCache.txt ]]; then
    echo "repeat-test: no test matches in $dir; using build/test with SHARDD_BIN=$dir/shardd"
    dir=build/test
    count=$(cd "$dir" && ctest -N -R "$regex" | sed -n 's/^Total Tests: //p')
  fi
  [[ "${count:-0}" != 0 ]] || { echo "repeat-test: no test matches '$regex'" >&2; exit 2; }
fi
echo "repeat-test: $count test(s) matching '$regex' in $dir, $times times each, -j$jobs${sanitize:+ ($sanitize)}"
start=$SECONDS
(cd "$dir" && env ${envs[@]+"${envs[@]}"} ctest -R "$regex" -j "$jobs" --repeat "until-fail:$times" \
   --output-on-failure --timeout 300)
echo "repeat-test: passed $times times in a row ($((SECONDS - start)) s)"
