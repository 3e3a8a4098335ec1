"""The ``client-onboarding`` daemon: ``clients.created`` → answers → ``clients.onboarded``.

A new client signs up with a company name, email domain, contact and free-text answers. The
agent answers the onboarding questionnaire (:mod:`.questionnaire`) from those answers and the
ledger's tools — the company profile (``getClient``), its bank transactions
(``listTransactions``, where payroll and payment providers show up in descriptors) and the
business directory (``searchDirectory``) — citing evidence for every answer. Code puts every
question without traceable evidence, or answered with low confidence, in ``needs_human``.

Modelling choice: the reference ledger's "client" is the tenant's own company, so the new
client of a ``clients.created`` event is the event's tenant onboarding itself (``client_id``
is the signup's id for it, e.g. ``c-quillstack`` in tenant ``t-quillstack``).
"""

from __future__ import annotations

from pathlib import Path

from processors.agent import Limits
from processors.agent.views import rows
from processors.daemons.base import UseCase
from processors.daemons.client_onboarding.checks import checks
from processors.daemons.client_onboarding.criteria import CRITERIA
from processors.daemons.client_onboarding.evals import EVALS
from processors.daemons.client_onboarding.examples import RECALL, as_examples, remember
from processors.daemons.client_onboarding.models import Answer, OnboardingAnswers, OnboardingChoice
from processors.daemons.client_onboarding.output import to_output
from processors.daemons.client_onboarding.questionnaire import KEYS, QUESTIONS, normalize
from processors.daemons.client_onboarding.redteam import REDTEAM
from processors.daemons.client_onboarding.resolve import resolve
from processors.llm.model import ToolCall

CONTEXT = (
    ToolCall(id="getClient", name="getClient", arguments={}),
    ToolCall(id="listTransactions", name="listTransactions", arguments={"limit": 100}),
)
"""The company profile and its bank transactions: every onboarding needs both, and both are
the same for every event of the tenant, so they come before the signup in the prompt (where
the model server's prefix cache keeps them). The call ids are the tool names: the model cites
a profile field as ``getClient:<field>`` and, seeing a call id beside the result, a small
model cites ``<call id>:<field>``."""

VIEWS = {
    # providers show up in descriptors; one transaction per descriptor is evidence enough
    "listTransactions": rows(
        "transactions", columns=("transaction_id", "descriptor", "direction"), distinct="descriptor"
    ),
    "recall": as_examples,  # with memory: approved past onboardings, as examples
}


USE_CASE: UseCase[OnboardingAnswers] = UseCase(
    name="client-onboarding",
    input_topic="clients.created",
    output_topic="clients.onboarded",
    output_type=OnboardingAnswers,
    # the model answers what it reads off the signup and the bank feed; code copies the
    # profile's entity type, fiscal year end and currency (resolve.py)
    answer_type=OnboardingChoice,
    resolve=resolve,
    prompts=Path(__file__).parent / "prompts",
    tools=("getClient", "listTransactions", "searchDirectory"),
    to_output=to_output,
    checks=checks,
    restates_event={
        "answers.value": "a signup answer is the client's own statement about itself (its "
        "bank, its team); the checks send one that reads like an instruction to a person",
    },
    # profile and transactions are gathered, so the model answers from them (no tool turns:
    # a small model otherwise fetches them again); turns to spare for corrections
    limits=Limits(max_turns=4, timeout_s=120.0, max_tokens=60_000, max_tool_turns=0),
    context=CONTEXT,
    views=VIEWS,
    # an approved onboarding is remembered; with memory, those with the most similar signup
    # answers come back as worked examples (examples.py)
    remember=remember,
    recall=RECALL,
    evals=EVALS,
    redteam=REDTEAM,
    criteria=CRITERIA,
    samples=Path(__file__).parent / "samples.jsonl",
)

__all__ = [
    "KEYS",
    "QUESTIONS",
    "USE_CASE",
    "Answer",
    "OnboardingAnswers",
    "OnboardingChoice",
    "checks",
    "normalize",
    "to_output",
]
