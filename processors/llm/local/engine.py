"""The in-process llama.cpp engine (through the ``xllamacpp`` wheel) behind the local server.

:class:`ChatEngine` is the port the HTTP server talks to; :class:`XllamacppEngine` is the real
adapter and tests use a scripted engine instead. ``xllamacpp`` is imported only here, only when
an engine is built, so the rest of the package works without the ``local`` extra.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx

from processors.errors import ConfigError, DaemonsError
from processors.llm.local.slots import SlotRouter

_log = logging.getLogger(__name__)


class EngineError(DaemonsError):
    """llama.cpp rejected or failed a request; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class ChatEngine(Protocol):
    """Runs one (already constrained) chat completion; returns an OpenAI-shaped answer."""

    @property
    def model_id(self) -> str: ...

    def chat(self, body: dict[str, Any]) -> dict[str, Any]: ...


@contextlib.contextmanager
def machine_turn(path: Path | None) -> Iterator[None]:
    """Hold the machine-wide generation lock (an ``flock`` on ``path``) while generating.

    Every local server sizes its threads to all the cores; two generating at once (the agent's
    model and the judge's, say) would oversubscribe them, with llama.cpp's threads waiting on
    each other at every layer. So they take turns."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


DEFAULT_CACHE_RAM_MIB = 0
"""Host memory for llama.cpp's prompt cache, off by default: llama.cpp saves and restores
prompts there only when it picks a request's slot itself (``get_available_slot`` in its
server), and the :class:`~processors.llm.local.slots.SlotRouter` always names the slot
(``id_slot``), which takes the other path. (Without the router, on one slot, it did keep
prefixes warm: prompts A, B, A → the second A computed 1 of 166 tokens with the 0.5B model;
but it could not keep a tenant's block apart from its daemon's — the router can.)"""


DEFAULT_SLOTS = 4
"""Prompts kept warm at once, one per daemon or tenant (KV memory: each slot's window; the
1.5B model needs about 28 KiB per token, so 4 slots of 8,192 tokens are about 0.9 GiB)."""


class XllamacppEngine:
    """One GGUF model loaded in-process; requests run one at a time (a lock), which on a
    small CPU box is also the fastest way to serve them. With ``machine_lock`` set, servers
    of other models on the same machine take turns with this one too (:func:`machine_turn`).

    ``slots`` llama.cpp slots, each with its own ``n_ctx`` window, and a
    :class:`~processors.llm.local.slots.SlotRouter` that sends each request to the slot
    holding its daemon's and tenant's prefix (requests still run one at a time: on a CPU,
    parallel slots would share the same cores). A slot the router gives a new prefix gets a
    copy of the slot sharing most of it first — llama.cpp's slot save and restore, through a
    private directory — so a new tenant's first request computes only its tenant's records,
    not its daemon's instructions again (``cache_ram_mib``: see :data:`DEFAULT_CACHE_RAM_MIB`).

    ``lora``: GGUF LoRA adapters (``daemons finetune``) llama.cpp applies on top of the base
    weights, which stay the verified file."""

    def __init__(
        self,
        model_path: Path,
        *,
        model_id: str,
        n_ctx: int = 8192,
        threads: int | None = None,
        machine_lock: Path | None = None,
        cache_ram_mib: int = DEFAULT_CACHE_RAM_MIB,
        slots: int = DEFAULT_SLOTS,
        lora: tuple[Path, ...] = (),
    ) -> None:
        try:
            import xllamacpp
        except ImportError as exc:
            raise ConfigError(
                "the local model server needs xllamacpp: pip install 'process-daemons[local]'"
            ) from exc
        if not model_path.is_file():
            raise ConfigError(f"model file not found: {model_path}")
        threads = threads or max(1, os.cpu_count() or 1)
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        for adapter in lora:  # GGUF LoRA adapters, applied at scale 1 to every request
            if not adapter.is_file():
                raise ConfigError(f"LoRA adapter not found: {adapter}")
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(a), 1.0) for a in lora]
        params.n_ctx = n_ctx * slots  # not unified: every slot gets its own n_ctx window
        params.n_parallel = slots
        params.kv_unified = False
        params.cache_prompt = True
        params.cache_ram_mib = cache_ram_mib  # 0: off (only the slot's own cache)
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.warmup = True
        self._slot_files = tempfile.TemporaryDirectory(prefix="daemons-slots-")
        params.slot_save_path = self._slot_files.name + os.sep  # llama.cpp appends the name
        self._model_id = model_id
        self._lock = threading.Lock()
        self._router = SlotRouter(slots)
        self._machine_lock = machine_lock
        _log.info(
            "loading %s from %s (%d slots of n_ctx=%d, threads=%d, prompt cache %d MiB)",
            model_id, model_path, slots, n_ctx, threads, cache_ram_mib,
        )  # fmt: skip
        self._server = xllamacpp.Server(params)
        address = getattr(self._server, "listening_address", None)  # older wheels lack it
        self._slots_url = f"{address}/slots" if address else None
        if address is None:
            _log.warning("this xllamacpp has no slot endpoint: a new tenant's slot starts cold")

    @property
    def model_id(self) -> str:
        return self._model_id

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock, machine_turn(self._machine_lock):
            request = {k: v for k, v in body.items() if k != "prefix_key"}
            route = self._router.route(request.get("messages") or (), body.get("prefix_key"))
            if route.copy_from is not None and self._slots_url is not None:
                self._copy_slot(route.copy_from, route.slot)
            result = self._server.handle_chat_completions({**request, "id_slot": route.slot})
        if not isinstance(result, dict):
            raise EngineError(f"llama.cpp returned {type(result).__name__}, not an object")
        if "choices" not in result:
            error = result.get("error", result)
            code = error.get("code", 500) if isinstance(error, dict) else 500
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            raise EngineError(f"llama.cpp: {message}", status=int(code) if code else 500)
        return result

    def _copy_slot(self, source: int, target: int) -> None:
        assert self._slots_url is not None
        """Copy slot ``source``'s KV cache into slot ``target`` (save, restore, delete the
        file: a slot of the 1.5B model is about 28 KiB per token). A copy that fails costs
        only speed — the request then computes its whole prompt — so it is logged, not raised."""
        name = f"slot-{source}.bin"
        try:
            with httpx.Client(timeout=120) as client:
                for slot, action in ((source, "save"), (target, "restore")):
                    answer = client.post(
                        f"{self._slots_url}/{slot}", params={"action": action},
                        json={"filename": name},
                    )  # fmt: skip
                    answer.raise_for_status()
        except httpx.HTTPError as exc:
            _log.warning("could not copy slot %d into slot %d (%s): it starts cold",
                         source, target, exc)  # fmt: skip
        finally:
            Path(self._slot_files.name, name).unlink(missing_ok=True)
