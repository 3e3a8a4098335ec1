"""Helpers for tests (ours and users'): a real broker for the session, unique topics."""
