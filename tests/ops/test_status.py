"""The status page: the admin key, counts equal to the database's, addresses redacted."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from cadenza.engine import schema as t
from tests.ops.scenario import DORA, DORA_PHONE, KEY, TestClient, app, drive, grouped, service
from tests.ops.scenario import step_counts as db_step_counts

UNAUTHORIZED = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cadenza · '
    "admin key needed</title></head><body><h1>401 · admin key needed</h1><p>This page needs "
    "the admin key (CADENZA_ADMIN_KEY): send <code>Authorization: Bearer KEY</code>, or open "
    "<code>/?key=KEY</code> in a browser.</p></body></html>")


class Counts(HTMLParser):
    """Collects every `data-count` on the page with the playbook, step and row it sits in."""

    def __init__(self) -> None:
        super().__init__()
        self.playbook = self.step = ""
        self.row: dict[str, str] = {}
        self.steps: dict[tuple[str, str], int] = {}
        self.suppressed: dict[tuple[str, str, str], int] = {}
        self.recent: dict[tuple[str, ...], int] = {}
        self.versions: dict[str, str] = {}
        self.dead = -1
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-playbook" in a:
            self.playbook = a["data-playbook"]
        if "data-version" in a:
            self.versions[self.playbook] = a["data-version"]
        if tag == "tr":
            self.step = a.get("data-step", "")
            self.row = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        if "data-reason" in a and "data-count" in a:
            self.suppressed[(self.step, a["data-reason"], a["data-action"])] = \
                int(a["data-count"])
        elif a.get("data-count") == "dead":
            self._cell = "dead"
        elif "data-count" in a:
            self._cell = a["data-count"]

    def handle_data(self, data: str) -> None:
        if self._cell is None or not data.strip():
            return
        if self._cell == "dead":
            self.dead = int(data)
        elif self._cell in ("messages", "suppressions"):
            self.recent[(self._cell, *self.row.values())] = int(data)
        else:
            self.steps[(self.step, self._cell)] = int(data)
        self._cell = None


def page(tmp_path: Path, store_url: str) -> tuple[str, Counts, object]:
    h = drive(tmp_path, store_url)
    with TestClient(app(service(h))) as client:
        response = client.get("/", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    parsed = Counts()
    parsed.feed(response.text)
    return response.text, parsed, h


def test_without_the_key_the_page_is_401(tmp_path: Path) -> None:
    """No key, a wrong bearer token or a wrong ?key= gets the 401 page, never the status."""
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    with TestClient(app(svc)) as client:
        answers = [client.get("/"), client.get("/", headers={"Authorization": "Bearer nope"}),
                   client.get("/?key=nope"),
                   client.get("/", headers={"Authorization": f"Basic {KEY}"})]
    for response in answers:
        assert (response.status_code, response.text) == (401, UNAUTHORIZED)
        assert response.headers["www-authenticate"] == 'Bearer realm="cadenza"'


def test_the_key_opens_the_page_by_header_or_query(tmp_path: Path) -> None:
    """A bearer token or ?key= opens the page; no-store and no-referrer keep the key private."""
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    with TestClient(app(svc)) as client:
        by_header = client.get("/", headers={"Authorization": f"Bearer {KEY}"})
        by_query = client.get(f"/?key={KEY}")
    assert (by_header.status_code, by_query.status_code) == (200, 200)
    assert by_header.headers["cache-control"] == "no-store"
    assert by_header.headers["referrer-policy"] == "no-referrer"
    assert "<h1>Cadenza · project</h1>" in by_query.text


def test_without_an_admin_key_the_page_is_open(tmp_path: Path) -> None:
    """An empty admin key leaves the page open (local runs)."""
    svc = service(drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"))
    with TestClient(app(svc, admin_key="")) as client:
        assert client.get("/").status_code == 200


def test_step_counts_equal_the_database(tmp_path: Path, store_url: str) -> None:
    """In flight, sent and converted per step, and suppressions per reason, match the store."""
    _, parsed, h = page(tmp_path, store_url)
    shown = {key: n for key, n in parsed.steps.items() if n}
    assert shown == db_step_counts(h)  # type: ignore[arg-type]
    assert shown == {("nudge", "in_flight"): 4, ("reminder", "sent"): 3,
                     ("reminder", "converted"): 1, ("pause", "converted"): 1,
                     ("thanks", "sent"): 1}
    sup = t.suppressions
    assert parsed.suppressed == grouped(h, sup, "node", "reason", "action")  # type: ignore[arg-type]
    assert parsed.versions == {"cart": "1", "ping": "1"}


def test_last_day_counts_and_dead_letters_equal_the_database(tmp_path: Path,
                                                              store_url: str) -> None:
    """The last 24 h tables and the dead-letter count match grouped counts over the store."""
    _, parsed, h = page(tmp_path, store_url)
    msg, sup = t.messages, t.suppressions
    expected = {("messages", *k): n for k, n in grouped(h, msg, "channel", "status").items()}
    expected |= {("suppressions", *k): n
                 for k, n in grouped(h, sup, "channel", "reason", "action").items()}
    assert parsed.recent == expected  # type: ignore[comparison-overlap]
    assert parsed.dead == 1


def test_addresses_are_redacted_and_bodies_absent(tmp_path: Path) -> None:
    """Recipients and errors show only redacted addresses; no subject or body reaches the page."""
    text, _, _ = page(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    assert DORA not in text
    assert DORA_PHONE not in text
    assert "a***@example.com" in text
    assert "+1******1234" in text
    assert "mailbox d***@example.com does not exist" in text
    assert "<td>until 2026-03-03 08:00:00Z</td>" in text  # a deferral's time, not redacted
    for body in ("Hello", "Hi ", "Your cart misses you", "Thanks for the click"):
        assert body not in text
