#!/usr/bin/env bash
# The README's "Your own receiver" steps, run as written on the running local stack
# (`settle up`): a merchant registers a receiver of their own (deploy/demo/receiver.py, which
# verifies with the `standardwebhooks` library from PyPI), creates an order, and the receiver
# prints the `payment.succeeded` webhook it verified with the secret the API showed.
# Exits non-zero unless that happens within 30 s.
# Usage: deploy/demo/own-receiver.sh [port]   (default 7199)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck disable=SC1091
set -a; source .settle/stack.env; set +a
port="${1:-7199}"

# 1. The library, in a virtual environment of its own.
venv=.settle/receiver-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || { echo "python3-venv is missing (apt-get install python3-venv)"; exit 1; }
  "$venv/bin/pip" install -q standardwebhooks==1.1.0
fi

# 2. A merchant and its key.
KEY=$(.build/debug/settle merchant create --name "Receiver demo" --json | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')

# 3. The endpoint; the secret is shown in this answer only.
ENDPOINT_JSON=$(curl -fsS -X POST "$SETTLE_API_URL/v1/webhook-endpoints" -H "Authorization: Bearer $KEY" \
  -H "Content-Type: application/json" -d "{\"url\":\"http://127.0.0.1:$port/webhooks\",\"enabled_events\":[\"payment.succeeded\"]}")
SECRET=$(echo "$ENDPOINT_JSON" | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
echo "endpoint $(echo "$ENDPOINT_JSON" | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])') → http://127.0.0.1:$port/webhooks"

# 4. The receiver, with that secret.
log=$(mktemp)
WEBHOOK_SECRET="$SECRET" "$venv/bin/python" deploy/demo/receiver.py "$port" >"$log" 2>&1 &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 50); do grep -q listening "$log" && break; sleep 0.1; done

# 5. An order; the worker charges it and the dispatcher delivers payment.succeeded.
ORDER=$(curl -fsS -X POST "$SETTLE_API_URL/v1/orders" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  -d '{"amount":1299,"currency":"usd","payment_method":"pm_card_ok"}' | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "order $ORDER"
for _ in $(seq 1 150); do grep -q "verified payment.succeeded .* order=$ORDER" "$log" && break; sleep 0.2; done
cat "$log"
grep -q "verified payment.succeeded .* order=$ORDER" "$log" || { echo "no verified payment.succeeded for $ORDER within 30 s"; exit 1; }
! grep -q rejected "$log" || { echo "the receiver rejected a webhook"; exit 1; }
echo "the receiver verified payment.succeeded for $ORDER with the standardwebhooks library"
