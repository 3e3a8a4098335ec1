"""``daemons finetune NAME --dataset DIR --base MODEL|FILE.gguf [--method sft|dpo|kto]
[--steps N] --out DIR``: a LoRA fine-tune of a local model (the ``train`` extra).

Writes ``OUT/adapter.gguf`` (a GGUF LoRA adapter for the base), ``OUT/finetune.json`` (the
dataset's manifest SHA-256, the base's SHA-256, steps, losses, time) and
``OUT/candidate.toml`` (a ``daemons compare`` / ``daemons promote`` configuration that uses
the adapter through its own server), then prints how to serve it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from processors.errors import ConfigError
from processors.finetune import data
from processors.llm.local.assemble import ensure_model
from processors.llm.local.catalog import LOCAL_MODELS
from processors.settings import Settings

CANDIDATE_PORT = 8092


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("finetune", help="LoRA fine-tune of a local model on a dataset")
    parser.add_argument("name", help="the daemon the dataset belongs to")
    parser.add_argument("--dataset", required=True, type=Path, help="dataset folder")
    parser.add_argument(
        "--base", default="qwen2.5-coder-0.5b",
        help=f"a local model ({', '.join(sorted(LOCAL_MODELS))}) or a GGUF file "
        "(default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--method", choices=data.METHODS, default=None,
                        help="sft, dpo or kto (default: the first the dataset has)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (60)")
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank (8)")
    parser.add_argument("--alpha", type=int, default=16, help="LoRA alpha (16)")
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per row (1024)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the results")
    parser.set_defaults(handler=_finetune)


def _base(text: str) -> tuple[Path, str, str | None]:
    """The GGUF path, a label, and the catalog name when it is one."""
    if text in LOCAL_MODELS:
        return (
            ensure_model(LOCAL_MODELS[text], Settings.from_env().cache_dir / "models"),
            text,
            text,
        )
    path = Path(text)
    if path.suffix != ".gguf" or not path.is_file():
        raise ConfigError(f"--base {text}: neither a local model name nor a GGUF file")
    return path, path.name, None


def _finetune(args: argparse.Namespace) -> int:
    from processors.finetune.train import Job, missing_extra, run

    reason = missing_extra()
    if reason:
        raise ConfigError(f"daemons finetune needs the train extra: {reason}")
    methods = data.available_methods(args.dataset)
    method = args.method or (methods[0] if methods else "sft")
    dataset = data.load(args.dataset, method)
    base, label, catalog_name = _base(args.base)
    job = Job(
        daemon=args.name, dataset=dataset, base=base, base_label=label, out=args.out,
        steps=args.steps, learning_rate=args.learning_rate, rank=args.rank, alpha=args.alpha,
        max_length=args.max_length,
    )  # fmt: skip
    result = run(job)
    adapter = result.adapter.resolve()
    model_arg = f"--model {catalog_name}" if catalog_name else f"--model-path {base.resolve()}"
    served = catalog_name or base.stem
    (args.out / "candidate.toml").write_text(
        f"# written by daemons finetune: serve the adapter first (see finetune.json)\n"
        f'name = "{args.name}-{method}"\n'
        f'model = "local:{served}"\n'
        f'local_url = "http://127.0.0.1:{CANDIDATE_PORT}/v1"\n',
        encoding="utf-8",
    )
    losses = result.losses
    print(json.dumps({
        "adapter": str(adapter), "metadata": str(result.metadata.resolve()),
        "method": method, "steps": args.steps, "rows": len(dataset.rows),
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "seconds": round(result.seconds, 1), "device": result.device,
    }, indent=2))  # fmt: skip
    print(
        f"\nserve it:   daemons llm serve {model_arg} --lora {adapter} --port {CANDIDATE_PORT}"
        f"\ngate it:    daemons promote {args.name} --candidate {args.out / 'candidate.toml'} "
        "--eval-set HELD_OUT.jsonl"
    )
    return 0
