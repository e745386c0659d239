# Section f) of scripts/bench.sh (sourced there; uses its start_shardd, wait_port,
# stop_server, tmp, results, rounds, warmup, duration): chat fan-out against
# a Node `ws` broadcast server and a Colyseus room, one load client for all;
# and the floor (bench/fanout_floor.cpp, the ws protocol): what one write per
# delivery costs with no server work around it.

fanout_members=${BENCH_FANOUT_MEMBERS:-1000}
fanout_senders=${BENCH_FANOUT_SENDERS:-10}
read -r -a fanout_rates <<<"${BENCH_FANOUT_RATES:-2 5 20}"
fanout_dir=$root/bench/fanout

# start_node NAME SCRIPT: a reference server on a free port; sets server_pid
# and server_port.
start_node() {
  local name=$1 script=$2
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  node "$fanout_dir/$script" "$port" >"$tmp/$name.out" 2>&1 &
  wait_port "$name" "$script"
}

# fanout_run NAME TARGET RATE: one load run against the current server.
fanout_run() {
  local name=$1 target=$2 rate=$3
  local out=$tmp/$name.json
  node "$fanout_dir/fanout_load.mjs" --target "$target" --url "ws://127.0.0.1:$server_port" \
    --server-pid "$server_pid" --members "$fanout_members" --senders "$fanout_senders" \
    --rate "$rate" --warmup "$warmup" --duration "$duration" --label "$name" >"$out" \
    2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; exit 1; }
  sed "s/^{/{\"run\":\"$name\",/" "$out" >>"$results"
  printf '   %-18s %9s deliveries/s  %9s per server CPU-s  p50 %7s ms  p99 %7s ms  (%s of %s)\n' \
    "$name" "$(json_field "$out" deliveries_per_s)" "$(json_field "$out" deliveries_per_cpu_s)" \
    "$(json_field "$out" p50_ms)" "$(json_field "$out" p99_ms)" \
    "$(json_field "$out" deliveries)" "$(json_field "$out" expected_deliveries)"
}

fanout_case() {  # fanout_case NAME TARGET RATE
  local name=$1 target=$2 rate=$3
  case $target in
    shardd)
      shardd_extra=(--set auth.kdf=pbkdf2 --set auth.pbkdf2_iterations=1000
        --set auth.register_per_ip_per_min=100000 --set auth.ip_attempts_per_min=100000
        --set chat.custom_per_min=100000 --set chat.custom_burst=10000
        --set chat.max_channel_members=100000 --set chat.repeat_limit=1000)
      start_shardd "$name"
      shardd_extra=()
      ;;
    ws) start_node "$name" ws_broadcast.mjs ;;
    colyseus) start_node "$name" colyseus_room.mjs ;;
    floor)
      "$floor_bin" --port 0 --bind 127.0.0.1 >"$tmp/$name.out" 2>&1 &
      wait_port "$name" "fan-out floor ($name)"
      ;;
  esac
  fanout_run "$name" "$target" "$rate"
  stop_server
}

# fanout_median FIELD PREFIX: the median of FIELD over the rounds of PREFIX.
fanout_median() {
  local r
  for ((r = 1; r <= rounds; r++)); do json_field "$tmp/$2_$r.json" "$1"; done |
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'
}

# fanout_four RATE FIELD [SEP FIELD2]: the medians of FIELD (and FIELD2) at
# RATE for the four servers, as table columns.
fanout_four() {
  local t col
  for t in shardd ws colyseus floor; do
    col=$(fanout_median "$2" "f${1}_$t")
    [[ -n ${4:-} ]] && col+="$3$(fanout_median "$4" "f${1}_$t")"
    printf ' %12s' "$col"
  done
}

fanout_section() {
  echo "== f) chat fan-out: $fanout_members members in one channel, $fanout_senders senders," \
    "rates ${fanout_rates[*]} msgs/s each ($rounds rounds; shardd io/logic/storage 1 thread" \
    "each, the Node servers single-threaded)"
  (cd "$fanout_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  local rate r t
  for rate in "${fanout_rates[@]}"; do
    for ((r = 1; r <= rounds; r++)); do
      for t in shardd ws colyseus floor; do fanout_case "f${rate}_${t}_$r" "$t" "$rate"; done
    done
  done
  printf '%-40s %12s %12s %12s %12s %9s %9s %9s\n' "" shardd ws colyseus floor "vs ws" \
    "vs colys." "floor/ws"
  for rate in "${fanout_rates[@]}"; do
    local offered=$((rate * fanout_senders))
    local s w c f
    s=$(fanout_median deliveries_per_cpu_s "f${rate}_shardd")
    w=$(fanout_median deliveries_per_cpu_s "f${rate}_ws")
    c=$(fanout_median deliveries_per_cpu_s "f${rate}_colyseus")
    f=$(fanout_median deliveries_per_cpu_s "f${rate}_floor")
    printf '%-40s %12s %12s %12s %12s %9s %9s %9s  target >= 3 %s\n' \
      "f) $offered msgs/s: deliveries per CPU-s" "$s" "$w" "$c" "$f" "$(ratio "$s" "$w")" \
      "$(ratio "$s" "$c")" "$(ratio "$f" "$w")" "$(verdict "$(awk -v a="$s" -v b="$w" -v c="$c" \
        'BEGIN { r1 = b > 0 ? a / b : 0; r2 = c > 0 ? a / c : 0; print (r1 < r2 ? r1 : r2) }')" '>=' 3)"
    printf '%-40s%s\n' "f) $offered msgs/s: deliveries/s" "$(fanout_four "$rate" deliveries_per_s)"
    local p99s p99w p99c
    p99s=$(fanout_median p99_ms "f${rate}_shardd")
    p99w=$(fanout_median p99_ms "f${rate}_ws")
    p99c=$(fanout_median p99_ms "f${rate}_colyseus")
    printf '%-40s%s  p99 no worse than ws and colyseus %s\n' "f) $offered msgs/s: p50 / p99 ms" \
      "$(fanout_four "$rate" p50_ms / p99_ms)" "$(verdict "$p99s" '<=' "$(awk -v a="$p99w" -v b="$p99c" \
        'BEGIN { print (a < b ? a : b) }')")"
    printf '%-40s%s\n' "f) $offered msgs/s: user / sys us per dlvry" \
      "$(fanout_four "$rate" user_us_per_delivery / sys_us_per_delivery)"
  done
}
