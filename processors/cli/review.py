"""``daemons review list|show|approve|reject``: act on results the guardrails held.

    daemons review list [--all] [--json]       pending held results (--all: decided ones too)
    daemons review show RUN_ID                 the held result, its reasons and scores
    daemons review approve RUN_ID [--comment]  publish it to its output topic (once), with
                                               what it teaches (memory.facts)
    daemons review reject RUN_ID --reason R    withhold it for good and record why
    daemons review serve --reviewers FILE      the review console in the browser
    daemons review token                       a new reviewer token and its hash

Decisions are ``Feedback`` records on ``daemons.feedback`` (see
:mod:`processors.guardrails.review`); approving twice publishes once. An approval writes the
memories its use case's ``remember`` maps, in the same transaction
(:func:`processors.daemons.review.decide`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from processors.daemons import registry
from processors.daemons.review import decide
from processors.guardrails.review import Held, find, review_queue
from processors.kafka.clients import Contracts
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = sub.add_parser("review", help="approve or reject results held by the guardrails")
    commands = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="held results waiting for a decision")
    listing.add_argument("--all", action="store_true", help="include decided results")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="one held result in full (JSON)")
    show.add_argument("run_id")
    show.set_defaults(handler=_show)
    approve = commands.add_parser("approve", help="publish a held result to its output topic")
    approve.add_argument("run_id")
    approve.add_argument("--comment", default=None)
    approve.add_argument("--reviewer", default=None, help="who decides (default: $USER)")
    approve.set_defaults(handler=_approve)
    reject = commands.add_parser("reject", help="withhold a held result and record why")
    reject.add_argument("run_id")
    reject.add_argument("--reason", required=True, help="why (kept as feedback)")
    reject.add_argument("--reviewer", default=None, help="who decides (default: $USER)")
    reject.set_defaults(handler=_reject)
    serve = commands.add_parser("serve", help="the review console in the browser")
    serve.add_argument("--reviewers", required=True, type=Path, metavar="FILE",
                       help="TOML file of reviewers: id, token_sha256, tenants")  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8070, help="port to listen on (8070)")
    serve.add_argument("--secure-cookies", action="store_true",
                       help="send the session cookie over HTTPS only (behind TLS)")  # fmt: skip
    serve.set_defaults(handler=_serve)
    token = commands.add_parser("token", help="a new reviewer token and its hash for the file")
    token.set_defaults(handler=_token)


def _context() -> tuple[Settings, Contracts]:
    settings = Settings.from_env()
    return settings, registry.contracts(settings)


def _summary(item: Held) -> dict[str, object]:
    r = item.record
    return {
        "run_id": item.run_id,
        "daemon": r["daemon"],
        "tenant_id": r["tenant_id"],
        "target_topic": r["target_topic"],
        "held_at": r["occurred_at"].isoformat(),
        "status": item.decision["decision"] if item.decision else "pending",
        "reasons": list(r["reasons"]),
        "trace_id": r["trace_id"],
    }


def _list(args: argparse.Namespace) -> int:
    settings, contracts = _context()
    items = [i for i in review_queue(settings, contracts) if args.all or i.decision is None]
    for item in items:
        row = _summary(item)
        if args.json:
            print(json.dumps(row, sort_keys=True))
        else:
            reason = str((item.record["reasons"] or ["-"])[0])[:70]
            held_at = str(row["held_at"])[:19]
            print(f"{row['run_id']}  {row['status']:<8} {row['daemon']:<20} "
                  f"{row['tenant_id']:<14} {held_at}  {reason}")  # fmt: skip
    if not args.json:
        print(f"{len(items)} held result(s)", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    settings, contracts = _context()
    item = find(settings, contracts, args.run_id)
    shown = {
        **_summary(item),
        "event_id": item.record["event_id"],
        "output_id": item.output_id,
        "scores": item.record["scores"],
        "judge_model": item.record["judge_model"],
        "output": item.output,
        "decision": None
        if item.decision is None
        else {k: item.decision[k] for k in ("decision", "principal_id", "comment")},
    }
    print(json.dumps(shown, indent=2, sort_keys=True, default=str))
    return 0


def _approve(args: argparse.Namespace) -> int:
    settings, contracts = _context()
    outcome = decide(settings, contracts, args.run_id, "approve",
                     reviewer=args.reviewer or getpass.getuser(), comment=args.comment)  # fmt: skip
    target = outcome.held.record["target_topic"]
    if outcome.published:
        print(f"approved run {args.run_id}: published output {outcome.held.output_id} to {target}")
        if outcome.remembered:
            print(f"remembered {len(outcome.remembered)} record(s) on memory.facts")
        else:
            print(f"nothing remembered: {outcome.not_remembered}", file=sys.stderr)
    else:
        print(f"run {args.run_id} was already approved: nothing published again")
    return 0


def _reject(args: argparse.Namespace) -> int:
    settings, contracts = _context()
    outcome = decide(settings, contracts, args.run_id, "reject",
                     reviewer=args.reviewer or getpass.getuser(), comment=args.reason)  # fmt: skip
    if outcome.published:
        print(f"rejected run {args.run_id}: recorded on daemons.feedback")
    else:
        print(f"run {args.run_id} was already rejected")
    return 0


SESSION_KEY_ENV = "DAEMONS_REVIEW_SESSION_KEY"


def _serve(args: argparse.Namespace) -> int:
    import secrets

    import uvicorn

    from processors.console import ConsoleConfig, KafkaReviewSource, Reviewers, create_app

    settings, contracts = _context()
    reviewers = Reviewers.load(args.reviewers)
    # one key for every process behind a load balancer; else a fresh one (sessions end with
    # the process)
    key = os.environ.get(SESSION_KEY_ENV) or secrets.token_urlsafe(32)
    config = ConsoleConfig(reviewers, key, secure_cookies=args.secure_cookies)
    app = create_app(config, KafkaReviewSource(settings, contracts))
    print(f"review console for {len(reviewers)} reviewer(s) at http://{args.host}:{args.port}/",
          file=sys.stderr)  # fmt: skip
    # no access log: a request's path and query are whatever the caller typed; the app logs
    # each request by route name, status and reviewer id instead
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0


def _token(args: argparse.Namespace) -> int:
    from processors.console import hash_token, new_token

    token = new_token()
    print(f"token (give it to the reviewer, keep it nowhere else): {token}")
    print(f'token_sha256 = "{hash_token(token)}"   # for the reviewers file')
    return 0
