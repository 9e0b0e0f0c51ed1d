"""`serve` configuration: cadenza.toml's `[serve]` and `[connectors.NAME]` tables, overridden by
`CADENZA_*` environment variables. Secrets are `SecretStr` and come only from the environment.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which key and how to fix it."""


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CADENZA_", extra="forbid", frozen=True)

    db: str | None = None  # default: sqlite in PROJECT/.cadenza/state.db
    host: str = "127.0.0.1"
    port: int = 8600
    workers: int = 1
    write_key: SecretStr = SecretStr("")  # the Segment-style write key; empty: no auth
    admin_key: SecretStr = SecretStr("")  # for the status page and admin API
    tick_seconds: float = 1.0  # the ticker's longest sleep when nothing is due sooner
    # False: this process answers HTTP only and `cadenza work` processes run what is due
    # (PostgreSQL only: the ticker then has its own process, not a share of the API's).
    ticker: bool = True
    batch_size: int = 500
    lease_seconds: int = 60
    public_url: str = "http://127.0.0.1:8600"  # what providers call back (webhook signatures)
    sendgrid_webhook_key: str = ""  # SendGrid's verification key (public, not secret)
    twilio_auth_token: SecretStr = SecretStr("")
    sms_help_text: str = "Reply STOP to unsubscribe."
    unsubscribe_base: str = "https://unsubscribe.invalid/"
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_settings(project_root: Path, **overrides: Any) -> ServeSettings:
    """cadenza.toml [serve] and [connectors], then CADENZA_* variables, then `overrides`."""
    file: dict[str, Any] = {}
    path = project_root / "cadenza.toml"
    if path.is_file():
        data = tomllib.loads(path.read_text("utf-8-sig"))
        file = dict(data.get("serve", {}))
        if "connectors" in data:
            file["connectors"] = data["connectors"]
    for secret in ("write_key", "admin_key", "twilio_auth_token"):
        if secret in file:
            raise SettingsError(f"cadenza.toml [serve] sets '{secret}': secrets never go in "
                                f"files kept in git; export CADENZA_{secret.upper()} instead.")
    try:
        env_only = ServeSettings()
        merged = {**file, **env_only.model_dump(exclude_unset=True),
                  **{k: v for k, v in overrides.items() if v is not None}}
        return ServeSettings.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        raise SettingsError(f"serve setting '{key}': {first['msg']} (got "
                            f"{first.get('input')!r}).") from exc
