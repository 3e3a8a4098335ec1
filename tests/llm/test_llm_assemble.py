"""Joining model chunks into one verified cache file, with small synthetic chunks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from processors.errors import ConfigError, ModelIntegrityError
from processors.llm.local import assemble as assembly
from processors.llm.local.assemble import assemble, ensure_model, verify
from processors.llm.local.catalog import LOCAL_MODELS, LocalModelSpec


def chunks(tmp_path: Path, *datas: bytes) -> list[Path]:
    paths = []
    for i, data in enumerate(datas):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


DATA = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 3]
WHOLE = b"".join(DATA)
SHA = hashlib.sha256(WHOLE).hexdigest()


def test_chunks_are_joined_in_order_and_stamped(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "m.gguf"
    assemble(chunks(tmp_path, *DATA), dest, size=len(WHOLE), sha256=SHA)
    assert dest.read_bytes() == WHOLE
    assert (tmp_path / "models" / "m.gguf.verified").exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m.gguf", "m.gguf.verified"]


def test_wrong_total_size_is_refused_before_writing(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "m.gguf"
    with pytest.raises(
        ModelIntegrityError, match=f"hold {len(WHOLE)} bytes.*has {len(WHOLE) + 1} bytes"
    ):
        assemble(chunks(tmp_path, *DATA), dest, size=len(WHOLE) + 1, sha256=SHA)
    assert not dest.exists()


def test_wrong_hash_is_refused_and_leaves_no_file_behind(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "m.gguf"
    swapped = chunks(tmp_path, DATA[1], DATA[0], DATA[2])  # right size, wrong order
    with pytest.raises(ModelIntegrityError, match=f"SHA-256 .*the official file has {SHA}"):
        assemble(swapped, dest, size=len(WHOLE), sha256=SHA)
    assert list(dest.parent.iterdir()) == []


def test_verify_trusts_a_matching_stamp_and_rehashes_after_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "m.gguf"
    assemble(chunks(tmp_path, *DATA), dest, size=len(WHOLE), sha256=SHA)
    hashed: list[Path] = []
    real = assembly.sha256_of
    monkeypatch.setattr(assembly, "sha256_of", lambda p: hashed.append(p) or real(p))
    verify(dest, size=len(WHOLE), sha256=SHA)
    assert hashed == []  # the stamp stood in for hashing
    # Same size, different bytes, new mtime: the stamp no longer counts.
    dest.write_bytes(b"X" + WHOLE[1:])
    os.utime(dest, ns=(1, 1))
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        verify(dest, size=len(WHOLE), sha256=SHA)
    assert hashed == [dest]
    with pytest.raises(ModelIntegrityError, match="size is"):
        verify(dest, size=len(WHOLE) + 5, sha256=SHA)


def test_ensure_model_builds_from_part_modules_and_rebuilds_a_corrupt_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = chunks(tmp_path, *DATA)
    spec = LocalModelSpec(
        name="tiny",
        display_name="Tiny",
        size=len(WHOLE),
        sha256=SHA,
        part_modules=("p0", "p1", "p2"),
        extra="local-small",
    )
    monkeypatch.setattr(assembly, "part_paths", lambda s: parts)
    models = tmp_path / "models"
    path = ensure_model(spec, models)
    assert path == models / "tiny.gguf" and path.read_bytes() == WHOLE
    path.write_bytes(b"corrupt")
    assert ensure_model(spec, models).read_bytes() == WHOLE


def test_missing_part_packages_name_the_extra_to_install() -> None:
    spec = LOCAL_MODELS["qwen2.5-coder-0.5b"].model_copy(
        update={"part_modules": ("no_such_part_module_xyz",)}
    )
    with pytest.raises(ConfigError, match=r"process-daemons\[local-small\]"):
        assembly.part_paths(spec)


def test_catalog_sizes_match_the_official_files() -> None:
    assert LOCAL_MODELS["qwen2.5-coder-1.5b"].size == 1_117_320_768
    assert len(LOCAL_MODELS["qwen2.5-coder-1.5b"].part_modules) == 22
    assert LOCAL_MODELS["qwen2.5-coder-0.5b"].size == 491_400_064
    assert len(LOCAL_MODELS["qwen2.5-coder-0.5b"].part_modules) == 6
