"""The review console (``daemons review serve``): held results in the browser, for people.

A server-rendered Starlette app (:mod:`.app`) over one port, :class:`~.source.ReviewSource`
(the topics), with reviewers and their tenants from a file (:mod:`.reviewers`). Decisions go
through :func:`processors.guardrails.review.decide`, the same exactly-once path as the CLI.
"""

from processors.console.app import ConsoleConfig, create_app
from processors.console.reviewers import Reviewer, Reviewers, hash_token, new_token
from processors.console.source import KafkaReviewSource, ReviewSource

__all__ = [
    "ConsoleConfig",
    "KafkaReviewSource",
    "ReviewSource",
    "Reviewer",
    "Reviewers",
    "create_app",
    "hash_token",
    "new_token",
]
