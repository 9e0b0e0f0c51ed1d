"""`cadenza simulate`: every example dry-runs, the report's formats, and bad input reported."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cadenza.engine.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / "cadenza.toml").is_file())
CART = REPO / "examples" / "cart_recovery"
# Some examples carry months of history before March; start every run on the same day.
SPAN = ("--start", "2026-03-01T00:00:00Z", "--days", "31")
REPORT_KEYS = {"steps", "sends_per_day", "goals", "funnel", "arms", "suppressions", "skipped"}
CUSTOMER = ('{"id": "c001", "email": "ana@example.com", "timezone": "Europe/Paris", '
            '"first_name": "Ana", "email_opt_in": true, "loyalty_tier": "none"}\n')
CART_EVENT = ('{"customer_id": "c001", "event": "cart_abandoned", "timestamp": '
              '"2026-03-02T10:00:00Z", "properties": {"cart_value": 50, "cart_url": "u", '
              '"item_count": 1}}\n')


pytestmark = pytest.mark.usefixtures("quiet_cli_logs")


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), color=False)


def _simulate(tmp_path: Path, *args: str) -> Result:
    """`cadenza simulate ARGS`, keeping the store in tmp_path: without --db the simulation's
    temporary directory is left to the garbage collector (a ResourceWarning under pytest)."""
    return _invoke("simulate", *args, "--db", str(tmp_path / "sim.db"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_simulates(example: Path, tmp_path: Path) -> None:
    """Each example dry-runs over its own audience and history with exit 0."""
    result = _simulate(tmp_path, str(example), *SPAN)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Simulation 2026-03-01 00:00 UTC → 2026-04-01 00:00 UTC: ")
    assert "skipped input rows" not in result.output


def test_json_report_has_the_documented_keys(tmp_path: Path) -> None:
    """--format json carries steps, sends per day, goals, funnel, arms, suppressions, skipped."""
    result = _simulate(tmp_path, str(CART), *SPAN, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= REPORT_KEYS
    assert report["skipped"] == {}
    lines = (CART / "data" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert report["events"] == sum(1 for line in lines if line.strip())
    assert {s["step"] for s in report["steps"]} >= {"start", "reminder", "last_chance"}
    assert report["goals"][0]["goal"] == "recovered"
    assert sum(day.get("email", 0) for day in report["sends_per_day"].values()) > 0


def test_html_report_is_one_self_contained_page(tmp_path: Path) -> None:
    """--format html --out F writes one page that loads nothing from the network."""
    out = tmp_path / "report.html"
    result = _simulate(tmp_path, str(CART), *SPAN, "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert page.count("<html") == 1
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<(?:script|link|iframe|img)\b", page, re.I)
    assert "@import" not in page
    assert "url(" not in page
    assert "<svg" in page


def _bad_run(tmp_path: Path, customers: str, events: str, name: str = "customers.jsonl",
             ) -> tuple[Result, Path]:
    people = tmp_path / name
    people.write_text(customers, encoding="utf-8")
    history = tmp_path / "events.jsonl"
    history.write_text(events, encoding="utf-8")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events",
                     str(history), "--start", "2026-03-01T00:00:00Z", "--days", "3",
                     "--format", "json")
    return result, history


@pytest.mark.parametrize(("line", "reason", "message"), [
    ('{"customer_id": "c999", "event": "cart_abandoned", "timestamp": "2026-03-02T10:00:00Z"}',
     "unknown customer", "event 'cart_abandoned' is for unknown customer 'c999'."),
    ('{"customer_id": "c001", "event": "cart_abandonned", "timestamp": "2026-03-02T10:00:00Z"}',
     "unknown event", "unknown event 'cart_abandonned' — did you mean 'cart_abandoned'?"),
    ('{"customer_id": "c001", "event": "order_completed", "timestamp": "2026-03-02T10:00:00"}',
     "bad timestamp", "The timestamp '2026-03-02T10:00:00' has no time zone: add 'Z' for UTC "
     "or an offset such as '+01:00'."),
    ("not json", "malformed row", "not valid JSON: Expecting value."),
    ('{"customer_id": "c001", "name": "cart_abandoned", "timestamp": "2026-03-02T10:00:00Z"}',
     "missing field", 'the row has no "event"; each line is {"customer_id": ..., "event": ..., '
     '"timestamp": ..., "properties": {...}}.'),
], ids=["unknown-customer", "unknown-event", "zoneless-timestamp", "not-json", "no-event-key"])
def test_bad_event_line(tmp_path: Path, line: str, reason: str, message: str) -> None:
    """A bad event line exits 1, is named by file:line, and is counted as skipped."""
    result, history = _bad_run(tmp_path, CUSTOMER, CART_EVENT + line + "\n")
    assert result.exit_code == 1
    assert result.stderr == f"{history}:2: error: {message}\n"
    report = json.loads(result.stdout)
    assert report["skipped"] == {reason: 1}
    assert report["problems"] == [f"{history}:2: error: {message}"]
    assert report["enrollments"] == 1  # the good line still ran


def test_malformed_csv_row(tmp_path: Path) -> None:
    """A CSV row with more fields than the header exits 1, named by file:line, and skipped."""
    csv = ("id,email,timezone,first_name,email_opt_in\n"
           "c001,ana@example.com,Europe/Paris,Ana,true\n"
           "c002,bob@example.com,Europe/Paris,Bob,true,extra\n")
    result, _ = _bad_run(tmp_path, csv, CART_EVENT, name="customers.csv")
    assert result.exit_code == 1
    assert result.stderr == (f"{tmp_path / 'customers.csv'}:3: error: the row has 6 fields "
                             "where the header has 5.\n")
    report = json.loads(result.stdout)
    assert report["skipped"] == {"malformed row": 1}
    assert report["customers"] == 1


def test_an_unclosed_quote_in_a_csv_is_named_at_its_own_row(tmp_path: Path) -> None:
    """Regression: the message named the row before (the reader counts a row when it ends,
    and this one never ends), and did not say that the rest of the file was lost."""
    csv = ("id,email,timezone,first_name,email_opt_in\n"
           "c001,ana@example.com,Europe/Paris,Ana,true\n"
           'c002,"bob@example.com,Europe/Paris,Bob,true\n'
           "c003,cy@example.com,Europe/Paris,Cy,true\n")
    result, _ = _bad_run(tmp_path, csv, CART_EVENT, name="customers.csv")
    assert result.exit_code == 1
    assert result.stderr == (
        f"{tmp_path / 'customers.csv'}:3: error: malformed CSV: a quote opened in this row is "
        "never closed, so the rest of the file was read as one field and nothing from this "
        'line on was loaded; close the quote (a quote inside a quoted field is written twice: '
        '"").\n')
    assert json.loads(result.stdout)["customers"] == 1


def test_events_given_as_csv_are_told_the_format(tmp_path: Path) -> None:
    """The first line that is no JSON says the events file must be JSON Lines; the other
    lines keep the short message."""
    rows = "customer_id,event,timestamp\nc001,cart_abandoned,2026-03-02T10:00:00Z\n"
    result, history = _bad_run(tmp_path, CUSTOMER, rows)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{history}:1: error: not valid JSON: Expecting value. This file is read as JSON "
        'Lines, one JSON object per line (events: {"customer_id": ..., "event": ..., '
        '"timestamp": ..., "properties": {...}}); only customers may be CSV.',
        f"{history}:2: error: not valid JSON: Expecting value."]


def test_text_report_counts_skipped_rows(tmp_path: Path) -> None:
    """The text report says what was skipped and why, above the tables."""
    people = tmp_path / "customers.jsonl"
    people.write_text(CUSTOMER, encoding="utf-8")
    history = tmp_path / "events.jsonl"
    history.write_text(CART_EVENT + "not json\n{}\n", encoding="utf-8")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events",
                     str(history), "--start", "2026-03-01T00:00:00Z", "--days", "3")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == "skipped input rows: 1 malformed row, 1 missing field"
    assert result.stderr == (f"{history}:2: error: not valid JSON: Expecting value.\n"
                             f"{history}:3: error: the row has no \"customer_id\" and \"event\"; "
                             'each line is {"customer_id": ..., "event": ..., "timestamp": ..., '
                             '"properties": {...}}.\n')


def test_a_run_without_sends_says_so_in_one_line(tmp_path: Path) -> None:
    """No sends: one line, not an empty table whose title wrapped a word per line."""
    people = tmp_path / "customers.jsonl"
    people.write_text(CUSTOMER, encoding="utf-8")
    history = tmp_path / "events.jsonl"
    history.write_text("", encoding="utf-8")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events",
                       str(history), "--start", "2026-03-01T00:00:00Z", "--days", "3")
    assert result.exit_code == 0, result.stderr
    assert "Sends per channel per day (UTC): none" in result.stdout.splitlines()


def test_unknown_playbook_suggests() -> None:
    """A PLAYBOOK argument that names no playbook exits 1 with a did-you-mean."""
    result = _invoke("simulate", str(CART), "cart_recovry")
    assert result.exit_code == 1
    assert result.output == ("error: no playbook is named 'cart_recovry' — did you mean "
                             "'cart_recovery'?\n")


def test_project_with_errors_is_refused(tmp_path: Path) -> None:
    """A project that does not validate is not simulated: diagnostics, then a sentence."""
    project = tmp_path / "cart"
    shutil.copytree(CART, project)
    play = project / "cart_recovery.play"
    play.write_text(play.read_text(encoding="utf-8").replace(
        'reminder: send email "cart-reminder"', 'reminder: send email "cart-remnder"'),
        encoding="utf-8")
    result = _invoke("simulate", str(project), *SPAN)
    assert result.exit_code == 1
    assert result.stdout == (
        f"{play}:23:24: error[E013]: unknown template 'cart-remnder' — did you mean "
        "'cart-reminder'?\n"
        "   |\n"
        '23 |   reminder: send email "cart-remnder" stage activation\n'
        "   |                        ^^^^^^^^^^^^^^\n"
        "  = help: create templates/cart-remnder.liquid, or send inline text with "
        "'text \"...\"'.\n\n")
    assert result.stderr == "cannot simulate a project with errors; fix them first.\n"


def test_no_event_history_needs_a_start(tmp_path: Path) -> None:
    """Without events the period cannot come from the history: the run asks for --start
    instead of replaying January 1970; with --start it runs."""
    people = tmp_path / "customers.jsonl"
    people.write_text(CUSTOMER, encoding="utf-8")
    empty = tmp_path / "events.jsonl"
    empty.write_text("", encoding="utf-8")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events", str(empty))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: there is no event history to take the period from ('{empty}' holds no usable "
        "events): pass --start, e.g. --start 2026-03-01T00:00Z, to say when the simulation begins "
        "(it runs --days days, 30 by default).\n")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events", str(empty),
                       "--start", "2026-03-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Simulation 2026-03-01 00:00 UTC → 2026-03-31 00:00 UTC")


def test_an_address_a_provider_would_refuse_is_dropped_with_a_warning(tmp_path: Path) -> None:
    """The audience's email or phone that cannot be one is reported and left out (exit 0):
    the customer still runs, and a send to them is counted as having no address."""
    people = CUSTOMER.replace('"ana@example.com"', '"ana.example.com", "phone": "555 0101"')
    result, _ = _bad_run(tmp_path, people, CART_EVENT)
    assert result.exit_code == 0, result.stderr
    where = tmp_path / "customers.jsonl"
    assert result.stderr == (
        f"{where}:1: warning: the email of customer 'c001': 'ana.example.com' is not an email "
        "address (name@domain.example) (value dropped).\n"
        f"{where}:1: warning: the phone of customer 'c001': '555 0101' is not a phone number "
        "in E.164 form: '+', the country code and the number, such as '+14155550123' (value "
        "dropped).\n")
    assert json.loads(result.stdout)["customers"] == 1


def test_when_no_event_is_usable_each_reason_is_shown(tmp_path: Path) -> None:
    """Every event row unusable: the refusal came without the rows' reasons."""
    people = tmp_path / "customers.jsonl"
    people.write_text(CUSTOMER, encoding="utf-8")
    history = tmp_path / "events.jsonl"
    history.write_text(CART_EVENT.replace("cart_abandoned", "cart_abandonned"), "utf-8")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events", str(history))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{history}:1: error: unknown event 'cart_abandonned' — did you mean 'cart_abandoned'?")
    assert "holds no usable events" in result.stderr.splitlines()[1]


def test_days_are_bounded(tmp_path: Path) -> None:
    """100,000 days of a segment-driven playbook ran for hours; ten years is the most."""
    result = _simulate(tmp_path, str(CART), "--days", "100000")
    assert result.exit_code == 2
    assert "Invalid value for '--days': 100000 is not in the range 1<=x<=3660." in result.stderr


def test_an_empty_audience_is_named(tmp_path: Path) -> None:
    """An empty customers file gave one 'unknown customer' error per event, then asked for
    --start; it now says there is no one to simulate."""
    people = tmp_path / "customers.jsonl"
    people.write_text("", encoding="utf-8")
    history = tmp_path / "events.jsonl"
    history.write_text(CART_EVENT, encoding="utf-8")
    result = _simulate(tmp_path, str(CART), "--customers", str(people), "--events", str(history))
    assert result.exit_code == 1
    assert result.stderr == (f"error: {people} holds no usable customer, so there is no one to "
                             "simulate; each row needs at least an 'id' (docs/simulate.md, "
                             '"The data files").\n')


def test_a_long_run_keeps_its_chart_on_the_page() -> None:
    """24 px a day made 120 days a 2,880 px chart in a 1,200 px page."""
    from cadenza.engine.report_html import _bars

    days = {f"2026-{1 + d // 28:02d}-{1 + d % 28:02d}": {"email": d % 5} for d in range(120)}
    svg = _bars(days)
    width = int(re.search(r"<svg width='(\d+)'", svg).group(1))  # type: ignore[union-attr]
    assert width <= 1150
    bars = [float(w) for w in re.findall(r"<rect [^>]*width='([\d.]+)'", svg)]
    assert len(bars) == 120
    assert min(bars) > 0


WEEKLY = """\
schema {
  customer { first_name: string }
  event visited { }
  event bought { }
}
playbook weekly {
  when event visited
  reenter after 1d
  goal bought: event bought within 2d
  split subject {
    50% -> a
    50% -> b
  }
  a: send email text "A" subject "A"
  end
  b: send email text "B" subject "B"
}
"""


def test_experiment_arms_count_each_customer_once(tmp_path: Path) -> None:
    """A customer who enters a re-entering playbook every week is in the same arm every
    week: the arm counts them once (it counted each journey), and converted once."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "cadenza.toml").write_text('timezone = "UTC"\n', "utf-8")
    (project / "main.play").write_text(WEEKLY, "utf-8")
    ids = [f"c{i}" for i in range(6)]
    (project / "customers.jsonl").write_text("".join(
        json.dumps({"id": c, "email": f"{c}@example.com", "first_name": c}) + "\n"
        for c in ids), "utf-8")
    events = [{"customer_id": c, "event": "visited", "timestamp": f"2026-03-{day:02d}T10:00:00Z"}
              for day in (2, 9, 16) for c in ids]
    events += [{"customer_id": c, "event": "bought", "timestamp": f"2026-03-{day:02d}T11:00:00Z"}
               for day in (2, 9) for c in ids[:2]]
    (project / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events), "utf-8")
    result = _simulate(tmp_path, str(project), "--customers", str(project / "customers.jsonl"),
                       "--events", str(project / "events.jsonl"), *SPAN, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    arms = report["arms"]
    assert sum(a["customers"] for a in arms) == 6
    assert sum(a["converted"] for a in arms) == 2
    assert report["enrollments"] == 18
