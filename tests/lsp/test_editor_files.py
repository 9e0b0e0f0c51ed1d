"""The VS Code extension's files: a TextMate grammar that compiles, covers every keyword of the
language, and colours what a reader expects; a manifest that wires it to `cadenza lsp`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "editors" / "vscode"
GRAMMAR = VSCODE / "syntaxes" / "play.tmLanguage.json"
LARK = ROOT / "grammar" / "playbook.lark"

Rule = dict[str, Any]


@pytest.fixture(scope="module")
def grammar() -> Rule:
    return dict(json.loads(GRAMMAR.read_text("utf-8")))


def _rules(node: Any) -> Iterator[Rule]:
    if isinstance(node, dict):
        if any(k in node for k in ("match", "begin", "include", "patterns")):
            yield node
        for value in node.values():
            yield from _rules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rules(value)


def test_every_regex_compiles_in_the_common_subset(grammar: Rule) -> None:
    assert grammar["scopeName"] == "source.play"
    regexes = [(key, r[key]) for r in _rules(grammar) for key in ("match", "begin", "end")
               if key in r]
    assert len(regexes) > 30
    for key, regex in regexes:
        try:
            re.compile(regex)
        except re.error as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{key} regex {regex!r} does not compile: {exc}")


def test_every_include_names_a_repository_entry(grammar: Rule) -> None:
    includes = {r["include"] for r in _rules(grammar) if "include" in r}
    assert includes, "the grammar includes nothing"
    for name in includes:
        assert name.startswith("#")
        assert name[1:] in grammar["repository"], f"{name} is not in the repository"


def _lark_keywords() -> set[str]:
    text = re.sub(r"//[^\n]*", "", LARK.read_text("utf-8"))
    return set(re.findall(r'"([A-Za-z_]+)"', text))


def test_every_keyword_of_the_language_is_highlighted(grammar: Rule) -> None:
    patterns = [p["match"] for p in grammar["repository"]["keywords"]["patterns"]]
    keywords = _lark_keywords()
    assert {"playbook", "segment", "send", "wait", "branch", "true", "count"} <= keywords
    missing = sorted(k for k in keywords if not any(re.fullmatch(p, k) for p in patterns))
    assert not missing, f"keywords the TextMate grammar does not colour: {missing}"


# ------------------------------------------------------------------ a small TextMate tokenizer
def _expand(patterns: list[Rule], repo: dict[str, Rule]) -> list[Rule]:
    out: list[Rule] = []
    for p in patterns:
        if "include" in p:
            target = repo[p["include"][1:]]
            out.extend(_expand(target["patterns"], repo) if "patterns" in target
                       and "match" not in target and "begin" not in target else [target])
        elif "patterns" in p and "match" not in p and "begin" not in p:
            out.extend(_expand(p["patterns"], repo))
        else:
            out.append(p)
    return out


def _first(line: str, pos: int, rules: list[Rule]) -> tuple[re.Match[str], Rule] | None:
    """TextMate's choice at `pos`: the earliest match, the first rule among equals."""
    found = [(m.start(), i, m, r) for i, r in enumerate(rules)
             if (m := re.compile(r.get("match") or r["begin"]).search(line, pos))
             and m.end() > m.start()]
    if not found:
        return None
    _, _, m, rule = min(found, key=lambda f: (f[0], f[1]))
    return m, rule


def _body_end(line: str, pos: int, rule: Rule, repo: dict[str, Rule]) -> int:
    """Where a begin/end rule's body stops: its first `end` outside the body's own tokens."""
    end = re.compile(rule["end"])
    nested = _expand(rule.get("patterns", []), repo)
    while True:
        closing = end.search(line, pos)
        stop = closing.start() if closing else len(line)
        inner = _first(line, pos, nested)
        if inner is None or inner[0].start() >= stop:
            return stop
        m, r = inner
        pos = _after(line, _body_end(line, m.end(), r, repo), r) if "begin" in r else m.end()


def _after(line: str, body_end: int, rule: Rule) -> int:
    closing = re.compile(rule["end"]).match(line, body_end)
    return closing.end() if closing else body_end


def _tokens(line: str, patterns: list[Rule], repo: dict[str, Rule],
            scopes: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...]]]:
    """(text, scopes) for each matched piece of one line, as TextMate assigns them."""
    rules = _expand(patterns, repo)
    out: list[tuple[str, tuple[str, ...]]] = []
    pos = 0
    while (chosen := _first(line, pos, rules)) is not None:
        m, rule = chosen
        own = (*scopes, rule["name"]) if "name" in rule else scopes
        captures = rule.get("captures") or rule.get("beginCaptures") or {}
        out.extend((m.group(int(g)), (*own, c["name"])) for g, c in sorted(captures.items())
                   if m.group(int(g)))
        if "match" in rule:
            if not captures:
                out.append((m.group(0), own))
            pos = m.end()
            continue
        body_end = _body_end(line, m.end(), rule, repo)
        out.append((line[m.end():body_end], own))
        out.extend(_tokens(line[m.end():body_end], rule.get("patterns", []), repo, own))
        pos = max(_after(line, body_end, rule), body_end)
    return out


def _scope_of(grammar: Rule, line: str, piece: str) -> str:
    tokens = _tokens(line, grammar["patterns"], grammar["repository"])
    for text, scopes in tokens:
        if text == piece:
            return scopes[-1]
    raise AssertionError(f"{piece!r} is not a token of {line!r}: {tokens}")


@pytest.mark.parametrize(("line", "piece", "scope"), [
    ('  reminder: send email "cart-reminder" stage activation', "reminder",
     "entity.name.label.play"),
    ('  reminder: send email "cart-reminder" stage activation', "send", "keyword.control.play"),
    ("  wait 1h30m  # then nudge", "1h30m", "constant.numeric.duration.play"),
    ("  wait 1h30m  # then nudge", "# then nudge", "comment.line.number-sign.play"),
    ("  quiet hours 21:00-08:00", "21:00", "constant.other.time.play"),
    ("  cap email 2 per 1d", "2", "constant.numeric.play"),
    ("  cap email 2 per 1d", "1d", "constant.numeric.duration.play"),
    ("  start 2026-03-07T10:00Z", "2026-03-07T10:00Z", "constant.other.timestamp.play"),
    ("  when event cart_abandoned where event.cart_value >= 30", ">=",
     "keyword.operator.comparison.play"),
    ("  audience email_opt_in and not segment vip", "and", "keyword.operator.word.play"),
    ("  audience email_opt_in and not segment vip", "vip", "entity.name.type.segment.play"),
    ("  branch { when segment a -> b }", "->", "keyword.operator.arrow.play"),
    ("segment f = count(order_completed in last 30d) >= 2", "count",
     "support.function.aggregate.play"),
    ("  update vip = true", "true", "constant.language.boolean.play"),
    ('  sms: send sms text "{{ first_name | upcase }}, hi" stage revenue', "first_name",
     "variable.other.liquid"),
    ('  sms: send sms text "{{ first_name | upcase }}, hi" stage revenue', "upcase",
     "support.function.filter.liquid"),
    ('  sms: send sms text "{{ first_name | upcase }}, hi" stage revenue', "stage",
     "keyword.control.play"),
    ('  owner "a # not a comment"', "a # not a comment", "string.quoted.double.play"),
])
def test_what_a_reader_sees_coloured(grammar: Rule, line: str, piece: str, scope: str) -> None:
    assert _scope_of(grammar, line, piece) == scope


# ------------------------------------------------------------------ the extension manifest
def test_the_extension_wires_play_files_to_the_grammar_and_the_server() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text("utf-8"))
    [language] = manifest["contributes"]["languages"]
    assert language["id"] == "play"
    assert language["extensions"] == [".play"]
    [tm] = manifest["contributes"]["grammars"]
    assert tm["language"] == "play"
    assert tm["scopeName"] == "source.play"
    assert (VSCODE / tm["path"]).resolve() == GRAMMAR
    config = json.loads((VSCODE / language["configuration"]).read_text("utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert ["{", "}"] in config["brackets"]
    assert (VSCODE / manifest["main"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["cadenza.server.command"]["default"] == "cadenza"
    assert settings["cadenza.server.args"]["default"] == ["lsp"]
