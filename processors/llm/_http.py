"""The one HTTP request path shared by every provider: rate limit → send → map errors →
retry with backoff. Provider modules only build bodies and parse answers.

Foreign failures (httpx exceptions, HTTP error statuses) become our exceptions in exactly one
place, :func:`map_status` / :func:`map_transport_error`:

    429                          → RateLimited (retry_after from Retry-After / retry-after-ms)
    408, 409, 5xx, 529           → TransientError
    timeouts, connection errors  → TransientError
    other 4xx (400/401/403/404/422...) → ProviderError (permanent)

Secrets are scrubbed from every message we build, in case a peer echoes one back.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from processors.errors import DaemonsError, ProviderError, RateLimited, TransientError
from processors.llm.config import ModelRetries, Timeouts
from processors.llm.ratelimit import RateLimiter, Sleep

_log = logging.getLogger(__name__)
_TRANSIENT_STATUSES = {408, 409, 425, 529}
_MAX_ERROR_CHARS = 500


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds the peer asked us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds
    or an HTTP date. ``None`` when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _scrub(text: str, secrets: Sequence[SecretStr]) -> str:
    for secret in secrets:
        value = secret.get_secret_value()
        if value:
            text = text.replace(value, "**********")
    return text


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:_MAX_ERROR_CHARS]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:_MAX_ERROR_CHARS]
    if isinstance(error, str):
        return error[:_MAX_ERROR_CHARS]
    return str(body)[:_MAX_ERROR_CHARS]


def map_status(
    provider: str, response: httpx.Response, secrets: Sequence[SecretStr] = ()
) -> DaemonsError:
    """Our exception for an HTTP error ``response`` from ``provider``."""
    status = response.status_code
    detail = _scrub(_error_detail(response), secrets)
    message = f"{provider} returned HTTP {status}: {detail}"
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(response.headers))
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return TransientError(message)
    return ProviderError(message, status=status, provider=provider)


def map_transport_error(
    provider: str, exc: httpx.HTTPError, secrets: Sequence[SecretStr] = ()
) -> TransientError:
    """Our exception for a timeout or connection failure talking to ``provider``."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return TransientError(
        _scrub(f"{provider} request {kind}: {type(exc).__name__}: {exc}", secrets)
    )


class ProviderHTTP:
    """POSTs JSON to one provider with rate limiting, bounded retries and error mapping.

    Pass ``client`` (e.g. built on ``httpx.MockTransport``) to control the network; otherwise
    one is created and closed by :meth:`aclose`."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: dict[str, str],
        secrets: Sequence[SecretStr] = (),
        timeouts: Timeouts | None = None,
        retry: ModelRetries | None = None,
        limiter: RateLimiter | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._headers = headers
        self._secrets = tuple(secrets)
        self._timeout = (timeouts or Timeouts()).to_httpx()
        self._retry = retry or ModelRetries()
        self._limiter = limiter
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._sleep = sleep
        self._rng = rng or random.Random()

    def __repr__(self) -> str:  # headers hold the key: never show them
        return f"ProviderHTTP(provider={self.provider!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def post_json(
        self, path: str, body: dict[str, Any], *, estimated_tokens: int = 0
    ) -> dict[str, Any]:
        """POST ``body`` to ``base_url + path``; return the decoded JSON object."""
        attempts = self._retry.max_attempts
        for attempt in range(1, attempts + 1):
            if self._limiter is not None:
                await self._limiter.acquire(estimated_tokens)
            try:
                return await self._send_once(path, body)
            except TransientError as exc:
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
                delay = self._retry.delay(attempt, retry_after, self._rng)
                if attempt >= attempts or delay > self._retry.max_delay:
                    raise
                _log.warning(
                    "%s attempt %d/%d failed, retrying in %.2fs: %s",
                    self.provider,
                    attempt,
                    attempts,
                    delay,
                    exc,
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = await self._client.post(
                url, json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(self.provider, exc, self._secrets) from None
        if response.status_code >= 400:
            raise map_status(self.provider, response, self._secrets)
        try:
            data = response.json()
        except ValueError:
            raise TransientError(
                f"{self.provider} returned a body that is not JSON (HTTP {response.status_code})"
            ) from None
        if not isinstance(data, dict):
            raise ProviderError(
                f"{self.provider} returned JSON that is not an object", provider=self.provider
            )
        return data

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        if self._limiter is not None:
            self._limiter.settle(estimated_tokens, actual_tokens)


def estimate_tokens(body: dict[str, Any], max_output: int | None) -> int:
    """A rough pre-call token estimate (≈4 characters per token) for the TPM bucket."""
    return len(json.dumps(body)) // 4 + (max_output or 512)
