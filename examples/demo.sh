#!/usr/bin/env bash
# `make demo`: the whole system end to end on this machine (see examples/demo.py).
# Options: --follow (keep running), --model MODEL, --only DAEMON, --events N,
# --stuck-after SECONDS (900), --safety-limit SECONDS (2700); --help for the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python examples/demo.py "$@"
