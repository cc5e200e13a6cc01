#!/usr/bin/env bash
# One command on a fresh machine: install the build's Debian packages, build Settle,
# bring up the local stack and show it working.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
packages=(librdkafka-dev libhiredis-dev postgresql redis-server kcat)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

echo "==> building (the first build takes several minutes)"
swift build

echo "==> starting the local stack"
.build/debug/settle up
.build/debug/settle status

# shellcheck disable=SC1091
source .settle/stack.env

echo "==> a Kafka round trip through the development broker (topic settle.demo)"
curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/settle.demo?partitions=1" >/dev/null
key="demo-$(date +%s)"
echo "$key:hello from Settle" | kcat -b "$KAFKA_BROKERS" -P -t settle.demo -K : -H event-type=demo
kcat -b "$KAFKA_BROKERS" -C -t settle.demo -o beginning -e -q -f '%k %s (%h)\n' | grep "$key"

echo "==> the demo merchant settle up made (.settle/demo.env), its webhook endpoint at the stack's sink ($SETTLE_SINK_URL), two orders through the API at $SETTLE_API_URL"
source .settle/demo.env
api_key=$SETTLE_DEMO_API_KEY
echo "    merchant $SETTLE_DEMO_MERCHANT_ID, endpoint $SETTLE_DEMO_ENDPOINT_ID"
create() {  # $1: payment method → the new order's id
  curl -fsS -X POST "$SETTLE_API_URL/v1/orders" \
    -H "Authorization: Bearer $api_key" -H "Content-Type: application/json" -H "Idempotency-Key: demo-$key-$1" \
    -d "{\"amount\":1299,\"currency\":\"usd\",\"payment_method\":\"$1\",\"description\":\"Demo order\"}" \
    | sed -E 's/.*"id":"([^"]+)".*/\1/'
}
ok=$(create pm_card_ok)
declined=$(create pm_card_declined)
echo "    $ok (pm_card_ok), $declined (pm_card_declined)"

echo "==> the relays publish them, the workers charge them through the card-processor simulator"
status() { curl -fsS "$SETTLE_API_URL/v1/orders/$1" -H "Authorization: Bearer $api_key" | sed -E 's/.*"status":"([^"]+)".*/\1/'; }
for _ in $(seq 1 100); do
  [ "$(status "$ok")" != pending ] && [ "$(status "$declined")" != pending ] && break
  sleep 0.1
done
curl -fsS "$SETTLE_API_URL/v1/orders/$ok" -H "Authorization: Bearer $api_key"; echo
curl -fsS "$SETTLE_API_URL/v1/orders/$declined" -H "Authorization: Bearer $api_key"; echo
echo "    the processor's own count for $ok: $(curl -fsS "$SETTLE_PROCESSOR_URL/charges/$ok")"
[ "$(status "$ok")" = succeeded ] && [ "$(status "$declined")" = failed ] || { echo "the orders did not settle; see .settle/logs/"; exit 1; }
echo "    their events (GET /v1/events):"
curl -fsS "$SETTLE_API_URL/v1/events?limit=4" -H "Authorization: Bearer $api_key" \
  | python3 -c 'import json, sys; [print("     ", e["type"], e["order_id"]) for e in json.load(sys.stdin)["data"]]'
echo "==> the dispatcher signs their payment events and delivers them to the sink, which verifies the signatures"
events=$(curl -fsS "$SETTLE_API_URL/v1/events?type=payment.succeeded&limit=10" -H "Authorization: Bearer $api_key" \
  | python3 -c 'import json, sys; print(next(e["id"] for e in json.load(sys.stdin)["data"] if e["order_id"] == sys.argv[1]))' "$ok")
received() { curl -fsS "$SETTLE_SINK_URL/deliveries?event_id=$1" | sed -E 's/.*"received":([0-9]+).*/\1/'; }
for _ in $(seq 1 150); do [ "$(received "$events")" -ge 1 ] && break; sleep 0.2; done
[ "$(received "$events")" -ge 1 ] || { echo "the webhook did not arrive; see .settle/logs/settle-dispatcher.log"; exit 1; }
echo "    the sink received payment.succeeded $events, signature verified: $(curl -fsS "$SETTLE_SINK_URL/deliveries?event_id=$events")"
echo "==> done: settings in .settle/stack.env, logs in .settle/logs/; stop with .build/debug/settle down"
