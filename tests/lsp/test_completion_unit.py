"""Completion and definition in-process: the context rules a user meets while typing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.engine.lsp.completion import complete, keywords
from cadenza.engine.lsp.definition import definition
from cadenza.engine.lsp.index import ProjectIndex, build_index
from cadenza.engine.lsp.scan import playbook_at
from cadenza.playbooks.project import load_project
from tests.lsp.conftest import EXAMPLE


@pytest.fixture(scope="module")
def index() -> ProjectIndex:
    return build_index(load_project(EXAMPLE))


PLAYBOOK = """playbook p "braces } in a { title" {
  framework laer
  when event order_completed
  first: wait 1d  # a comment with a } brace
  send email "x {{ a }}" stage adopt
  later: end
}
segment s = count(order_completed.
"""


def labels(text: str, index: ProjectIndex, *, spaced: bool = False) -> list[str]:
    cursor = text.index("|")
    found = complete(text.replace("|", ""), cursor, index, contextual_only=spaced)
    return [i.label for i in found.items]


def test_a_space_alone_offers_only_what_the_context_calls_for(index: ProjectIndex) -> None:
    assert labels("playbook p {\n  audience |", index, spaced=True) == []
    assert "vip_managed" in labels("playbook p {\n  audience not segment |", index, spaced=True)
    assert "audience" in labels("playbook p {\n  aud|", index)
    assert labels("playbook p {\n  send |", index, spaced=True) == [
        "email", "sms", "webhook", "window"]


def test_names_from_the_playbook_around_the_cursor(index: ProjectIndex) -> None:
    with_cursor = PLAYBOOK.replace("  later: end", "  goto |\n  later: end")
    assert labels(with_cursor, index) == ["first", "later"]
    staged = PLAYBOOK.replace("stage adopt", "stage |")
    assert labels(staged, index) == ["land", "adopt", "expand", "renew"]
    assert labels(PLAYBOOK.replace("order_completed.\n", "order_completed.|\n"), index) == [
        "order_id", "order_value"]


def test_inside_liquid_the_customers_attributes_and_namespaces(index: ProjectIndex) -> None:
    found = labels('playbook p {\n  send sms text "Hi {{ fir|', index)
    assert "first_name" in found
    assert "event" in found
    assert labels('playbook p {\n  owner "plain te|', index) == []
    assert labels('playbook p {\n  wait 1d  # then segm|', index) == []  # a comment


def test_keywords_come_from_the_grammar_itself() -> None:
    assert {"playbook", "segment", "holdout", "reenter", "true"} <= set(keywords())
    assert not any(k in keywords() for k in ("->", "NAME", "{"))


def test_the_playbook_ends_at_its_own_closing_brace() -> None:
    region = playbook_at(PLAYBOOK, PLAYBOOK.index("later"))
    assert region is not None
    assert region.text.endswith("later: end\n}")
    assert playbook_at(PLAYBOOK, PLAYBOOK.index("segment s")) is None


def test_definitions_in_the_example(index: ProjectIndex) -> None:
    text = (EXAMPLE / "cart_recovery.play").read_text("utf-8")
    target = definition(text, text.index("segment vip_managed") + 10, index)
    assert target is not None
    assert Path(str(target.file)).name == "segments.play"
    target = definition(text, text.index("-> sms_nudge") + 5, index)
    assert target is not None
    assert target.file is None  # a step label: in this same document
    assert text.split("\n")[target.span.line - 1].startswith("  sms_nudge:")
    assert definition(text, text.index("cart_abandoned"), index) is not None  # its schema entry
