"""The runtime, on SQLite and PostgreSQL alike: entries, steps, policies, events at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from cadenza.connectors import Permanent, Transient
from cadenza.connectors.recorder import RecorderConnector
from cadenza.engine import schema as t
from cadenza.engine.machine import Machine
from cadenza.engine.simulate import recorders
from cadenza.engine.state import Event
from tests.engine.harness import Harness, iso

CART = """\
playbook cart {
  when event cart_abandoned where event.cart_value >= 30
  audience email_opt_in
  exit when event order_completed
  goal bought: event order_completed within 3d
  reminder: send email "hello"
  wait 1d
  send email "again"
}
"""


def _h(tmp: Path, url: str, play: str, **kw: object) -> Harness:
    return Harness(tmp, url, play, **kw)  # type: ignore[arg-type]


def test_event_trigger_filter_and_audience(tmp_path: Path, store_url: str) -> None:
    """Only matching events from customers in the audience start a journey."""
    h = _h(tmp_path, store_url, CART)
    h.customers({"id": "a", "email_opt_in": True}, {"id": "b", "email_opt_in": False},
                {"id": "c", "email_opt_in": True})
    h.run("2026-03-02T12:00Z", ("a", "cart_abandoned", "2026-03-02T10:00Z", {"cart_value": 50}),
          ("b", "cart_abandoned", "2026-03-02T10:00Z", {"cart_value": 50}),
          ("c", "cart_abandoned", "2026-03-02T10:00Z", {"cart_value": 10}))
    assert h.sends() == [("a", "email", "hello", "2026-03-02T10:00Z")]


@pytest.mark.parametrize("ordered", ["2026-03-02T20:00Z", "2026-03-02T10:00Z"],
                         ids=["between-reminders", "in-the-cart's-second"])
def test_exit_applies_at_once_and_goal_converts(tmp_path: Path, store_url: str,
                                                ordered: str) -> None:
    """An order between two reminders ends the journey at once and counts as a conversion.
    One stored in the same second as the cart lets the cart's first email go before it ends
    the journey, as when the two are sent one by one."""
    h = _h(tmp_path, store_url, CART)
    h.customers({"id": "a", "email_opt_in": True})
    h.run("2026-03-05T00:00Z",
          ("a", "cart_abandoned", "2026-03-02T10:00Z", {"cart_value": 50}),
          ("a", "order_completed", ordered, {"order_value": 50}))
    assert h.sends() == [("a", "email", "hello", "2026-03-02T10:00Z")]
    assert h.enrollments() == [("a", "cart", "exited", "exit on order_completed")]
    [conv] = h.rows(t.conversions)
    assert (conv.goal, iso(conv.at)) == ("bought", ordered)


def test_without_exit_the_series_completes(tmp_path: Path, store_url: str) -> None:
    """With no order, the second email goes out a day later and the journey completes."""
    h = _h(tmp_path, store_url, CART)
    h.customers({"id": "a", "email_opt_in": True})
    h.run("2026-03-05T00:00Z", ("a", "cart_abandoned", "2026-03-02T10:00Z", {"cart_value": 50}))
    assert [s[2:] for s in h.sends()] == [("hello", "2026-03-02T10:00Z"),
                                          ("again", "2026-03-03T10:00Z")]
    assert h.enrollments() == [("a", "cart", "done", "completed")]


def test_processing_in_pieces_equals_one_pass(tmp_path: Path, store_url: str) -> None:
    """Advancing hour by hour gives the same sends as one call: the clock step is not semantics."""
    one = _h(tmp_path / "one", store_url, CART) if (tmp_path / "one").mkdir() is None else None
    assert one is not None
    one.customers({"id": "a", "email_opt_in": True})
    one.run("2026-03-05T00:00Z", ("a", "cart_abandoned", "2026-03-02T10:00Z",
                                  {"cart_value": 50}))
    (tmp_path / "many").mkdir()
    many = _h(tmp_path / "many", store_url.replace("store.db", "many.db"), CART)
    many.customers({"id": "a", "email_opt_in": True})
    many.run("2026-03-02T10:30Z", ("a", "cart_abandoned", "2026-03-02T10:00Z",
                                   {"cart_value": 50}))
    for hour in range(11, 24):
        many.run(f"2026-03-02T{hour}:30Z")
    many.run("2026-03-05T00:00Z")
    assert [s[2:] for s in many.sends()] == [s[2:] for s in one.sends()]


WAIT = """\
playbook w {
  when event cart_abandoned
  ask: send email "hello"
  wait for event clicked as click timeout 1d else -> nudge
  send email "again"
  end
  nudge: send sms text "still there?"
}
"""


def test_wait_for_event_resolves_or_times_out(tmp_path: Path, store_url: str) -> None:
    """A click resumes at once on the main path; silence takes the else path after the timeout."""
    h = _h(tmp_path, store_url, WAIT)
    h.customers({"id": "a"}, {"id": "b"})
    h.run("2026-03-04T00:00Z", ("a", "cart_abandoned", "2026-03-02T10:00Z", {}),
          ("b", "cart_abandoned", "2026-03-02T10:00Z", {}),
          ("a", "clicked", "2026-03-02T15:00Z", {}))
    assert h.sends() == [("a", "email", "hello", "2026-03-02T10:00Z"),
                         ("b", "email", "hello", "2026-03-02T10:00Z"),
                         ("a", "email", "again", "2026-03-02T15:00Z"),
                         ("b", "sms", None, "2026-03-03T10:00Z")]


def test_events_of_one_second_act_as_if_each_arrived_alone(tmp_path: Path,
                                                            store_url: str) -> None:
    """A click stored in the same second as the cart (a batch import) resolves the wait the
    cart began, as it does one second later (a trial's onboarding drip kept mailing a
    customer who had finished setup in the second they signed up)."""
    h = _h(tmp_path, store_url, WAIT)
    h.customers({"id": "a"}, {"id": "b"})
    h.run("2026-03-04T00:00Z", ("a", "cart_abandoned", "2026-03-02T10:00Z", {}),
          ("a", "clicked", "2026-03-02T10:00Z", {}),
          ("b", "cart_abandoned", "2026-03-02T10:00Z", {}),
          ("b", "clicked", "2026-03-02T10:00:01Z", {}))
    assert h.sends() == [("a", "email", "hello", "2026-03-02T10:00Z"),
                         ("a", "email", "again", "2026-03-02T10:00Z"),
                         ("b", "email", "hello", "2026-03-02T10:00Z"),
                         ("b", "email", "again", "2026-03-02T10:00Z")]


POLICY = """\
playbook p {
  when event cart_abandoned
  quiet hours 21:00-08:00
  cap email 1 per 1d
  consent sms: sms_opt_in
  first: send email "hello"
  second: send email "again"
  text: send sms text "hi"
}
"""


def test_quiet_hours_caps_and_consent(tmp_path: Path, store_url: str) -> None:
    """A late event waits for 08:00 local; the cap defers the 2nd email; no SMS without consent."""
    h = _h(tmp_path, store_url, POLICY)
    h.customers({"id": "a", "timezone": "America/New_York", "sms_opt_in": False})
    h.run("2026-03-05T00:00Z", ("a", "cart_abandoned", "2026-03-03T03:00Z", {}))  # 22:00 EST
    assert h.sends() == [("a", "email", "hello", "2026-03-03T13:00Z"),
                         ("a", "email", "again", "2026-03-04T13:00Z")]
    assert h.suppressions() == [("a", "first", "quiet_hours", "deferred"),
                                ("a", "second", "cap", "deferred"),
                                ("a", "text", "consent", "skipped")]


def test_cap_skip_counts_sends_of_other_playbooks(tmp_path: Path, store_url: str) -> None:
    """A cap counts the customer's sends on that channel across all playbooks."""
    play = ('playbook one {\n  when event cart_abandoned\n  send email "hello"\n}\n'
            'playbook two {\n  when event cart_abandoned\n  cap email 1 per 1d else skip\n'
            '  send email "again"\n  send sms text "fallback"\n}\n')
    h = _h(tmp_path, store_url, play)
    h.customers({"id": "a"})
    h.run("2026-03-03T00:00Z", ("a", "cart_abandoned", "2026-03-02T10:00Z", {}))
    assert [(s[1], s[2]) for s in h.sends()] == [("email", "hello"), ("sms", None)]
    assert h.suppressions() == [("a", "start", "cap", "skipped")]


def test_reentry_rules(tmp_path: Path, store_url: str) -> None:
    """`reenter never` ignores a second trigger; `reenter after 2d` allows it after the cooldown."""
    play = ('playbook once {\n  when event clicked\n  send email "hello"\n}\n'
            'playbook again {\n  when event clicked\n  reenter after 2d\n'
            '  send sms text "x"\n}\n')
    h = _h(tmp_path, store_url, play)
    h.customers({"id": "a"})
    h.run("2026-03-10T00:00Z", ("a", "clicked", "2026-03-02T10:00Z", {}),
          ("a", "clicked", "2026-03-03T10:00Z", {}), ("a", "clicked", "2026-03-05T10:00Z", {}))
    assert [(s[1], s[3]) for s in h.sends()] == [
        ("email", "2026-03-02T10:00Z"), ("sms", "2026-03-02T10:00Z"),
        ("sms", "2026-03-05T10:00Z")]


SPLIT = """\
playbook ab {
  when event clicked
  goal bought: event order_completed within 7d
  split offer { 45% -> a 45% -> b holdout 10% }
  a: send email "hello"
  end
  b: send email "again"
}
"""


def test_split_is_deterministic_and_holdout_counted(tmp_path: Path, store_url: str) -> None:
    """Arms follow a stable hash of (playbook, split, customer); holdouts get nothing but count."""
    h = _h(tmp_path, store_url, SPLIT)
    ids = [f"c{i}" for i in range(400)]
    h.customers(*({"id": i} for i in ids))
    h.run("2026-03-03T00:00Z", *((i, "clicked", "2026-03-02T10:00Z", {}) for i in ids),
          *((i, "order_completed", "2026-03-02T12:00Z", {"order_value": 1}) for i in ids[:40]))
    states = [s[2] for s in h.enrollments()]
    held = states.count("holdout")
    assert 20 <= held <= 60
    assert len(h.sends()) == 400 - held
    arms = {r.arm for r in h.rows(t.conversions)}
    assert arms <= {"offer=a", "offer=b", "offer=holdout"}
    assert len(h.rows(t.conversions)) == 40
    again = _h(tmp_path / "x", store_url.replace("store.db", "x.db"), SPLIT) \
        if (tmp_path / "x").mkdir() is None else None
    assert again is not None
    again.customers(*({"id": i} for i in ids))
    again.run("2026-03-03T00:00Z", *((i, "clicked", "2026-03-02T10:00Z", {}) for i in ids))
    assert [s[2] for s in again.enrollments()] == states


def test_update_persists_attributes(tmp_path: Path, store_url: str) -> None:
    """`update` writes the customer's attributes, and later conditions see the new value."""
    play = ('playbook u {\n  when event clicked\n  update tier = "gold", score = 7\n'
            '  branch {\n    when tier == "gold" -> gold\n  }\n  end\n'
            '  gold: send email "hello"\n}\n')
    h = _h(tmp_path, store_url, play)
    h.customers({"id": "a", "tier": "basic"})
    h.run("2026-03-03T00:00Z", ("a", "clicked", "2026-03-02T10:00Z", {}))
    [row] = h.rows(t.customers)
    assert row.attributes == {"tier": "gold", "score": 7}
    assert [s[2] for s in h.sends()] == ["hello"]


def test_schedule_fires_once_per_fire_time(tmp_path: Path, store_url: str) -> None:
    """A weekly schedule enrolls its audience at each fire; re-processing never doubles it."""
    play = ('playbook weekly {\n  when every monday at 09:00 in "UTC"\n  audience score > 5\n'
            '  reenter after 6d\n  send email "hello"\n}\n')
    h = _h(tmp_path, store_url, play)
    h.customers({"id": "a", "score": 9}, {"id": "b", "score": 1})
    h.run("2026-03-10T00:00Z")
    h.runtime.processed_until = 0  # as if a second worker looked at the same period
    h.run("2026-03-17T00:00Z")
    assert h.sends() == [("a", "email", "hello", "2026-03-02T09:00Z"),
                         ("a", "email", "hello", "2026-03-09T09:00Z"),
                         ("a", "email", "hello", "2026-03-16T09:00Z")]


def test_dispatch_outcomes(tmp_path: Path, store_url: str) -> None:
    """Transient failures are retried later; an opted-out SMS is dead and revokes SMS consent."""
    conns = recorders()
    conns["email"] = RecorderConnector(name="email", channel="email",
                                       script=[Transient(reason="429", retry_after_s=120)])
    conns["sms"] = RecorderConnector(name="sms", channel="sms", script=[
        Permanent(reason="21610 opted out", opted_out=True)])
    play = 'playbook d {\n  when event clicked\n  send email "hello"\n  send sms text "x"\n}\n'
    h = _h(tmp_path, store_url, play, connectors=conns)
    h.customers({"id": "a"})
    h.run("2026-03-02T10:00Z", ("a", "clicked", "2026-03-02T10:00Z", {}))
    rows = {r.channel: r for r in h.rows(t.messages)}
    assert (rows["email"].status, rows["email"].attempts) == ("failed", 1)
    assert rows["email"].next_attempt_at >= 1772445600 + 120
    assert (rows["sms"].status, rows["sms"].last_error) == ("dead", "21610 opted out")
    h.run("2026-03-02T11:00Z")
    email = next(r for r in h.rows(t.messages) if r.channel == "email")
    assert (email.status, email.attempts) == ("sent", 2)
    [customer] = h.rows(t.customers)
    assert customer.sms_revoked is True


def test_idempotency_keys_are_unique_per_visit(tmp_path: Path, store_url: str) -> None:
    """Each outbox row's key names enrollment, step and visit; loops give new keys."""
    play = ('playbook loop {\n  when event clicked\n  exit when event order_completed\n'
            '  again: send email "hello"\n  wait 1d\n  goto again\n}\n')
    h = _h(tmp_path, store_url, play)
    h.customers({"id": "a"})
    h.run("2026-03-05T12:00Z", ("a", "clicked", "2026-03-02T10:00Z", {}))
    keys = [r.idempotency_key for r in h.rows(t.messages)]
    assert keys == ["1:again:0", "1:again:1", "1:again:2", "1:again:3"]


def test_events_for_unknown_customers_never_block_work(tmp_path: Path, store_url: str) -> None:
    """An event for a customer the store lacks is marked handled and counted, not retried."""
    h = _h(tmp_path, store_url, CART)
    h.customers({"id": "a", "email_opt_in": True})
    h.runtime.batch_size = 1
    stats = h.runtime.process(
        [Event(customer_id="ghost", name="cart_abandoned", ts=1772445600,
               properties={"cart_value": 50}),
         Event(customer_id="a", name="cart_abandoned", ts=1772445600,
               properties={"cart_value": 50})], 1772452800)
    assert stats.orphans == 1
    assert [r.customer_id for r in h.rows(t.messages)] == ["a"]
    assert all(r.processed for r in h.rows(t.events))


def test_a_stored_zone_no_one_knows_does_not_stop_the_batch(tmp_path: Path,
                                                             store_url: str) -> None:
    """A customer row with an unknown zone (written before zones were checked) once raised in
    the middle of the batch, so no one in it was ever served; that customer is now in the
    project's zone (UTC here) and the rest of the batch goes on."""
    h = _h(tmp_path, store_url, POLICY)
    h.customers({"id": "a", "timezone": "Mars/Base", "sms_opt_in": False},
                {"id": "b", "timezone": "America/New_York", "sms_opt_in": False})
    h.run("2026-03-03T12:00Z", ("a", "cart_abandoned", "2026-03-03T03:00Z", {}),
          ("b", "cart_abandoned", "2026-03-03T03:00Z", {}))
    assert h.sends() == [("a", "email", "hello", "2026-03-03T08:00Z")]  # 08:00 UTC
    assert ("b", "first", "quiet_hours", "deferred") in h.suppressions()  # 22:00 in New York


def test_api_entry_enrolls_with_its_properties(tmp_path: Path, store_url: str) -> None:
    """An API enrollment enters a `when api` playbook once, with its properties as the event."""
    play = ('playbook vip {\n  when api\n  send sms text "Welcome {{ event.tier }}"\n}\n'
            'playbook other {\n  when event clicked\n  end\n}\n')
    h = _h(tmp_path, store_url, play)
    h.customers({"id": "a"})
    h.run("2026-03-02T10:00Z", ("a", "__api__", "2026-03-02T10:00Z",
                                {"kind": "api", "playbook": "vip", "tier": "gold"}),
          ("a", "__api__", "2026-03-02T10:00Z", {"kind": "api", "playbook": "other"}))
    [row] = h.rows(t.messages)
    assert (row.customer_id, row.body) == ("a", "Welcome gold")
    assert [e[1] for e in h.enrollments()] == ["vip"]


def test_a_customer_who_breaks_the_engine_is_set_aside(tmp_path: Path, store_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that raises for one customer rolled the whole batch back, every tick: no one in
    it was ever served. The others are served; that one's journey ends, saying why."""
    h = _h(tmp_path, store_url, POLICY)
    h.customers({"id": "a", "sms_opt_in": False}, {"id": "b", "sms_opt_in": False})
    real = Machine.step

    def step(self: Machine, e: Any, batch: Any) -> None:
        if e.customer_id == "b":
            raise KeyError("a bug that b's data brings out")
        real(self, e, batch)

    monkeypatch.setattr(Machine, "step", step)
    with capture_logs() as logs:
        h.run("2026-03-03T12:00Z", ("a", "cart_abandoned", "2026-03-03T10:00Z", {}),
              ("b", "cart_abandoned", "2026-03-03T10:00Z", {}))
    assert [s[0] for s in h.sends()] == ["a"]
    assert all(r.processed for r in h.rows(t.events))  # nothing left to fail again
    [aside] = [x for x in logs if x["event"] == "engine.customer_set_aside"]
    assert (aside["customer"], aside["error"], aside["log_level"]) == (
        "b", "engine error: KeyError", "error")
    # A journey already under way when the failure starts ends, saying why.
    monkeypatch.setattr(Machine, "step", real)
    h.run("2026-03-03T13:00Z", ("b", "cart_abandoned", "2026-03-03T12:30Z", {}))
    monkeypatch.setattr(Machine, "step", step)
    h.run("2026-03-05T00:00Z")
    assert ("b", "p", "exited", "engine error: KeyError") in h.enrollments()


def test_when_every_customer_fails_nothing_is_set_aside(tmp_path: Path, store_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure for everyone is the engine's, not their data's: the tick fails as before and
    every journey waits for the fix."""
    h = _h(tmp_path, store_url, POLICY)
    h.customers({"id": "a"}, {"id": "b"})
    monkeypatch.setattr(Machine, "step", lambda *_: (_ for _ in ()).throw(KeyError("bug")))
    with pytest.raises(KeyError):
        h.run("2026-03-03T12:00Z", ("a", "cart_abandoned", "2026-03-03T10:00Z", {}),
              ("b", "cart_abandoned", "2026-03-03T10:00Z", {}))
    assert h.enrollments() == []
    assert not any(r.processed for r in h.rows(t.events))


THIRD_ORDER = """\
playbook referral {
  when event order_completed where count(order_completed in last 60d) == 3
  send email "hello"
}
"""


def test_aggregate_in_a_trigger_sees_the_events_up_to_its_own(tmp_path: Path,
                                                              store_url: str) -> None:
    """A third and a fourth order stored in the same second: the third's `where` counts three
    (itself and the two before), not the fourth that came after it, so the customer enters."""
    h = _h(tmp_path, store_url, THIRD_ORDER)
    h.customers({"id": "a"}, {"id": "b"})
    h.run("2026-03-13T00:00Z",
          *[(cid, "order_completed", at, {"order_value": 20}) for cid in ("a", "b")
            for at in ("2026-03-02T12:00Z", "2026-03-10T12:00Z", "2026-03-12T12:00Z")],
          ("a", "order_completed", "2026-03-12T12:00Z", {"order_value": 20}))
    assert h.sends() == [("a", "email", "hello", "2026-03-12T12:00Z"),
                         ("b", "email", "hello", "2026-03-12T12:00Z")]
