#!/usr/bin/env bash
# Installs dependencies, builds shardd and its tests with warnings as errors,
# and runs the whole suite through ctest. This is what CI (.ci/run) runs.
#
# Usage: scripts/test.sh                 normal build (RelWithDebInfo) + every test
#        scripts/test.sh --sanitize address,undefined | thread
#                                        the same tests in a sanitizer build
#        scripts/test.sh --all           normal, address+undefined, then thread
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --test

run_suite() {
  local sanitize="$1"
  local dir="build/test${sanitize:+-${sanitize//,/-}}"
  echo "== test.sh: building ${sanitize:-normal} build in $dir"
  # Line tables only (-g1) keep stack traces readable at a third less compile
  # time than full -g. TSan runs at -O1 (its usual setting); ASan+UBSan at -O0,
  # which compiles the Beast-heavy files in ~60 % of the -O1 time (measured:
  # ws_accept 181 s -> 105 s) and still finds everything those tools find.
  local opt="-O2 -g1 -DNDEBUG"
  [[ "$sanitize" == *thread* ]] && opt="-O1 -g1 -DNDEBUG"
  [[ "$sanitize" == *address* ]] && opt="-O0 -g1 -DNDEBUG"
  local start=$SECONDS
  scripts/build.sh --type RelWithDebInfo --werror --no-bench ${sanitize:+--sanitize "$sanitize"} \
    --dir "$dir" --cxx-flags "$opt" >/dev/null
  echo "== test.sh: built in $((SECONDS - start)) s"
  echo "== test.sh: running tests (${sanitize:-normal})"
  local env=()
  if [[ "$sanitize" == *address* ]]; then
    # An 8 MiB quarantine (default 256) still catches use-after-free of recent
    # frees and keeps RSS meaningful for the "memory stays flat" tests.
    env+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=8
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
  fi
  if [[ "$sanitize" == *thread* ]]; then
    env+=(TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp")
  fi
  (cd "$dir" && env "${env[@]}" ctest --output-on-failure -j "$(nproc)" --timeout 300)
}

case "${1:-}" in
  "") run_suite "" ;;
  --sanitize) run_suite "$2" ;;
  --all) run_suite ""; run_suite "address,undefined"; run_suite "thread" ;;
  *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
esac
echo "== test.sh: all tests passed"
