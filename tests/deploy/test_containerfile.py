"""deploy/Containerfile keeps its promises (the image itself is built with podman, see
docs/deploy.md; too slow for every test run): non-root, `daemons` as the entrypoint, the
local models only in their own target, and a build context holding what it copies."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = (ROOT / "deploy" / "Containerfile").read_text(encoding="utf-8")


def stages() -> dict[str, list[str]]:
    """Each stage's instructions (continuation lines joined), by its name."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE)
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = found.setdefault(match.group(1), [])
        current.append(line)
    return found


def test_the_runtime_runs_daemons_as_a_non_root_user() -> None:
    found = stages()
    for stage in ("runtime", "local"):
        users = [line.split()[1] for line in found[stage] if line.startswith("USER ")]
        assert users and users[-1].split(":")[0] not in {"0", "root"}, stage
    assert 'ENTRYPOINT ["daemons"]' in found["runtime"]


def test_the_runtime_has_only_the_virtualenv_of_the_build() -> None:
    runtime = stages()["runtime"]
    copies = [line for line in runtime if line.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/venv /opt/venv"]
    assert not [line for line in runtime if "pip install" in line]


def test_the_local_models_are_a_target_of_their_own() -> None:
    found = stages()
    assert "[local]" in " ".join(found["build-local"])
    assert "[local" not in " ".join(found["build"] + found["runtime"])
    assert found["local"][0].startswith("FROM runtime AS local")


def test_the_image_takes_configuration_from_the_environment_only() -> None:
    runtime = " ".join(stages()["runtime"])
    assert "DAEMONS_CACHE_DIR=/var/cache/daemons" in runtime
    assert not re.search(r"\b(VOLUME|ARG)\b.*(KEY|PASSWORD|SECRET)", runtime)


def test_the_build_context_holds_what_the_containerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def included(path: str) -> bool:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            body = pattern.removeprefix("!")
            if fnmatch.fnmatch(path, body) or path.startswith(body.rstrip("/") + "/"):
                keep = negated
        return keep

    for line in stages()["build"]:
        if line.startswith("COPY ") and "--from" not in line:
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert included(source), f"{source} is left out of the build context"
