"""A comparison configuration: the small TOML file naming what varies between two runs.

::

    name = "candidate"                    # optional; default: the file's stem
    model = "openai:gpt-4o-mini"           # any model string, or scripted:<path> (tests)
    planner_model = "local:qwen2.5-coder-0.5b"   # optional
    judge_model = "openai:gpt-4o-mini"     # optional; "none": no judge; unset: as the daemons
                                           # choose (DAEMONS_JUDGE_MODEL, or the local pairing)
    local_url = "http://127.0.0.1:8092/v1" # optional: the local model server for local:…
                                           # models (e.g. one serving a fine-tune's adapter)
    planning = true                        # optional: turn the daemon's planner on or off
    prompts = "prompts-v2"                 # optional folder with instructions.md and task.md
    temperature = 0.2                      # optional
    [limits]                               # optional: any field of processors.agent.Limits
    max_turns = 6

Relative paths are relative to the file. Everything left out stays as the daemon ships it.
:meth:`CompareConfig.use_case` applies a configuration to a daemon's :class:`UseCase`;
:func:`load_config_model` builds its model (``scripted:`` ones from :mod:`.scripted`).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from processors.agent import Limits
from processors.daemons.base import UseCase
from processors.errors import ConfigError
from processors.llm.config import LLMSettings
from processors.llm.model import Model, ModelRequest, ModelResponse
from processors.llm.registry import load_model

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")  # safe inside a topic name


class CompareConfig(BaseModel):
    """One side of a comparison (see the module docstring for the file format)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    model: str
    planner_model: str | None = None
    judge_model: str | None = None
    local_url: str | None = None
    planning: bool | None = None
    prompts: Path | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    limits: dict[str, Any] = Field(default_factory=dict)
    base_dir: Path = Path(".")  # where the file was: scripted:<path> resolves against it

    def use_case(self, use_case: UseCase[Any]) -> UseCase[Any]:
        """``use_case`` with this configuration's prompts, limits and planning applied."""
        changes: dict[str, Any] = {}
        if self.prompts is not None:
            for file in ("instructions.md", "task.md"):
                if not (self.prompts / file).is_file():
                    raise ConfigError(f"config {self.name!r}: {self.prompts / file} is missing")
            changes["prompts"] = self.prompts
        if self.limits:
            try:
                changes["limits"] = Limits.model_validate(
                    {**use_case.limits.model_dump(), **self.limits}
                )
            except ValidationError as exc:
                raise ConfigError(f"config {self.name!r}: limits: {exc}") from exc
        if self.planning is not None:
            changes["planning"] = self.planning
        return dataclasses.replace(use_case, **changes)

    def llm(self, llm: LLMSettings) -> LLMSettings:
        """``llm`` with this configuration's local server URL, when it names one."""
        return llm.model_copy(update={"local_base_url": self.local_url}) if self.local_url else llm

    def describe(self) -> dict[str, Any]:
        """What this configuration sets, for reports (paths as strings)."""
        return {
            "name": self.name,
            "model": self.model,
            "planner_model": self.planner_model,
            "judge_model": self.judge_model,
            "local_url": self.local_url,
            "planning": self.planning,
            "prompts": str(self.prompts) if self.prompts else None,
            "temperature": self.temperature,
            "limits": dict(self.limits),
        }


def load_config(path: str | Path) -> CompareConfig:
    """Read a configuration file; every mistake is a :class:`ConfigError` naming the file."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read compare config {file}: {exc}") from exc
    data.setdefault("name", file.stem)
    base = file.resolve().parent
    if isinstance(data.get("prompts"), str):
        data["prompts"] = base / data["prompts"]
    try:
        config = CompareConfig.model_validate({**data, "base_dir": base})
    except ValidationError as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    if not NAME_PATTERN.match(config.name):
        raise ConfigError(
            f"{file}: name {config.name!r} must be 1-40 letters, digits, '-' or '_' "
            "(it becomes part of the shadow topic names)"
        )
    return config


def load_config_model(
    name: str, config: CompareConfig, llm: LLMSettings, *, tuned: bool = True
) -> Model:
    """The model for ``name`` (``scripted:<path>`` or any :func:`load_model` string), with the
    configuration's temperature applied to every request when ``tuned``."""
    model: Model
    if name.startswith("scripted:"):
        from processors.compare.scripted import load_script

        model = load_script(config.base_dir / name.removeprefix("scripted:"))
    else:
        model = load_model(name, llm)
    return model if config.temperature is None or not tuned else Tuned(model, config.temperature)


class Tuned:
    """A model whose requests all carry ``temperature`` (the agent's own settings otherwise)."""

    def __init__(self, model: Model, temperature: float) -> None:
        self.inner = model
        self.temperature = temperature

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def provider(self) -> str:
        return self.inner.provider

    async def complete(self, request: ModelRequest) -> ModelResponse:
        settings = request.settings.model_copy(update={"temperature": self.temperature})
        return await self.inner.complete(request.model_copy(update={"settings": settings}))
