"""Helpers shared by the tool generators: names, redaction and status → ToolError mapping."""

from __future__ import annotations

import re

from processors.errors import ConfigError
from processors.tools.auth import Credential
from processors.tools.base import ToolError

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_DETAIL = 500


def check_tool_name(name: str) -> str:
    """Model providers accept ``[A-Za-z0-9_-]{1,64}``; anything else is a startup error."""
    if not _TOOL_NAME.match(name):
        raise ConfigError(f"tool name {name!r} must match {_TOOL_NAME.pattern}")
    return name


def redact(text: str, credential: Credential | None) -> str:
    """Remove the credential's secret from ``text`` (defence in depth for echoed errors)."""
    if credential is None:
        return text
    secret = credential.token.get_secret_value()
    return text.replace(secret, "[REDACTED]") if secret else text


def status_error(
    tool: str, status: int, detail: str, credential: Credential | None = None
) -> ToolError:
    """The ToolError for an HTTP-like status: retryable for 429 and 5xx, never for 401/403."""
    detail = redact(detail, credential)[:_MAX_DETAIL]
    retryable = status == 429 or status >= 500
    return ToolError(
        f"{tool} failed with status {status}: {detail}", status=status, retryable=retryable
    )
