"""Cross-playbook conflicts (W060-W063): two playbooks in two files, the warning, both places."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.engine.cli.main import main
from cadenza.grammar.diagnostics import Diagnostic
from cadenza.playbooks.conflicts import find_conflicts
from cadenza.playbooks.project import LoadedProject, load_project
from tests.playbooks.conftest import Make

REPO = Path(__file__).resolve().parents[2]


def _warnings(loaded: LoadedProject) -> list[Diagnostic]:
    assert loaded.ok, loaded.diagnostics
    return [d for d in loaded.diagnostics if d.code.startswith("W06")]


def _place(file: str, line: int) -> tuple[str, int]:
    return Path(file).name, line


def _two(make_project: Make, a: str, b: str) -> list[Diagnostic]:
    return _warnings(make_project(a, extra={"b.play": b}))


# ------------------------------------------------------------------ W060
DEFAULT_CAP = "defaults {\n  cap email 1 per 1d\n}\n"
A_WELCOME = 'playbook a {\n  when event order_completed\n  send email "welcome"\n}\n'
B_WELCOME = 'playbook b {\n  when api\n  send email "welcome"\n}\n'


def test_two_playbooks_over_a_shared_cap_warn_with_both_places(make_project: Make) -> None:
    [w] = _two(make_project, DEFAULT_CAP + A_WELCOME, B_WELCOME)
    assert w.code == "W060"
    assert w.severity == "warning"
    assert w.message == (
        "playbooks 'a' and 'b' can reach the same customer and together send up to 2 emails "
        "within 1d (1 and 1), more than 'cap email 1 per 1d' allows: when they do, every "
        "send over the cap is deferred until the window has room again.")
    assert _place(w.file, w.span.line) == ("main.play", 6)
    assert [_place(f, s.line) for f, s in w.related] == [("b.play", 3)]


def test_a_skipping_cap_of_one_playbook_says_whose_sends_are_skipped(make_project: Make) -> None:
    a = ('playbook a {\n  when api\n  consent sms: sms_opt_in\n  cap sms 1 per 12h else skip\n'
         '  send sms text "one"\n}\n')
    b = 'playbook b {\n  when api\n  consent sms: sms_opt_in\n  send sms text "two"\n}\n'
    [w] = _two(make_project, a, b)
    assert w.message == (
        "playbooks 'a' and 'b' can reach the same customer and together send up to 2 SMS "
        "messages within 12h (1 and 1), more than 'cap sms 1 per 12h else skip' of 'a' "
        "allows: when they do, every SMS of 'a' over the cap is skipped.")
    assert _place(w.file, w.span.line) == ("main.play", 5)
    assert [_place(f, s.line) for f, s in w.related] == [("b.play", 4), ("main.play", 4)]


def test_sends_spaced_wider_than_the_window_do_not_add_up(make_project: Make) -> None:
    """a sends twice, 2 days apart: within any day it sends one, and b one; the cap is 2."""
    a = ('defaults {\n  cap email 2 per 1d\n}\nplaybook a {\n  when api\n'
         '  send email "welcome"\n  wait 2d\n  send email "welcome"\n}\n')
    assert _two(make_project, a, B_WELCOME) == []


def test_sends_that_can_follow_at_once_do_add_up(make_project: Make) -> None:
    """`wait for event` can end the moment it starts: both of a's emails fit in one day."""
    a = ('defaults {\n  cap email 2 per 1d\n}\nplaybook a {\n  when api\n'
         '  send email "welcome"\n  wait for event order_completed timeout 3d\n'
         '  send email "welcome"\n}\n')
    [w] = _two(make_project, a, B_WELCOME)
    assert "together send up to 3 emails within 1d (2 and 1)" in w.message


def test_one_playbook_over_its_own_cap_warns_w064(make_project: Make) -> None:
    """Four emails a day apart under a 3-per-7-days cap: the fourth waits. The pair rule
    (W060) leaves a playbook over the cap by itself out, so nothing said so before."""
    a = ('defaults {\n  cap email 3 per 7d\n}\nplaybook a {\n  when api\n'
         + '  send email "welcome"\n  wait 1d\n' * 4 + '}\n')
    warnings = _warnings(make_project(a))
    [w] = [x for x in warnings if x.code == "W064"]
    assert w.message == (
        "playbook 'a' alone can send one customer more than 3 emails within 7d, so 'cap email "
        "3 per 7d' holds back its own sends: the ones past the cap are deferred until the "
        "window has room.")
    assert _place(w.file, w.span.line) == ("main.play", 6)
    assert w.related == ()  # a cap from defaults: the playbook does not declare it
    spaced = a.replace("wait 1d", "wait 3d")
    assert [x for x in _warnings(make_project(spaced)) if x.code == "W064"] == []


@pytest.mark.parametrize(("aud_a", "aud_b"), [
    ("segment buyers", "not segment buyers"),
    ('plan == "free"', 'plan == "pro"'),
    ("ltv < 100", "ltv >= 100 and email_opt_in"),
    ('plan in ["free"] and email_opt_in', "ltv is set and plan == \"pro\""),
    ("not email_opt_in", "email_opt_in"),
    ("ltv is not set", "ltv > 0"),
    ("ltv == 1", "ltv in [2, 3]"),
    ("ltv != 1", "ltv in [1]"),
    ("not ltv < 5", "ltv is not set"),  # `not ltv < 5` needs a value, like `ltv >= 5`
    ("not (segment buyers or plan == \"pro\")", "segment buyers"),
])
def test_disjoint_audiences_do_not_conflict(make_project: Make, aud_a: str,
                                            aud_b: str) -> None:
    a = DEFAULT_CAP + A_WELCOME.replace("  send", f"  audience {aud_a}\n  send")
    b = B_WELCOME.replace("  send", f"  audience {aud_b}\n  send")
    assert _two(make_project, a, b) == []


@pytest.mark.parametrize(("aud_a", "aud_b"), [
    ("segment buyers", "email_opt_in"),
    ('plan == "free"', 'plan != "pro"'),
    ("ltv < 100", "ltv > 50"),
    ("ltv is not set", "not email_opt_in"),
    ("ltv == 1", "ltv in [1, 2]"),
    ("ltv <= 5", "ltv >= 5"),
])
def test_audiences_that_can_overlap_still_conflict(make_project: Make, aud_a: str,
                                                   aud_b: str) -> None:
    a = DEFAULT_CAP + A_WELCOME.replace("  send", f"  audience {aud_a}\n  send")
    b = B_WELCOME.replace("  send", f"  audience {aud_b}\n  send")
    assert [w.code for w in _two(make_project, a, b)] == ["W060"]


def test_segments_defined_apart_are_disjoint(make_project: Make) -> None:
    """The touch-tiers pattern: 'low' excludes 'high' in its definition."""
    segments = ('segment high = plan == "pro" or ltv >= 5000\n'
                "segment low = ltv >= 500 and not segment high\n")
    a = segments + DEFAULT_CAP + A_WELCOME.replace("  send", "  audience segment high\n  send")
    b = B_WELCOME.replace("  send", "  audience segment low\n  send")
    assert _two(make_project, a, b) == []


def test_not_in_a_segment_includes_customers_its_condition_cannot_judge(
        make_project: Make) -> None:
    """`not segment rich` holds for a customer without ltv, and so does `ltv is not set`."""
    a = ("segment rich = ltv > 5\n" + DEFAULT_CAP
         + A_WELCOME.replace("  send", "  audience not segment rich\n  send"))
    b = B_WELCOME.replace("  send", "  audience ltv is not set\n  send")
    assert [w.code for w in _two(make_project, a, b)] == ["W060"]


# ------------------------------------------------------------------ W061
EXITS_ON_ORDER = ('playbook a {\n  when api\n  exit when event order_completed\n'
                  '  send email "welcome"\n}\n')


def test_an_exit_event_that_starts_another_playbook_warns(make_project: Make) -> None:
    b = 'playbook b {\n  when event order_completed\n  send email "welcome"\n}\n'
    [w] = _two(make_project, EXITS_ON_ORDER, b)
    assert w.code == "W061"
    assert w.message == (
        "the event 'order_completed' that ends playbook 'a' also enrolls the customer in "
        "playbook 'b': whoever leaves 'a' this way starts 'b' at the same moment.")
    assert _place(w.file, w.span.line) == ("main.play", 3)
    assert [_place(f, s.line) for f, s in w.related] == [("b.play", 2)]


def test_an_exit_and_an_entry_with_disjoint_filters_do_not_warn(make_project: Make) -> None:
    a = EXITS_ON_ORDER.replace("order_completed\n", "order_completed where "
                               "event.order_value >= 100\n")
    b = ('playbook b {\n  when event order_completed where event.order_value < 100\n'
         '  send email "welcome"\n}\n')
    assert _two(make_project, a, b) == []


def test_a_different_entry_event_does_not_warn(make_project: Make) -> None:
    b = 'playbook b {\n  when event cart_abandoned\n  send email "welcome"\n}\n'
    assert _two(make_project, EXITS_ON_ORDER, b) == []


# ------------------------------------------------------------------ W062, W063
def _with(policy: str, name: str, line: str = 'send email "welcome"') -> str:
    return f"playbook {name} {{\n  when api\n  consent sms: sms_opt_in\n  {policy}\n  {line}\n}}\n"


def test_caps_declared_differently_warn(make_project: Make) -> None:
    [w] = _two(make_project, _with("cap email 2 per 1d", "a"), _with("cap email 3 per 1d", "b"))
    assert w.code == "W062"
    assert w.message == (
        "playbook 'a' has 'cap email 2 per 1d', but playbook 'b', which can reach the same "
        "customers, has 'cap email 3 per 1d': each playbook stops at its own limit, so how many "
        "emails a customer gets depends on which playbook sends.")
    assert _place(w.file, w.span.line) == ("main.play", 4)
    assert [_place(f, s.line) for f, s in w.related] == [("b.play", 4)]


def test_a_cap_overriding_the_default_points_at_the_override(make_project: Make) -> None:
    a = "defaults {\n  cap email 3 per 1d\n}\n" + _with("cap email 2 per 1d", "a")
    b = 'playbook b {\n  when api\n  send email "welcome"\n}\n'
    [w] = _two(make_project, a, b)
    assert "has 'cap email 2 per 1d', but playbook 'b'" in w.message
    assert "has 'cap email 3 per 1d' (from defaults)" in w.message
    assert _place(w.file, w.span.line) == ("main.play", 7)
    assert [_place(f, s.line) for f, s in w.related] == [("b.play", 1)]


def test_quiet_hours_declared_differently_warn(make_project: Make) -> None:
    sms = 'send sms text "hi"'
    [w] = _two(make_project, _with("quiet hours sms 21:00-08:00", "a", sms),
               _with("quiet hours 22:00-07:00", "b", sms))
    assert w.code == "W063"
    assert w.message == (
        "playbook 'a' keeps quiet hours 21:00-08:00 for sms, but playbook 'b', which can reach "
        "the same customers, keeps 22:00-07:00: a customer in both can get SMS messages at "
        "hours one of them promises to keep quiet.")
    assert _place(w.file, w.span.line) == ("main.play", 4)
    assert [_place(f, s.line) for f, s in w.related] == [("b.play", 4)]


@pytest.mark.parametrize("policy", ["cap email 2 per 1d", "quiet hours 21:00-08:00"])
def test_the_same_settings_do_not_warn(make_project: Make, policy: str) -> None:
    assert _two(make_project, _with(policy, "a"), _with(policy, "b")) == []


def test_different_settings_with_disjoint_audiences_do_not_warn(make_project: Make) -> None:
    a = _with('audience plan == "free"\n  cap email 2 per 1d', "a")
    b = _with('audience plan == "pro"\n  cap email 3 per 1d', "b")
    assert _two(make_project, a, b) == []


def test_a_channel_only_one_playbook_uses_does_not_warn(make_project: Make) -> None:
    """b caps SMS differently but never sends one: its cap changes nothing."""
    a = _with("cap sms 1 per 1d", "a", 'send sms text "hi"')
    b = _with("cap sms 2 per 1d", "b")
    assert _two(make_project, a, b) == []


# ------------------------------------------------------------------ wiring
def test_find_conflicts_is_what_the_loader_reports(make_project: Make) -> None:
    loaded = make_project(DEFAULT_CAP + A_WELCOME, extra={"b.play": B_WELCOME})
    assert loaded.project is not None
    assert find_conflicts(loaded.project) == _warnings(loaded)


def test_validate_prints_the_warning_and_exits_0_unless_strict(
        make_project: Make, capsys: pytest.CaptureFixture[str]) -> None:
    loaded = make_project(DEFAULT_CAP + A_WELCOME, extra={"b.play": B_WELCOME})
    assert main(["validate", str(loaded.root)]) == 0
    out = capsys.readouterr().out
    assert "main.play:6:3: warning[W060]: playbooks 'a' and 'b'" in out
    assert "b.play:3:3" in out.split("note: see ")[1]
    assert main(["validate", "--strict", str(loaded.root)]) == 1


def test_the_language_server_shows_the_warning_and_the_other_place(make_project: Make) -> None:
    from lsprotocol import types
    from pygls.workspace.position_codec import PositionCodec

    from cadenza.engine.lsp.validation import validate

    root = make_project(DEFAULT_CAP + A_WELCOME, extra={"b.play": B_WELCOME}).root
    shown = validate(root, {}, PositionCodec()).by_file[str(root / "main.play")]
    [w] = [d for d in shown if d.code == "W060"]
    assert w.severity == types.DiagnosticSeverity.Warning
    assert w.range.start.line == 5  # line 6, counted from 0
    assert w.related_information is not None
    assert w.related_information[0].location.uri == (root / "b.play").resolve().as_uri()


def test_the_examples_conflicts_are_the_known_ones() -> None:
    """Lifecycle playbooks that can overlap in time: each is a real, possible deferral."""
    found = []
    for root in sorted((REPO / "examples").iterdir()):
        if (root / "cadenza.toml").is_file():
            found += [(root.name, d.code, Path(d.file).name)
                      for d in load_project(root).diagnostics if d.severity == "warning"]
    assert found == [("aidae", "W060", "lead_nurture.play"),
                     ("laer_subscription", "W060", "renewal.play"),
                     ("mckinsey_cdj", "W060", "enjoy_to_bond.play")]


def test_many_alike_playbooks_warn_pair_by_pair(make_project: Make) -> None:
    """Alike playbooks are checked as one kind, yet every overlapping pair is still reported;
    one kept apart by its audience pairs with no one."""
    def pb(name: str, audience: str = "") -> str:
        return (f"playbook {name} {{\n  when api\n{audience}  send email \"welcome\"\n"
                "  wait 1h\n  send email \"welcome\"\n}\n")
    files = {f"p{i}.play": pb(f"p{i}", "  audience segment buyers\n") for i in range(4)}
    files["q.play"] = pb("q", "  audience not segment buyers\n")
    files["r.play"] = pb("r")
    warnings = _warnings(make_project("defaults {\n  cap email 3 per 1d\n}\n", extra=files))
    pairs = sorted(tuple(sorted(w.message.split("'")[1:4:2])) for w in warnings)
    expected = [tuple(sorted(p)) for p in (
        *[(f"p{i}", f"p{j}") for i in range(4) for j in range(i + 1, 4)],
        *[(f"p{i}", "r") for i in range(4)], ("q", "r"))]
    assert pairs == sorted(expected)
    assert {w.code for w in warnings} == {"W060"}
