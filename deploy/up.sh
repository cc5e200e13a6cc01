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

echo "==> a Kafka round trip through the development broker"
# shellcheck disable=SC1091
source .settle/stack.env
key="demo-$(date +%s)"
echo "$key:hello from Settle" | kcat -b "$KAFKA_BROKERS" -P -t orders.v1 -K : -H event-type=demo
kcat -b "$KAFKA_BROKERS" -C -t orders.v1 -o beginning -e -q -f '%k %s (%h)\n' | grep "$key"
echo "==> done: the stack's settings are in .settle/stack.env; stop it with .build/debug/settle down"
