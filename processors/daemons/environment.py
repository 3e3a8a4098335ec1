"""Build a daemon's :class:`~processors.daemons.base.Environment` from settings: the model by
its string, tools from the existing API's OpenAPI document, credentials minted per call."""

from __future__ import annotations

import asyncio
import time

import httpx

from processors.daemons.base import Environment
from processors.errors import ConfigError, UnknownTenant
from processors.guardrails.judge import Judge, ensure_independent
from processors.llm.registry import load_model
from processors.notify import WebhookNotifier
from processors.settings import Settings
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext, Tool, ToolError
from processors.tools.openapi import OpenAPISource, load_document


class ApiTenantDirectory:
    """Asks the existing API, as the event's principal, for the tenant's record: 401/403/404
    mean the tenant is unknown to that principal (a permanent error, dead-lettered). Known
    (tenant, principal) pairs are remembered for ``ttl`` seconds; concurrent lookups of the
    same pair share one request (at start, a backlog's events of one tenant all arrive
    before the first answer)."""

    def __init__(self, lookup: Tool, *, ttl: float = 300.0) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._known: dict[tuple[str, str], float] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def require(self, ctx: CallContext) -> None:
        key = (ctx.tenant_id, ctx.principal_id)
        if self._known.get(key, 0.0) > time.monotonic():
            return
        while (asking := self._asking.get(key)) is not None:
            try:  # someone is asking already: share its answer (or its error)
                await asyncio.shield(asking)
                return
            except asyncio.CancelledError:
                if not asking.cancelled():
                    raise  # we were cancelled
                # the asker was cancelled, not us: ask again
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._asking[key] = future
        try:
            await self._ask(ctx, key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            future.set_result(None)
        finally:
            del self._asking[key]

    async def _ask(self, ctx: CallContext, key: tuple[str, str]) -> None:
        try:
            await self._lookup.call({"tenant_id": ctx.tenant_id}, ctx)
        except ToolError as exc:
            if exc.status in (401, 403, 404):
                raise UnknownTenant(
                    f"tenant {ctx.tenant_id!r} is unknown to principal {ctx.principal_id!r} "
                    f"(HTTP {exc.status})"
                ) from exc
            raise
        self._known[key] = time.monotonic() + self._ttl


OPENAPI_WAIT_S = 30.0  # how long a starting daemon waits for its tools' API to answer


def environment_from_settings(
    settings: Settings, *, tenant_lookup: str = "getClient"
) -> Environment:
    if settings.tools_signing_key is None:
        raise ConfigError("DAEMONS_TOOLS_SIGNING_KEY is not set: tools cannot mint credentials")
    credentials = HmacCredentialProvider(HmacCredentialSettings(key=settings.tools_signing_key))
    base = settings.tools_url.rstrip("/")
    deadline = time.monotonic() + OPENAPI_WAIT_S  # an API started beside the daemon may be late
    while True:
        try:
            document = load_document(f"{base}/openapi.json")
            break
        except ConfigError as exc:  # refused: not listening yet; anything else: at once
            refused = isinstance(exc.__cause__, httpx.ConnectError | ConnectionRefusedError)
            if refused and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise ConfigError(f"cannot read the tools' OpenAPI document at {base}: {exc}") from exc
    source = OpenAPISource(
        document, base_url=base, client=httpx.AsyncClient(), credentials=credentials
    )
    try:
        lookup = source[tenant_lookup]
    except KeyError:
        raise ConfigError(
            f"the API at {base} has no {tenant_lookup!r} operation: the runtime checks each "
            "event's tenant with it (as the event's principal) before any agent runs"
        ) from None
    model = load_model(settings.model, settings.llm)
    planner = load_model(settings.planner_model, settings.llm) if settings.planner_model else None
    notifier = None
    if settings.notify_webhook_url is not None:
        notifier = WebhookNotifier(settings.notify_webhook_url)
    return Environment(
        model=model,
        tool_sources=[source],
        tenants=ApiTenantDirectory(lookup),
        planner_model=planner,
        judge=judge_from_settings(settings),
        notifier=notifier,
    )


def judge_from_settings(settings: Settings) -> Judge | None:
    """The judge for ``settings.model`` (see :meth:`Settings.judge_model_name`), or None.

    One local server serves one model, so a ``local:`` judge is reached at
    ``settings.judge_local_url`` (``DAEMONS_JUDGE_LOCAL_LLM_URL``, default port 8091): run
    ``daemons llm serve --model qwen2.5-coder-0.5b --port 8091`` beside the primary's server.
    """
    name = settings.judge_model_name()
    if name is None:
        return None
    ensure_independent(name, settings.model)  # before building anything: a clear ConfigError
    llm = settings.llm
    if name.startswith("local:"):
        llm = llm.model_copy(update={"local_base_url": settings.judge_local_url})
    return Judge(load_model(name, llm), primary=settings.model)
