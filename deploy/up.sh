#!/usr/bin/env bash
# One command on a fresh machine: install the build's Debian packages, build Settle,
# bring up the local stack and show it working.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# The build's and the stack's packages; python3-venv for the README's own-receiver example
# (the standardwebhooks library), chromium for the test that opens a load report in a browser.
packages=(librdkafka-dev libhiredis-dev postgresql redis-server kcat python3-venv chromium)
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

echo "==> settle demo: one order of each kind through the API, the relays, the workers, the processor and the dispatcher"
.build/debug/settle demo
echo "==> done: settings in .settle/stack.env, the demo merchant's key in .settle/demo.env, logs in .settle/logs/; stop with .build/debug/settle down"
