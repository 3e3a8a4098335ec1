"""No module under ``processors/`` imports a package above its own: the layers, bottom first.

A package may import itself and any package in a lower layer. Two packages in one layer do not
import each other. The order is the architecture: the runtime knows nothing of agents, the
agent nothing of guardrails or daemons, the guardrails nothing of daemons; the untrusted-text
helpers (fencing, folding, redaction) sit below everything that handles untrusted text."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "processors"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "context"),
    ("llm",),
    ("settings", "serde"),
    ("catalog",),
    ("kafka",),
    ("tracing", "untrusted"),
    ("telemetry",),
    ("runtime", "memory"),
    ("tools",),
    ("reference",),
    ("agent",),
    ("notify",),
    ("guardrails", "feedback"),
    ("daemons",),
    ("compare", "testing", "scaffold", "deploy", "console", "finetune"),
    ("promote",),
    ("cli",),
    ("__main__",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _package(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def _imported(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "processors":
                continue
            if len(parts) > 1:
                found.append((parts[1], node.lineno))
            else:  # from processors import telemetry
                found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "processors" and len(parts) > 1:
                    found.append((parts[1], node.lineno))
    return found


def test_every_package_of_processors_has_a_layer() -> None:
    packages = {_package(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert packages - RANK.keys() == set(), "add the new package to LAYERS"


def test_no_module_imports_a_package_above_its_own() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _package(path)
        if own == "__init__":
            continue
        for target, line in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            if target != own and target in RANK and RANK[target] >= RANK[own]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert upward == []


def test_the_check_sees_an_upward_import() -> None:
    tree = ast.parse("from processors.daemons.pipeline import Pipeline\nimport processors.cli\n")
    targets = [target for target, _ in _imported(tree)]
    assert targets == ["daemons", "cli"]
    assert RANK["daemons"] > RANK["agent"]
