#!/usr/bin/env bash
# Installs dependencies, builds shardd and its tests with warnings as errors,
# and runs the whole suite through ctest. This is what CI (.ci/run) runs.
#
# Usage: scripts/test.sh                 normal build (RelWithDebInfo) + every test
#        scripts/test.sh --sanitize address,undefined | thread
#                                        the same tests against a sanitizer build
#        scripts/test.sh --all           normal, address+undefined, thread, then
#                                        the fuzz targets for a short time each
#        scripts/test.sh --fuzz          the fuzz step alone
#
# Builds go through ccache (scripts/ccache-env.sh) with Ninja. The integration
# tests and their client library link no shardd module, so they are built once,
# in the normal build (build/test), and run against each build's shardd
# (SHARDD_BIN); a sanitizer build compiles only the server and the unit tests.
# The harness gives every shardd child a sanitizer log_path and fails the test
# on any report; sanitizer builds plant test faults (-DSHARDD_TEST_FAULTS=ON)
# that the sanitizer_proof tests use to show the harness catches them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh

# Seconds each fuzz target runs in --all / --fuzz (scripts/fuzz.sh runs longer).
FUZZ_SECONDS="${SHARDD_FUZZ_SECONDS:-20}"
NORMAL_DIR=build/test

phases=()
phase_start=0
current=""
begin() { phase_start=$SECONDS; current="$1"; echo "== test.sh: $1"; }
end() { phases+=("$(printf '%-40s %5d s' "$1" $((SECONDS - phase_start)))"); current=""; }

summary() {
  local rc=$?
  echo "== test.sh: phase times"
  printf '   %s\n' "${phases[@]}"
  [[ -n "$current" ]] && printf '   %-40s %5d s  FAILED\n' "$current" $((SECONDS - phase_start))
  printf '   %-40s %5d s\n' "total" "$SECONDS"
  if command -v ccache >/dev/null; then
    echo "== test.sh: ccache ($CCACHE_DIR)"
    ccache -s | sed 's/^/   /'
  fi
  if (( rc == 0 )); then echo "== test.sh: all tests passed"; else echo "== test.sh: FAILED ($rc)"; fi
}
trap summary EXIT

source scripts/sanitizer-env.sh

build_dir() {
  local sanitize="$1"
  echo "build/test${sanitize:+-${sanitize//,/-}}"
}

# build NAME SANITIZE [build.sh args...]
build() {
  local sanitize="$1"; shift
  local dir; dir=$(build_dir "$sanitize")
  # Line tables only (-g1) keep stack traces readable at a third less compile
  # time than full -g. TSan runs at -O1 (its usual setting); ASan+UBSan at -O0,
  # which compiles the Beast-heavy files in ~60 % of the -O1 time (measured:
  # ws_accept 181 s -> 105 s) and still finds everything those tools find.
  local opt="-O2 -g1 -DNDEBUG"
  [[ "$sanitize" == *thread* ]] && opt="-O1 -g1 -DNDEBUG"
  [[ "$sanitize" == *address* ]] && opt="-O0 -g1 -DNDEBUG"
  # The tests' own code needs no optimisation (the modules under test keep it).
  scripts/build.sh --type RelWithDebInfo --werror --no-bench ${sanitize:+--sanitize "$sanitize"} \
    --dir "$dir" --cxx-flags "$opt" --test-code-flags "-O0" "$@"
}

run_ctest() {  # DIR [ctest args...]
  local dir="$1"; shift
  (cd "$dir" && env ${env_vars[@]+"${env_vars[@]}"} ctest --output-on-failure -j "$(nproc)" \
     --timeout 300 "$@")
}

normal_suite() {
  begin "build (normal)"
  build ""
  end "build normal"
  begin "tests (normal)"
  env_vars=()
  run_ctest "$NORMAL_DIR" -LE sanitizer_proof
  end "tests normal"
  client_tests
}

# The JavaScript SDK and the /play files against the normal build's shardd
# (node's test runner; ws from clients/js/package-lock.json).
client_tests() {
  begin "tests sdk (node)"
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
  SHARDD_BIN="$PWD/$NORMAL_DIR/shardd" node --test clients/js/test/*.test.js
  end "tests sdk"
  begin "tests browser (chromium)"
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf build/e2e-artifacts
  SHARDD_BIN="$PWD/$NORMAL_DIR/shardd" SHARDD_E2E_ARTIFACTS="$PWD/build/e2e-artifacts" \
    node --test tests/e2e/*.e2e.test.js
  echo "test.sh: browser screenshots in build/e2e-artifacts/"
  end "tests browser"
}

# The integration executables of the normal build (and its shardd, which
# they default to) without the rest, for a --sanitize run on its own.
integration_build() {
  begin "build (integration tests)"
  build "" --target shardd_integration_test --target shardd_accounts_test \
    --target shardd_social_test --target shardd_chat_test --target shardd_sanitizer_harness_test
  end "build integration tests"
}

sanitizer_suite() {
  local sanitize="$1"
  local dir; dir=$(build_dir "$sanitize")
  begin "build ($sanitize)"
  build "$sanitize" --no-integration --test-faults
  end "build $sanitize"
  sanitizer_env "$sanitize"
  begin "unit tests ($sanitize)"
  run_ctest "$dir"
  end "unit tests $sanitize"
  begin "integration tests ($sanitize, $dir/shardd)"
  local proof='sanitizer_proof\.(Clean|DataRace)'
  [[ "$sanitize" == *address* ]] && proof='sanitizer_proof\.(Clean|Leak|HeapUse|Undefined)'
  env_vars+=(SHARDD_BIN="$PWD/$dir/shardd" SHARDD_TEST_SANITIZER="$sanitize")
  run_ctest "$NORMAL_DIR" -L integration
  run_ctest "$NORMAL_DIR" -R "$proof"
  end "integration tests $sanitize"
}

fuzz_step() {
  begin "fuzz (${FUZZ_SECONDS} s per target)"
  scripts/fuzz.sh --time "$FUZZ_SECONDS"
  end "fuzz"
}

# One prepared MariaDB data directory per run; every test instance copies it.
export SHARDD_TEST_MARIADB_TEMPLATE="$PWD/build/mariadb-template"
rm -rf "$SHARDD_TEST_MARIADB_TEMPLATE" "$SHARDD_TEST_MARIADB_TEMPLATE.lock"

begin "install dependencies"
scripts/install-deps.sh --test
end "install dependencies"

case "${1:-}" in
  "") normal_suite ;;
  --sanitize) integration_build; sanitizer_suite "$2" ;;
  --all)
    normal_suite
    sanitizer_suite "address,undefined"
    sanitizer_suite "thread"
    fuzz_step
    ;;
  --fuzz) fuzz_step ;;
  *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
esac
