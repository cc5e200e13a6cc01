#!/usr/bin/env bash
# Kill a payment worker mid-job and check that nothing was lost or charged twice (DESIGN.md
# contract clauses 2 and 5), on the running local stack (`settle up`).
#
# Creates N orders through the API (default 500; a mix of pm_card_ok, pm_card_declined and
# pm_card_flaky), with 100 ms of processor latency so that they are in flight, SIGKILLs
# settle-worker-1 while they are, waits until every order is terminal or dead-lettered, then
# checks each order from two sides: its state and `payment.*` events in PostgreSQL, and the card
# processor's own counts (`GET /charges/{order_id}`), then runs `settle verify` over the window.
# Restarts the killed worker at the end.
# Exits non-zero on any violation.
# Usage: deploy/demo/kill-worker.sh [orders]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
orders="${1:-500}"
settle=.build/debug/settle
psql=$(ls /usr/lib/postgresql/*/bin/psql | tail -1)
sql() { "$psql" "$DATABASE_URL" -qAt -c "$1"; }

since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
merchant_json=$($settle merchant create --name "kill-worker demo" --json)
key=$(echo "$merchant_json" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
merchant=$(echo "$merchant_json" | sed -E 's/.*"id":"([^"]+)".*/\1/')
curl -fsS -X POST "$SETTLE_PROCESSOR_URL/faults" -H 'Content-Type: application/json' -d '{"latency_ms":100}' >/dev/null
trap 'curl -fsS -X POST "$SETTLE_PROCESSOR_URL/faults" -H "Content-Type: application/json" -d "{\"latency_ms\":0}" >/dev/null' EXIT

echo "==> creating $orders orders for merchant $merchant"
seq 1 "$orders" | xargs -P 16 -I{} bash -c '
  methods=(pm_card_ok pm_card_ok pm_card_ok pm_card_declined pm_card_flaky)
  method=${methods[$(({} % 5))]}
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    status=$(curl -s -o /dev/null -w "%{http_code}" -X POST "$SETTLE_API_URL/v1/orders" -H "Authorization: Bearer '"$key"'" \
      -H "Content-Type: application/json" -H "Idempotency-Key: kill-worker-{}" \
      -d "{\"amount\":1299,\"currency\":\"usd\",\"payment_method\":\"$method\"}")
    [ "$status" = 201 ] && exit 0
    sleep 0.5   # 429 (rate limit): the same key again is safe
  done
  echo "order {} not created ($status)" >&2; exit 1
' &
creating=$!

pending() { sql "SELECT count(*) FROM orders WHERE merchant_id = '$merchant' AND status = 'pending'"; }
settled() { sql "SELECT count(*) FROM orders WHERE merchant_id = '$merchant' AND status <> 'pending'"; }
until [ "$(settled)" -ge $((orders / 10)) ]; do sleep 0.2; done
worker_pid=$(cat .settle/run/settle-worker-1.pid)
echo "==> $(settled) settled, $(pending) pending: kill -9 settle-worker-1 (pid $worker_pid)"
kill -9 "$worker_pid"
wait $creating

echo "==> waiting until every order is terminal or dead-lettered"
dead() { sql "SELECT count(DISTINCT key) FROM dead_letters WHERE replayed_at IS NULL AND key IN (SELECT id::text FROM orders WHERE merchant_id = '$merchant')"; }
for _ in $(seq 1 600); do
  [ "$(pending)" -le "$(dead)" ] && break
  sleep 0.5
done

echo "==> checking every order"
total=$(sql "SELECT count(*) FROM orders WHERE merchant_id = '$merchant'")
stuck=$(( $(pending) - $(dead) ))
two_events=$(sql "SELECT count(*) FROM (SELECT order_id FROM events WHERE merchant_id = '$merchant' AND type IN ('payment.succeeded','payment.failed') GROUP BY order_id HAVING count(*) > 1) twice")
twice=0
for order in $(sql "SELECT id FROM orders WHERE merchant_id = '$merchant'"); do
  charges=$(curl -fsS "$SETTLE_PROCESSOR_URL/charges/$order" | sed -E 's/.*"charges":([0-9]+).*/\1/')
  [ "$charges" -le 1 ] || { echo "order $order charged $charges times"; twice=$((twice + 1)); }
done
sql "SELECT status, count(*) FROM orders WHERE merchant_id = '$merchant' GROUP BY status ORDER BY status" | sed 's/^/    /; s/|/: /'
echo "    orders: $total, dead-lettered: $(dead), stuck pending: $stuck, charged twice: $twice, two terminal events: $two_events"

.build/debug/settle up >/dev/null   # restarts the killed worker
if [ "$total" -ne "$orders" ] || [ "$stuck" -ne 0 ] || [ "$twice" -ne 0 ] || [ "$two_events" -ne 0 ]; then
  echo "==> VIOLATION"; exit 1
fi
echo "==> settle verify: the same window from every source (the simulator's records, Kafka, the sink)"
$settle verify --since "$since" --settle 60
echo "==> nothing lost, nothing charged twice"
