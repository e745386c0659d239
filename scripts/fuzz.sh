#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with Debian's clang and runs each
# for a while on a copy of its seed corpus (tests/fuzz/corpus/<target>; the
# repository's corpus is never written). Needs: clang libclang-rt-14-dev
# ninja-build (scripts/install-deps.sh --test installs them).
#
# Usage: scripts/fuzz.sh [--time SECONDS (default 60)] [target ...]   (default: all)
# Prints one line per target:
#   fuzz: <target> runs=<N> cov=<edges> ft=<features> corpus=<n> time=<s>s result=ok|FAILED
# and exits non-zero if any target found a crash, leak, UB or timeout; the
# input is kept in build/fuzz/artifacts/<target>/ (add it to the corpus as
# regress-<what> once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh

seconds=60
targets=()
while (( $# )); do
  case "$1" in
    --time) seconds="$2"; shift 2 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(fuzz_envelope_json fuzz_envelope_msgpack fuzz_tcp_frame fuzz_config fuzz_admin_body
     fuzz_rt_body fuzz_chat_text)
(( ${#targets[@]} )) || targets=("${all[@]}")

declare -A max_len=([fuzz_envelope_json]=4096 [fuzz_envelope_msgpack]=4096
                    [fuzz_tcp_frame]=16384 [fuzz_config]=8192 [fuzz_admin_body]=4096
                    [fuzz_rt_body]=4096 [fuzz_chat_text]=4096)

dir=build/fuzz
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DSHARDD_BUILD_FUZZ=ON -DSHARDD_BUILD_TESTS=OFF \
  -DSHARDD_BUILD_BENCH=OFF -DSHARDD_LINKER=default "${launcher[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

failed=0
for t in "${targets[@]}"; do
  work=$(mktemp -d "/tmp/shardd-fuzz-$t-XXXXXX")
  mkdir -p "$work/corpus" "$dir/artifacts/$t"
  cp -r "tests/fuzz/corpus/$t/." "$work/corpus/" 2>/dev/null || true
  dict=()
  [[ -f "tests/fuzz/$t.dict" ]] && dict=("-dict=tests/fuzz/$t.dict")
  start=$SECONDS
  rc=0
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$dir/tests/fuzz/$t" "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len="${max_len[$t]:-4096}" -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$t/" "${dict[@]}" > "$work/log" 2>&1 || rc=$?
  line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 || true)
  [[ -z "$line" ]] && line=$(grep -E '^#[0-9]+[[:space:]]' "$work/log" | tail -1 || true)
  runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$line")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$line")
  corp=$(sed -nE 's/.*corp: ([0-9]+).*/\1/p' <<<"$line")
  result=ok
  if (( rc != 0 )); then result=FAILED; failed=1; fi
  echo "fuzz: $t runs=${runs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} time=$((SECONDS - start))s result=$result"
  if [[ $result != ok ]]; then
    echo "---- $t log (tail) ----"
    tail -60 "$work/log"
    echo "---- artifacts: $dir/artifacts/$t/ ----"
    ls -la "$dir/artifacts/$t/"
  fi
  rm -rf "$work"
done
exit $failed
