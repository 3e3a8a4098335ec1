"""A screen for instruction-like content in untrusted data: event fields and tool results.

Vendor descriptors, directory entries, signup answers and questions come from outside; text in
them that reads as an order to the model ("ignore previous instructions", "call upsertVendor",
"reveal the token", a fake tool-call JSON, a ``<|im_start|>system`` tag, a forged
``</untrusted>`` fence) is flagged with *where* it was found and *which* pattern matched —
never the text itself, so the flag can be published without repeating the payload.

Flags do not stop a run: the runtime already keeps an obedient model from doing harm
(allowlist, tenant scoping, limits). They are recorded — a span event on the current span and
the ``prompt_injection`` check in ``guardrails.outcomes`` — so a person sees the attempt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from processors.errors import MemoryWriteRefused
from processors.guardrails.checks import CheckResult
from processors.memory.records import MemoryRecord
from processors.untrusted import defenses
from processors.untrusted.text import decodings, fold, normalize

CHECK_NAME = "prompt_injection"
_ANY = r"[^.!?\n]{0,60}?"  # within one clause

# A claim of a reviewer's, an auditor's or a check's authority: nothing in data or in an
# output may say it was approved, verified or exempted — only the guardrails decide that.
_AUTHORITIES = (
    r"(?:human\s+)?(?:reviewers?|review(?:\s+team)?|auditors?|compliance(?:\s+team)?"
    r"|guardrails?|the\s+judge|(?:all\s+|the\s+)?checks|security\s+team)"
)
AUTHORITY_CLAIM = re.compile(
    r"\b(?:approved|verified|validated|cleared|signed[\s-]?off|authori[sz]ed|whitelisted"
    r"|allowlisted|pre-?approved|exempt(?:ed)?)\s+(?:by|from)\s+(?:the\s+|a\s+|all\s+)?"
    + _AUTHORITIES
    + r"\b|\b(?:reviewer|auditor|human|judge|guardrail|compliance)[\s_-]*(?:approved|verified"
    r"|override|sign[\s-]?off)\b"
    r"|\b(?:verdict|review_status|approval|guardrails?)\s*[:=]\s*[\"']?(?:pass(?:ed)?|approved"
    r"|ok|true|skip(?:ped)?)\b"
    r"|\b(?:all\s+)?(?:checks|guardrails?|reviews?|verification)\s+(?:have\s+been\s+|has\s+been\s+"
    r"|were\s+|was\s+|are\s+|is\s+)?(?:passed|completed|skipped|waived|disabled|not\s+required"
    r"|not\s+needed)\b"
    r"|\bno\s+(?:human\s+|further\s+|manual\s+)?(?:review|approval|verification)\s+(?:is\s+)?"
    r"(?:needed|required|necessary)\b"
)

# name -> pattern over normalized text (NFKC, invisible characters removed, casefolded)
PATTERNS: dict[str, re.Pattern[str]] = {
    "ignore_instructions": re.compile(
        r"\b(ignore|disregard|forget|override|bypass|skip)\b"
        + _ANY
        + r"\b(instructions?|prompts?|rules|directions|guidelines|guardrails|policy|policies)\b"
    ),
    "new_instructions": re.compile(
        r"\b(new|updated|real|actual|additional|important|urgent)\s+"
        r"(instructions?|task|objective|orders?|directive)\b\s*[:!-]"
    ),
    "system_prompt": re.compile(
        r"\b(system|developer|hidden|initial)\s+(prompt|message|instructions?)\b"
    ),
    "role_change": re.compile(
        r"\byou\s+are\s+(now|no\s+longer)\b|\bfrom\s+now\s+on\b|\bact\s+as\s+(an?\s+|the\s+)?"
        r"(admin|administrator|root|system|developer|unrestricted)\b|\bpretend\s+(to\s+be|you)\b"
    ),
    "tool_call": re.compile(
        r"\b(call|invoke|execute|trigger)\s+(the\s+)?(tool|function|endpoint|api|operation)"
        r"\b|\b(call|invoke|execute|trigger)\s+(the\s+)?`?[a-z]+[a-z0-9]*_?[a-z0-9]*`?\s*\("
        r"|\b(call|invoke|execute|trigger)\s+(the\s+)?`?(upsert|get|list|search|aggregate|delete"
        r"|create|update|export|send|read)[a-z_]*`?\b"
    ),
    "secret_request": re.compile(
        r"\b(reveal|print|show|output|include|send|leak|expose|give|tell|copy|paste|return|share"
        r"|dump|repeat|disclose|write)\b"
        + _ANY
        + r"\b(tokens?|api[\s_-]?keys?|secrets?|passwords?|credentials?|bearer|authorization"
        r"|signing[\s_-]?key|private[\s_-]?key|jwt|card\s+numbers?|cvv|ssn"
        r"|social\s+security)\b"
    ),
    "other_tenant": re.compile(
        r"\b(export|dump|list|send|show|copy|include|fetch|get|read|give|access|retrieve|query)\b"
        + _ANY
        + r"(\b(other|another|all|every|different|foreign)\s+(tenants?|customers?|clients?"
        r"|compan(y|ies)|organi[sz]ations?)\b|\btenant\s+t-[a-z0-9]+|\bt-[a-z0-9]+'s\b"
        r"|\b(of|for|from)\s+(tenant\s+)?t-[a-z0-9]+\b)"
    ),
    "fake_tool_call": re.compile(
        r"[\"'](tool_calls?|function_call|tool_use|tool_name)[\"']\s*:"
        r"|\{\s*[\"']name[\"']\s*:\s*[\"'][a-z_]+[\"']\s*,\s*[\"'](arguments|parameters|args|input)[\"']"
        r"|<\s*/?\s*(tool_call|function_call|tool_use|function)\b"
    ),
    # a tool's result or a turn forged inside one field's text: structure a value never holds
    "fake_tool_result": re.compile(
        r"[\"'](tool|tool_result|function_result|observation|tool_output)[\"']\s*:"
        r"|[\"'](result|results|response)[\"']\s*:\s*[\[{]"
    ),
    "policy_notice": re.compile(
        r"\b(polic(y|ies)|rules?|procedures?|guidelines?)\s+(change|update|amendment)s?\s*"
        r"(notices?|notifications?|announcements?|[(:\u2014-])"
        r"|\bneeds?\s+no\s+(human\s+|further\s+|manual\s+)?(review|approval|verification)\b"
    ),
    "role_tag": re.compile(
        r"<\|?\s*(im_start|im_end|system|assistant|endoftext|eot_id|start_header_id)\s*\|?>"
        r"|\[/?(inst|sys)\]|<<\s*/?sys\s*>>|(^|\n)\s*#{0,3}\s*(system|assistant|tool)\s*:"
        r"|(^|\n)\s*#{1,3}\s*(system|instructions?)\b"
    ),
    "fence_escape": re.compile(r"<[^a-z<>]{0,8}untrusted"),
    "authority_claim": AUTHORITY_CLAIM,
    "output_override": re.compile(
        r"\b(your|the)\s+(final\s+)?(answer|output|response|reply)\s+(must|should|shall|has\s+to)\b"
        r"|\b(respond|reply|answer)\s+(only\s+)?with\s+(exactly|only)\b"
        r"|\b(set|change|report|mark)\s+(the\s+)?(website|phone|name|answer|amount|total|mcc"
        r"|category|verdict|confidence)\s+(to|as)\b"
        # any field dictated with a quoted value: 'set industry to "..."'
        r"|\b(set|change|report|mark|record|fill)\s+(the\s+|your\s+)?[a-z_]{2,30}\s+(field\s+)?"
        r"(to|as|with)\s+[\"'\u201c]"
    ),
}


@dataclass(frozen=True)
class Flag:
    """Instruction-like content found at ``where`` (e.g. ``event:question``,
    ``tool:searchDirectory#call_2 results[0].hours``), matching ``patterns``."""

    where: str
    patterns: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where} ({', '.join(self.patterns)})"


# "ignore the previous instructions" and "forget your instructions" in other languages, over
# folded, casefolded text (not the Latin skeleton, which would turn Cyrillic into look-alikes)
OTHER_LANGUAGES = re.compile(
    r"\bignor(?:e[zr]?|er)\b[^.!?\n]{0,40}\b(?:instructions|consignes|r[eè]gles)\b"  # fr
    r"|\boublie[zr]?\b[^.!?\n]{0,30}\b(?:instructions|consignes)\b"
    r"|\bignorier(?:e|en|t)?\b[^.!?\n]{0,40}\b(?:anweisungen|instruktionen|regeln)\b"  # de
    r"|\bvergiss\b[^.!?\n]{0,30}\banweisungen\b"
    r"|\bignora(?:r)?\b[^.!?\n]{0,40}\b(?:instrucciones|istruzioni|reglas|regole)\b"  # es, it
    r"|\bolvida\b[^.!?\n]{0,30}\binstrucciones\b"
    r"|\bignor(?:e|ar)\b[^.!?\n]{0,40}\binstru[cç][oõ]es\b"  # pt
    r"|\bnegeer\b[^.!?\n]{0,40}\binstructies\b"  # nl
    r"|\bzignoruj\b[^.!?\n]{0,40}\binstrukcje\b"  # pl
    r"|talimatlar[\u0131i]\s+(?:yok\s+say|g[öo]rmezden\s+gel)"  # tr
    r"|\b(?:игнорируй(?:те)?|проигнорируй(?:те)?|забудь(?:те)?)\b[^.!?\n]{0,40}"
    r"(?:инструкци|указани|правил)"  # ru
    r"|(?:忽略|无视|忽视|無視)[^。!?\n]{0,12}(?:指令|指示|说明|命令|規則|规则)"  # zh
    r"|(?:指示|命令)[^。!?\n]{0,8}(?:を無視|を忘れ)"  # ja
)


def screen_text(text: str) -> tuple[str, ...]:
    """The names of the patterns ``text`` matches (empty: nothing instruction-like): as it
    reads (:func:`~processors.untrusted.text.skeleton`), in the other languages of
    :data:`OTHER_LANGUAGES`, and once decoded (percent-encoding, entities, escapes, base64,
    hex: then ``encoded_payload`` is named too)."""
    found = _matches(text)
    for decoded in decodings(text):
        inner = _matches(decoded)
        if inner:
            found.update(inner | {"encoded_payload"})
    return tuple(name for name in (*PATTERNS, "encoded_payload") if name in found)


def _matches(text: str) -> set[str]:
    plain = normalize(text)
    found = {name for name, pattern in PATTERNS.items() if pattern.search(plain)}
    if OTHER_LANGUAGES.search(fold(text).casefold()):
        found.add("ignore_instructions")
    return found


def screen_value(value: Any, where: str) -> list[Flag]:
    """Screen every string inside ``value`` (dicts and lists walked), each on its own, so the
    flag names the field and JSON structure itself is never mistaken for a payload."""
    flags = []
    for path, text in _strings(value, ""):
        found = screen_text(text)
        if found:
            flags.append(Flag(f"{where}{path}", found))
    return flags


def screen_event(event: Mapping[str, Any], fields: Sequence[str] | None = None) -> list[Flag]:
    """Screen an input event's fields (``fields``: only these; default all but the ids)."""
    names = fields if fields is not None else [k for k in event if k not in _ENVELOPE]
    return [flag for name in names for flag in screen_value(event.get(name), f"event:{name}")]


def screen_tool_result(value: Any, where: str) -> tuple[str, ...]:
    """The screen a daemon's agent runs on every tool result (a
    :data:`~processors.tools.evidence.Screen`): flags on the current (``execute_tool``) span
    and returned for the evidence, from where the checks report them as ``prompt_injection``
    and the write-back refuses to write. Off only in the red-team benchmark."""
    if not defenses.current().screen:
        return ()
    flags = screen_value(value, where)
    record_flags(flags)
    return tuple(str(flag) for flag in flags)


def no_authority_claims(output: Any) -> CheckResult:
    """Nothing in an output claims a reviewer's or a check's authority ("reviewer-approved",
    "all checks passed", "no further review needed"), in any spelling the screen reads:
    only the guardrails decide what passed, and a person what is approved."""
    found = sorted({path or "output" for path, text in _strings(output, "")
                    if AUTHORITY_CLAIM.search(normalize(text))})  # fmt: skip
    if found:
        where = ", ".join(found[:5])
        return CheckResult("no_authority_claims", False, f"claims a review's authority: {where}")
    return CheckResult("no_authority_claims", True, "no claim of a review's authority")


def record_flags(flags: Sequence[Flag]) -> None:
    """Put each flag on the current span as a ``prompt_injection.flagged`` event."""
    span = trace.get_current_span()
    for flag in flags:
        span.add_event(
            "prompt_injection.flagged",
            {"daemons.injection.where": flag.where, "daemons.injection.patterns": flag.patterns},
        )


def injection_check(flags: Sequence[str | Flag]) -> CheckResult:
    """The ``prompt_injection`` check: fails when anything was flagged; the detail says where."""
    if not flags:
        return CheckResult(
            CHECK_NAME, True, "nothing instruction-like in the inputs or tool results"
        )
    where = "; ".join(str(f) for f in flags)
    return CheckResult(
        CHECK_NAME, False, f"instruction-like content in {len(flags)} place(s): {where}"
    )


_ENVELOPE = frozenset({"event_id", "tenant_id", "principal_id", "occurred_at"})


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
            if isinstance(key, str) and len(key) > 24:  # a long key is text too
                yield f"{path}.<key>", key
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def screen_memories(records: Sequence[MemoryRecord]) -> None:
    """Refuses (raises :class:`~processors.errors.MemoryWriteRefused`, reason ``flagged``)
    records any of whose texts reads as an instruction: whatever a use case's ``remember``
    maps, a memory is replayed into later prompts of its tenant, so it is screened again
    here, on every path that writes one (a passed result, a reviewer's approval)."""
    for record in records:
        texts = [record.value or ""]
        if record.episode is not None:
            texts += [record.episode.input_summary, record.episode.output]
        if any(screen_text(text) for text in texts):
            raise MemoryWriteRefused(
                f"memory {record.memory_id} (run {record.provenance.run_id}) reads as an "
                "instruction",
                reason="flagged",
            )
