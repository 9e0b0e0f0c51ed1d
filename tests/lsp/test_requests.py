"""Completion, go-to-definition and formatting, asked over stdio as an editor would."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.grammar.formatter import format_document
from cadenza.grammar.parser import parse_text
from tests.lsp.client import LspClient

pytestmark = pytest.mark.timeout(120)


def _position(text: str, needle: str, after: int = 0) -> dict[str, int]:
    """The position `after` characters into the last occurrence of `needle` (what a test
    typed is at the end of the playbook)."""
    offset = text.rindex(needle) + after
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def _complete(server: LspClient, uri: str, text: str, needle: str) -> list[str]:
    """Labels offered with the cursor right after `needle`."""
    result = server.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": _position(text, needle, len(needle))})
    return [item["label"] for item in result["items"]]


def _typing(server: LspClient, project: Path, line: str) -> tuple[str, str]:
    """cart_recovery.play with `line` typed as the last step of its playbook."""
    play = project / "cart_recovery.play"
    text = play.read_text("utf-8").rstrip().removesuffix("}") + f"  {line}\n}}\n"
    return server.open(play, text), text


def test_after_segment_the_projects_segments_are_offered(server: LspClient,
                                                         project: Path) -> None:
    uri, text = _typing(server, project, "branch { when segment fr")
    labels = _complete(server, uri, text, "when segment fr")
    assert sorted(labels) == ["big_spender", "frequent_buyer", "sms_reachable", "vip_managed"]


def test_after_event_dot_the_trigger_events_properties_are_offered(server: LspClient,
                                                                   project: Path) -> None:
    uri, text = _typing(server, project, "branch { when event.")
    assert _complete(server, uri, text, "when event.") == ["cart_url", "cart_value", "item_count"]
    # In a wait for another event, `event.` is that event.
    text = text.replace("branch { when event.", "wait for event order_completed where event.")
    server.change(uri, text)
    assert _complete(server, uri, text, "order_completed where event.") == [
        "order_id", "order_value"]


def test_templates_inside_a_send_string_and_keywords_elsewhere(server: LspClient,
                                                               project: Path) -> None:
    uri, text = _typing(server, project, 'send email "')
    assert _complete(server, uri, text, '  send email "') == [
        "cart-reminder", "last-chance", "loyal-offer"]
    text = text.replace('  send email "\n', "  wai\n")
    server.change(uri, text)
    labels = _complete(server, uri, text, "  wai")
    assert {"wait", "send", "branch", "goto", "playbook"} <= set(labels)
    assert "first_name" in labels  # customer attributes stand bare in conditions


def test_a_completion_replaces_the_word_being_typed(server: LspClient, project: Path) -> None:
    uri, text = _typing(server, project, "stage acti")
    result = server.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": _position(text, "stage acti", 10)})
    [activation] = [i for i in result["items"] if i["label"] == "activation"]
    start = _position(text, "stage acti", 6)
    assert activation["textEdit"]["range"]["start"] == start
    assert {i["label"] for i in result["items"]} == {  # the playbook's framework is aarrr
        "acquisition", "activation", "retention", "referral", "revenue"}


def test_go_to_definition_of_a_segment_and_a_template(server: LspClient,
                                                      project: Path) -> None:
    play = project / "cart_recovery.play"
    text = play.read_text("utf-8")
    uri = server.open(play)

    found = server.request("textDocument/definition", {
        "textDocument": {"uri": uri}, "position": _position(text, "frequent_buyer", 3)})
    segments = project / "segments.play"
    assert found["uri"] == segments.resolve().as_uri()
    line = segments.read_text("utf-8").split("\n").index(
        'segment frequent_buyer "Ordered at least twice in the last 30 days" =')
    assert found["range"]["start"] == {"line": line, "character": 8}

    found = server.request("textDocument/definition", {
        "textDocument": {"uri": uri}, "position": _position(text, '"cart-reminder"', 5)})
    template = project / "templates" / "cart-reminder.liquid"
    assert found["uri"] == template.resolve().as_uri()
    assert found["range"]["start"] == {"line": 0, "character": 0}

    nothing = server.request("textDocument/definition", {
        "textDocument": {"uri": uri}, "position": _position(text, "touch none", 1)})
    assert nothing is None


def _format(server: LspClient, uri: str) -> list[dict[str, object]]:
    result = server.request("textDocument/formatting", {
        "textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})
    return list(result or [])


def test_formatting_returns_one_edit_with_fmts_layout(server: LspClient, project: Path) -> None:
    play = project / "segments.play"
    messy = play.read_text("utf-8").replace("segment vip_managed", "segment   vip_managed") \
        + "segment  lapsed =   last_order_at   <   90d ago\n"
    uri = server.open(play, messy)
    [edit] = _format(server, uri)
    doc, problems = parse_text(messy, str(play))
    assert doc is not None
    assert not problems
    assert edit["newText"] == format_document(doc, messy)
    lines = messy.split("\n")
    assert edit["range"] == {"start": {"line": 0, "character": 0},
                             "end": {"line": len(lines) - 1, "character": len(lines[-1])}}
    assert "segment lapsed = last_order_at < 90d ago\n" in str(edit["newText"])

    server.change(uri, str(edit["newText"]))
    assert _format(server, uri) == []  # already canonical: no edit


def test_formatting_a_file_with_syntax_errors_changes_nothing(server: LspClient,
                                                              project: Path) -> None:
    play = project / "segments.play"
    uri = server.open(play, play.read_text("utf-8") + "segment broken = (\n")
    assert _format(server, uri) == []


def test_typing_a_space_or_a_dot_opens_a_list_only_where_one_is_wanted(server: LspClient,
                                                                      project: Path) -> None:
    uri, text = _typing(server, project, "update score = 2.")

    def typed(needle: str, char: str) -> list[str]:
        result = server.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": _position(text, needle, len(needle)),
            "context": {"triggerKind": 2, "triggerCharacter": char}})
        return [item["label"] for item in result["items"]]

    assert typed("score = 2.", ".") == []  # a decimal point, not a namespace
    assert typed("when event ", " ") == ["cart_abandoned", "order_completed", "product_viewed",
                                         "sms_reply"]
