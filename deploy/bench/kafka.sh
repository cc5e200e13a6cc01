#!/usr/bin/env bash
# Kafka client benchmark: Settle's producer (awaited delivery) and consumer against
# librdkafka's own figures through kcat, in the same run, on the stack from `settle up`.
# Usage: deploy/bench/kafka.sh [messages]   (default 100000, 1 KiB values, 12 partitions)
set -euo pipefail
cd "$(dirname "$0")/../.."
source .settle/stack.env
messages="${1:-100000}"
settle=.build/release/settle
[ -x "$settle" ] || { swift build -c release --product settle >/dev/null; }

topic="bench-kcat-$(date +%s)"
curl -fsS -X POST "$SETTLE_BROKER_ADMIN_URL/topics/$topic?partitions=12" >/dev/null
payload=$(mktemp)
python3 -c "
import sys
v = 'x' * 1024
with open('$payload', 'w') as f:
    for i in range($messages): f.write(f'key-{i % 1000}:{v}\n')
"
# kcat -P exits after flushing, i.e. once every message was acknowledged.
start=$(date +%s.%N)
kcat -b "$KAFKA_BROKERS" -P -t "$topic" -K : -l -X enable.idempotence=true -X acks=all -X linger.ms=2 "$payload"
end=$(date +%s.%N)
kcat_produce=$(python3 -c "print(int($messages / ($end - $start)))")
start=$(date +%s.%N)
kcat -b "$KAFKA_BROKERS" -C -t "$topic" -o beginning -e -q -c "$messages" >/dev/null
end=$(date +%s.%N)
kcat_consume=$(python3 -c "print(int($messages / ($end - $start)))")
rm -f "$payload"

out=$($settle bench-kafka --messages "$messages" --size 1024 --partitions 12)
echo "$out"
settle_produce=$(echo "$out" | sed -n 's/settle_producer_msgs_per_s=//p')
settle_consume=$(echo "$out" | sed -n 's/settle_consumer_msgs_per_s=//p')
settle_batch=$(echo "$out" | sed -n 's/settle_producer_batch_msgs_per_s=//p')
printf '%-10s %15s %15s %8s\n' "" "settle msg/s" "kcat msg/s" "ratio"
printf '%-10s %15s %15s %8s\n' produce "$settle_produce" "$kcat_produce" "$(python3 -c "print(round($settle_produce / $kcat_produce, 2))")"
printf '%-10s %15s %15s %8s\n' "produce (sendAll)" "$settle_batch" "$kcat_produce" "$(python3 -c "print(round($settle_batch / $kcat_produce, 2))")"
printf '%-10s %15s %15s %8s\n' consume "$settle_consume" "$kcat_consume" "$(python3 -c "print(round($settle_consume / $kcat_consume, 2))")"
