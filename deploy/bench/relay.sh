#!/usr/bin/env bash
# Relay benchmark on a database of its own (the stack's relays do not see it) and the stack's
# development broker, with release builds of settle-relay:
#   1. commit → broker-acknowledged latency with rows arriving at 2,000/s (pgbench -R), p50/p99
#      from the relay's publish-latency histogram;
#   2. drain rate of a 500,000-row backlog with one relay, then with two.
# Usage: deploy/bench/relay.sh [backlog rows]      (default 500000)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
rows="${1:-500000}"
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -1)
psql=$(ls /usr/lib/postgresql/*/bin/psql | tail -1)
swift build -c release --product settle-relay >/dev/null 2>&1
swift build -c release --product settle >/dev/null 2>&1

name="settle_bench_$(date +%s)"
"$psql" "$DATABASE_URL" -qc "CREATE DATABASE $name"
bench_url="${DATABASE_URL%/*}/$name"
relays=()
cleanup() {
  for pid in "${relays[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$psql" "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
}
trap cleanup EXIT
DATABASE_URL="$bench_url" .build/release/settle migrate >/dev/null
topic="bench-relay-$(date +%s)"
curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$topic?partitions=12" >/dev/null

start_relay() {  # $1: operations port
  DATABASE_URL="$bench_url" SETTLE_RELAY_PORT="$1" SETTLE_LOG_LEVEL=warning \
    .build/release/settle-relay >>.settle/logs/bench-relay.log 2>&1 &
  relays+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
}
backlog() { "$psql" "$bench_url" -tAc "SELECT count(*) FROM outbox"; }
port1=$((SETTLE_PORT_BASE + 93)); port2=$((SETTLE_PORT_BASE + 94))

echo "==> latency: 2,000 rows/s for 20 s, one relay"
start_relay "$port1"
# Steady state: measure once the relay owns every shard (it takes them within its first second).
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port1/metrics" | grep -q '^settle_relay_owned_shards 16' && break; sleep 0.1
done
# Warm-up: the first send to a new topic waits for its metadata and the producer's id (~1 s),
# and every row arriving meanwhile would count that second.
"$pgbench" "$bench_url" -n -t 1 -f deploy/bench/outbox-insert.sql -D topic="'$topic'" >/dev/null 2>&1
while [ "$(backlog)" -gt 0 ]; do sleep 0.1; done
"$pgbench" "$bench_url" -n -c 4 -j 2 -T 20 -R 2000 -f deploy/bench/outbox-insert.sql -D topic="'$topic'" >/dev/null 2>&1
sleep 1
latency=$(curl -fsS "http://127.0.0.1:$port1/metrics" | grep '^settle_relay_publish_latency_seconds_bucket')
quantile() {  # $1: 0.5 or 0.99 — the upper bound of the bucket holding that quantile
  echo "$latency" | python3 -c "
import sys, re
buckets = [(float('inf') if m.group(1) == '+Inf' else float(m.group(1)), float(m.group(2)))
           for m in (re.search(r'le=\"([^\"]+)\"\} ([0-9.e+]+)', l) for l in sys.stdin) if m]
buckets.sort()
total = buckets[-1][1]
print(next(f'{le * 1000:g} ms' for le, count in buckets if count >= $1 * total))"
}
p50=$(quantile 0.5); p99=$(quantile 0.99)
kill "${relays[0]}"; wait "${relays[0]}" 2>/dev/null || true; relays=()

drain() {  # $1: number of relays
  "$psql" "$bench_url" -qc "INSERT INTO outbox (event_id, topic, key, payload, headers)
    SELECT gen_random_uuid(), '$topic', gen_random_uuid()::text, '{\"type\":\"order.created\"}', '{\"event-id\":\"bench\"}'
    FROM generate_series(1, $rows)"
  local start end
  start=$(date +%s.%N)
  start_relay "$port1"
  [ "$1" -ge 2 ] && start_relay "$port2"
  while [ "$(backlog)" -gt 0 ]; do sleep 0.2; done
  end=$(date +%s.%N)
  for pid in "${relays[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  relays=()
  python3 -c "print(int($rows / ($end - $start)))"
}
echo "==> drain $rows rows, one relay"
one=$(drain 1)
echo "==> drain $rows rows, two relays"
two=$(drain 2)

printf '%-40s %s\n' "commit → ack p50 / p99 (2,000 rows/s)" "$p50 / $p99 (histogram bucket bounds)"
printf '%-40s %s\n' "drain, one relay (events/s)" "$one"
printf '%-40s %s\n' "drain, two relays (events/s)" "$two"
