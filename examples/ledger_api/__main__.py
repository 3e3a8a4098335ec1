"""``python -m examples.ledger_api --port 8081``: serve the reference ledger API.

The token signing key comes from ``LEDGER_SIGNING_KEY`` (the same key the daemons'
credential provider signs with); it is never printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from examples.ledger_api import make_server, sample_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.ledger_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    key = os.environ.get("LEDGER_SIGNING_KEY")
    if not key:
        print("set LEDGER_SIGNING_KEY to the token signing key", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    server = make_server(sample_app(key.encode()), args.host, args.port)
    port = server.server_address[1]
    print(f"ledger API on http://{args.host}:{port} (OpenAPI at /openapi.json)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
