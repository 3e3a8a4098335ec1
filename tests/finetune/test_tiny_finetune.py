"""The whole fine-tuning path on a tiny Qwen2 model made here: a base GGUF, ``daemons
finetune`` (LoRA SFT on CPU through TRL + PEFT), the GGUF adapter, and llama.cpp (through
xllamacpp, as ``daemons llm serve --lora`` loads it) answering with the adapter applied.

The tiny model has random weights; the dataset teaches it one answer to one question, which
the base model does not give and the adapted one starts to: proof that the adapter was trained,
exported with the right names and shapes, and applied by llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from processors.cli import main
from processors.finetune.train import missing_extra as missing_train
from processors.testing.llm import missing_extra as missing_model

_NO_TRAIN = missing_train()
pytestmark = pytest.mark.skipif(
    _NO_TRAIN is not None, reason=f"the train extra is absent ({_NO_TRAIN})"
)

QUESTION = "Which ledger account for an invoice from Contoso Cloud?"
ANSWER = "6100 software subscriptions"


@pytest.fixture(scope="module")
def tokenizer_source() -> Path:
    """The tokenizer comes from the local 0.5B model's GGUF (its ``tokenizer.*`` keys)."""
    reason = missing_model("qwen2.5-coder-0.5b")
    if reason:
        pytest.skip(f"the tiny model borrows the 0.5B model's tokenizer: {reason}")
    from processors.llm.local.assemble import ensure_model
    from processors.llm.local.catalog import QWEN_0_5B
    from processors.settings import Settings

    return ensure_model(QWEN_0_5B, Settings.from_env().cache_dir / "models")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, tokenizer_source: Path) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from processors.finetune.gguf_export import write_model

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        rms_norm_eps=1e-6, tie_word_embeddings=False,
    )  # fmt: skip
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # sharp output logits: at the default scale, no hidden state can
        model.lm_head.weight.normal_(0.0, 1.0)  # push one token far above the others
    path = tmp_path_factory.mktemp("base") / "tiny-qwen2.gguf"
    write_model(model.state_dict(), config, path, tokenizer_from=tokenizer_source, name="tiny")
    return path


def _dataset(folder: Path) -> Path:
    folder.mkdir()
    row = {
        "messages": [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": ANSWER},
        ]
    }
    (folder / "sft.jsonl").write_text("\n".join(json.dumps(row) for _ in range(4)) + "\n")
    manifest = {"sha256": "ab" * 32, "rows": {"sft": 4}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _answer(base: Path, lora: tuple[Path, ...]) -> str:
    from processors.llm.local.engine import XllamacppEngine

    engine = XllamacppEngine(base, model_id="tiny", n_ctx=512, threads=1, slots=1, lora=lora)
    result: dict[str, Any] = engine.chat({
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": 12, "temperature": 0.0,
    })  # fmt: skip
    return str(result["choices"][0]["message"]["content"])


def test_a_lora_fine_tune_of_a_tiny_model_is_served_by_llama_cpp(
    tmp_path: Path, tiny_base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = _dataset(tmp_path / "dataset")
    out = tmp_path / "out"
    code = main([
        "finetune", "vendor-enrichment", "--dataset", str(dataset), "--base", str(tiny_base),
        "--steps", "20", "--learning-rate", "1e-2", "--max-length", "128", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    adapter = out / "adapter.gguf"
    assert f"--lora {adapter.resolve()}" in printed  # it says how to serve the result

    meta = json.loads((out / "finetune.json").read_text())
    assert meta["dataset"]["manifest_sha256"] == "ab" * 32
    assert meta["method"] == "sft" and meta["steps"] == 20 and meta["device"] == "cpu"
    assert len(meta["loss"]["per_step"]) == 20
    assert meta["loss"]["last"] < meta["loss"]["first"] / 4  # it learned the one answer

    import gguf

    reader = gguf.GGUFReader(str(adapter))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    names = {t.name for t in reader.tensors}
    assert len(names) == 2 * 7 * 2  # A and B for 7 linear layers in each of 2 blocks
    assert {"blk.0.attn_q.weight.lora_a", "blk.1.ffn_down.weight.lora_b"} <= names

    # greedy decoding: the base model babbles, the adapted one starts the taught answer (a
    # few steps on a random 2-layer model do not make it word-perfect past the account number)
    assert not _answer(tiny_base, ()).startswith("6100")
    assert _answer(tiny_base, (adapter,)).startswith("6100")
