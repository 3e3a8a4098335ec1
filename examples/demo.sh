#!/usr/bin/env bash
# `make demo`: the whole system end to end on this machine (see examples/demo.py).
# Options: --follow (keep running), --model MODEL, --deadline SECONDS, --only DAEMON.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python examples/demo.py "$@"
