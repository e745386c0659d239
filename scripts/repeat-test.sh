#!/usr/bin/env bash
# Runs chosen tests many times in a row, in parallel with each other as CI
# does, to show they are not flaky: stops at the first failure.
#
# Usage: scripts/repeat-test.sh [--build DIR] [--times N] [--jobs J] REGEX
#   --build DIR  a configured build directory (default build/test-thread, the
#                TSan build: timing problems show there first)
#   --times N    runs of each matching test (default 20)
#   --jobs J     ctest -j (default 2)
#   --gtest-filter F  GTEST_FILTER for executables ctest runs whole (the
#                accounts suites: integration.accounts.*)
#   REGEX        ctest -R regular expression (test names as `ctest -N` lists)
#
# The sanitizer options are set the way scripts/test.sh sets them. Integration
# tests are built once, in build/test: with a sanitizer build, the matching
# integration tests of build/test run too, against that build's shardd.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build/test-thread
times=20
jobs=2
regex=""
gtest_filter=""
while (( $# )); do
  case "$1" in
    --build) dir="$2"; shift 2 ;;
    --times) times="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --gtest-filter) gtest_filter="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "repeat-test: unknown option $1" >&2; exit 2 ;;
    *) regex="$1"; shift ;;
  esac
done
[[ -n "$regex" ]] || { echo "repeat-test: give a test name regex (see --help)" >&2; exit 2; }
[[ -f "$dir/CMakeCache.txt" ]] || { echo "repeat-test: $dir is not a build directory" >&2; exit 2; }

sanitize=$(sed -n 's/^SHARDD_SANITIZE:[A-Z]*=//p' "$dir/CMakeCache.txt")
source scripts/sanitizer-env.sh
sanitizer_env "$sanitize"
envs=(${env_vars[@]+"${env_vars[@]}"})
if [[ -n "$sanitize" ]]; then
  envs+=(SHARDD_TEST_SANITIZER="$sanitize" SHARDD_BIN="$PWD/$dir/shardd")
fi

[[ -n "$gtest_filter" ]] && envs+=(GTEST_FILTER="$gtest_filter")

matches() {  # DIR [ctest args...]: number of tests matching
  local d="$1"; shift
  (cd "$d" && ctest -N -R "$regex" "$@" | sed -n 's/^Total Tests: //p')
}
repeat_in() {  # DIR [ctest args...]
  local d="$1"; shift
  echo "repeat-test: $(matches "$d" "$@") test(s) matching '$regex' in $d, $times times each," \
       "-j$jobs${sanitize:+ ($sanitize)}"
  (cd "$d" && env ${envs[@]+"${envs[@]}"} ctest -R "$regex" "$@" -j "$jobs" \
     --repeat "until-fail:$times" --output-on-failure --timeout 600)
}

start=$SECONDS
ran=0
if [[ "$(matches "$dir")" != 0 ]]; then
  repeat_in "$dir"
  ran=1
fi
# Integration tests are built only in build/test; with a sanitizer build they
# run against its shardd (SHARDD_BIN), as scripts/test.sh runs them.
if [[ -n "$sanitize" && -f build/test/CMakeCache.txt && "$(matches build/test -L integration)" != 0 ]]; then
  repeat_in build/test -L integration
  ran=1
fi
(( ran )) || { echo "repeat-test: no test matches '$regex'" >&2; exit 2; }
echo "repeat-test: passed $times times in a row ($((SECONDS - start)) s)"
