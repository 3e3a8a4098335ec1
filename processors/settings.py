"""One frozen settings object, built once in ``main`` (or a test) and passed down.

Nothing else in the package reads the environment; :meth:`Settings.from_env` is the one place.
Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from processors.errors import ConfigError
from processors.llm.config import LLMSettings

KafkaConfig = dict[str, str | int | float | bool]
_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    """``schemas/`` or ``topics/``: inside the wheel (``processors/_data``) or the source tree."""
    installed = _PACKAGE_DIR / "_data" / name
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / name


class KafkaSettings(BaseModel):
    """How to reach Kafka. ``extra`` is passed to librdkafka unchanged (SASL/TLS and tuning)."""

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    external: bool = False  # True when KAFKA_BOOTSTRAP_SERVERS names a cluster we must not start
    extra: dict[str, str] = Field(default_factory=dict)
    secret_extra: dict[str, SecretStr] = Field(default_factory=dict)
    # the consumer group protocol: "classic" (cooperative-sticky assignment, any broker) or
    # "consumer" (KIP-848, Kafka >= 4.0: the broker assigns, rebalances never stop the group)
    group_protocol: Literal["classic", "consumer"] = "classic"

    def client_config(self) -> KafkaConfig:
        """librdkafka configuration common to producers, consumers and admin clients."""
        config: KafkaConfig = {"bootstrap.servers": self.bootstrap_servers, **self.extra}
        config.update({k: v.get_secret_value() for k, v in self.secret_extra.items()})
        return config


# librdkafka properties settable through KAFKA_<NAME> (dots become underscores), e.g.
# KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_MECHANISM=PLAIN KAFKA_SASL_USERNAME=...
_PASSTHROUGH = (
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.endpoint.identification.algorithm",
    "client.id",
    # classic protocol only: the assignor, when a group's other members need another one (a
    # group cannot mix eager and cooperative assignors); default cooperative-sticky
    "partition.assignment.strategy",
)
_SECRET_PASSTHROUGH = ("sasl.password", "ssl.key.password")


class MemorySettings(BaseModel):
    """Where memory is materialized and how it is embedded (``processors.memory``)."""

    model_config = ConfigDict(frozen=True)

    store: str = "sqlite"  # a name in processors.memory.stores.STORES
    path: Path | None = None  # the SQLite file; None: <cache_dir>/memory.sqlite
    # "local:all-MiniLM-L6-v2" (on this machine) or "openai-compatible:URL#MODEL@DIMENSION"
    embedder: str = "local:all-MiniLM-L6-v2"
    embeddings_api_key: SecretStr | None = None  # for a hosted embeddings endpoint
    # the postgres store: a libpq DSN (may hold a password) and the schema it lives in
    postgres_dsn: SecretStr | None = None
    postgres_schema: str = "memory"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MemorySettings:
        values: dict[str, object] = {}
        if env.get("DAEMONS_MEMORY_STORE"):
            values["store"] = env["DAEMONS_MEMORY_STORE"]
        if env.get("DAEMONS_MEMORY_PATH"):
            values["path"] = Path(env["DAEMONS_MEMORY_PATH"])
        if env.get("DAEMONS_EMBEDDER"):
            values["embedder"] = env["DAEMONS_EMBEDDER"]
        if env.get("DAEMONS_EMBEDDINGS_API_KEY"):
            values["embeddings_api_key"] = SecretStr(env["DAEMONS_EMBEDDINGS_API_KEY"])
        if env.get("DAEMONS_POSTGRES_DSN"):
            values["postgres_dsn"] = SecretStr(env["DAEMONS_POSTGRES_DSN"])
        if env.get("DAEMONS_MEMORY_SCHEMA"):
            values["postgres_schema"] = env["DAEMONS_MEMORY_SCHEMA"]
        return cls.model_validate(values)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    kafka: KafkaSettings = KafkaSettings()
    schema_registry_url: str | None = None
    schema_registry_auth: SecretStr | None = None  # "user:password" for basic auth
    schemas_dir: Path = Field(default_factory=lambda: _data_dir("schemas"))
    topics_dir: Path = Field(default_factory=lambda: _data_dir("topics"))
    deploy_dir: Path = Field(default_factory=lambda: _data_dir("deploy"))
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "process-daemons")
    # each daemon's promoted model configuration, <dir>/<daemon>.toml (processors.promote)
    config_dir: Path = Field(default_factory=lambda: Path.home() / ".config" / "process-daemons")
    kafka_version: str | None = None  # None: newest 4.x that resolves
    topic_prefix: str = ""  # prepended to every catalog topic name (tests, shadow runs)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    model: str = "local:qwen2.5-coder-1.5b"  # the daemons' executor model
    planner_model: str | None = None  # defaults to ``model`` when a daemon plans
    tools_url: str = "http://127.0.0.1:8081"  # the existing API whose OpenAPI document gives tools
    tools_signing_key: SecretStr | None = None  # signs per-call credentials (reference provider)
    # The guardrails' judge: a model string, "none" (no judge), or None for the local pairing
    # (see judge_model_name). A local judge is reached at judge_local_url: one local server
    # serves one model, so the judge's model runs as a second server on its own port.
    judge_model: str | None = None
    judge_local_url: str = "http://127.0.0.1:8091/v1"
    notify_webhook_url: SecretStr | None = None  # Slack-compatible incoming webhook (a secret)
    memory: MemorySettings = Field(default_factory=MemorySettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        extra = {
            key: env[var]
            for key in _PASSTHROUGH
            if (var := "KAFKA_" + key.upper().replace(".", "_")) in env
        }
        secret_extra = {
            key: SecretStr(env[var])
            for key in _SECRET_PASSTHROUGH
            if (var := "KAFKA_" + key.upper().replace(".", "_")) in env
        }
        bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS")
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap or f"127.0.0.1:{env.get('DAEMONS_BROKER_PORT', '9092')}",
            external=bool(bootstrap),
            extra=extra,
            secret_extra=secret_extra,
            group_protocol=_group_protocol(env.get("DAEMONS_GROUP_PROTOCOL", "classic")),
        )
        auth = env.get("SCHEMA_REGISTRY_BASIC_AUTH")
        values: dict[str, object] = {
            "kafka": kafka,
            "schema_registry_url": env.get("SCHEMA_REGISTRY_URL") or None,
            "schema_registry_auth": SecretStr(auth) if auth else None,
            "kafka_version": env.get("DAEMONS_KAFKA_VERSION") or None,
            "topic_prefix": env.get("DAEMONS_TOPIC_PREFIX", ""),
            "llm": LLMSettings.from_env(env),
            "model": env.get("DAEMONS_MODEL", "local:qwen2.5-coder-1.5b"),
            "planner_model": env.get("DAEMONS_PLANNER_MODEL") or None,
            "tools_url": env.get("DAEMONS_TOOLS_URL", "http://127.0.0.1:8081"),
            "memory": MemorySettings.from_env(env),
        }
        if env.get("DAEMONS_JUDGE_MODEL"):
            values["judge_model"] = env["DAEMONS_JUDGE_MODEL"]
        if env.get("DAEMONS_JUDGE_LOCAL_LLM_URL"):
            values["judge_local_url"] = env["DAEMONS_JUDGE_LOCAL_LLM_URL"]
        if env.get("DAEMONS_NOTIFY_WEBHOOK_URL"):
            values["notify_webhook_url"] = SecretStr(env["DAEMONS_NOTIFY_WEBHOOK_URL"])
        key = env.get("DAEMONS_TOOLS_SIGNING_KEY")
        if key:
            values["tools_signing_key"] = SecretStr(key)
        if "DAEMONS_CONFIG_DIR" in env:
            values["config_dir"] = Path(env["DAEMONS_CONFIG_DIR"])
        if "DAEMONS_CACHE_DIR" in env:
            values["cache_dir"] = Path(env["DAEMONS_CACHE_DIR"])
        return cls.model_validate(values)

    def judge_model_name(self) -> str | None:
        """The judge's model string, or None for no judge. Unset: the other local model judges
        a local primary (1.5B <-> 0.5B); a hosted primary gets no judge unless one is named."""
        if self.judge_model is not None:
            return None if self.judge_model.lower() == "none" else self.judge_model
        return _LOCAL_JUDGES.get(self.model)


def _group_protocol(value: str) -> Literal["classic", "consumer"]:
    if value not in ("classic", "consumer"):
        raise ConfigError(
            f"DAEMONS_GROUP_PROTOCOL: {value!r} is not a consumer group protocol "
            "(classic: cooperative-sticky, any broker; consumer: KIP-848, Kafka >= 4.0)"
        )
    return value  # type: ignore[return-value]


_LOCAL_JUDGES = {
    "local:qwen2.5-coder-1.5b": "local:qwen2.5-coder-0.5b",
    "local:qwen2.5-coder-0.5b": "local:qwen2.5-coder-1.5b",
}
