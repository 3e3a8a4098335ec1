"""The reference ledger API, shipped with the package: a small multi-tenant accounting API, the
"existing system" the demo, the evals and the red team run against.

It is what the daemons' tools are generated from — by reflection over
:mod:`processors.reference.handlers`, or from the OpenAPI document its HTTP layer serves —
and it enforces its own bearer-token tenant authorization on every data route.
"""

from opentelemetry.trace import Tracer

from processors.reference.security import Principal, TokenVerifier
from processors.reference.server import LedgerApp, make_server, serve_in_thread
from processors.reference.store import Ledger

__all__ = ["Ledger", "LedgerApp", "Principal", "TokenVerifier", "make_server", "serve_in_thread"]


def sample_app(key: bytes, *, tracer: Tracer | None = None) -> LedgerApp:
    """The API over fresh sample data, trusting tokens signed with ``key``."""
    from processors.reference.data import PRINCIPALS

    return LedgerApp(Ledger.sample(), TokenVerifier(key, PRINCIPALS), tracer=tracer)
