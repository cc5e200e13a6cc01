#!/usr/bin/env bash
# Payment-worker benchmark: the settle rate (orders charged at the card-processor simulator and
# recorded with their event, per second) with one and then two release-build settle-worker
# processes, on a database of their own and the stack's development broker (topics behind a
# prefix of their own, so the stack's workers never see them). The orders are published first
# (a release-build relay drains them to Kafka), then the workers start on the backlog, so the
# figure is what the workers sustain. Consumer lag is sampled from the workers' own gauge; CPU
# per order is read from /proc for every process on the path (workers, simulator, PostgreSQL,
# Redis, broker).
# Usage: deploy/bench/worker.sh [orders]      (default 20000)
#        SETTLE_BUILD_PATH=.build-release deploy/bench/worker.sh   (release build in another folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
orders="${1:-20000}"
# shellcheck disable=SC1091
source deploy/bench/common.sh
release_build settle-worker settle-relay settle
bench_database
processor_port=$((SETTLE_PORT_BASE + 95))
DATABASE_URL="$bench_url" SETTLE_LOG_LEVEL=warning "$bin"/settle processor --port "$processor_port" \
  >>.settle/logs/bench-processor.log 2>&1 &
pids+=($!); processor_pid=$!
wait_healthy "$processor_port"

# CPU seconds (user + system) of a set of PIDs, from /proc/<pid>/stat.
cpu() { for pid in "$@"; do cat "/proc/$pid/stat" 2>/dev/null; done | awk -v hz="$(getconf CLK_TCK)" '{ sum += $14 + $15 } END { printf "%.3f", sum / hz }'; }
postgres_pids() { pgrep -u postgres -d ' ' postgres; }
redis_pid=$(cat .settle/run/redis.pid)
broker_pid=$(sed -n 's/^PID=//p' .settle/run/broker.env)

run() {  # $1: number of workers
  local prefix="bench$(date +%s)w$1." topic merchant
  merchant=$(python3 -c 'import uuid; print(uuid.uuid4())')  # each run's orders are its merchant's
  sql "INSERT INTO merchants (id, name) VALUES ('$merchant', 'bench')"
  for topic in orders.v1 orders.v1.retry.1 orders.v1.retry.2 orders.v1.retry.3; do
    curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$prefix$topic?partitions=12" >/dev/null
  done
  for topic in orders.v1.dlq orders.v1.parked; do curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$prefix$topic?partitions=3" >/dev/null; done
  sql "DELETE FROM outbox"
  # The orders as the API writes them (order, order.created event, outbox row), on the prefixed topic.
  sql "WITH created AS (
         INSERT INTO orders (id, merchant_id, amount, currency, payment_method, status)
         SELECT gen_random_uuid(), '$merchant', 1299, 'usd', 'pm_card_ok', 'pending' FROM generate_series(1, $orders) RETURNING id
       ), event AS (
         INSERT INTO events (id, merchant_id, order_id, type, data)
         SELECT gen_random_uuid(), '$merchant', id, 'order.created', jsonb_build_object('object', jsonb_build_object('id', id)) FROM created
         RETURNING id, merchant_id, order_id, type, data, created_at
       )
       INSERT INTO outbox (event_id, topic, key, payload, headers)
       SELECT id, '${prefix}orders.v1', order_id::text, settle_event_envelope(id, type, merchant_id, created_at, data),
              settle_outbox_headers(id, type, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01') FROM event"
  local relay_port=$((SETTLE_PORT_BASE + 98))
  DATABASE_URL="$bench_url" SETTLE_RELAY_PORT=$relay_port SETTLE_LOG_LEVEL=warning "$bin"/settle-relay >>.settle/logs/bench-relay.log 2>&1 &
  local relay=$!
  while [ "$(sql "SELECT count(*) FROM outbox")" -gt 0 ]; do sleep 0.2; done
  kill "$relay"; wait "$relay" 2>/dev/null || true

  local workers=() ports=() index port
  for index in $(seq 1 "$1"); do
    port=$((SETTLE_PORT_BASE + 95 + index))
    DATABASE_URL="$bench_url" SETTLE_TOPIC_PREFIX="$prefix" SETTLE_WORKER_GROUP="${prefix}workers" SETTLE_WORKER_PORT=$port \
      SETTLE_PROCESSOR_URL="http://127.0.0.1:$processor_port" SETTLE_LOG_LEVEL=warning \
      "$bin"/settle-worker >>.settle/logs/bench-worker.log 2>&1 &
    workers+=($!); pids+=($!); ports+=("$port")
  done
  for port in "${ports[@]}"; do wait_healthy "$port"; done
  # Measured from the first settled order (after the group formed) to the last.
  local settled=0 start="" start_count=0 max_lag=0 lag cpu_start=""
  local path=("${workers[@]}" "$processor_pid" "$redis_pid" "$broker_pid")
  while :; do
    settled=$(sql "SELECT count(*) FROM orders WHERE merchant_id = '$merchant' AND status <> 'pending'")
    if [ -z "$start" ] && [ "$settled" -gt 0 ]; then
      start=$(date +%s.%N); start_count=$settled; cpu_start=$(cpu "${path[@]}" $(postgres_pids))
    fi
    lag=0
    for port in "${ports[@]}"; do
      lag=$((lag + $(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^settle_worker_consumer_lag\{topic="[^"]*orders.v1"/ { sum += $2 } END { printf "%d", sum }')))
    done
    [ "$lag" -gt "$max_lag" ] && max_lag=$lag
    [ "$settled" -ge "$orders" ] && break
    sleep 0.25
  done
  local end cpu_end
  end=$(date +%s.%N); cpu_end=$(cpu "${path[@]}" $(postgres_pids))
  for pid in "${workers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  python3 -c "
rate = ($orders - $start_count) / ($end - $start)
print(f'workers_$1_orders_per_s={rate:.0f}')
print(f'workers_$1_cpu_us_per_order={($cpu_end - $cpu_start) / ($orders - $start_count) * 1e6:.0f}')
print(f'workers_$1_max_consumer_lag=$max_lag')"
}
echo "==> $orders orders, one worker"
run 1
echo "==> $orders orders, two workers"
run 2
