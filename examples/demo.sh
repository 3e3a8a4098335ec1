#!/usr/bin/env bash
# The main job, end to end on this machine: a real Kafka broker, the topic catalog,
# sample upstream events in, and the records read back with their trace headers.
set -euo pipefail
cd "$(dirname "$0")/.."
daemons=".venv/bin/daemons"

$daemons broker up
$daemons topics apply
$daemons produce vendors.discovered --file examples/events/vendors.discovered.jsonl
$daemons tail vendors.discovered --from-beginning --max 2 --idle-timeout 20
echo
echo "The same records as kcat sees them (key | headers):"
if command -v kcat >/dev/null; then
  bootstrap="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
  kcat -b "$bootstrap" -C -t vendors.discovered -o beginning -e -q -f '%k | %h\n'
fi
echo
echo "Broker still running (stop it with: .venv/bin/daemons broker down)"
