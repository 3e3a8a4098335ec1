"""``python -m processors.reference --port 8081``: serve the reference ledger API.

The token signing key comes from ``LEDGER_SIGNING_KEY`` (the same key the daemons'
credential provider signs with); it is never printed. Traces are exported like a daemon's, by
the standard ``OTEL_*`` variables (service name ``ledger-api`` unless ``OTEL_SERVICE_NAME``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from processors import telemetry
from processors.reference import make_server, sample_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors.reference")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    key = os.environ.get("LEDGER_SIGNING_KEY")
    if not key:
        print("set LEDGER_SIGNING_KEY to the token signing key", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    otel = telemetry.configure("ledger-api", None, install=False)
    app = sample_app(key.encode(), tracer=otel.tracer_provider.get_tracer("processors.reference"))
    server = make_server(app, args.host, args.port)
    port = server.server_address[1]
    print(f"ledger API on http://{args.host}:{port} (OpenAPI at /openapi.json)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        otel.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
