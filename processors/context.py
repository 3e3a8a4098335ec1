"""Who an event acts for: :class:`CallContext`, made once when the runtime decodes the event
and carried unchanged through the handler and the agent to every tool call, where the
credential for the HTTP request is minted from it. Ids only, never a credential."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CallContext(BaseModel):
    """Who the agent acts for. Carries ids only, never a credential: credentials are minted
    per call by a :class:`processors.tools.auth.CredentialProvider`."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    principal_id: str
    event_id: str
    run_id: str = ""
