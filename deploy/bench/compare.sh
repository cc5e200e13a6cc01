#!/usr/bin/env bash
# Two builds (or two sets of settings) of the ingest pipeline side by side: settle-api and two
# settle-relay from folder A, then from folder B, in alternating windows of wrk load, each side
# on a database of its own that its own API migrated (so a change of schema compares too), with
# the stack's Redis and broker. Each window counts CPU per accepted order
# from /proc (API, every PostgreSQL process, relays, Redis, broker) through the outbox's drain.
# On a shared 2-core machine a single run swings by ±40 %, so a 5–10 % change shows only this
# way: the two sides share the machine's good and bad minutes.
# Usage: deploy/bench/compare.sh DIR_A DIR_B [rounds=3] [seconds=10] [connections=64]
#   DIR_A, DIR_B: folders holding settle-api, settle-relay and the *.resources folders beside
#   them in .build/release (copy them before and after a change: the migrations are resources,
#   and an executable without its own copy beside it reads the build folder's, i.e. the newest). A_ENV / B_ENV: settings for one side only, e.g. B_ENV="SETTLE_RELAY_LINGER_MS=0" (both sides log at warning unless
#   these say otherwise, e.g. B_ENV="SETTLE_LOG_LEVEL=info").
# Prints each window, then per side: orders/s and µs of CPU per order, in all and by process.
set -euo pipefail
cd "$(dirname "$0")/../.."
side_a=$(cd "${1:?usage: compare.sh DIR_A DIR_B [rounds] [seconds] [connections]}" && pwd)
side_b=$(cd "${2:?usage: compare.sh DIR_A DIR_B [rounds] [seconds] [connections]}" && pwd)
rounds=${3:-3}; seconds=${4:-10}; connections=${5:-64}
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
# shellcheck disable=SC1091
source deploy/bench/common.sh
need wrk
release_build settle
prefix="compare$(date +%s)."
curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/${prefix}orders.v1?partitions=24" >/dev/null
api_port=$((SETTLE_PORT_BASE + 95)); relay_ports="$((SETTLE_PORT_BASE + 96)) $((SETTLE_PORT_BASE + 97))"
results=$(mktemp); databases=()
compare_cleanup() {
  rm -f "$results"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for name in "${databases[@]}"; do "$psql" "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true; done
}
trap compare_cleanup EXIT
# A database per side, migrated by the side's own API.
for side in A B; do
  name="settle_compare_$(date +%s)_${side,,}"
  "$psql" "$DATABASE_URL" -qc "CREATE DATABASE $name"
  databases+=("$name")
  if [ $side = A ]; then url_a="${DATABASE_URL%/*}/$name"; url=$url_a; dir=$side_a; else url_b="${DATABASE_URL%/*}/$name"; url=$url_b; dir=$side_b; fi
  DATABASE_URL="$url" SETTLE_API_PORT=$api_port SETTLE_LOG_LEVEL=warning "$dir"/settle-api >>.settle/logs/compare-api.log 2>&1 &
  migrating=$!
  wait_healthy $api_port; kill $migrating; wait $migrating 2>/dev/null || true
done
# One merchant and API key, made by this checkout's settle on a database of its own (it migrates
# to its newest schema, which may be neither side's) and copied to both sides.
keys_db="settle_compare_$(date +%s)_keys"; databases+=("$keys_db")
"$psql" "$DATABASE_URL" -qc "CREATE DATABASE $keys_db"
merchant_json=$(DATABASE_URL="${DATABASE_URL%/*}/$keys_db" "$bin"/settle merchant create --name "compare" --json)
export SETTLE_BENCH_KEY=$(echo "$merchant_json" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
for url in "$url_a" "$url_b"; do
  for table in merchants api_keys; do
    "$psql" "${DATABASE_URL%/*}/$keys_db" -qc "\\copy $table TO STDOUT" | "$psql" "$url" -qc "\\copy $table FROM STDIN"
  done
done
redis_pid=$(cat .settle/run/redis.pid)
broker_pid=$(sed -n 's/^PID=//p' .settle/run/broker.env)
ticks() { local total=0 pid; for pid in "$@"; do [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo $total; }
drain() { while [ "$(sql "SELECT count(*) FROM outbox")" -gt 0 ]; do sleep 0.1; done; }

echo "side orders api_ticks postgres_ticks relay_ticks redis_ticks broker_ticks p99_ms"
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    if [ $side = A ]; then dir=$side_a; settings=${A_ENV:-}; bench_url=$url_a; else dir=$side_b; settings=${B_ENV:-}; bench_url=$url_b; fi
    # shellcheck disable=SC2086
    env SETTLE_LOG_LEVEL=warning $settings DATABASE_URL="$bench_url" SETTLE_API_PORT=$api_port SETTLE_RATE_LIMIT=1000000 \
      SETTLE_RATE_LIMIT_BURST=1000000 "$dir"/settle-api >>.settle/logs/compare-api.log 2>&1 &
    api=$!; pids+=($api)
    relays=()
    for port in $relay_ports; do
      # shellcheck disable=SC2086
      env SETTLE_LOG_LEVEL=warning $settings DATABASE_URL="$bench_url" SETTLE_RELAY_PORT=$port SETTLE_TOPIC_PREFIX="$prefix" \
        "$dir"/settle-relay >>.settle/logs/compare-relay.log 2>&1 &
      relays+=($!); pids+=($!)
    done
    wait_healthy $api_port; for port in $relay_ports; do wait_healthy "$port"; done
    SETTLE_BENCH_RUN="warm$side$round$(date +%s)" wrk -t2 -c"$connections" -d2s -s deploy/bench/orders.lua "http://127.0.0.1:$api_port" >/dev/null
    drain
    before=$(sql "SELECT count(*) FROM orders")
    # shellcheck disable=SC2046
    start="$(ticks $api) $(ticks $(pgrep -u postgres postgres)) $(ticks "${relays[@]}") $(ticks "$redis_pid") $(ticks "$broker_pid")"
    out=$(SETTLE_BENCH_RUN="run$side$round$(date +%s)" wrk -t2 -c"$connections" -d"${seconds}s" --latency -s deploy/bench/orders.lua "http://127.0.0.1:$api_port")
    drain
    # shellcheck disable=SC2046
    end="$(ticks $api) $(ticks $(pgrep -u postgres postgres)) $(ticks "${relays[@]}") $(ticks "$redis_pid") $(ticks "$broker_pid")"
    orders=$(( $(sql "SELECT count(*) FROM orders") - before ))
    line="$side $orders $(paste -d' ' <(tr ' ' '\n' <<<"$end") <(tr ' ' '\n' <<<"$start") | awk '{printf "%d ", $1 - $2}')$(sed -n 's/^p99_ms=//p' <<<"$out")"
    echo "$line" | tee -a "$results"
    kill "$api" "${relays[@]}"; wait "$api" "${relays[@]}" 2>/dev/null || true
  done
done

python3 - "$results" "$seconds" "$(getconf CLK_TCK)" <<'PY'
import sys, collections
path, seconds, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
totals, windows = collections.defaultdict(lambda: [0] * 6), collections.Counter()
for line in open(path):
    fields = line.split()
    windows[fields[0]] += 1
    for index, value in enumerate(fields[1:7]):
        totals[fields[0]][index] += int(value)
for side in sorted(totals):
    orders, *ticks = totals[side]
    us = lambda t: round(t / hz * 1e6 / max(1, orders))
    api, postgres, relay, redis, broker = ticks
    print(f"{side}: orders_per_s={orders / seconds / windows[side]:.0f} cpu_us_per_order={us(sum(ticks))} "
          f"api={us(api)} postgres={us(postgres)} relay={us(relay)} redis={us(redis)} broker={us(broker)}")
PY
