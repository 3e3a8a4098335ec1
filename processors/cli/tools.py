"""``daemons tools``: show which tools a daemon (or an API document) would expose.

``daemons tools --openapi URL_OR_FILE`` lists the document's operations; add
``--allow op1,op2`` to render exactly those as tools with their input and output schemas
(an unknown name fails the same way a daemon's startup would). ``daemons tools NAME``
shows a daemon's own allowlisted catalogue over ``DAEMONS_TOOLS_URL`` (:func:`daemon_catalog`).
"""

from __future__ import annotations

import argparse
import json

import httpx

from processors.errors import ConfigError
from processors.tools.auth import Credential
from processors.tools.base import CallContext
from processors.tools.catalog import ToolCatalog, render_catalog
from processors.tools.openapi import OpenAPISource, load_document


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tools", help="show the tools a daemon or an OpenAPI document exposes"
    )
    parser.add_argument("daemon", nargs="?", help="a daemon's name (its allowlisted tools)")
    parser.add_argument("--openapi", metavar="URL_OR_FILE", help="an OpenAPI 3 document (JSON)")
    parser.add_argument("--allow", metavar="OP,OP", help="operationIds to expose as tools")
    parser.add_argument("--json", action="store_true", help="print tool specs as JSON")
    parser.set_defaults(handler=run)


def daemon_catalog(name: str) -> ToolCatalog:
    """The catalogue of daemon ``name``: its allowlist over the tools API's OpenAPI document
    (``DAEMONS_TOOLS_URL``). An allowlisted name the API lacks is the same error as at start."""
    from processors.daemons import registry
    from processors.settings import Settings

    use_case = registry.use_case(name)
    base = Settings.from_env().tools_url.rstrip("/")
    try:
        document = load_document(f"{base}/openapi.json")
    except (httpx.HTTPError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the tools' OpenAPI document at {base}: {exc}") from exc
    source = OpenAPISource(
        document, base_url=base, client=httpx.AsyncClient(), credentials=_NoCredentials()
    )
    return ToolCatalog.build([source], use_case.tools, tenant_scoped=True)


class _NoCredentials:
    """Listing never calls a tool; a call would be a bug, so fail loudly."""

    async def credential(self, ctx: CallContext) -> Credential:
        raise ConfigError("daemons tools only lists tools; it never calls them")


def run(args: argparse.Namespace) -> int:
    if args.daemon and args.openapi:
        raise ConfigError("give a daemon name or --openapi, not both")
    if args.daemon:
        catalog = daemon_catalog(args.daemon)
    elif args.openapi:
        document = load_document(args.openapi)
        base_url = str((document.get("servers") or [{}])[0].get("url", "http://localhost"))
        source = OpenAPISource(
            document, base_url=base_url, client=httpx.AsyncClient(), credentials=_NoCredentials()
        )
        if not args.allow:
            print("operations (expose them with --allow; nothing is exposed by default):")
            for name in source:
                print(f"  {name}")
            return 0
        allow = [n.strip() for n in args.allow.split(",") if n.strip()]
        catalog = ToolCatalog.build([source], allow)
    else:
        raise ConfigError("give a daemon name or --openapi URL_OR_FILE")
    if args.json:
        print(json.dumps([s.model_dump() for s in catalog.specs()], indent=2))
    else:
        print(render_catalog(catalog), end="")
    return 0
