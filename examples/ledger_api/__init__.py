"""A reference "existing system": a small multi-tenant accounting API.

It is what the daemons' tools are generated from — by reflection over
:mod:`examples.ledger_api.handlers`, or from the OpenAPI document its HTTP layer serves —
and it enforces its own bearer-token tenant authorization on every data route.
"""

from opentelemetry.trace import Tracer

from examples.ledger_api.security import Principal, TokenVerifier
from examples.ledger_api.server import LedgerApp, make_server, serve_in_thread
from examples.ledger_api.store import Ledger

__all__ = ["Ledger", "LedgerApp", "Principal", "TokenVerifier", "make_server", "serve_in_thread"]


def sample_app(key: bytes, *, tracer: Tracer | None = None) -> LedgerApp:
    """The API over fresh sample data, trusting tokens signed with ``key``."""
    from examples.ledger_api.data import PRINCIPALS

    return LedgerApp(Ledger.sample(), TokenVerifier(key, PRINCIPALS), tracer=tracer)
