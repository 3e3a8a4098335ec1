"""Fine-tuning a local model on a daemon's dataset: LoRA with TRL + PEFT (the ``train`` extra),
exported as a GGUF LoRA adapter that ``daemons llm serve --lora`` applies to the official base.

- :mod:`.data`: reads a dataset folder (``sft.jsonl``, ``dpo.jsonl``, ``kto.jsonl``,
  ``manifest.json``) and refuses bad rows with file, line and field.
- :mod:`.gguf_export`: writes GGUF files with the ``gguf`` package: the LoRA adapter that
  llama.cpp loads next to its base, and (for tests and small models) a whole Qwen2 model.
- :mod:`.train`: the training job itself; torch, transformers, TRL and PEFT are imported only
  there, only when a job runs, so the rest of the package works without the extra.
"""
