"""The review console: a server-rendered Starlette app over a :class:`ReviewSource`.

Pages: the held results a reviewer may see, grouped by tenant and daemon (``/held``); one
held result's story with approve / reject / correct forms (``/held/{run_id}``); sign-in.

Security, in one place (see ``docs/review-console.md``):

- A reviewer is whoever presents a token of the reviewers file: as ``Authorization: Bearer``
  on each request (scripts; no cookie, so no CSRF token needed), or once on the sign-in form,
  which then sets a signed (itsdangerous), HttpOnly, SameSite=Lax session cookie holding the
  reviewer's id only; the id is looked up in the reviewers file on every request.
- Every POST made with the session cookie carries the session's CSRF token (compared in
  constant time); a request whose ``Origin`` is another site is refused.
- A reviewer sees and decides only the tenants granted: another tenant's held result is
  "not found" (404), the same as one that does not exist, and nothing is published.
- Templates autoescape; the Content-Security-Policy forbids every script, so an escaping
  mistake still runs nothing. Logs name the route, the status and the reviewer id — never a
  path, a form value, a token or a held result's text.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from processors.console import views
from processors.console.forms import form_fields, grouped, parse, words
from processors.console.reviewers import Reviewer, Reviewers
from processors.console.source import ReviewSource, Story
from processors.errors import DaemonsError
from processors.guardrails.corrections import Corrected, FieldError, correct, editable_fields
from processors.guardrails.review import Choice, Held, ReviewError

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
COOKIE = "daemons_review"
MAX_COMMENT = 2000


@dataclass(frozen=True)
class ConsoleConfig:
    reviewers: Reviewers
    session_key: str = field(repr=False)  # signs the session cookie; a secret
    secure_cookies: bool = False  # True behind HTTPS: the cookie is then sent over HTTPS only
    session_max_age: int = 8 * 3600


def create_app(config: ConsoleConfig, source: ReviewSource) -> Starlette:
    pages = _Pages(config, source)
    routes = [
        Route("/", pages.home, name="home"),
        Route("/login", pages.login_form, methods=["GET"], name="login"),
        Route("/login", pages.login, methods=["POST"], name="login.post"),
        Route("/logout", pages.logout, methods=["POST"], name="logout"),
        Route("/held", pages.held_list, name="held.list"),
        Route("/held/{run_id}", pages.story, name="held.story"),
        Route("/held/{run_id}/approve", pages.approve, methods=["POST"], name="held.approve"),
        Route("/held/{run_id}/reject", pages.reject, methods=["POST"], name="held.reject"),
        Route("/held/{run_id}/correct", pages.correct, methods=["POST"], name="held.correct"),
        Route("/healthz", lambda _r: PlainTextResponse("ok"), name="healthz"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(_Guard),
        Middleware(
            SessionMiddleware,
            secret_key=config.session_key,
            session_cookie=COOKIE,
            max_age=config.session_max_age,
            same_site="lax",
            https_only=config.secure_cookies,
        ),
    ]
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={DaemonsError: pages.unavailable}
    )


class _Guard:
    """Security headers on every response, and one log line per request (route name, status,
    reviewer id, milliseconds: nothing a caller typed)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.extend((k.encode(), v.encode()) for k, v in _SECURITY_HEADERS.items())
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
        route = scope.get("route")
        log.info(
            "%s %s %d %s %.0f ms",
            scope["method"],
            getattr(route, "name", None) or "-",
            status[0],
            scope.get("state", {}).get("reviewer_id", "-"),
            (time.perf_counter() - started) * 1000,
        )


_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class _Refused(Exception):
    """A request turned away before any work: its status and what the page says."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Pages:
    def __init__(self, config: ConsoleConfig, source: ReviewSource) -> None:
        self.config = config
        self.source = source
        self._hours = f"{config.session_max_age / 3600:g}"
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(
            when=views.when, money=views.money, percent=views.percent, pretty=views.pretty
        )
        self.templates.globals.update(subject=views.subject, status=views.status)

    async def unavailable(self, request: Request, exc: Exception) -> Response:
        """A read the broker did not answer (a page needs the topics): 503, said plainly."""
        log.warning("%s %s: %s", request.method, request.url.path.split("/")[1], type(exc).__name__)
        refused = _Refused(503, "The broker did not answer in time; nothing was changed. Reload.")
        return self._refused(request, refused)

    # ---- sign-in -------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/held", status_code=303)

    async def login_form(self, request: Request) -> Response:
        return self._render(request, "login.html", {"error": None, "session_hours": self._hours})

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not self._csrf_ok(request, str(form.get("csrf", ""))):
            return self._refused(request, _Refused(403, "The form expired. Reload and try again."))
        reviewer = self.config.reviewers.authenticate(str(form.get("token", "")).strip())
        if reviewer is None:
            log.info("sign-in refused")
            context = {"error": "That token is not valid.", "session_hours": self._hours}
            return self._render(request, "login.html", context, 401)
        request.session.clear()  # a new session for a new sign-in: nothing carried over
        request.session.update({"reviewer": reviewer.id, "csrf": secrets.token_urlsafe(32)})
        log.info("signed in: %s", reviewer.id)
        return RedirectResponse("/held", status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if self._csrf_ok(request, str(form.get("csrf", ""))):
            request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ---- pages ---------------------------------------------------------------------------

    async def held_list(self, request: Request) -> Response:
        try:
            reviewer = self._reviewer(request)
        except _Refused as refused:
            return self._refused(request, refused)
        if reviewer is None:
            return RedirectResponse("/login", status_code=303)
        show_all = request.query_params.get("show") == "all"
        tenant = request.query_params.get("tenant") or None
        queue = await _thread(self.source.queue)
        groups: dict[str, dict[str, list[Held]]] = defaultdict(lambda: defaultdict(list))
        for held in queue:
            held_tenant = str(held.record["tenant_id"])
            if not reviewer.may_see(held_tenant) or (tenant and held_tenant != tenant):
                continue
            if show_all or held.decision is None:
                groups[held_tenant][str(held.record["daemon"])].append(held)
        ordered = {
            t: {d: list(reversed(items)) for d, items in sorted(groups[t].items())}
            for t in sorted(groups)
        }  # newest first within a daemon
        return self._render(request, "list.html", {
            "reviewer": reviewer, "groups": ordered, "show_all": show_all,
            "tenant": tenant if tenant in reviewer.tenants else None,
            "tenants": sorted(reviewer.tenants),
            "count": sum(len(i) for d in ordered.values() for i in d.values()),
        })  # fmt: skip

    async def story(self, request: Request) -> Response:
        try:
            reviewer = self._reviewer(request)
            if reviewer is None:
                return RedirectResponse("/login", status_code=303)
            held = await self._held(reviewer, request.path_params["run_id"])
        except _Refused as refused:
            return self._refused(request, refused)
        return await self._story_page(request, reviewer, held)

    # ---- decisions -----------------------------------------------------------------------

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, "approve")

    async def reject(self, request: Request) -> Response:
        return await self._decide(request, "reject")

    async def correct(self, request: Request) -> Response:
        return await self._decide(request, "correct")

    async def _decide(self, request: Request, decision: Choice) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            reviewer = self._reviewer(request)
            if reviewer is None:
                raise _Refused(401, "Sign in first.")
            if not request.state.bearer and not self._csrf_ok(request, form.get("csrf", "")):
                raise _Refused(403, "The form expired. Reload the page and try again.")
            held = await self._held(reviewer, request.path_params["run_id"])
        except _Refused as refused:
            return self._refused(request, refused)
        comment = form.get("comment", "").strip()[:MAX_COMMENT] or None
        corrected = None
        if decision == "reject" and not comment:
            return await self._story_page(
                request, reviewer, held, error="Say why you reject it.", status=400, form=form
            )
        if decision == "correct":
            checked = self._corrected(held, form)
            if not isinstance(checked, Corrected):
                return await self._story_page(
                    request, reviewer, held, field_errors=checked, status=400, form=form,
                    error="Nothing was published: fix the fields marked below.",
                )  # fmt: skip
            if not checked.changed:
                return await self._story_page(
                    request, reviewer, held, status=400, form=form,
                    error="No field was changed. To publish it as it is, approve it.",
                )  # fmt: skip
            corrected = checked.datum

        def run() -> Any:
            return self.source.decide(
                held.run_id, decision, reviewer=reviewer.id, comment=comment, corrected=corrected
            )

        try:
            outcome = await _thread(run)
        except ReviewError as exc:
            return await self._story_page(request, reviewer, held, error=str(exc), status=409)
        except DaemonsError as exc:
            log.warning("deciding %s failed: %s", held.run_id, type(exc).__name__)
            return await self._story_page(
                request, reviewer, held, status=503,
                error="The broker did not take the decision; nothing was published. Try again.",
            )  # fmt: skip
        log.info("%s %s by %s (published: %s)", decision, held.run_id, reviewer.id,
                 outcome.published)  # fmt: skip
        return RedirectResponse(f"/held/{held.run_id}", status_code=303)

    def _corrected(self, held: Held, form: dict[str, str]) -> Corrected | list[FieldError]:
        schema, locked = self.source.output_schema(held), self.source.locked(held)
        fields = form_fields(editable_fields(schema, held.output, locked), held.output)
        values, errors = parse(form, fields)
        if errors:
            return errors
        model = self.source.output_type(str(held.record["daemon"]))
        return correct(schema, held.output, values, model, locked)

    # ---- helpers -------------------------------------------------------------------------

    async def _story_page(
        self,
        request: Request,
        reviewer: Reviewer,
        held: Held,
        *,
        error: str | None = None,
        field_errors: list[FieldError] | None = None,
        status: int = 200,
        form: dict[str, str] | None = None,
    ) -> Response:
        story: Story = await _thread(self.source.story, held)
        schema, locked = self.source.output_schema(held), self.source.locked(held)
        fields = form_fields(editable_fields(schema, held.output, locked), held.output)
        decision = held.decision or {}
        corrected_json = decision.get("corrected_output_json")
        changes: list[tuple[str, str, str]] = []
        if corrected_json:
            corrected = json.loads(corrected_json)
            now = {f.field.name: f for f in
                   form_fields(editable_fields(schema, corrected, locked), corrected)}  # fmt: skip
            changes = [(words(f.field.path), f.shown, now[f.field.name].shown) for f in fields
                       if f.field.name in now and now[f.field.name].text != f.text]  # fmt: skip
        return self._render(request, "story.html", {
            "reviewer": reviewer, "held": held, "story": story, "status": views.status(held),
            "subject": views.subject(held), "groups": grouped(fields), "form": form or {},
            "input_rows": views.input_rows(story.input), "cited": views.cited(held.output),
            "error": error, "field_errors": {e.field: e.message for e in field_errors or []},
            "output": held.output, "decision": decision, "changes": changes,
            "corrected": views.pretty(corrected_json) if corrected_json else None,
        }, status)  # fmt: skip

    async def _held(self, reviewer: Reviewer, run_id: str) -> Held:
        """The held result of ``run_id`` if ``reviewer`` may see it; else :class:`_Refused`
        (404: another tenant's result reads as one that does not exist)."""
        queue: list[Held] = await _thread(self.source.queue)
        held = next((h for h in queue if h.run_id == run_id), None)
        if held is None or not reviewer.may_see(str(held.record["tenant_id"])):
            raise _Refused(404, "No held result with that run id is yours to review.")
        return held

    def _reviewer(self, request: Request) -> Reviewer | None:
        header = request.headers.get("authorization", "")
        request.state.bearer = header.lower().startswith("bearer ")
        if request.state.bearer:
            reviewer = self.config.reviewers.authenticate(header[7:].strip())
            if reviewer is None:
                raise _Refused(401, "That bearer token is not valid.")
        else:
            rid = request.session.get("reviewer")
            reviewer = self.config.reviewers.get(rid) if isinstance(rid, str) else None
        if reviewer is not None:
            request.scope.setdefault("state", {})["reviewer_id"] = reviewer.id
        return reviewer

    def _csrf_ok(self, request: Request, presented: str) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            return False
        expected = request.session.get("csrf")
        return isinstance(expected, str) and hmac.compare_digest(expected, presented)

    def _render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        bearer = getattr(request.state, "bearer", False)
        if not bearer and "csrf" not in request.session:  # a bearer request gets no session
            request.session["csrf"] = secrets.token_urlsafe(32)
        page = self.templates.get_template(name).render(
            **context, csrf=request.session.get("csrf", ""), path=request.url.path
        )
        return HTMLResponse(page, status_code=status)

    def _refused(self, request: Request, refused: _Refused) -> Response:
        reviewer = self.config.reviewers.get(str(request.session.get("reviewer", "")))
        return self._render(
            request, "refused.html", {"message": refused.message, "reviewer": reviewer},
            refused.status,
        )  # fmt: skip


async def _thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking call (a Kafka read or transaction) off the event loop."""
    return await run_in_threadpool(fn, *args)
