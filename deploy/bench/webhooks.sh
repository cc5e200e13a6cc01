#!/usr/bin/env bash
# Webhook latency end to end, in release builds: order created (its row's created_at) → the
# payment.succeeded webhook received (the sink's clock at first arrival), for orders posted at a
# paced rate for the given seconds. Everything on the path runs: settle-api, two settle-relay,
# two settle-worker with the card-processor simulator, settle-dispatcher and `settle sink`, on a
# database of their own and the stack's Redis and development broker (topics behind a prefix of
# their own). Two phases: one healthy endpoint; then the same load with a second endpoint whose
# receiver never answers within the dispatcher's 15 s time-out (the healthy one's latency must
# not move). The load is wrk with a pause per connection (SETTLE_BENCH_DELAY_MS in orders.lua),
# so the offered rate is near, not exactly, the target: the achieved rate is printed. Per
# phase: the API's figures from wrk, then for this phase's orders the p50/p99 from creation to
# the payment.succeeded event (settled), to its delivery row (fanned out) and to the webhook's
# first arrival at the sink. Prints one key=value per line.
# Usage: deploy/bench/webhooks.sh [orders_per_s] [seconds]     (default 2000, 60)
#        SETTLE_BUILD_PATH=.build-release deploy/bench/webhooks.sh   (release build in another folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
# shellcheck disable=SC1091
source deploy/bench/common.sh
need wrk
rate="${1:-2000}"
seconds="${2:-60}"
release_build settle-api settle-relay settle-worker settle-dispatcher settle
bench_database
prefix="bench$(date +%s)h."
for topic in orders.v1 orders.v1.retry.1 orders.v1.retry.2 orders.v1.retry.3 payments.v1; do
  curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$prefix$topic?partitions=12" >/dev/null
done
for topic in orders.v1.dlq orders.v1.parked payments.v1.dlq; do
  curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$prefix$topic?partitions=3" >/dev/null
done

# Every process of the run: on the run's database and topics, logging warnings only (env execs
# the program, so $! is its PID and the EXIT trap stops it).
bench=(env DATABASE_URL="$bench_url" SETTLE_TOPIC_PREFIX="$prefix" SETTLE_LOG_LEVEL=warning)
api_port=$((SETTLE_PORT_BASE + 90)); processor_port=$((SETTLE_PORT_BASE + 95)); dispatcher_port=$((SETTLE_PORT_BASE + 88))
sink_port=$((SETTLE_PORT_BASE + 89)); hanging_port=$((SETTLE_PORT_BASE + 91))
"${bench[@]}" "$bin"/settle processor --port "$processor_port" >>.settle/logs/bench-processor.log 2>&1 & pids+=($!)
"${bench[@]}" SETTLE_API_PORT=$api_port SETTLE_RATE_LIMIT=1000000 SETTLE_RATE_LIMIT_BURST=1000000 \
  SETTLE_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8 "$bin"/settle-api >>.settle/logs/bench-api.log 2>&1 & pids+=($!)
for port in $((SETTLE_PORT_BASE + 93)) $((SETTLE_PORT_BASE + 94)); do
  "${bench[@]}" SETTLE_RELAY_PORT=$port "$bin"/settle-relay >>.settle/logs/bench-relay.log 2>&1 & pids+=($!)
done
for port in $((SETTLE_PORT_BASE + 96)) $((SETTLE_PORT_BASE + 97)); do
  "${bench[@]}" SETTLE_WORKER_PORT=$port SETTLE_WORKER_GROUP="${prefix}workers" SETTLE_PROCESSOR_URL="http://127.0.0.1:$processor_port" \
    "$bin"/settle-worker >>.settle/logs/bench-worker.log 2>&1 & pids+=($!)
done
"${bench[@]}" SETTLE_DISPATCHER_PORT=$dispatcher_port SETTLE_DISPATCHER_GROUP="${prefix}dispatcher" SETTLE_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8 \
  "$bin"/settle-dispatcher >>.settle/logs/bench-dispatcher.log 2>&1 & pids+=($!)
"${bench[@]}" "$bin"/settle sink --port "$sink_port" --secrets-from-database >>.settle/logs/bench-sink.log 2>&1 & pids+=($!)
"${bench[@]}" "$bin"/settle sink --port "$hanging_port" --secrets-from-database >>.settle/logs/bench-sink.log 2>&1 & pids+=($!)
for port in "$processor_port" "$api_port" $((SETTLE_PORT_BASE + 93)) $((SETTLE_PORT_BASE + 94)) $((SETTLE_PORT_BASE + 96)) \
            $((SETTLE_PORT_BASE + 97)) "$dispatcher_port" "$sink_port" "$hanging_port"; do
  wait_healthy "$port"
done

export SETTLE_BENCH_KEY
SETTLE_BENCH_KEY=$("${bench[@]}" "$bin"/settle merchant create --name "webhook bench" --json | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
endpoint() {  # $1: URL → the endpoint's id
  curl -fsS -X POST "http://127.0.0.1:$api_port/v1/webhook-endpoints" -H "Authorization: Bearer $SETTLE_BENCH_KEY" \
    -H "Content-Type: application/json" -d "{\"url\":\"$1\",\"enabled_events\":[\"payment.succeeded\"]}" |
    sed -E 's/.*"id":"([^"]+)".*/\1/'
}
healthy=$(endpoint "http://127.0.0.1:$sink_port/hooks/healthy")

connections=32
pause=$(python3 -c "print(max(0, round($connections * 1000 / $rate) - 1))")
received() { curl -fsS "http://127.0.0.1:$sink_port/deliveries" | sed -E 's/.*"events":([0-9]+).*/\1/'; }

phase() {  # $1: name; runs the load, waits for every succeeded order's webhook, prints the figures
  local name=$1 start out succeeded
  start=$(sql "SELECT now()")
  echo "==> $name: POST /v1/orders near $rate/s for ${seconds} s ($connections connections, ${pause} ms pause)" >&2
  out=$(SETTLE_BENCH_RUN="$name$(date +%s)" SETTLE_BENCH_DELAY_MS=$pause \
        wrk -t2 -c"$connections" -d"${seconds}s" --latency -s deploy/bench/orders.lua "http://127.0.0.1:$api_port")
  echo "==> $name: waiting for every order to settle and every payment.succeeded to reach the healthy endpoint" >&2
  for _ in $(seq 1 1200); do
    succeeded=$(sql "SELECT count(*) FROM events WHERE type = 'payment.succeeded'")
    [ "$(sql "SELECT count(*) FROM orders WHERE status = 'pending'")" -eq 0 ] && [ "$(received)" -ge "$succeeded" ] && break
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$sink_port/arrivals" |
    "$psql" "$bench_url" -qc "CREATE TABLE IF NOT EXISTS bench_arrivals (event_id uuid PRIMARY KEY, micros bigint);
                              TRUNCATE bench_arrivals; COPY bench_arrivals FROM STDIN"
  echo "$out" | sed -n "s/^\(orders_per_s\|p50_ms\|p99_ms\|errors\)=/${name}_api_\1=/p"
  sql "WITH run AS (
         SELECT o.created_at AS created, e.created_at AS settled, d.created_at AS fanned_out, to_timestamp(a.micros / 1e6) AS received
         FROM orders o JOIN events e ON e.order_id = o.id AND e.type = 'payment.succeeded'
         JOIN webhook_deliveries d ON d.event_id = e.id AND d.endpoint_id = '$healthy'
         LEFT JOIN bench_arrivals a ON a.event_id = e.id
         WHERE o.created_at >= '$start')
       SELECT '${name}_orders=' || count(*) FROM run
       UNION ALL SELECT '${name}_webhooks_received=' || count(received) FROM run
       UNION ALL SELECT '${name}_settled_p50_ms=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM settled - created) * 1000)::numeric, 1) FROM run
       UNION ALL SELECT '${name}_settled_p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM settled - created) * 1000)::numeric, 1) FROM run
       UNION ALL SELECT '${name}_fanned_out_p50_ms=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fanned_out - created) * 1000)::numeric, 1) FROM run
       UNION ALL SELECT '${name}_fanned_out_p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM fanned_out - created) * 1000)::numeric, 1) FROM run
       UNION ALL SELECT '${name}_webhook_p50_ms=' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received - created) * 1000)::numeric, 1) FROM run
       UNION ALL SELECT '${name}_webhook_p99_ms=' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received - created) * 1000)::numeric, 1) FROM run
       UNION ALL SELECT '${name}_webhook_max_ms=' || round(max(extract(epoch FROM received - created) * 1000)::numeric, 1) FROM run"
}

echo "==> warm-up: orders through the whole path until one's webhook arrives (consumer groups formed)" >&2
for _ in $(seq 1 120); do
  curl -sS -o /dev/null -X POST "http://127.0.0.1:$api_port/v1/orders" -H "Authorization: Bearer $SETTLE_BENCH_KEY" \
    -H "Content-Type: application/json" -d '{"amount":100,"currency":"usd","payment_method":"pm_card_ok"}'
  [ "$(received)" -gt 0 ] && break
  sleep 0.5
done
[ "$(received)" -gt 0 ] || { echo "no webhook arrived within a minute; see .settle/logs/bench-*.log"; exit 1; }

phase healthy
# The second endpoint's receiver holds every request past the dispatcher's 15 s time-out.
curl -fsS -X POST "http://127.0.0.1:$hanging_port/fault" -d '{"delay_ms":20000,"seconds":3600}' >/dev/null
hanging=$(endpoint "http://127.0.0.1:$hanging_port/hooks/hanging")
phase with_hanging
echo "with_hanging_hanging_endpoint_deliveries=$(sql "SELECT string_agg(status || ':' || n, ',') FROM (SELECT status, count(*) AS n FROM webhook_deliveries WHERE endpoint_id = '$hanging' GROUP BY status) s")"
echo "endpoints=$healthy,$hanging"
