"""Tools generated from existing APIs, curated by an allowlist, called as the event's principal."""
