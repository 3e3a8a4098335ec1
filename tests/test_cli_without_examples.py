"""The CLI starts without the repository's ``examples`` package (as an installed wheel has
none): every subcommand's ``--help`` works; only the commands that need the sample ledger
API import it, when they run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from processors.cli import build_parser

BLOCK = "import sys; sys.modules['examples'] = None; from processors.cli import main; "


def _subcommands() -> list[str]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sorted(sub.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in _subcommands()]])
def test_help_works_without_the_examples_package(argv: list[str]) -> None:
    code = BLOCK + f"main({argv!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: daemons" in done.stdout
