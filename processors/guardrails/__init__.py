"""Guardrails: deterministic checks (always on, cheap) and, later, an independent judge."""
