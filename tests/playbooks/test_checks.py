"""Each static check: the code, the position and the whole message a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.playbooks.conftest import Make


def _pb(body: str, head: str = "when event cart_abandoned") -> str:
    return f'playbook p "t" {{\n  {head}\n{body}\n}}\n'


CASES = [
    pytest.param(_pb('  send email "welcom"\n'), "E013", 3, 14,
                 "unknown template 'welcom' — did you mean 'welcome'?", id="unknown-template"),
    pytest.param(_pb("  audience segment buyer\n  send email \"welcome\"\n"), "E011", 3, 20,
                 "unknown segment 'buyer' — did you mean 'buyers'?", id="unknown-segment"),
    pytest.param(_pb('  send email "welcome"\n  goto strat\n'), "E012", 4, 8,
                 "unknown step 'strat' — did you mean 'start'?", id="unknown-step"),
    pytest.param(_pb('  send email "welcome"\n', "when event cart_abandonned"), "E014", 2, 14,
                 "unknown event 'cart_abandonned' — did you mean 'cart_abandoned'?",
                 id="unknown-event"),
    pytest.param(_pb('  audience frist_name == "a"\n  send email "welcome"\n'), "E015", 3, 12,
                 "unknown customer attribute 'frist_name' — did you mean 'first_name'?",
                 id="unknown-attribute"),
    pytest.param(_pb('  send email "welcome"\n', "when event cart_abandoned where "
                     "event.cart_valu > 3"), "E015", 2, 41,
                 "unknown property 'cart_valu' of the event — did you mean 'cart_value'?",
                 id="unknown-event-property"),
    pytest.param(_pb('  send emial "welcome"\n'), "E016", 3, 8,
                 "unknown channel 'emial' — did you mean 'email'?", id="unknown-channel"),
    pytest.param(_pb('  framework aarrr\n  send email "welcome" stage activaton\n'), "E034", 4,
                 30, "'activaton' is not a stage of framework 'aarrr' — did you mean "
                 "'activation'?", id="stage-outside-framework"),
    pytest.param(_pb('  audience ltv == "rich"\n  send email "welcome"\n'), "E020", 3, 12,
                 "cannot compare 'ltv' (number) with '\"rich\"' (string).", id="type-mismatch"),
    pytest.param(_pb('  audience plan == "gold"\n  send email "welcome"\n'), "E021", 3, 20,
                 "'gold' is not one of enum(free, pro).", id="enum-member"),
    pytest.param(_pb('  audience first_name\n  send email "welcome"\n'), "E020", 3, 12,
                 "'first_name' is a string, not a bool, so it cannot stand alone as a "
                 "condition.", id="not-a-bool"),
    pytest.param(_pb('  send email "welcome"\n  end\n  send email "cart"\n'), "E030", 5, 3,
                 "step 'start.3' can never be reached.", id="unreachable"),
    pytest.param(_pb('  a: send email "welcome"\n  wait 1d\n  goto a\n'), "E031", 3, 3,
                 "from step 'a' no path ever ends: customers would stay in this playbook "
                 "forever.", id="never-ends"),
    pytest.param(_pb('  a: send email "welcome"\n  goto a\n'), "E032", 3, 3,
                 "the loop a -> a.2 -> a has no wait in it, so it would repeat without pause.",
                 id="loop-without-wait"),
    pytest.param(_pb('  split { 50% -> a 40% -> b }\n  a: send email "welcome"\n  end\n'
                     '  b: send email "cart"\n'), "E033", 3, 3,
                 "the split's percentages add up to 90%, not 100%.", id="split-sum"),
    pytest.param(_pb('  touch none\n  task "call them"\n'), "E035", 4, 3,
                 "this playbook is 'touch none', but this step is a human task.",
                 id="touch-none-task"),
    pytest.param(_pb('  send email "broken"\n'), "E037", 4, 4,
                 "template 'broken' does not compile: expected '}}', found end of file.",
                 id="template-syntax"),
    pytest.param(_pb('  send sms text "Hi {{ frist_name }}"\n  consent sms: sms_opt_in\n'),
                 "E038", 3, 3, "the message uses the unknown variable 'frist_name' — did "
                 "you mean 'first_name'?", id="template-unknown-variable"),
    pytest.param(_pb('  wait for event order_completed\n'), "E039", 3, 3,
                 "waiting for 'order_completed' has no timeout, so a customer who never does "
                 "it would wait forever.", id="wait-without-timeout"),
    pytest.param(_pb('  send email text "hello"\n'), "E040", 3, 3,
                 "an inline email needs a subject.", id="inline-email-subject"),
    pytest.param('playbook p {\n  send email "welcome"\n}\n', "E042", 1, 10,
                 "playbook 'p' has no entry, so no customer can ever enter it.", id="no-entry"),
    pytest.param(_pb('  send email "welcome"\n  x: end\n  x: end\n'), "E010", 5, 3,
                 "the step label 'x' is used twice in this playbook.", id="duplicate-label"),
]


@pytest.mark.parametrize(("play", "code", "line", "col", "message"), CASES)
def test_check_reports_code_position_and_message(make_project: Make, play: str, code: str,
                                                 line: int, col: int, message: str) -> None:
    """Each mistake yields its diagnostic, at the right place, with the documented words."""
    loaded = make_project(play, templates={"broken": "---\nsubject: x\n---\nHi {{ x"})
    found = [d for d in loaded.diagnostics if d.code == code]
    assert found, [f"{d.code} {d.message}" for d in loaded.diagnostics]
    d = found[0]
    assert (d.span.line, d.span.col, d.message) == (line, col, message)


def test_unknown_framework_suggests_builtin(make_project: Make) -> None:
    """A misspelt framework is reported with the closest built-in framework."""
    loaded = make_project(_pb('  framework aarr\n  send email "welcome"\n'))
    [d] = [d for d in loaded.diagnostics if d.code == "E018"]
    assert d.message == "unknown framework 'aarr' — did you mean 'aarrr'?"


def test_sms_without_consent_warns_but_validates(make_project: Make) -> None:
    """An SMS step without an SMS consent rule is a warning, and the project still compiles."""
    loaded = make_project(_pb('  send sms text "Hi {{ first_name }}"\n'))
    assert [(d.code, d.severity, d.message) for d in loaded.diagnostics] == [
        ("W036", "warning", "this playbook sends SMS but requires no SMS consent.")]
    assert loaded.project is not None


def test_consent_in_defaults_satisfies_sms(make_project: Make) -> None:
    """`consent sms:` in defaults applies to every playbook, so no warning is given."""
    loaded = make_project(_pb('  send sms text "Hi"\n'),
                          extra={"defaults.play": "defaults {\n  consent sms: sms_opt_in\n}\n"})
    assert loaded.diagnostics == []
    assert loaded.project is not None
    assert loaded.project.playbooks["p"].policies.consent[0].channel == "sms"


def test_playbook_policy_overrides_default(make_project: Make) -> None:
    """A playbook's quiet hours replace the project's default for the same channel."""
    loaded = make_project(_pb('  quiet hours 22:00-07:00\n  send email "welcome"\n'),
                          extra={"defaults.play": "defaults {\n  quiet hours 21:00-08:00\n"
                                                  "  cap email 2 per 1d\n}\n"})
    assert loaded.project is not None
    policies = loaded.project.playbooks["p"].policies
    assert [(q.start_min, q.end_min) for q in policies.quiet_hours] == [(22 * 60, 7 * 60)]
    assert [(c.channel, c.count, c.per_s) for c in policies.caps] == [("email", 2, 86400)]


def test_event_property_outside_event_playbook(make_project: Make) -> None:
    """`event.x` in a playbook without an event trigger says why it cannot work."""
    loaded = make_project(_pb('  branch {\n    when event.cart_value > 3 -> a\n  }\n'
                              '  a: send email "welcome"\n', "when every monday at 09:00"))
    [d] = [d for d in loaded.diagnostics if d.code == "E015"]
    assert d.message == "'event.cart_value' has no event to refer to here."
    assert d.hint.startswith("this playbook has no 'when event ...' entry")


def test_segment_cycle(make_project: Make) -> None:
    """Segments defined through each other are reported with the circle spelled out."""
    loaded = make_project('segment a = segment b\nsegment b = segment a\n')
    messages = [d.message for d in loaded.diagnostics if d.code == "E043"]
    assert messages == ["segment 'a' is defined through itself: a -> b -> a.",
                        "segment 'b' is defined through itself: b -> a -> b."]


def test_duplicate_playbook_across_files(make_project: Make) -> None:
    """Two files declaring the same playbook name: the second is reported, pointing at the first."""
    body = _pb('  send email "welcome"\n')
    loaded = make_project(body, extra={"other.play": body})
    [d] = [d for d in loaded.diagnostics if d.code == "E010"]
    assert d.message == "playbook 'p' is declared twice."
    assert d.related
    assert d.related[0][0].endswith("main.play")


def test_template_without_subject_for_email(make_project: Make) -> None:
    """An email template needs a subject in its front matter."""
    loaded = make_project(_pb('  send email "plain"\n'), templates={"plain": "just a body"})
    [d] = [d for d in loaded.diagnostics if d.code == "E040"]
    assert d.message == "template 'plain' is sent as email but has no subject."
    assert d.file.endswith("plain.liquid")


def test_valid_playbook_compiles_to_graph(make_project: Make) -> None:
    """A correct playbook gives a graph with ids, fall-through and branch targets resolved."""
    loaded = make_project(_pb(
        '  audience email_opt_in and not segment buyers\n'
        '  reminder: send email "cart" via sendgrid\n'
        '  wait 1h\n'
        '  branch {\n    when ltv > 100 -> vip\n    else -> done\n  }\n'
        '  vip: send email "welcome"\n'
        '  done: end\n'))
    assert loaded.diagnostics == []
    assert loaded.project is not None
    pb = loaded.project.playbooks["p"]
    assert [s.id for s in pb.steps] == ["reminder", "reminder.2", "reminder.3", "vip", "done"]
    assert pb.step("reminder").next == "reminder.2"
    assert pb.step("vip").next == "done"
    assert pb.locations["vip"].line == 10


def test_api_playbooks_may_use_untyped_event_properties(make_project: Make) -> None:
    """`when api` passes caller-chosen properties: `event.x` is allowed, unchecked."""
    loaded = make_project(_pb('  send email text "Hi {{ event.tier }}" subject "x"\n', "when api"))
    assert loaded.diagnostics == []


GAP = ("the message uses 'event.cart_value', but a customer who enters by {} has no such "
       "value, so the message would be skipped for them at send time (render_error).")


@pytest.mark.parametrize(("second", "entry"), [
    ('when cron "0 9 * * *"', "'when cron ...' (line 3)"),
    ("when every monday at 09:00", "'when every ...' (line 3)"),
    ("when enters segment buyers", "'when enters segment buyers' (line 3)"),
    ("when event order_completed", "'when event order_completed' (line 3)"),
])
def test_event_property_another_entry_lacks(make_project: Make, second: str,
                                            entry: str) -> None:
    """`event.x` in a message, where some entry carries no such property, would fail to
    render for whoever enters there: an E038 naming that entry, with the fix."""
    loaded = make_project(_pb(f'  {second}\n  send email text "{{{{ event.cart_value }}}}" '
                              'subject "s"\n'))
    [d] = [d for d in loaded.diagnostics if d.code == "E038"]
    assert (d.span.line, d.message) == (4, GAP.format(entry))
    assert d.hint == ('give it a default as its first filter ({{ event.cart_value | '
                      "default: '...' }}), or move that entry to a playbook of its own.")
    assert d.related == ()  # inline text: the step's own line is the place already


@pytest.mark.parametrize("use", [
    '{{ event.cart_value | default: 0 }}',
    "{{ event.cart_value | default: 0 | plus: 1 }} and {{ event['cart_value'] | default: 1 }}",
])
def test_event_property_with_a_default_is_fine(make_project: Make, use: str) -> None:
    """A default as the first filter renders for every entry: nothing to report."""
    loaded = make_project(_pb(f'  when cron "0 9 * * *"\n  send email text "{use}" '
                              'subject "s"\n'))
    assert loaded.diagnostics == []


def test_default_after_another_filter_does_not_count(make_project: Make) -> None:
    """Any other filter fails on the unset value before a later default is reached."""
    loaded = make_project(_pb('  when cron "0 9 * * *"\n  send email text "{{ event.cart_value'
                              ' | plus: 1 | default: 0 }}" subject "s"\n'))
    assert [d.code for d in loaded.diagnostics if d.code == "E038"] == ["E038"]


BIND = ('playbook p "t" {{\n  when event cart_abandoned\n{body}\n}}\n')


@pytest.mark.parametrize("use", [
    '  update ltv = got.order_value',
    '  send email text "You paid {{ got.order_value }}" subject "s"',
    '  branch {\n    when got.order_value > 3 -> a\n  }\n  a: end',
])
def test_a_bound_event_used_before_its_wait(make_project: Make, use: str) -> None:
    """`got.x` above the `wait for event ... as got` is never set there: W043 says so."""
    loaded = make_project(BIND.format(body=f"{use}\n  wait for event order_completed as got "
                                           "timeout 1d\n  end"))
    [d] = [d for d in loaded.diagnostics if d.code == "W043"]
    assert d.severity == "warning"
    assert (d.span.line, d.message) == (
        3, "step 'start' uses 'got', which is never set here: no path to it passes 'wait for "
           f"event order_completed as got' (line {3 + use.count(chr(10)) + 1}) with the event "
           "arrived.")


def test_a_bound_event_on_the_timeout_path_is_reported(make_project: Make) -> None:
    """On the `else ->` path the event never came, so its properties are never set there."""
    loaded = make_project(BIND.format(body=(
        "  wait for event order_completed as got timeout 1d else -> late\n  end\n"
        "  late: update ltv = got.order_value\n  end")))
    assert [d.message for d in loaded.diagnostics if d.code == "W043"] == [
        "step 'late' uses 'got', which is never set here: no path to it passes 'wait for event "
        "order_completed as got' (line 3) with the event arrived."]


def test_a_bound_event_after_its_wait_is_fine(make_project: Make) -> None:
    """Below the wait, and in a loop back through it, the property can be set: no warning."""
    loaded = make_project(BIND.format(body=(
        "  again: wait for event order_completed as got timeout 1d else -> again\n"
        "  update ltv = got.order_value\n"
        '  send email text "{{ got.order_value }}" subject "s"\n  goto again')))
    assert [d for d in loaded.diagnostics if d.code == "W043"] == []


@pytest.mark.parametrize("zone", ["America/" + "(" * 300 + "New_York", "America"])
def test_a_zone_name_no_file_can_hold_is_unknown(make_project: Make, zone: str) -> None:
    """Found by the fuzzer: a zone name too long for a path crashed the check (OSError)."""
    loaded = make_project(_pb('  send email "welcome"\n', f'timezone "{zone}"\n  when event '
                                                          "cart_abandoned"))
    assert [d.code for d in loaded.diagnostics] == ["E021"]


@pytest.mark.parametrize("body", [
    "  wait 99999999999d\n  end\n",
    "  reenter after 36501d\n  end\n",
    "  wait until renewal_date - 40000d\n  end\n",
    "  audience count(order_completed in last 99999d) >= 1\n  end\n",
])
def test_a_duration_past_a_hundred_years_is_refused(make_project: Make, body: str) -> None:
    """`wait 99999999999d` validated, then every tick of `serve` raised on a date past the
    year 9999 and explain crashed: the longest duration is now a hundred years."""
    loaded = make_project(_pb(body))
    [d] = [d for d in loaded.diagnostics if d.code == "E021"]
    assert d.message.endswith("is longer than a hundred years (36500d), the longest there is.")
    assert loaded.project is None


def test_a_hundred_years_is_still_a_duration(make_project: Make) -> None:
    loaded = make_project(_pb("  reenter after 36500d\n  wait 36500d\n  end\n"))
    assert loaded.diagnostics == []


def test_an_unknown_liquid_filter_is_an_error(make_project: Make) -> None:
    """Liquid finds an unknown filter only when it renders: every such message was skipped
    as render_error, and `validate` said ok."""
    loaded = make_project(_pb('  send email text "Hi {{ first_name | upcas }}" subject '
                              '"{{ first_name | nosuchfilter }}"\n'))
    assert [(d.code, d.span.line, d.message) for d in loaded.diagnostics] == [
        ("E037", 3, "the message uses the unknown filter 'upcas' — did you mean 'upcase'?"),
        ("E037", 3, "the subject uses the unknown filter 'nosuchfilter'.")]


def test_a_day_without_its_time_is_not_called_an_attribute_to_declare(make_project: Make) -> None:
    """`wait until monday` (the time forgotten) read 'monday' as an attribute and advised
    declaring it; the hint now says a day needs a time."""
    loaded = make_project(_pb('  wait until monday\n  send email "welcome"\n'))
    [d] = [d for d in loaded.diagnostics if d.code == "E015"]
    assert d.hint == ("'monday' is a day, not an attribute: a day needs a time after it, as in "
                      "'wait until monday 09:00'.")


def test_a_cron_with_a_day_of_month_and_a_weekday_warns_w044(make_project: Make) -> None:
    """"0 8 27 11 5" meant Friday the 27th and fired on every Friday of November."""
    loaded = make_project(_pb('  send email "welcome"\n', 'when cron "0 8 27 11 5" in "UTC"'))
    [w] = [d for d in loaded.diagnostics if d.code == "W044"]
    assert w.message == ('"0 8 27 11 5" names both a day of the month (27) and a day of the '
                         "week (5): as in crontab, it fires on every day that matches either, "
                         "not only on days that match both.")
    loaded = make_project(_pb('  send email "welcome"\n', 'when cron "0 8 27 11 *" in "UTC"'))
    assert [d for d in loaded.diagnostics if d.code == "W044"] == []


def test_a_default_policy_declared_twice_points_at_the_first(make_project: Make) -> None:
    """In a project of many files the other declaration had to be hunted for."""
    loaded = make_project(_pb('  send email "welcome"\n') + "defaults {\n  cap email 3 per 7d\n}\n",
                          extra={"b.play": "defaults {\n  cap email 1 per 1d\n}\n"})
    [d] = [d for d in loaded.diagnostics if d.code == "E010"]
    assert d.message == "this default policy is declared twice for the same channel."
    assert (Path(d.file).name, d.span.line) == ("main.play", 7)  # files are read in name order
    assert [(Path(f).name, s.line) for f, s in d.related] == [("b.play", 2)]


def test_a_test_expecting_a_template_the_playbook_never_sends(make_project: Make) -> None:
    """`expect email "welcom"` could never pass and showed only as a ✗ row at run time."""
    test = ('test "t" {\n  playbook p\n  customer { email = "a@example.com" }\n'
            '  event cart_abandoned at 2026-03-02T10:00Z { cart_value = 5 }\n'
            '  expect email "welcom"\n}\n')
    loaded = make_project(_pb('  send email "welcome"\n') + test)
    [d] = [d for d in loaded.diagnostics if d.code == "E013"]
    assert d.message == ("playbook 'p' never sends email template 'welcom' — did you mean "
                         "'welcome'?")
    assert d.hint == "its email templates: welcome; write 'expect email' to accept any email."


@pytest.mark.parametrize(("word", "hint_start"), [
    ("date", "there is no date type: declare a timestamp"),
    ("strng", "types are string, number, bool, timestamp and enum"),
])
def test_an_unknown_type_says_what_to_declare(make_project: Make, word: str,
                                              hint_start: str) -> None:
    """A newcomer's `birthday: date` was told the list of types only; a date word points at
    timestamps and the birthday recipe."""
    loaded = make_project(_pb('  send email "welcome"\n'),
                          extra={"more.play": f"schema {{\n  customer {{ born: {word} }}\n}}\n"})
    [d] = [d for d in loaded.diagnostics if d.code == "E021"]
    assert d.message.startswith(f"unknown type '{word}'")
    assert (d.hint or "").startswith(hint_start)
