"""`cadenza explain`: one customer's journeys read back from a simulation's store."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cadenza.engine.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cart_recovery"
PLAY = EXAMPLE / "cart_recovery.play"
SPAN = ("--start", "2026-03-01T00:00:00Z", "--days", "31")


pytestmark = pytest.mark.usefixtures("quiet_cli_logs")


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), color=False)


def _line_of(text: str) -> int:
    """The line of cart_recovery.play that starts with `text` (after indentation)."""
    lines = PLAY.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.strip().startswith(text))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("explain") / "cart.db"
    result = _invoke("simulate", str(EXAMPLE), *SPAN, "--format", "json", "--db", str(db))
    assert result.exit_code == 0, result.output
    return db


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


@pytest.fixture(scope="module")
def deferred(store: Path) -> str:
    """A customer whose reminder was held by quiet hours, then sent."""
    rows = _query(store, "SELECT customer_id FROM suppressions WHERE reason = 'quiet_hours' "
                  "AND action = 'deferred' AND node = 'reminder' ORDER BY id LIMIT 1")
    assert rows, "the example no longer defers any reminder: pick another customer"
    return str(rows[0][0])


@pytest.fixture(scope="module")
def converted(store: Path) -> str:
    """A customer who ordered while in the playbook: converted and exited."""
    rows = _query(store, "SELECT e.customer_id FROM enrollments e JOIN conversions c "
                  "ON c.enrollment_id = e.id WHERE e.end_reason = 'exit on order_completed' "
                  "ORDER BY e.id LIMIT 1")
    assert rows, "the example no longer has a customer who converted and exited"
    return str(rows[0][0])


def test_deferred_send_shows_steps_sources_and_the_quiet_hours(store: Path,
                                                                 deferred: str) -> None:
    """The timeline names each step with its kind and file:line, the deferral and the send."""
    result = _invoke("explain", "--db", str(store), "--customer", deferred)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"customer {deferred} · zone ")
    assert "cart_recovery v1 · journey " in out
    assert "entered by event cart_abandoned {cart_url=" in out
    assert re.search(rf"start +wait +1h +\({re.escape(str(PLAY))}:{_line_of('wait 1h')}\)", out)
    reminder = rf'reminder +send +email "cart-reminder" +\({re.escape(str(PLAY))}:' \
               rf'{_line_of("reminder:")}\)'
    assert len(re.findall(reminder, out)) >= 2  # held, then run again when allowed
    held = re.search(r"deferred by quiet hours until (\S+Z) \(\w{3} 08:00 \w+\)", out)
    assert held, out
    assert re.search(rf"{held.group(1)} \(\w{{3}} 08:00 \w+\) +reminder +send", out)
    assert 'created email "cart-reminder", stage activation, status sent' in out
    assert re.search(r"reminder\.3 +branch +→ \w+", out)


def test_conversion_and_exit_are_shown(store: Path, converted: str) -> None:
    """An order inside the goal window shows as a conversion and as the exit that ended it."""
    result = _invoke("explain", "--db", str(store), "--customer", converted)
    assert result.exit_code == 0, result.output
    assert re.search(r"Z \(\w{3} \d\d:\d\d \w+\)  goal recovered converted\n", result.output)
    assert "  ended exited: exit on order_completed" in result.output


def test_json_carries_the_same(store: Path, deferred: str, converted: str) -> None:
    """--format json: journeys with steps (kind, source), messages, suppressions, goals, end."""
    result = _invoke("explain", "--db", str(store), "--customer", deferred, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["customer"] == deferred
    journey = data["journeys"][0]
    assert journey["playbook"] == "cart_recovery"
    assert journey["trigger"].startswith("event cart_abandoned")
    reminders = [s for s in journey["steps"] if s["step"] == "reminder"]
    assert reminders[0]["kind"] == "send"
    assert reminders[0]["source"] == f"{PLAY}:{_line_of('reminder:')}"
    held = reminders[0]["suppressions"][0]
    assert (held["reason"], held["action"]) == ("quiet_hours", "deferred")
    assert held["detail"].startswith("deferred by quiet hours until ")
    assert held["until"] == reminders[1]["at"]
    assert reminders[1]["messages"] == [{"channel": "email", "template": "cart-reminder",
                                         "stage": "activation", "status": "sent"}]
    assert journey["entered"]["utc"].endswith("Z")
    data = json.loads(_invoke("explain", "--db", str(store), "--customer", converted,
                              "--format", "json").output)
    exited = [j for j in data["journeys"] if j["end_reason"] == "exit on order_completed"]
    assert exited[0]["state"] == "exited"
    assert exited[0]["conversions"][0]["goal"] == "recovered"
    assert exited[0]["conversions"][0]["at"] == exited[0]["ended"]


def test_cap_skip_reads_as_a_sentence(store: Path, deferred: str, tmp_path: Path) -> None:
    """A send skipped by a frequency cap reads "skipped: cap 2 per 1d reached"."""
    db = tmp_path / "capped.db"
    with closing(sqlite3.connect(store)) as src, closing(sqlite3.connect(db)) as copy:
        src.backup(copy)  # the store may still have pages in its write-ahead log
    with closing(sqlite3.connect(db)) as conn, conn:
        eid, playbook, trail = conn.execute(
            "SELECT id, playbook, trail FROM enrollments WHERE customer_id = ? ORDER BY id",
            (deferred,)).fetchone()
        at = next(int(x.split("@")[1]) for x in trail.split(";") if x.startswith("last_chance@")
                  or x.startswith("sms_nudge@") or x.startswith("loyal_offer@"))
        node = next(x.split("@")[0] for x in trail.split(";") if x.endswith(f"@{at}")
                    and not x.startswith("reminder"))
        conn.execute("INSERT INTO suppressions (enrollment_id, playbook, node, customer_id, "
                     "channel, reason, action, detail, at) VALUES (?, ?, ?, ?, 'email', 'cap', "
                     "'skipped', '2 per 86400s reached', ?)", (eid, playbook, node, deferred, at))
    result = _invoke("explain", "--db", str(db), "--customer", deferred)
    assert "      skipped: cap 2 per 1d reached\n" in result.output
    assert re.search(rf"{node} +send .*\n +skipped: cap 2 per 1d reached", result.output)


def test_playbook_filter(store: Path, deferred: str) -> None:
    """--playbook keeps that playbook's journeys; an unknown name gets a did-you-mean."""
    result = _invoke("explain", "--db", str(store), "--customer", deferred,
                     "--playbook", "cart_recovery")
    assert result.exit_code == 0
    assert "cart_recovery v1" in result.output
    result = _invoke("explain", "--db", str(store), "--customer", deferred,
                     "--playbook", "cart_recovry")
    assert result.exit_code == 1
    assert result.output == (f"error: no playbook 'cart_recovry' in the store at {store} — "
                             "did you mean 'cart_recovery'?\n")


def test_unknown_customer(store: Path) -> None:
    """An unknown id exits 1 naming the store and the closest id there."""
    result = _invoke("explain", "--db", str(store), "--customer", "c001x")
    assert result.exit_code == 1
    assert result.output == (f"error: no customer 'c001x' in the store at {store} — "
                             "did you mean 'c001'?\n")
    result = _invoke("explain", "--db", str(store), "--customer", "zzz")
    assert result.output == f"error: no customer 'zzz' in the store at {store}.\n"
    result = _invoke("explain", "--db", str(store), "--customer", "C001")
    assert result.output == (f"error: no customer 'C001' in the store at {store} — "
                             "did you mean 'c001'?\n")  # the case, too short for similarity


def test_missing_store(tmp_path: Path) -> None:
    """A store file that does not exist exits 1 with a sentence saying how to make one."""
    db = tmp_path / "nope.db"
    result = _invoke("explain", "--db", str(db), "--customer", "c001")
    assert result.exit_code == 1
    assert result.output == (f"error: there is no store at {db}: the file does not exist. "
                             f"Keep one with `cadenza simulate PROJECT --db {db}`.\n")
    assert not db.exists()


def test_not_a_store(tmp_path: Path) -> None:
    """A file that is not a Cadenza store is refused, and left as it was."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = _invoke("explain", "--db", str(empty), "--customer", "c001")
    assert result.exit_code == 1
    assert result.output == (f"error: {empty} is not a Cadenza store: it has no schema "
                             "version. Pass a file kept by `cadenza simulate PROJECT --db "
                             "PATH`.\n")
    assert empty.read_bytes() == b""
    text = tmp_path / "notes.db"
    text.write_text("hello\n", encoding="utf-8")
    result = _invoke("explain", "--db", str(text), "--customer", "c001")
    assert result.output == f"error: {text} is not a Cadenza store: file is not a database.\n"


def test_api_entry_is_named(store: Path, converted: str, tmp_path: Path) -> None:
    """A journey started through the enrollments API reads "entered by an API call"."""
    db = tmp_path / "api.db"
    with closing(sqlite3.connect(store)) as src, closing(sqlite3.connect(db)) as copy:
        src.backup(copy)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE enrollments SET context = json_set(context, '$.event_name', "
                     "'__api__', '$.event', json('{\"source\": \"crm\"}')) WHERE customer_id = ?",
                     (converted,))
    result = _invoke("explain", "--db", str(db), "--customer", converted)
    assert result.exit_code == 0, result.output
    assert ")  entered by an API call {source=crm}\n" in result.output


def test_a_customer_without_a_zone_reads_in_the_project_zone(store: Path, converted: str,
                                                              tmp_path: Path) -> None:
    """The engine put a customer without a zone in the project's (cadenza.toml: New York);
    explain once said UTC, as if the times it showed were wrong."""
    db = tmp_path / "nozone.db"
    with closing(sqlite3.connect(store)) as src, closing(sqlite3.connect(db)) as copy:
        src.backup(copy)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE customers SET timezone = NULL WHERE id = ?", (converted,))
    result = _invoke("explain", "--db", str(db), "--customer", converted, "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["zone"], body["zone_note"]) == (
        "America/New_York", "the customer has no zone: the project's is used")


def test_the_store_may_be_given_as_its_url(store: Path, converted: str) -> None:
    """`--db sqlite:////abs/path.db`, as serve and plan take it, reads the same file; a
    PostgreSQL URL is pointed at the server's timeline instead."""
    by_path = _invoke("explain", "--db", str(store), "--customer", converted)
    by_url = _invoke("explain", "--db", f"sqlite:///{store}", "--customer", converted)
    assert by_url.exit_code == 0, by_url.output
    assert by_url.output == by_path.output
    pg = _invoke("explain", "--db", "postgresql+psycopg://u@h/db", "--customer", converted)
    assert pg.exit_code == 1
    assert pg.stderr == ("error: explain reads a SQLite store file; 'postgresql+psycopg://u@h/"
                         "db' is not one. For a PostgreSQL store ask the running server: GET "
                         "/v1/customers/ID/timeline (docs/api.md).\n")


def test_a_live_store_knows_the_project_zone_too(tmp_path: Path) -> None:
    """A store deployed by `apply` (as serve does) once left explain saying UTC."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "cadenza.toml").write_text('[project]\ntimezone = "America/New_York"\n', "utf-8")
    (project / "main.play").write_text("playbook p {\n  when api\n  end\n}\n", "utf-8")
    db = tmp_path / "live.db"
    result = _invoke("apply", str(project), "--db", f"sqlite:///{db}")
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("INSERT INTO customers (id, attributes, email_revoked, sms_revoked, "
                     "updated_at) VALUES ('ana', '{}', 0, 0, 0)")
    result = _invoke("explain", "--db", str(db), "--customer", "ana", "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["zone"], body["zone_note"]) == (
        "America/New_York", "the customer has no zone: the project's is used")


MISSED_PROJECT = {
    "cadenza.toml": '[project]\nname = "m"\ntimezone = "UTC"\n',
    "schema.play": "schema {\n  customer { opted: bool }\n  event order { v: number }\n}\n",
    "p.play": "playbook second_order {\n  when event order where count(order in last 60d) == 2\n"
              "  audience opted\n  send email text \"Thanks\" subject \"Hi\"\n}\n",
    "customers.csv": "id,email,timezone,opted\na,a@example.com,UTC,false\n"
                     "b,b@example.com,UTC,true\nc,c@example.com,UTC,true\n",
    "events.jsonl": "".join(
        f'{{"customer_id": "{cid}", "event": "order", "timestamp": "2026-03-0{day}T10:00:00Z",'
        f' "properties": {{"v": 1}}}}\n' for cid, day in
        (("a", 2), ("a", 3), ("b", 2), ("c", 2), ("c", 3), ("c", 4))),
}


def _simulated(tmp_path: Path, files: dict[str, str]) -> Path:
    """The project `files` simulated over its customers.csv and events.jsonl, store kept."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    db = tmp_path / "s.db"
    result = _invoke("simulate", str(tmp_path), "--customers", str(tmp_path / "customers.csv"),
                     "--events", str(tmp_path / "events.jsonl"), "--start",
                     "2026-03-01T00:00:00Z", "--days", "10", "--db", str(db))
    assert result.exit_code == 0, result.output
    return db


def test_a_customer_who_never_entered_is_told_why(tmp_path: Path) -> None:
    """"Why didn't this customer get it?": each event that could have started the playbook is
    listed with the reason it did not (the entry's condition, the audience); a customer who
    entered has no such list for that playbook."""
    db = _simulated(tmp_path, MISSED_PROJECT)
    a = _invoke("explain", "--db", str(db), "--customer", "a").output
    assert a.splitlines()[1:] == [
        "no journeys: this customer never entered a playbook in this store.", "",
        "not entered (events that could have started a playbook, and why not):",
        "  2026-03-02T10:00Z (Mon 10:00 UTC)  event order → second_order: the entry's "
        "condition was false (where count(order in last 60d) == 2)",
        "  2026-03-03T10:00Z (Tue 10:00 UTC)  event order → second_order: the audience was "
        "false (audience opted)"]
    b = json.loads(_invoke("explain", "--db", str(db), "--customer", "b", "--format",
                           "json").output)
    assert [(x["playbook"], x["at"]["utc"], x["why"]) for x in b["not_entered"]] == [
        ("second_order", "2026-03-02T10:00:00Z",
         "the entry's condition was false (where count(order in last 60d) == 2)")]
    c = _invoke("explain", "--db", str(db), "--customer", "c").output
    assert "not entered" not in c
    assert "second_order v1" in c


def test_why_not_entered_reads_the_customers_own_attributes(tmp_path: Path) -> None:
    """The entry's `where` on an attribute is true, the audience false: the reason is the
    audience (attributes were read as missing, so the entry was blamed)."""
    project = dict(MISSED_PROJECT)
    project["schema.play"] = ("schema {\n  customer { opted: bool\n    tier: string }\n"
                              "  event order { v: number }\n}\n")
    project["p.play"] = ('playbook gold {\n  when event order where tier == "gold"\n'
                         '  audience opted\n  send email text "Hi" subject "Hi"\n}\n')
    project["customers.csv"] = "id,email,timezone,opted,tier\na,a@example.com,UTC,false,gold\n"
    project["events.jsonl"] = ('{"customer_id": "a", "event": "order", "timestamp": '
                               '"2026-03-02T10:00:00Z", "properties": {"v": 1}}\n')
    db = _simulated(tmp_path, project)
    out = _invoke("explain", "--db", str(db), "--customer", "a").output
    assert out.splitlines()[-1] == ("  2026-03-02T10:00Z (Mon 10:00 UTC)  event order → gold: the "
                                    "audience was false (audience opted)")


def test_why_not_entered_after_the_playbook_changed_and_was_removed(tmp_path: Path) -> None:
    """An event is judged by the version running at its time (a later apply made every older
    event read "before the playbook was running"); a playbook a later deployment removed is not
    listed (with its segment gone, explain crashed)."""
    db = _simulated(tmp_path, {**MISSED_PROJECT, "p.play": MISSED_PROJECT["p.play"] + (
        'segment fans = opted\nplaybook promo {\n  when event order\n  audience segment fans\n'
        '  send email text "Hi" subject "Hi"\n}\n')})
    (tmp_path / "p.play").write_text(MISSED_PROJECT["p.play"].replace(
        'text "Thanks"', 'text "Thank you"'), encoding="utf-8")
    result = _invoke("apply", str(tmp_path), "--db", f"sqlite:///{db}")
    assert result.exit_code == 0, result.output
    a = _invoke("explain", "--db", str(db), "--customer", "a")
    assert a.exit_code == 0, a.output
    assert "promo" not in a.output
    assert a.output.splitlines()[-1].endswith(
        "event order → second_order: the audience was false (audience opted)")
