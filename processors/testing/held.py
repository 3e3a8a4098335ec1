"""Held results with their whole story — the input event, the run record, the guardrail
outcome — as a daemon would have left them on the topics: for the review console's tests, its
benchmark and its screenshots. Two daemons (vendor-enrichment, question-answering), any tenant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from processors.guardrails.routing import REVIEW_TOPIC, Decision, held_result
from processors.kafka.clients import Contracts
from processors.settings import Settings
from processors.testing.runtime import produce_events

RUNS_TOPIC, OUTCOMES_TOPIC = "daemons.runs", "guardrails.outcomes"
JUDGE = "local:qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class Seeded:
    """One held result and what its run left (Avro datums, as produced)."""

    daemon: str
    input_topic: str
    target_topic: str
    event: dict[str, Any]
    run: dict[str, Any]
    outcome: dict[str, Any]
    held: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.held["run_id"])

    @property
    def tenant_id(self) -> str:
        return str(self.held["tenant_id"])


def _id(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32]


def _field(value: str | None, confidence: float, sources: list[str]) -> dict[str, Any]:
    return {"value": value, "status": "known" if value is not None else "unknown",
            "confidence": confidence if value is not None else 0.0, "sources": sources}  # fmt: skip


def vendor(
    tenant: str,
    n: int,
    *,
    descriptor: str = "SQ *BLUE BOTTLE COF 1234 OAKLAND CA",
    name: str = "Blue Bottle Coffee",
    amount_minor: int = 2250,
    when: dt.datetime | None = None,
) -> Seeded:
    """A vendor-enrichment result held because the judge doubted its account."""
    when = when or dt.datetime(2026, 8, 4, 9, 30, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    event_id = _id("vd", tenant, n)
    principal = f"u-{tenant.removeprefix('t-')}-books"
    event = {
        "event_id": event_id, "tenant_id": tenant, "principal_id": principal, "occurred_at": when,
        "transaction_id": f"tx-{n:04d}", "raw_descriptor": descriptor,
        "amount_minor": amount_minor, "currency": "USD", "transaction_date": when.date(),
    }  # fmt: skip
    run_id, trace_id = _id("run", event_id), _id("trace", event_id)
    entry = f"searchDirectory:biz-{n:04d}"
    output = {
        "event_id": event_id, "tenant_id": tenant, "principal_id": principal,
        "occurred_at": when, "output_id": "", "run_id": run_id, "trace_id": trace_id,
        "transaction_id": event["transaction_id"], "raw_descriptor": descriptor,
        "vendor_id": None,
        "name": _field(name, 0.9, [entry]),
        "website": _field("https://bluebottlecoffee.com", 0.9, [entry]),
        "phone": _field("+1 510-653-3394", 0.85, [entry]),
        "address": _field("300 Webster St, Oakland, CA 94607", 0.85, [entry]),
        "opening_hours": _field(None, 0.0, []),
        "merchant_category_code": _field("5814", 0.9, [entry]),
        "account_category": _field("6600", 0.55, ["listAccounts"]),
        "sources": [entry, "listAccounts"],
    }  # fmt: skip
    reasons = [
        "Account 6600 (Office supplies) does not fit a coffee shop; 6400 (Meals) is likelier.",
        "The directory entry matches the descriptor's name and city.",
    ]
    calls = [
        ("listAccounts", {"tenant_id": tenant}),
        ("searchDirectory", {"query": "BLUE BOTTLE COF", "city": "OAKLAND"}),
        ("listVendors", {"tenant_id": tenant, "name": "Blue Bottle"}),
    ]
    checks = [
        ("entry_returned", True, f"biz-{n:04d} was a search result"),
        ("tenant_scoped_ids", True, ""),
        ("business_matches", True, "'Blue' starts the descriptor; city OAKLAND"),
        ("fields_grounded", True, "5 known fields, each in a read tool's result"),
        ("account_in_chart", True, "6600 is an expense account"),
        ("no_secrets", True, ""),
        ("event_text_confirmed", True, ""),
        ("cross_tenant_refs", True, "0 foreign ids"),
        ("prompt_injection", True, ""),
    ]
    return _seeded("vendor-enrichment", "vendors.discovered", "vendors.enriched", event,
                   output, run_id, trace_id, reasons, calls, checks,
                   {"grounded": 0.8, "complete": 0.7, "policy": 0.5})  # fmt: skip


def question(tenant: str, n: int, *, when: dt.datetime | None = None) -> Seeded:
    """A question-answering result held because the judge doubted its period."""
    when = when or dt.datetime(2026, 10, 2, 15, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
    event_id = _id("qa", tenant, n)
    principal = f"u-{tenant.removeprefix('t-')}-owner"
    event = {
        "event_id": event_id, "tenant_id": tenant, "principal_id": principal, "occurred_at": when,
        "question_id": f"q-{n:04d}",
        "question": "How much did we spend on green coffee in Q2, and with whom?",
        "conversation_id": None,
    }  # fmt: skip
    run_id, trace_id = _id("run", event_id), _id("trace", event_id)
    output = {
        "event_id": event_id, "tenant_id": tenant, "principal_id": principal,
        "occurred_at": when, "output_id": "", "run_id": run_id, "trace_id": trace_id,
        "question_id": event["question_id"], "can_answer": True,
        "answer": "You spent USD 5,605.50 on green coffee in 2026-Q2, all with Cafe Imports.",
        "reason": None,
        "figures": [{"label": "COGS green coffee 2026-Q2", "amount_minor": 560550,
                     "currency": "USD", "record_ids": ["tx-r-001", "tx-r-007"]}],
        "periods": ["2026-Q2"], "filters": {"category": "5000"},
    }  # fmt: skip
    reasons = [
        "The question asks for Q2; the figure sums two records, one of them booked on 1 July.",
    ]
    calls = [
        ("listAccounts", {"tenant_id": tenant}),
        ("sumTransactions", {"tenant_id": tenant, "account": "5000", "period": "2026-Q2"}),
    ]
    checks = [
        ("numeric_grounding", True, "1 figure, 2 records"),
        ("figures_traced", True, ""),
        ("tenant_scoped_ids", True, ""),
        ("answer_numbers", True, "5,605.50 is figure 1"),
        ("answer_rests_on_data", True, ""),
        ("no_secrets", True, ""),
        ("prompt_injection", True, ""),
    ]
    return _seeded("question-answering", "questions.asked", "questions.answered", event,
                   output, run_id, trace_id, reasons, calls, checks,
                   {"grounded": 0.6, "complete": 0.9, "policy": 1.0})  # fmt: skip


def _seeded(
    daemon: str,
    input_topic: str,
    target_topic: str,
    event: dict[str, Any],
    output: dict[str, Any],
    run_id: str,
    trace_id: str,
    reasons: list[str],
    calls: list[tuple[str, dict[str, Any]]],
    checks: list[tuple[str, bool, str]],
    scores: dict[str, float],
) -> Seeded:
    envelope = {k: event[k] for k in ("event_id", "tenant_id", "principal_id")}
    held = held_result(
        event=event, daemon=daemon, target_topic=target_topic, value=output,
        decision=Decision("needs_review", reasons, scores, JUDGE), run_id=run_id,
        trace_id=trace_id,
    )  # fmt: skip
    held["occurred_at"] = event["occurred_at"] + dt.timedelta(seconds=40)
    run = {
        **envelope, "event_id": event["event_id"], "occurred_at": event["occurred_at"],
        "run_id": run_id, "daemon": daemon, "trace_id": trace_id, "span_id": trace_id[:16],
        "prompt_version": "p-" + trace_id[:8], "prompts_json": "{}",
        "parameters_json": json.dumps({"temperature": 0}), "planner_model": None,
        "model": "local:qwen2.5-coder-1.5b", "outcome": "completed", "error_type": None,
        "plan_json": None,
        "model_calls": [{
            "model": "local:qwen2.5-coder-1.5b", "prompt_version": "p", "parameters_json": "{}",
            "input_tokens": 1840, "output_tokens": 96, "cached_input_tokens": 0,
            "cache_write_tokens": 0, "cost_usd": 0.0, "latency_ms": 5210.0,
            "finish_reason": "tool_calls", "purpose": "execute", "span_id": trace_id[16:],
        }],
        "tool_calls": [{
            "call_id": f"c{i}", "name": name, "arguments_json": json.dumps(args),
            "result_digest": _id("result", run_id, i) * 2, "latency_ms": 12.0 + i,
            "error": None, "status": None, "span_id": _id("span", run_id, i)[:16],
        } for i, (name, args) in enumerate(calls)],
        "output_json": held["output_json"], "input_tokens": 1840, "output_tokens": 96,
        "cached_input_tokens": 0, "cache_write_tokens": 0, "cost_usd": 0.0,
        "latency_ms": 7420.0,
    }  # fmt: skip
    outcome = {
        **envelope, "occurred_at": held["occurred_at"], "run_id": run_id, "daemon": daemon,
        "verdict": "needs_review",
        "checks": [{"name": c, "passed": p, "detail": d} for c, p, d in checks],
        "scores": scores, "reasons": reasons, "judge_model": JUDGE, "trace_id": trace_id,
    }  # fmt: skip
    return Seeded(daemon, input_topic, target_topic, event, run, outcome, held)


def publish(settings: Settings, contracts: Contracts, seeded: list[Seeded]) -> None:
    """Produce each seeded story to its topics: input, run record, outcome, held result."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for s in seeded:
        by_topic.setdefault(s.input_topic, []).append(s.event)
        by_topic.setdefault(RUNS_TOPIC, []).append(s.run)
        by_topic.setdefault(OUTCOMES_TOPIC, []).append(s.outcome)
        by_topic.setdefault(REVIEW_TOPIC, []).append(s.held)
    for topic, records in by_topic.items():
        produce_events(settings, contracts, topic, records)
