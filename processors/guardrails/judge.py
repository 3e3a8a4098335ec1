"""The judge: a second, different model decides whether a run's response may be published.

A use case that declares :class:`~processors.guardrails.criteria.Criteria` is judged
*criterion by criterion*: each claim its criteria select is one small constrained call (the
question, the claim and only the evidence that bears on it, data fenced) whose answer is
``{"answer": "yes" | "no" | "unsure", "reason": …}``, and code combines the answers into the
verdict (:func:`~processors.guardrails.criteria.combine`). A small local model cannot say
whether a whole answer is right, but it can say whether one amount equals one total.

A use case without criteria is judged *holistically*: :class:`Judge` shows the judge model
the objective (the daemon's task filled with the event), the tool evidence (what the tools
really returned in this run), the response and the daemon's policy
(``prompts/judge_policy.md`` next to its other prompts, versioned by content like every
:class:`~processors.agent.prompt.Prompt`), and asks for a :class:`JudgeVerdict` through a single
forced tool call whose parameters are the verdict's JSON Schema — the local server
constrains generation to that schema; hosted providers get the same schema as
``response_schema``.

The judge never crashes a daemon: a model failure or an answer that is not a valid verdict
becomes ``needs_review`` with a reason starting ``judge error:`` (``JudgeVerdict.error`` set),
so a person looks at the result instead of it being published or lost.

:func:`ensure_independent` refuses a judge that is the primary model (same provider and model
name): one model never polices itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from processors.agent.planning import strip_fences
from processors.agent.prompt import Prompt, render_task
from processors.agent.tabular import for_model
from processors.errors import ConfigError, DaemonsError
from processors.guardrails.criteria import Answered, Ask, Criteria, Decided, combine
from processors.llm.model import (
    Model,
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolSpec,
    UserMessage,
)
from processors.tools.evidence import ToolEvidence
from processors.untrusted.fencing import UNTRUSTED_NOTE, untrusted

Verdict = Literal["pass", "fail", "needs_review"]
VERDICT_TOOL = "submit_verdict"
CRITERION_TOOL = "submit_answer"
JUDGE_PROMPT = Path(__file__).parent / "prompts" / "judge.md"
CRITERION_PROMPT = Path(__file__).parent / "prompts" / "criterion.md"
POLICY_FILE = "judge_policy.md"
_JUDGE_SETTINGS = ModelSettings(temperature=0.0, max_tokens=600, seed=7)
_CRITERION_SETTINGS = ModelSettings(temperature=0.0, max_tokens=160, seed=7)
_MAX_SLICE_CHARS = 1200  # one criterion's evidence: a directory entry, a total, a profile
_MAX_EVIDENCE_CHARS = 3500  # the judge reads the tools as tables; this keeps a small
# model on a CPU to ~1,000 evidence tokens (about 10 s for the 0.5B judge on 2 cores)


class Scores(BaseModel):
    """Per criterion, 0 (violated) .. 1 (fully met)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grounded: float = Field(ge=0.0, le=1.0)
    complete: float = Field(ge=0.0, le=1.0)
    policy: float = Field(ge=0.0, le=1.0)


class JudgeAnswer(BaseModel):
    """What the judge model must return (the schema its output is constrained to)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: Verdict
    scores: Scores
    reasons: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        min_length=1, max_length=8
    )


class CriterionAnswer(BaseModel):
    """What the judge model returns for one criterion about one claim: its reason first (a
    small model that writes its comparison before its answer answers more carefully), then
    ``yes``/``no``/``unsure`` or, for a choice, one of the options or ``unsure``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(max_length=160)
    answer: str


def criterion_schema(options: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON Schema one criterion's answer is constrained to."""
    choices = [*options, "unsure"] if options else ["yes", "no", "unsure"]
    return {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": 160},
            "answer": {"type": "string", "enum": choices},
        },
        "required": ["reason", "answer"],
        "additionalProperties": False,
    }


class JudgeVerdict(BaseModel):
    """The judge's typed verdict on one run, with which judge and policy produced it."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    scores: dict[str, float] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    judge_model: str
    policy_version: str = ""
    error: str | None = None  # set when the judge itself failed (the verdict is needs_review)
    model_calls: int = 0  # criterion calls made (criteria code decided or skipped: none)


def model_identity(name: str) -> tuple[str, str]:
    """(provider, model) of a model string; ``local:x`` and ``openai:x`` differ by provider."""
    provider, _, model = name.partition(":")
    return provider.strip().lower(), model.strip().split("#")[-1].lower()


def ensure_independent(judge: str, primary: str) -> None:
    """Raise :class:`ConfigError` if ``judge`` is the same model as ``primary``."""
    if model_identity(judge) == model_identity(primary):
        raise ConfigError(
            f"the judge model {judge!r} is the primary model: a model must not judge its own "
            "work; set DAEMONS_JUDGE_MODEL to a different model"
        )


def load_policy(prompts: Path) -> Prompt:
    """A daemon's judge policy (``judge_policy.md`` in its prompts folder); ConfigError if
    it is missing."""
    return Prompt.load(prompts / POLICY_FILE)


class Judge:
    """Evaluates responses with ``model``; ``primary`` is the model it must differ from."""

    def __init__(
        self,
        model: Model,
        *,
        primary: str,
        instructions: Prompt | None = None,
        settings: ModelSettings = _JUDGE_SETTINGS,
        criterion_instructions: Prompt | None = None,
        criterion_settings: ModelSettings = _CRITERION_SETTINGS,
    ) -> None:
        ensure_independent(model.name, primary)
        self.model = model
        self.instructions = instructions or Prompt.load(JUDGE_PROMPT)
        self.settings = settings
        self.criterion_instructions = criterion_instructions or Prompt.load(CRITERION_PROMPT)
        self.criterion_settings = criterion_settings
        self._schema = JudgeAnswer.model_json_schema()

    @property
    def name(self) -> str:
        return self.model.name

    def request(
        self,
        *,
        task: Prompt,
        event: Mapping[str, Any],
        output: Mapping[str, Any],
        evidence: Sequence[ToolEvidence],
        policy: Prompt,
    ) -> ModelRequest:
        """The judge's request: instructions and the daemon's policy (the same for every
        event of the daemon: the cacheable prefix), then objective, evidence and response,
        data fenced."""
        objective = render_task(task, event)
        user = (
            f"OBJECTIVE:\n{objective}\n\n"
            f"EVIDENCE (what the tools returned in this run):\n{_evidence(evidence)}\n\n"
            "RESPONSE:\n"
            f"{untrusted(json.dumps(output, sort_keys=True, default=str), source='response')}"
        )
        system = f"{self.instructions.text}\n\n{UNTRUSTED_NOTE}\n\nPOLICY:\n{policy.text}"
        tool = ToolSpec(
            name=VERDICT_TOOL,
            description="Submit the verdict on the agent's response.",
            parameters=self._schema,
        )
        return ModelRequest(
            messages=(SystemMessage(content=system), UserMessage(content=user)),
            tools=(tool,),
            tool_choice=VERDICT_TOOL,
            response_schema=self._schema,
            response_name="JudgeAnswer",
            settings=self.settings,
            cache_prefix=1,
        )

    async def evaluate(
        self,
        *,
        task: Prompt,
        event: Mapping[str, Any],
        output: Mapping[str, Any],
        evidence: Sequence[ToolEvidence],
        policy: Prompt | None = None,
        criteria: Criteria | None = None,
    ) -> JudgeVerdict:
        """The verdict: criterion by criterion when ``criteria`` are given, else holistic
        against ``policy``. Never raises for a model failure or a malformed answer."""
        if criteria is not None:
            return await self.evaluate_criteria(event=event, output=output, evidence=evidence,
                                                criteria=criteria)  # fmt: skip
        if policy is None:
            raise ConfigError("the judge needs the use case's criteria or its judge policy")
        try:
            request = self.request(
                task=task, event=event, output=output, evidence=evidence, policy=policy
            )
            response = await self.model.complete(request)
            answer = parse_answer(response.message.tool_calls, response.message.content)
        except (DaemonsError, ValidationError, ValueError, TimeoutError, OSError) as exc:
            return self.error_verdict(exc, policy)
        return JudgeVerdict(
            verdict=answer.verdict,
            scores=answer.scores.model_dump(),
            # once each: a small judge decoding greedily can repeat one reason many times
            reasons=list(dict.fromkeys(r[:500] for r in answer.reasons)),
            judge_model=self.name,
            policy_version=policy.version,
        )

    async def evaluate_criteria(
        self,
        *,
        event: Mapping[str, Any],
        output: Mapping[str, Any],
        evidence: Sequence[ToolEvidence],
        criteria: Criteria,
    ) -> JudgeVerdict:
        """Each criterion's claims asked one by one (skipped when its selector selects none;
        answered by code when it says so), combined by :func:`combine`; the first violated
        criterion ends the questions (the output fails whatever the rest answer). A model
        failure or a malformed answer: ``needs_review`` with ``judge error:`` naming the
        criterion."""
        answers: list[Answered] = []
        skipped: list[str] = []
        calls = 0
        version = f"{criteria.version}.{self.criterion_instructions.version}"
        for criterion in criteria.items:
            try:
                selected = criterion.select(event, output, evidence)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                return self._error(f"criterion {criterion.name}: selecting evidence", exc,
                                   version, calls)  # fmt: skip
            if not selected:
                skipped.append(criterion.name)
            for item in selected:
                if isinstance(item, Decided):
                    answers.append(
                        Answered(criterion.name, item.label, item.answer, item.reason,
                                 criterion.passes_on, asked=False)
                    )  # fmt: skip
                    continue
                calls += 1
                try:
                    request = self.criterion_request(criterion.question, item)
                    response = await self.model.complete(request)
                    got = parse_criterion(
                        response.message.tool_calls, response.message.content, item.options
                    )
                except (DaemonsError, ValidationError, ValueError, TimeoutError, OSError) as exc:
                    where = f"criterion {criterion.key_of(item)}"
                    return self._error(where, exc, version, calls)
                answer, reason = _read(got, item)
                answers.append(
                    Answered(criterion.name, item.label, answer, reason, criterion.passes_on)
                )
            if any(a.outcome == "violated" for a in answers):
                break  # the output fails whatever the rest would answer: no more calls
        combined = combine(answers, skipped)
        return JudgeVerdict(
            verdict=combined.verdict,
            scores=combined.scores,
            reasons=combined.reasons,
            judge_model=self.name,
            policy_version=version,
            model_calls=calls,
        )

    def criterion_request(self, question: str, ask: Ask) -> ModelRequest:
        """One criterion's request: the same short instructions for every criterion (the
        cacheable prefix), then the claim (not for a blind choice) and its evidence fenced,
        the question last."""
        evidence = (
            "\n".join(
                untrusted(_clip(text), source=source) for source, text in ask.evidence.items()
            )
            or "(none)"
        )
        if ask.options:
            picks = ", ".join(json.dumps(o) for o in ask.options)
            user = (
                f"EVIDENCE:\n{evidence}\n\n"
                f'QUESTION: {question}\nAnswer one of: {picks}, or "unsure".'
            )
        else:
            user = (
                f"CLAIM:\n{untrusted(_clip(ask.claim), source='output')}\n\n"
                f"EVIDENCE:\n{evidence}\n\n"
                f"QUESTION: {question}\nAnswer yes, no or unsure."
            )
        system = f"{self.criterion_instructions.text}\n\n{UNTRUSTED_NOTE}"
        schema = criterion_schema(ask.options)
        tool = ToolSpec(
            name=CRITERION_TOOL,
            description="Submit the answer to the question.",
            parameters=schema,
        )
        return ModelRequest(
            messages=(SystemMessage(content=system), UserMessage(content=user)),
            tools=(tool,),
            tool_choice=CRITERION_TOOL,
            response_schema=schema,
            response_name="CriterionAnswer",
            settings=self.criterion_settings,
            cache_prefix=1,
        )

    def _error(self, where: str, exc: BaseException, version: str, calls: int) -> JudgeVerdict:
        detail = f"{where}: {type(exc).__name__}: {str(exc)[:300]}"
        return JudgeVerdict(
            verdict="needs_review",
            reasons=[f"judge error: {detail}"],
            judge_model=self.name,
            policy_version=version,
            error=detail,
            model_calls=calls,
        )

    def error_verdict(self, exc: BaseException, policy: Prompt) -> JudgeVerdict:
        detail = f"{type(exc).__name__}: {str(exc)[:300]}"
        return JudgeVerdict(
            verdict="needs_review",
            reasons=[f"judge error: {detail}"],
            judge_model=self.name,
            policy_version=policy.version,
            error=detail,
        )


def parse_criterion(
    tool_calls: Sequence[Any], content: str | None, options: Sequence[str] = ()
) -> CriterionAnswer:
    """One criterion's answer from the forced tool call, or from JSON text; an answer
    outside its choices raises ``ValueError``."""
    got: CriterionAnswer | None = None
    for call in tool_calls:
        if call.name == CRITERION_TOOL:
            got = CriterionAnswer.model_validate(call.arguments)
            break
    else:
        if tool_calls:
            raise ValueError(f"judge called {tool_calls[0].name!r}, not {CRITERION_TOOL!r}")
        if not content:
            raise ValueError("judge returned neither an answer call nor text")
        got = CriterionAnswer.model_validate_json(strip_fences(content))
    allowed = criterion_schema(options)["properties"]["answer"]["enum"]
    if got.answer not in allowed:
        raise ValueError(f"answer {got.answer[:80]!r} is none of {allowed}")
    return got


def _read(got: CriterionAnswer, ask: Ask) -> tuple[Literal["yes", "no", "unsure"], str]:
    """The yes/no/unsure a reply amounts to, and its reason (a choice: met when the model
    read one of the values that agree with the output)."""
    reason = got.reason.strip() or "(no reason given)"
    if got.answer == "unsure":
        return "unsure", reason
    if not ask.options:
        return ("yes" if got.answer == "yes" else "no"), reason
    if got.answer in ask.expected:
        return "yes", f"read {got.answer!r}, as the output has it: {reason}"
    return "no", f"read {got.answer!r} where the output has {ask.claim!r}: {reason}"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SLICE_CHARS else text[:_MAX_SLICE_CHARS] + " …(truncated)"


def parse_answer(tool_calls: Sequence[Any], content: str | None) -> JudgeAnswer:
    """The judge's answer from its forced tool call, or from JSON text (providers that answer
    ``response_schema`` in the content). Raises ``ValidationError``/``ValueError``."""
    for call in tool_calls:
        if call.name == VERDICT_TOOL:
            return JudgeAnswer.model_validate(call.arguments)
    if tool_calls:
        raise ValueError(f"judge called {tool_calls[0].name!r}, not {VERDICT_TOOL!r}")
    if not content:
        raise ValueError("judge returned neither a verdict call nor text")
    return JudgeAnswer.model_validate_json(strip_fences(content))


def _evidence(evidence: Sequence[ToolEvidence]) -> str:
    if not evidence:
        return "(no tool calls)"
    parts, used = [], 0
    for i, e in enumerate(evidence, 1):
        arguments = json.dumps(e.arguments, sort_keys=True, default=str)
        outcome = f"error: {e.error}" if e.error else f"result:\n{for_model(e.result)}"
        body = f"{e.tool}({arguments})\n{outcome}"
        if used + len(body) > _MAX_EVIDENCE_CHARS:
            body = body[: max(0, _MAX_EVIDENCE_CHARS - used)] + " …(truncated)"
        parts.append(untrusted(body, source=f"tool:{e.tool}", id=str(i)))
        used += len(body)
        if used >= _MAX_EVIDENCE_CHARS:
            break
    return "\n".join(parts)
