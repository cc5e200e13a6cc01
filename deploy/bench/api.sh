#!/usr/bin/env bash
# Ingest benchmark: POST /v1/orders with unique Idempotency-Keys at 64 connections (wrk), against
# a release build of settle-api on the stack's PostgreSQL and Redis, in a database of its own
# (no relay drains it); then, in the same run and database, pgbench writing one order + outbox
# row per transaction at 64 clients, for the ratio. Prints a CPU sample taken mid-run.
# Usage: deploy/bench/api.sh [seconds] [connections]      (default 30 s, 64)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
seconds="${1:-30}"
connections="${2:-64}"
port=$((SETTLE_PORT_BASE + 90))
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
psql=$(ls /usr/lib/postgresql/*/bin/psql | tail -1)

echo "==> release build of settle-api and settle"
swift build -c release --product settle-api >/dev/null 2>&1
swift build -c release --product settle >/dev/null 2>&1

name="settle_bench_$(date +%s)"
"$psql" "$DATABASE_URL" -qc "CREATE DATABASE $name"
export DATABASE_URL="${DATABASE_URL%/*}/$name"
drop_database() { "$psql" "${DATABASE_URL%/*}/settle" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true; }

# A bench API of its own, without the rate limit, on its own port.
SETTLE_API_PORT=$port SETTLE_RATE_LIMIT=1000000 SETTLE_RATE_LIMIT_BURST=1000000 SETTLE_LOG_LEVEL=warning \
  .build/release/settle-api > .settle/logs/bench-api.log 2>&1 &
api_pid=$!
trap 'kill $api_pid 2>/dev/null || true; wait $api_pid 2>/dev/null || true; drop_database' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

merchant_json=$(.build/release/settle merchant create --name "bench" --json)
export SETTLE_BENCH_KEY=$(echo "$merchant_json" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
merchant_id=$(echo "$merchant_json" | sed -E 's/.*"id":"([^"]+)".*/\1/')
export SETTLE_BENCH_RUN="run$(date +%s)"

echo "==> warm-up (5 s)"
wrk -t2 -c"$connections" -d5s -s deploy/bench/orders.lua "http://127.0.0.1:$port" >/dev/null
echo "==> settle-api: POST /v1/orders, $connections connections, ${seconds} s"
export SETTLE_BENCH_RUN="run$(date +%s)b"
(sleep $((seconds / 2)); top -b -n 1 -w 200 | sed -n '7,14p' > .settle/logs/bench-api-top.txt) &
api_out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency -s deploy/bench/orders.lua "http://127.0.0.1:$port")
echo "$api_out" | grep -E "Requests/sec|Non-2xx|Socket errors" || true
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$api_pid/status")
batches=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^settle_api_order_batch_size_(sum|count)/ {print $2}' | paste -sd' ')

echo "==> pgbench: one order + outbox row per transaction, $connections clients, ${seconds} s"
pg_out=$(PGOPTIONS="-c synchronous_commit=on" "$pgbench" "$DATABASE_URL" -n -c "$connections" -j 2 -T "$seconds" \
  -f deploy/bench/order-transaction.sql -D merchant="'$merchant_id'" 2>&1)
pg_tps=$(echo "$pg_out" | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)

orders_per_s=$(echo "$api_out" | sed -n 's/^orders_per_s=//p')
p50=$(echo "$api_out" | sed -n 's/^p50_ms=//p')
p99=$(echo "$api_out" | sed -n 's/^p99_ms=//p')
errors=$(echo "$api_out" | sed -n 's/^errors=//p')
read -r batch_sum batch_count <<<"$batches"
echo
printf '%-34s %s\n' "settle-api orders/s" "$orders_per_s"
printf '%-34s %s / %s\n' "settle-api p50 / p99 (ms)" "$p50" "$p99"
printf '%-34s %s\n' "settle-api errors (non-2xx, socket)" "$errors"
printf '%-34s %s\n' "settle-api peak RSS (MB)" "$((rss_kb / 1024))"
printf '%-34s %s\n' "mean group-commit batch" "$(python3 -c "print(round(${batch_sum:-0} / max(1, ${batch_count:-0}), 1))")"
printf '%-34s %s\n' "pgbench transactions/s" "$pg_tps"
echo "CPU mid-run (top):"; cat .settle/logs/bench-api-top.txt
printf '%-34s %s\n' "ratio settle-api / pgbench" "$(python3 -c "print(round($orders_per_s / $pg_tps, 2))")"
