"""The embedded local model: a llama.cpp model in-process behind an OpenAI-compatible server.

Daemons reach it as ``local:<model>`` through the ordinary OpenAI-compatible provider. The
Qwen2.5-Coder weights are Apache-2.0 licensed; see ``NOTICE`` in this folder.
"""
