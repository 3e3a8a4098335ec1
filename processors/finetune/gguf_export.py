"""GGUF files written with the ``gguf`` package (llama.cpp's own writer, from PyPI).

:func:`write_lora_adapter` is what llama.cpp's ``convert_lora_to_gguf.py`` produces for a
Qwen2 model, without its dependency on llama.cpp's source tree: the same keys
(``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``) and one
``<tensor>.lora_a`` / ``<tensor>.lora_b`` pair per adapted weight, named by the ``gguf``
package's own map from Hugging Face names. Qwen2 needs none of the converter's tensor
reshuffles (no Q/K permutation, no fused QKV), which is why a small writer is enough.

:func:`write_model` writes a whole Qwen2 model in F32 with the tokenizer of a reference GGUF:
the tests use it to make a tiny base model llama.cpp can load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.errors import ConfigError

ARCH = "qwen2"
_LORA = re.compile(r"^(?:base_model\.model\.)?(?P<base>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def _name_map(n_blocks: int) -> Any:
    import gguf

    return gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, n_blocks)


def gguf_tensor_name(hf_name: str, n_blocks: int) -> str:
    """The GGUF name of a Hugging Face Qwen2 tensor (``model.layers.0.self_attn.q_proj.weight``
    → ``blk.0.attn_q.weight``); a :class:`ConfigError` for a tensor llama.cpp has no slot for."""
    found = _name_map(n_blocks).get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if found is None:
        raise ConfigError(f"no GGUF tensor for {hf_name!r} in a {ARCH} model")
    return str(found)


def write_lora_adapter(
    state: Mapping[str, Any], path: Path, *, alpha: float, n_blocks: int, name: str
) -> int:
    """Write PEFT LoRA weights (``state``: names as ``get_peft_model_state_dict`` gives them,
    values numpy arrays or CPU tensors) as a GGUF LoRA adapter; returns the pairs written."""
    import gguf
    import numpy as np

    pairs: dict[str, dict[str, Any]] = {}
    for key, value in state.items():
        match = _LORA.match(key)
        if match is None:
            raise ConfigError(
                f"{key!r} is not a LoRA A/B weight: only adapters of linear layers can be "
                "exported (no embedding or norm training)"
            )
        base = gguf_tensor_name(match["base"] + ".weight", n_blocks)
        pairs.setdefault(base, {})[match["ab"]] = value
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_name(name)
    for base, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ConfigError(f"LoRA weights of {base} are incomplete: have {sorted(ab)}")
        # A is (rank, in), B is (out, rank), in torch's order; the writer reverses to ggml's
        writer.add_tensor(f"{base}.lora_a", _f32(ab["A"], np))
        writer.add_tensor(f"{base}.lora_b", _f32(ab["B"], np))
    _finish(writer)
    return len(pairs)


def write_model(
    state: Mapping[str, Any], config: Any, path: Path, *, tokenizer_from: Path, name: str
) -> None:
    """Write a Qwen2 model (``state``: Hugging Face names → arrays; ``config``: its
    ``Qwen2Config``) in F32, with every ``tokenizer.*`` key copied from ``tokenizer_from``."""
    import gguf
    import numpy as np

    n_blocks = int(config.num_hidden_layers)
    rope = getattr(config, "rope_parameters", None) or {}
    theta = float(rope.get("rope_theta", getattr(config, "rope_theta", 1_000_000.0)))
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(n_blocks)
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_head_count_kv(int(config.num_key_value_heads))
    writer.add_rope_freq_base(theta)
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _copy_tokenizer(writer, tokenizer_from)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for key, value in state.items():
        if key.endswith("rotary_emb.inv_freq") or (tied and key == "lm_head.weight"):
            continue
        writer.add_tensor(gguf_tensor_name(key, n_blocks), _f32(value, np))
    _finish(writer)


def _copy_tokenizer(writer: Any, source: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(source))
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), kind, sub_type=sub)


def _f32(value: Any, np: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().to("cpu").float().numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


def _finish(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
