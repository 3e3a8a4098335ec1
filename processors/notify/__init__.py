"""Team notifications: what went wrong, posted to a chat webhook without flooding it."""

from processors.notify.webhook import Notice, NoticeKind, Notifier, WebhookNotifier, slack_payload

__all__ = ["Notice", "NoticeKind", "Notifier", "WebhookNotifier", "slack_payload"]
