# Sourced by scripts/test.sh and scripts/repeat-test.sh (from the checkout's
# root): sanitizer_env SANITIZE sets the array env_vars to the runtime options
# the tests run with for that build (address,undefined | thread | "").
sanitizer_env() {
  local sanitize="$1"
  env_vars=()
  if [[ "$sanitize" == *address* ]]; then
    # An 8 MiB quarantine (default 256) still catches use-after-free of recent
    # frees and keeps RSS meaningful for the "memory stays flat" tests.
    env_vars+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=8
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
  fi
  if [[ "$sanitize" == *thread* ]]; then
    env_vars+=(TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp")
  fi
}
