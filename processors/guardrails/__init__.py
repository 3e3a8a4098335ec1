"""Guardrails: deterministic checks (always on, cheap), an independent judge (``judge``),
routing by verdict (``routing``), the review queue (``review``) and team notices (``notices``)."""
