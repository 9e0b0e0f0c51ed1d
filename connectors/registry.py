"""Building connectors from configuration, and the registry the engine looks them up in.

Configuration is plain data (from the service's settings file), one mapping per connector
name::

    {"email": {"type": "sendgrid", "api_key_env": "SENDGRID_API_KEY",
               "from_email": "hello@shop.example"},
     "sms":   {"type": "twilio", "account_sid": "AC...", "auth_token_env": "TWILIO_AUTH_TOKEN",
               "messaging_service_sid": "MG..."}}

Secrets never appear in it: only the *name* of an environment variable, read here through
pydantic-settings into a ``SecretStr``. The factory table is explicit -- nothing is discovered
by scanning imports -- and every problem in every connector is reported in one error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from .base import CHANNELS, Connector, ConnectorConfigError
from .console import ConsoleConnector
from .recorder import RecorderConnector
from .sendgrid import SendGridConfig, SendGridConnector
from .smtp import SmtpConfig, SmtpConnector
from .twilio import TwilioConfig, TwilioConnector
from .webhook import WebhookConfig, WebhookConnector

M = TypeVar("M", bound=BaseModel)
Factory = Callable[[str, Mapping[str, Any]], Connector]
_SECRET_WORDS = ("key", "token", "password", "secret")


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` — did you mean 'x'?`` for the closest choice, or the list of choices."""
    options = sorted(choices)
    close = difflib.get_close_matches(value, options, n=1)
    if close:
        return f" — did you mean {close[0]!r}?"
    return f"; expected one of {', '.join(repr(option) for option in options)}."


class _SecretSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)


@cache
def _settings_for(env_var: str) -> type[BaseSettings]:
    return create_model(
        "SecretFromEnv", __base__=_SecretSettings,
        value=(SecretStr, Field(validation_alias=env_var)),
    )


def read_secret(connector: str, key: str, env_var: str) -> SecretStr:
    """The secret in environment variable ``env_var``; a full-sentence error when unset."""
    try:
        secret: SecretStr = _settings_for(env_var)().value  # type: ignore[attr-defined]
    except ValidationError:
        secret = SecretStr("")
    if not secret.get_secret_value():
        raise ConnectorConfigError(
            f"connector {connector!r} reads its secret from environment variable {env_var!r} "
            f"(key {key!r}), which is not set or empty — export it, or point {key!r} at the "
            "variable that holds it."
        )
    return secret


def _validate(model: type[M], name: str, raw: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        kind = raw.get("type")
        raise ConnectorConfigError(
            [_sentence(name, str(kind), error, model) for error in exc.errors()]
        ) from None


def _sentence(name: str, kind: str, error: Any, model: type[BaseModel]) -> str:
    where = f"connector {name!r} ({kind})"
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        hint = did_you_mean(key, model.model_fields)
        if any(word in key.lower() for word in _SECRET_WORDS) and not key.endswith("_env"):
            hint += " Secrets never go in configuration: name the environment variable instead."
        return f"{where} has unknown key {key!r}{hint}"
    if error["type"] == "missing":
        return f"{where} is missing the required key {key!r}; add it."
    message = str(error["msg"]).removeprefix("Value error, ")
    if not key:
        return f"{where}: {message}."
    return f"{where}: key {key!r} has value {error['input']!r}, which is invalid: {message}."


def _sendgrid(name: str, raw: Mapping[str, Any]) -> Connector:
    config = _validate(SendGridConfig, name, raw)
    return SendGridConnector(name, config, read_secret(name, "api_key_env", config.api_key_env))


def _twilio(name: str, raw: Mapping[str, Any]) -> Connector:
    config = _validate(TwilioConfig, name, raw)
    token = read_secret(name, "auth_token_env", config.auth_token_env)
    return TwilioConnector(name, config, token)


def _smtp(name: str, raw: Mapping[str, Any]) -> Connector:
    config = _validate(SmtpConfig, name, raw)
    password = None
    if config.password_env:
        password = read_secret(name, "password_env", config.password_env)
    return SmtpConnector(name, config, password)


def _webhook(name: str, raw: Mapping[str, Any]) -> Connector:
    config = _validate(WebhookConfig, name, raw)
    return WebhookConnector(name, config, read_secret(name, "secret_env", config.secret_env))


def _channel_of(name: str, raw: Mapping[str, Any]) -> Any:
    channel = raw.get("channel")
    if channel not in CHANNELS:
        raise ConnectorConfigError(
            f"connector {name!r} ({raw.get('type')}) needs 'channel' set to one of "
            f"{', '.join(CHANNELS)}; got {channel!r}."
        )
    extra = sorted(set(raw) - {"type", "channel"})
    if extra:
        raise ConnectorConfigError(
            f"connector {name!r} ({raw.get('type')}) has unknown key {extra[0]!r}; "
            "it takes only 'type' and 'channel'."
        )
    return channel


FACTORIES: Mapping[str, Factory] = {
    "sendgrid": _sendgrid,
    "twilio": _twilio,
    "smtp": _smtp,
    "webhook": _webhook,
    "console": lambda name, raw: ConsoleConnector(name, _channel_of(name, raw)),
    "recorder": lambda name, raw: RecorderConnector(name, _channel_of(name, raw)),
}


def build_connector(name: str, raw: Mapping[str, Any]) -> Connector:
    """One connector from its configuration mapping; raises :class:`ConnectorConfigError`."""
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in FACTORIES:
        if kind is None:
            raise ConnectorConfigError(
                f"connector {name!r} has no 'type'; set it to one of "
                f"{', '.join(repr(option) for option in sorted(FACTORIES))}."
            )
        raise ConnectorConfigError(
            f"connector {name!r} has unknown type {kind!r}{did_you_mean(str(kind), FACTORIES)}"
        )
    return FACTORIES[kind](name, raw)


def build_registry(configs: Mapping[str, Mapping[str, Any]]) -> ConnectorRegistry:
    """Every configured connector, or one error listing every problem found."""
    built: list[Connector] = []
    problems: list[str] = []
    for name, raw in configs.items():
        try:
            built.append(build_connector(name, raw))
        except ConnectorConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConnectorConfigError(problems)
    return ConnectorRegistry(built)


class ConnectorRegistry:
    """Connectors by configured name; immutable after construction."""

    def __init__(self, connectors: Iterable[Connector]) -> None:
        by_name: dict[str, Connector] = {}
        for connector in connectors:
            if connector.name in by_name:
                raise ConnectorConfigError(
                    f"two connectors are named {connector.name!r}; give each a unique name."
                )
            by_name[connector.name] = connector
        self._by_name: Mapping[str, Connector] = by_name

    def get(self, name: str) -> Connector:
        """The connector called ``name``; a did-you-mean error when there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            hint = did_you_mean(name, self._by_name) if self._by_name else "; none are configured."
            raise ConnectorConfigError(f"no connector named {name!r}{hint}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)
