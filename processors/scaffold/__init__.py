"""``daemons new NAME``: a package of your own daemon, ready to run and to change.

The template (``template/``, beside this module) is a working use case — its prompts, output
model, checks, Avro schemas and topics, an eval set, a test against the real broker with a
scripted model, a README — registered by the entry point group ``process_daemons.daemons``.
``__NAME__`` in a file stands for the daemon's name (``expense-memo``), ``__PKG__`` (in a
file or a path) for its Python package (``expense_memo``).
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from processors.errors import ConfigError

TEMPLATE = Path(__file__).parent / "template"
NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def package_name(name: str) -> str:
    """The Python package of daemon ``name``; a name that cannot be one is a ConfigError."""
    if not NAME.match(name) or len(name) > 60:
        raise ConfigError(
            f"daemon name {name!r}: use lowercase letters, digits and single hyphens, starting "
            "with a letter (e.g. expense-memo), at most 60 characters"
        )
    package = name.replace("-", "_")
    if keyword.iskeyword(package) or package in {"processors", "tests", "test"}:
        raise ConfigError(f"daemon name {name!r}: {package!r} cannot be its package's name")
    return package


def create(name: str, parent: Path) -> Path:
    """Write the package of daemon ``name`` to ``parent / name`` (which must not exist);
    returns that folder."""
    package = package_name(name)
    root = parent / name
    if root.exists():
        raise ConfigError(f"{root} already exists: choose another name or folder")
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        target = root / str(relative).replace("__PKG__", package)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        target.write_text(text.replace("__NAME__", name).replace("__PKG__", package), "utf-8")
    return root
