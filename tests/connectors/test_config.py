"""Configuration: the factory, the registry and their error messages, asserted whole."""

from __future__ import annotations

import pytest

from cadenza.connectors import (
    ConnectorConfigError,
    ConnectorRegistry,
    ConsoleConnector,
    RecorderConnector,
    build_connector,
    build_registry,
)


def config_error(configs: dict[str, dict[str, object]]) -> str:
    with pytest.raises(ConnectorConfigError) as caught:
        build_registry(configs)
    return str(caught.value)


def test_unknown_type_suggests_the_closest() -> None:
    """A misspelt type names the bad value and the likely fix."""
    assert config_error({"email": {"type": "sendgird"}}) == (
        "connector 'email' has unknown type 'sendgird' — did you mean 'sendgrid'?")


def test_missing_type_lists_the_choices() -> None:
    """A connector without a type lists every type there is."""
    assert config_error({"email": {}}) == (
        "connector 'email' has no 'type'; set it to one of 'console', 'recorder', "
        "'sendgrid', 'smtp', 'twilio', 'webhook'.")


def test_inline_secret_is_refused_with_the_env_key_suggested() -> None:
    """A literal api_key is an unknown key; the message points at api_key_env."""
    assert config_error({"email": {"type": "sendgrid", "from_email": "a@b.example",
                                   "api_key": "SG.x"}}) == (
        "connector 'email' (sendgrid) has unknown key 'api_key' — did you mean 'api_key_env'? "
        "Secrets never go in configuration: name the environment variable instead.")


def test_unset_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret variable that is not set is named, with the key that points at it."""
    monkeypatch.delenv("NOPE_KEY", raising=False)
    assert config_error({"email": {"type": "sendgrid", "from_email": "a@b.example",
                                   "api_key_env": "NOPE_KEY"}}) == (
        "connector 'email' reads its secret from environment variable 'NOPE_KEY' (key "
        "'api_key_env'), which is not set or empty — export it, or point 'api_key_env' at the "
        "variable that holds it.")


def test_all_problems_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bad connector and key is listed in one error, one sentence per line."""
    monkeypatch.setenv("TOKEN", "t")
    message = config_error({
        "email": {"type": "sendgrid", "timeout_s": -1},
        "sms": {"type": "twilio", "account_sid": "AC1", "auth_token_env": "TOKEN"},
    })
    assert message.splitlines() == [
        "connector 'email' (sendgrid) is missing the required key 'from_email'; add it.",
        "connector 'email' (sendgrid): key 'timeout_s' has value -1, which is invalid: "
        "Input should be greater than 0.",
        "connector 'sms' (twilio): set exactly one of 'messaging_service_sid' or 'from_number' "
        "(got messaging_service_sid=None, from_number=None).",
    ]


def test_console_needs_a_channel() -> None:
    """Console and recorder connectors need their channel named."""
    assert config_error({"dev": {"type": "console", "channel": "fax"}}) == (
        "connector 'dev' (console) needs 'channel' set to one of email, sms, webhook; "
        "got 'fax'.")


def test_registry_lookup_suggests_names() -> None:
    """Looking up a missing name suggests a configured one."""
    registry = build_registry({"email": {"type": "recorder", "channel": "email"},
                               "sms": {"type": "console", "channel": "sms"}})
    assert isinstance(registry.get("email"), RecorderConnector)
    assert isinstance(registry.get("sms"), ConsoleConnector)
    assert sorted(registry) == ["email", "sms"]
    with pytest.raises(ConnectorConfigError) as caught:
        registry.get("emial")
    assert str(caught.value) == "no connector named 'emial' — did you mean 'email'?"


def test_registry_refuses_duplicate_names() -> None:
    """Two connectors with one name are a configuration error."""
    with pytest.raises(ConnectorConfigError) as caught:
        ConnectorRegistry([build_connector("a", {"type": "recorder", "channel": "sms"}),
                           build_connector("a", {"type": "console", "channel": "sms"})])
    assert str(caught.value) == "two connectors are named 'a'; give each a unique name."


def test_secret_is_not_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """A built connector's repr shows neither the secret nor its value."""
    monkeypatch.setenv("K", "SG.very-secret")
    connector = build_connector("email", {"type": "sendgrid", "api_key_env": "K",
                                          "from_email": "a@b.example"})
    assert "SG.very-secret" not in repr(connector)


@pytest.mark.parametrize(("value", "why"), [(0, "Input should be greater than or equal to 1"),
                                            (65, "Input should be less than or equal to 64")])
def test_concurrency_is_bounded(monkeypatch: pytest.MonkeyPatch, value: int, why: str) -> None:
    """`concurrency` (requests out at once) takes 1 to 64."""
    monkeypatch.setenv("SENDGRID_API_KEY", "k")
    assert config_error({"email": {"type": "sendgrid", "from_email": "a@shop.example",
                                   "concurrency": value}}) == (
        f"connector 'email' (sendgrid): key 'concurrency' has value {value}, which is "
        f"invalid: {why}.")
