"""Untrusted text: how event fields and tool results are fenced in a prompt and folded for the
screen, what is redacted before anything is recorded, and which of those defenses are on.
Below both the agent and the guardrails, which use it."""
