#!/usr/bin/env bash
# The ingest pipeline under load, in release builds: settle-api and two settle-relay on a
# database of their own, the stack's Redis and development broker (the relays publish behind a
# topic prefix of their own, so the stack's workers never see these orders), under wrk at the
# given connections with a unique Idempotency-Key per request. Then it waits until the outbox
# is drained and counts this run's orders on the topic. In the same run, the FastAPI + asyncpg
# peer (../shared/bench/peer) on the same PostgreSQL server with the same seconds and
# connections. CPU per order is read from /proc over the measured window for every process of
# the pipeline: API, PostgreSQL (every server process), relays, Redis, broker.
# Prints one key=value per line; cpu_us_idle_stack is what the idle local stack (its own workers,
# dispatcher and relays polling) spends meanwhile in the shared PostgreSQL, Redis and broker, and
# cpu_us_per_order_net the figure without it.
# Usage: deploy/bench/pipeline.sh [seconds] [connections]      (default 20 s, 64)
#        SETTLE_BUILD_PATH=.build-release deploy/bench/pipeline.sh   (release build in another folder)
#        SETTLE_BENCH_PEER=0 deploy/bench/pipeline.sh   (Settle only, to compare two builds)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
seconds="${1:-20}"
connections="${2:-64}"
peer="$(cd .. && pwd)/shared/bench/peer/run.sh"
[ -x "$peer" ] || [ -f "$peer" ] || { echo "the peer is missing: $peer"; exit 1; }
# shellcheck disable=SC1091
source deploy/bench/common.sh
need wrk kcat
release_build settle-api settle-relay settle
bench_database
prefix="bench$(date +%s)."
topic="${prefix}orders.v1"
# The development broker keeps at most 5 MiB per partition and drops a partition's oldest
# messages beyond that: 24 partitions (twice the stack's orders.v1) hold a run of about
# 190,000 orders, and the count below refuses to report a topic that lost its beginning.
partitions=24
curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$topic?partitions=$partitions" >/dev/null
# The stack's own services (its workers, dispatcher and relays) keep polling the shared
# PostgreSQL, Redis and broker while nothing is sent: their CPU over an idle stretch before the
# run, scaled to the window, is reported as cpu_us_idle_stack, and cpu_us_per_order_net is the
# figure without it (cpu_us_per_order itself counts every process whole).
idle_seconds=10
redis_pid=$(cat .settle/run/redis.pid)
broker_pid=$(sed -n 's/^PID=//p' .settle/run/broker.env)
# CPU ticks (user + system) of "part pid" lines read from standard input: "part pid ticks" lines.
ticks() {
  while read -r part pid; do
    if [ -r "/proc/$pid/stat" ]; then echo "$part $pid $(awk '{print $14 + $15}' "/proc/$pid/stat")"; fi
  done
}
# The servers the pipeline shares with the stack. PostgreSQL is every server process of the postgres user.
shared_parts() {
  for pid in $(pgrep -u postgres postgres); do echo "postgres $pid"; done
  echo "redis $redis_pid"; echo "broker $broker_pid"
}
shared_parts | ticks > /tmp/settle-bench-idle0
sleep "$idle_seconds"
shared_parts | ticks > /tmp/settle-bench-idle1

api_port=$((SETTLE_PORT_BASE + 90))
DATABASE_URL="$bench_url" SETTLE_API_PORT=$api_port SETTLE_RATE_LIMIT=1000000 SETTLE_RATE_LIMIT_BURST=1000000 \
  SETTLE_LOG_LEVEL=warning "$bin"/settle-api >>.settle/logs/bench-api.log 2>&1 &
api_pid=$!; pids+=($api_pid)
relay_pids=()
for port in $((SETTLE_PORT_BASE + 93)) $((SETTLE_PORT_BASE + 94)); do
  DATABASE_URL="$bench_url" SETTLE_RELAY_PORT=$port SETTLE_TOPIC_PREFIX="$prefix" SETTLE_LOG_LEVEL=warning \
    "$bin"/settle-relay >>.settle/logs/bench-relay.log 2>&1 &
  relay_pids+=($!); pids+=($!)
done
wait_healthy "$api_port"
for port in $((SETTLE_PORT_BASE + 93)) $((SETTLE_PORT_BASE + 94)); do wait_healthy "$port"; done

merchant_json=$(DATABASE_URL="$bench_url" "$bin"/settle merchant create --name "bench" --json)
export SETTLE_BENCH_KEY=$(echo "$merchant_json" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')

# CPU ticks per PID of each part of the pipeline: "part pid ticks" lines.
snapshot() {
  { echo "api $api_pid"; for pid in "${relay_pids[@]}"; do echo "relay $pid"; done; shared_parts; } | ticks
}

echo "==> warm-up (3 s)" >&2
SETTLE_BENCH_RUN="warm$(date +%s)" wrk -t2 -c"$connections" -d3s -s deploy/bench/orders.lua "http://127.0.0.1:$api_port" >/dev/null
while [ "$(sql "SELECT count(*) FROM outbox")" -gt 0 ]; do sleep 0.2; done
before=$(sql "SELECT count(*) FROM orders")

echo "==> settle: POST /v1/orders, $connections connections, ${seconds} s" >&2
snapshot > /tmp/settle-bench-cpu0
out=$(SETTLE_BENCH_RUN="run$(date +%s)" wrk -t2 -c"$connections" -d"${seconds}s" --latency -s deploy/bench/orders.lua "http://127.0.0.1:$api_port")
snapshot > /tmp/settle-bench-cpu1
accepted=$(( $(sql "SELECT count(*) FROM orders") - before ))

echo "==> waiting for the outbox to drain, then counting this run's orders on $topic" >&2
for _ in $(seq 1 600); do [ "$(sql "SELECT count(*) FROM outbox")" -eq 0 ] && break; sleep 0.2; done
published_total=$(kcat -b "$KAFKA_BROKERS" -C -t "$topic" -o beginning -e -q -f '%k\n' 2>/dev/null | sort -u | wc -l)
published=$((published_total - before))
trimmed=$(kcat -b "$KAFKA_BROKERS" -Q $(for p in $(seq 0 $((partitions - 1))); do echo "-t $topic:$p:-2"; done) 2>/dev/null |
  awk '$NF > 0' | wc -l)
if [ "$trimmed" -gt 0 ]; then
  echo "the broker dropped the oldest messages of $trimmed partitions: published_per_s would undercount" >&2
  published=-1
fi

if [ "${SETTLE_BENCH_PEER:-1}" = 0 ]; then
  peer_out=""   # comparing two builds of Settle: the peer's figures are not needed
else
  echo "==> the peer (FastAPI + asyncpg) on the same PostgreSQL server" >&2
  peer_out=$(bash "$peer" "${DATABASE_URL%/*}" "$seconds" "$connections")
fi

python3 - "$seconds" "$accepted" "$published" "$(getconf CLK_TCK)" "$idle_seconds" <<PY
import sys
seconds, accepted, published, hz, idle_seconds = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def load(path):
    ticks = {}
    for line in open(path):
        part, pid, value = line.split()
        ticks[(part, pid)] = float(value)
    return ticks
start, end = load("/tmp/settle-bench-cpu0"), load("/tmp/settle-bench-cpu1")
parts = {"api": 0.0, "postgres": 0.0, "relay": 0.0, "redis": 0.0, "broker": 0.0}
for key, value in end.items():
    parts[key[0]] += value - start.get(key, 0.0)  # a process born in the window counts whole
wrk = dict(line.split("=", 1) for line in """$out""".splitlines() if "=" in line)
peer = dict(line.split("=", 1) for line in """$peer_out""".splitlines() if "=" in line)
orders_per_s = accepted / seconds
per_order = lambda ticks: round(ticks / hz * 1e6 / max(1, accepted))
print(f"orders_per_s={orders_per_s:.0f}")
print(f"published_per_s={published / seconds:.0f}" if published >= 0 else "published_per_s=?")
print(f"p50_ms={wrk.get('p50_ms', '?')}")
print(f"p99_ms={wrk.get('p99_ms', '?')}")
print(f"errors={wrk.get('errors', '?')}")
idle_start, idle_end = load("/tmp/settle-bench-idle0"), load("/tmp/settle-bench-idle1")
idle = sum(value - idle_start[key] for key, value in idle_end.items() if key in idle_start) * seconds / idle_seconds
print(f"cpu_us_per_order={per_order(sum(parts.values()))}")
for part in parts:
    print(f"cpu_us_{part}={per_order(parts[part])}")
print(f"cpu_us_idle_stack={per_order(idle)}")
print(f"cpu_us_per_order_net={per_order(sum(parts.values()) - idle)}")
peer_rate = float(peer.get("peer_orders_per_s", "0") or 0)
for key, value in peer.items():
    print(f"{key}={value}")
print(f"ratio_to_peer={orders_per_s / peer_rate:.2f}" if peer_rate else "ratio_to_peer=?")
PY
