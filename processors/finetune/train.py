"""One LoRA fine-tune: a GGUF base read by ``transformers``, trained with TRL + PEFT (SFT, DPO
or KTO), written as a GGUF LoRA adapter with a small metadata file next to it.

The base is the same GGUF file ``daemons llm serve`` loads; ``transformers`` dequantizes it,
so the adapter is trained against exactly the weights llama.cpp will apply it to. On CPU the
job runs in float32 (no mixed precision there); on a GPU it uses bfloat16 where supported.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processors.errors import ConfigError
from processors.finetune.data import Dataset, Method

_log = logging.getLogger(__name__)

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_FILE = "adapter.gguf"
METADATA_FILE = "finetune.json"


@dataclass(frozen=True)
class Job:
    """What to train: ``base`` is a GGUF file (a catalog model already resolved to its path)."""

    daemon: str
    dataset: Dataset
    base: Path
    base_label: str
    out: Path
    steps: int = 60
    learning_rate: float = 2e-4
    rank: int = 8
    alpha: int = 16
    batch_size: int = 1
    max_length: int = 1024
    seed: int = 7
    beta: float = 0.1
    """DPO's and KTO's beta."""


@dataclass(frozen=True)
class Result:
    adapter: Path
    metadata: Path
    losses: tuple[float, ...]
    seconds: float
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


def missing_extra() -> str | None:
    """Why training cannot run here (the ``train`` extra is absent), or None."""
    for module in ("torch", "transformers", "trl", "peft", "gguf", "datasets"):
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is not installed: pip install 'process-daemons[train]'"
    return None


def run(job: Job) -> Result:
    """Train, export the adapter, write the metadata; returns where they are."""
    reason = missing_extra()
    if reason:
        raise ConfigError(f"daemons finetune needs the train extra: {reason}")
    import torch
    from peft import LoraConfig, get_peft_model_state_dict
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from processors.finetune.gguf_export import write_lora_adapter

    if job.steps < 1:
        raise ConfigError("--steps must be at least 1")
    job.out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    started = time.monotonic()
    _log.info("reading %s with transformers (dequantized to %s)", job.base, dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(job.base.parent), gguf_file=job.base.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    read = AutoModelForCausalLM.from_pretrained(
        str(job.base.parent), gguf_file=job.base.name, dtype=dtype
    )
    if getattr(read.config, "model_type", None) != "qwen2":
        raise ConfigError(
            f"{job.base}: a {read.config.model_type} model; the adapter export supports qwen2"
        )
    # transformers marks a model read from GGUF as quantized (and refuses to train it), though
    # its weights are already dequantized: move them into a plain model of the same config
    config = read.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(read.state_dict())
    del read
    lora = LoraConfig(
        r=job.rank, lora_alpha=job.alpha, lora_dropout=0.0, target_modules=list(TARGETS),
        task_type="CAUSAL_LM", bias="none",
    )  # fmt: skip
    losses: list[float] = []

    class Losses(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    with tempfile.TemporaryDirectory(prefix="daemons-finetune-") as work:
        trainer = _trainer(job, model, tokenizer, lora, Path(work), use_cpu=not cuda)
        trainer.add_callback(Losses())
        trainer.train()
        state = {
            k: v.detach().to("cpu") for k, v in get_peft_model_state_dict(trainer.model).items()
        }
    adapter = job.out / ADAPTER_FILE
    pairs = write_lora_adapter(
        state, adapter, alpha=job.alpha, n_blocks=int(model.config.num_hidden_layers),
        name=f"{job.daemon}-{job.dataset.method}",
    )  # fmt: skip
    seconds = time.monotonic() - started
    metadata = job.out / METADATA_FILE
    metadata.write_text(json.dumps(_metadata(job, losses, seconds, device, pairs), indent=2))
    return Result(adapter, metadata, tuple(losses), seconds, device, {"pairs": pairs})


def _trainer(job: Job, model: Any, tokenizer: Any, lora: Any, work: Path, *, use_cpu: bool) -> Any:
    from datasets import Dataset as HFDataset

    common: dict[str, Any] = {
        "output_dir": str(work), "max_steps": job.steps, "learning_rate": job.learning_rate,
        "per_device_train_batch_size": job.batch_size, "gradient_accumulation_steps": 1,
        "logging_steps": 1, "save_strategy": "no", "report_to": [], "seed": job.seed,
        "use_cpu": use_cpu, "lr_scheduler_type": "constant", "warmup_steps": 0,
        "disable_tqdm": True, "dataloader_num_workers": 0,
    }  # fmt: skip
    rows = _rows(job.dataset)
    train = HFDataset.from_list(rows)
    method: Method = job.dataset.method
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        sft = SFTConfig(**common, max_length=job.max_length, completion_only_loss=True)
        return SFTTrainer(model=model, args=sft, train_dataset=train,
                          processing_class=tokenizer, peft_config=lora)  # fmt: skip
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        dpo = DPOConfig(**common, max_length=job.max_length, beta=job.beta)
        return DPOTrainer(model=model, args=dpo, train_dataset=train,
                          processing_class=tokenizer, peft_config=lora)  # fmt: skip
    from trl import KTOConfig, KTOTrainer

    common["per_device_train_batch_size"] = max(2, job.batch_size)  # KTO's KL term needs pairs
    kto = KTOConfig(**common, max_length=job.max_length, beta=job.beta)
    return KTOTrainer(model=model, args=kto, train_dataset=train,
                      processing_class=tokenizer, peft_config=lora)  # fmt: skip


def _rows(dataset: Dataset) -> list[dict[str, Any]]:
    """TRL rows. SFT conversations become prompt/completion pairs (everything before the last
    assistant message is the prompt) so the loss is on the answer only: Qwen's chat template
    has no generation markers for TRL's ``assistant_only_loss``. Tools are kept as a column
    only when some row has them (the chat template then lists them in the system turn)."""
    if dataset.method != "sft":
        return [dict(row) for row in dataset.rows]
    rows = []
    any_tools = any(row.get("tools") for row in dataset.rows)
    for row in dataset.rows:
        messages = row["messages"]
        out: dict[str, Any] = {"prompt": messages[:-1], "completion": messages[-1:]}
        if any_tools:
            out["tools"] = row.get("tools") or []
        rows.append(out)
    return rows


def _metadata(job: Job, losses: list[float], seconds: float, device: str, pairs: int) -> Any:
    from processors.llm.local.assemble import sha256_of

    versions = {p: _version(p) for p in ("torch", "transformers", "trl", "peft", "gguf")}
    return {
        "daemon": job.daemon,
        "method": job.dataset.method,
        "base": {"label": job.base_label, "path": str(job.base), "sha256": sha256_of(job.base)},
        "dataset": {
            "directory": str(job.dataset.directory),
            "manifest_sha256": job.dataset.manifest_sha256,
            "rows": len(job.dataset.rows),
        },
        "steps": job.steps,
        "learning_rate": job.learning_rate,
        "lora": {"rank": job.rank, "alpha": job.alpha, "targets": list(TARGETS), "tensors": pairs},
        "loss": {
            "first": losses[0] if losses else None,
            "last": losses[-1] if losses else None,
            "per_step": losses,
        },
        "seconds": round(seconds, 1),
        "device": device,
        "adapter": ADAPTER_FILE,
        "versions": versions,
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
