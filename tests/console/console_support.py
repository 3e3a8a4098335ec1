"""Builders shared by the console tests: reviewers and their tokens."""

from __future__ import annotations

from pathlib import Path

from processors.console import hash_token

TOKENS = {"u-anna": "anna-token-" + "a" * 40, "u-bert": "bert-token-" + "b" * 40}
GRANTS = {"u-anna": ["t-ridgeline"], "u-bert": ["t-quillstack"]}


def write_reviewers(path: Path) -> Path:
    path.write_text(
        "".join(
            f'[[reviewer]]\nid = "{rid}"\nname = "{rid[2:].title()} Reviewer"\n'
            f'token_sha256 = "{hash_token(token)}"\ntenants = {GRANTS[rid]!r}\n\n'.replace("'", '"')
            for rid, token in TOKENS.items()
        ),
        encoding="utf-8",
    )
    return path
