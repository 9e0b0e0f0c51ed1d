"""Project-level diagnostics (config, files, tests blocks) and the docs/errors.md guard."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cadenza.playbooks.project import load_project
from tests.playbooks.conftest import Make

REPO = Path(__file__).resolve().parents[2]


def test_bad_toml_is_reported(tmp_path: Path) -> None:
    """A broken cadenza.toml gives E050 with TOML's own explanation."""
    (tmp_path / "cadenza.toml").write_text("[project\nname = 1\n", encoding="utf-8")
    (tmp_path / "a.play").write_text("", encoding="utf-8")
    [d] = load_project(tmp_path).diagnostics
    assert d.code == "E050"
    assert d.message.startswith("cadenza.toml is not valid TOML: ")


def test_unknown_config_key_is_reported(tmp_path: Path) -> None:
    """An unknown key in [project] names the key."""
    (tmp_path / "cadenza.toml").write_text('[project]\nnmae = "x"\n', encoding="utf-8")
    (tmp_path / "a.play").write_text("", encoding="utf-8")
    [d] = load_project(tmp_path).diagnostics
    assert (d.code, d.message) == ("E050",
                                   "cadenza.toml [project] nmae: Extra inputs are not permitted.")


def test_bad_timezone_in_config(tmp_path: Path) -> None:
    """An unknown IANA zone in cadenza.toml is reported."""
    (tmp_path / "cadenza.toml").write_text('[project]\ntimezone = "Mars/Olympus"\n',
                                           encoding="utf-8")
    (tmp_path / "a.play").write_text("", encoding="utf-8")
    [d] = load_project(tmp_path).diagnostics
    assert (d.code, d.message) == ("E021", "unknown time zone 'Mars/Olympus' in cadenza.toml.")


def test_empty_directory(tmp_path: Path) -> None:
    """A folder without .play files says so and how to start."""
    [d] = load_project(tmp_path).diagnostics
    assert d.code == "E051"
    assert d.hint == "run 'cadenza init DIR' to start a project."


def test_a_folder_that_holds_a_project_names_it(tmp_path: Path) -> None:
    """From the folder above a project, `graph`/`simulate .` said "no .play files" and
    advised `cadenza init`; it now names the project to give instead."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "cadenza.toml").write_text('[project]\nname = "shop"\n', "utf-8")
    (tmp_path / "shop" / "a.play").write_text("schema { event x {} }\n", encoding="utf-8")
    [d] = load_project(tmp_path).diagnostics
    assert d.code == "E051"
    assert d.message == (f"'{tmp_path}' is not a project: it has no .play files of its own, "
                         "and holds the project shop (with its cadenza.toml).")
    assert d.hint == ("name the project's folder instead: 'cadenza simulate shop', "
                      "'cadenza graph NAME --project shop'.")


def test_a_folder_named_like_a_playbook_is_searched_not_read(tmp_path: Path) -> None:
    """`old.play/` is a folder: its .play files count, the folder itself is not a file."""
    (tmp_path / "old.play").mkdir()
    text = "schema { event x {} }\nplaybook a {\n  when event x\n  end\n}\n"
    (tmp_path / "old.play" / "a.play").write_text(text, encoding="utf-8")
    loaded = load_project(tmp_path)
    assert loaded.project is not None, loaded.diagnostics
    assert list(loaded.project.playbooks) == ["a"]
    (tmp_path / "templates" / "old.liquid").mkdir(parents=True)  # nor a template folder
    assert load_project(tmp_path).ok


def test_test_block_unknown_playbook(make_project: Make) -> None:
    """A test naming a missing playbook gets E019 with did-you-mean."""
    loaded = make_project('playbook welcome {\n  when api\n  end\n}\n'
                          'test "t" {\n  playbook welcom\n  expect nothing\n}\n')
    [d] = [d for d in loaded.diagnostics if d.code == "E019"]
    assert d.message == "unknown playbook 'welcom' — did you mean 'welcome'?"


def test_test_block_types_are_checked(make_project: Make) -> None:
    """Test customers and events are checked against the schema."""
    loaded = make_project('playbook p {\n  when api\n  end\n}\n'
                          'test "t" {\n  playbook p\n  customer { ltv = "a lot", colour = 1 }\n'
                          '  event cart_abandoned at 2026-03-01T10:00Z { cart_value = true }\n'
                          '  expect fax\n}\n')
    got = sorted((d.code, d.message) for d in loaded.diagnostics)
    assert got == [
        ("E015", "unknown customer attribute 'colour'."),
        ("E016", "unknown channel 'fax'."),
        ("E020", "customer attribute 'ltv' is a number, but \"a lot\" is a string."),
        ("E020", "property 'cart_value' of event 'cart_abandoned' is a number, but true is a "
                 "bool."),
    ]


def test_test_times_without_zone_use_customer_zone(make_project: Make) -> None:
    """A zone-less time in a test is read in the customer's time zone (DST-aware)."""
    loaded = make_project('playbook p {\n  when event cart_abandoned\n  end\n}\n'
                          'test "t" {\n  playbook p\n'
                          '  customer { timezone = "America/New_York" }\n'
                          '  event cart_abandoned at 2026-03-08T09:00 { cart_value = 5 }\n'
                          '  expect nothing\n}\n')
    assert loaded.project is not None
    [t] = loaded.project.tests
    assert t.events[0].at.isoformat() == "2026-03-08T13:00:00+00:00"  # EDT began at 2:00


def test_stage_missing_warns(make_project: Make) -> None:
    """A send without a stage in a playbook with a framework is a warning."""
    loaded = make_project('playbook p {\n  framework aarrr\n  when api\n'
                          '  send email "welcome"\n}\n')
    assert [(d.code, d.message) for d in loaded.diagnostics] == [
        ("W041", "this step names no stage of framework 'aarrr'.")]


def _codes_in(folder: str) -> set[str]:
    found: set[str] = set()
    for path in (REPO / folder).rglob("*.py"):
        found |= set(re.findall(r'"([EW]0\d\d)"', path.read_text("utf-8")))
    return found


def test_every_code_is_documented_and_tested() -> None:
    """Each diagnostic code the compiler can emit has a docs/errors.md row and a test."""
    emitted = _codes_in("grammar") | _codes_in("playbooks") | _codes_in("engine")
    documented = set(re.findall(r"^\| ([EW]0\d\d) \|",
                                (REPO / "docs" / "errors.md").read_text("utf-8"), re.M))
    tests_text = "\n".join(p.read_text("utf-8") for p in (REPO / "tests").rglob("*.py"))
    tests_text += (REPO / "tests/golden/diagnostics/twenty.expected.txt").read_text("utf-8")
    untested = {c for c in emitted if c not in tests_text}
    assert emitted - documented == set()
    assert untested == set()


def test_a_schema_entry_declared_twice_points_at_the_first(make_project: Make) -> None:
    """E010 for a customer attribute and for an event names where the first one is."""
    loaded = make_project('playbook p {\n  when api\n  end\n}\n', extra={
        "more.play": "schema {\n  customer {\n    ltv: number\n  }\n"
                     "  event order_completed {\n  }\n}\n"})
    found = {d.message: d.related for d in loaded.diagnostics if d.code == "E010"}
    assert set(found) == {"customer attribute 'ltv' is declared twice.",
                          "event 'order_completed' is declared twice."}
    for related in found.values():
        [(file, span)] = related
        assert file.endswith("schema.play") or file.endswith("more.play")
        assert span.line > 1


def test_an_sms_from_a_template_with_a_subject_warns(make_project: Make) -> None:
    """The subject of an SMS template would silently vanish: W042 says so."""
    loaded = make_project('playbook p {\n  when api\n  consent sms: sms_opt_in\n'
                          '  send sms "welcome"\n}\n')
    assert [(d.code, d.message) for d in loaded.diagnostics] == [
        ("W042", "template 'welcome' has a subject, but this step sends sms, which has none: "
                 "the subject is never sent.")]


def test_an_empty_template_name_in_an_expectation_is_refused(make_project: Make) -> None:
    """`expect sms ""` matched nothing and printed two identical rows; now it is E013."""
    loaded = make_project('playbook p {\n  when api\n  consent sms: sms_opt_in\n'
                          '  send sms text "hi"\n}\n'
                          'test "t" {\n  playbook p\n  expect sms ""\n}\n')
    [d] = [d for d in loaded.diagnostics if d.code == "E013"]
    assert d.message == "an empty template name: an expectation names a template or none."
    assert d.hint.startswith("write 'expect sms' to accept any sms")


def test_a_misspelt_bound_property_suggests_the_whole_path(make_project: Make) -> None:
    """'{{ reply.bdy }}' suggests 'reply.body' — what the author would write."""
    loaded = make_project('playbook p {\n  touch low\n  when api\n  consent sms: sms_opt_in\n'
                          '  send sms text "Rate us 0-10"\n'
                          '  wait for event sms_reply as reply timeout 2d\n'
                          '  task "They said: {{ reply.bdy }}" to "care"\n}\n')
    [d] = [d for d in loaded.diagnostics if d.code == "E038"]
    assert "uses 'reply.bdy', which is not known — did you mean 'reply.body'?" in d.message


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Reading any file called `name` fails as a missing read permission does (tests run as
    root on CI, where chmod 000 would not stop a read)."""
    read_bytes, read_text = Path.read_bytes, Path.read_text

    def deny(path: Path) -> None:
        if path.name == name:
            raise PermissionError(13, "Permission denied", str(path))

    def bytes_(path: Path) -> bytes:
        deny(path)
        return read_bytes(path)

    def text_(path: Path, *a: Any, **k: Any) -> str:
        deny(path)
        return read_text(path, *a, **k)

    monkeypatch.setattr(Path, "read_bytes", bytes_)
    monkeypatch.setattr(Path, "read_text", text_)


def test_an_unreadable_playbook_is_reported_and_the_rest_still_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .play file cadenza may not read is an E052 naming it; the other files' findings
    still come."""
    (tmp_path / "a.play").write_text("schema { event x {} }\n", encoding="utf-8")
    (tmp_path / "b.play").write_text("playbook b {\n  when event nope\n  end\n}\n",
                                     encoding="utf-8")
    _unreadable(monkeypatch, "a.play")
    found = load_project(tmp_path).diagnostics
    assert [d.code for d in found] == ["E052", "E014"]
    assert found[0].message == f"'{tmp_path / 'a.play'}' cannot be read: Permission denied."
    assert found[0].hint is not None
    assert "permissions" in found[0].hint


def test_an_unreadable_template_or_config_is_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hi.liquid").write_text("hello", encoding="utf-8")
    (tmp_path / "cadenza.toml").write_text("[project]\n", encoding="utf-8")
    (tmp_path / "a.play").write_text("schema { event x {} }\n", encoding="utf-8")
    _unreadable(monkeypatch, "hi.liquid")
    [d] = load_project(tmp_path).diagnostics
    assert (d.code, d.file) == ("E052", str(tmp_path / "templates" / "hi.liquid"))
    monkeypatch.undo()
    _unreadable(monkeypatch, "cadenza.toml")
    [d] = load_project(tmp_path).diagnostics
    assert d.message == f"'{tmp_path / 'cadenza.toml'}' cannot be read: Permission denied."


def test_a_config_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "cadenza.toml").write_bytes(b'[project]\nname = "caf\xe9"\n')
    (tmp_path / "a.play").write_text("schema { event x {} }\n", encoding="utf-8")
    [d] = load_project(tmp_path).diagnostics
    assert (d.code, d.message) == (
        "E050", "cadenza.toml is not valid UTF-8: byte 0xe9 at offset 21 cannot be decoded.")
