"""Where a daemon's model configuration lives: ``<DAEMONS_CONFIG_DIR>/<daemon>.toml``, in the
format of a ``daemons compare`` configuration (:mod:`processors.compare.config`).

``daemons run NAME`` applies it when present (model, planner and judge models, the local
server's URL, prompts, limits, planning); without one the daemon runs on ``DAEMONS_MODEL`` as
before. ``daemons promote`` is what writes it, atomically, with absolute paths (the file no
longer sits next to the candidate's prompts or scripts) and a header saying why.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from processors.compare.config import CompareConfig, load_config
from processors.errors import ConfigError


def config_path(directory: Path, daemon: str) -> Path:
    return directory / f"{daemon}.toml"


def current(directory: Path, daemon: str) -> CompareConfig | None:
    """The daemon's promoted configuration, or None when it has none yet."""
    path = config_path(directory, daemon)
    return load_config(path) if path.is_file() else None


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise ConfigError(f"cannot write {value!r} into a model configuration")


def render(config: CompareConfig, header: Sequence[str] = ()) -> str:
    """``config`` as TOML; ``scripted:`` and ``prompts`` paths made absolute."""
    lines = [f"# {line}" for line in header]
    model = config.model
    if model.startswith("scripted:"):
        model = "scripted:" + str(config.base_dir / model.removeprefix("scripted:"))
    fields: dict[str, Any] = {
        "name": config.name, "model": model, "planner_model": config.planner_model,
        "judge_model": config.judge_model, "local_url": config.local_url,
        "planning": config.planning,
        "prompts": str(config.prompts.resolve()) if config.prompts else None,
        "temperature": config.temperature,
    }  # fmt: skip
    judge = config.judge_model
    if judge and judge.startswith("scripted:"):
        fields["judge_model"] = "scripted:" + str(config.base_dir / judge.removeprefix("scripted:"))
    lines += [f"{key} = {_value(v)}" for key, v in fields.items() if v is not None]
    if config.limits:
        lines += ["", "[limits]", *(f"{k} = {_value(v)}" for k, v in config.limits.items())]
    return "\n".join(lines) + "\n"


def write(directory: Path, daemon: str, config: CompareConfig, header: Sequence[str]) -> Path:
    """Replace the daemon's configuration with ``config`` (write, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = config_path(directory, daemon)
    text = render(config, header)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{daemon}.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        load_config(tmp)  # what we wrote reads back
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
