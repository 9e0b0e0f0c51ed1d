"""Messages rendered at send time: variables, strictness, limits, and the text part of emails."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cadenza.engine.render import (
    LOOP_ITERATION_LIMIT,
    RenderError,
    _compile,
    _plan,
    build_context,
    html_to_text,
    render_message,
)
from cadenza.engine.timing import parse_timestamp

ANA = {"id": "c001", "first_name": "Ana", "timezone": "America/New_York",
       "renewal_date": parse_timestamp("2026-03-08T14:00:00Z"), "vip": True}
CART = {"cart_value": 50, "cart_url": "https://shop.example/c/1"}


def context(**extra: object) -> dict[str, object]:
    return build_context(ANA, CART, {"reply": {"body": "YES", "number": 9}},
                         ("cart_recovery", "Win back abandoned carts"),
                         "https://shop.example/u/c001", zone="America/New_York",
                         timestamp_names={"renewal_date"}) | extra


def test_bare_and_namespaced_variables() -> None:
    """Customer attributes render bare and as customer.X; event.X, NAME.X and playbook.X too."""
    text = ("{{ first_name }}/{{ customer.first_name }} {{ event.cart_url }} {{ reply.body }} "
            "{{ playbook.name }}: {{ playbook.title }} {{ unsubscribe_url }}")
    assert render_message(text, context()) == (
        "Ana/Ana https://shop.example/c/1 YES cart_recovery: Win back abandoned carts "
        "https://shop.example/u/c001")


def test_timestamps_render_in_the_customer_zone() -> None:
    """A known timestamp attribute given as epoch seconds renders as ISO 8601 local time, and
    the date filter can format it."""
    assert render_message("{{ renewal_date }}", context()) == "2026-03-08T10:00:00-04:00"
    assert render_message('{{ renewal_date | date: "%B %d, %H:%M" }}', context()) == (
        "March 08, 10:00")


def test_bound_and_event_timestamps_are_localised_by_path() -> None:
    """Timestamp names with a prefix (event.X, NAME.X) convert that event's property only."""
    ctx = build_context({"first_name": "Ana"}, {"shipped_at": 0}, {"r": {"at": 0, "n": 0}},
                        ("p", "P"), None, zone="Europe/London",
                        timestamp_names={"event.shipped_at", "r.at"})
    assert render_message("{{ event.shipped_at }} {{ r.at }} {{ r.n }}", ctx) == (
        "1970-01-01T01:00:00+01:00 1970-01-01T01:00:00+01:00 0")


def test_flags_are_not_mistaken_for_timestamps() -> None:
    """A bool under a timestamp name stays a bool."""
    ctx = build_context({"vip": True}, None, {}, ("p", "P"), None, timestamp_names={"vip"})
    assert render_message("{{ vip }}", ctx) == "true"


def test_no_event_and_no_unsubscribe_leave_those_names_undefined() -> None:
    """Without a trigger event or an unsubscribe link, `event` and `unsubscribe_url` are unset."""
    ctx = build_context({"first_name": "Ana"}, None, {}, ("p", "P"), None)
    assert "event" not in ctx
    assert "unsubscribe_url" not in ctx


def test_default_filter_covers_a_missing_variable() -> None:
    """`| default:` still works under strict rendering, as the language reference shows."""
    assert render_message('Hi {{ nickname | default: "there" }}', context()) == "Hi there"


def test_a_declared_attribute_not_set_renders_empty_through_date() -> None:
    """Regression: `{{ trial_ends_at | date: "%B %d" }}` with the attribute declared but not
    set skipped the message ("date expected datetime.datetime, found NoneType"); unset
    values render empty, filtered or not, and a set one is still formatted."""
    text = 'Ends on {{ renewal_date | date: "%B %d" }}.'
    assert render_message(text, context(renewal_date=None)) == "Ends on ."
    assert render_message(text, context()) == "Ends on March 08."


def test_missing_variable_is_a_render_error() -> None:
    """A variable the context lacks raises RenderError naming the template, variable and place."""
    with pytest.raises(RenderError) as info:
        render_message("Hello\n{{ first_nam }}!", context(), name="cart-reminder")
    assert str(info.value) == ("The template 'cart-reminder' could not be rendered: "
                               "'first_nam' is undefined (line 2, column 4).")


def test_missing_property_in_an_inline_template() -> None:
    """An inline template is named by its opening text; a missing property is an error."""
    with pytest.raises(RenderError) as info:
        render_message("{{ event.cart_urll }}", context())
    assert str(info.value) == ('The inline template "{{ event.cart_urll }}" could not be '
                               "rendered: event.cart_urll is undefined (line 1, column 4).")


def test_syntax_error_is_a_render_error() -> None:
    """A template that does not parse raises RenderError, every time it is rendered."""
    for _ in range(2):  # the failed compile is cached: the error must still be raised
        with pytest.raises(RenderError, match="could not be rendered: missing expression"):
            render_message("{% if %}x{% endif %}", context(), name="broken")


def test_loop_limit_is_a_render_error() -> None:
    """A loop beyond the iteration limit stops with RenderError instead of running on."""
    text = "{% for i in (1..%d) %}{{ i }}{%% endfor %%}".replace("%d", str(
        LOOP_ITERATION_LIMIT + 1)).replace("%%", "%")
    with pytest.raises(RenderError) as info:
        render_message(text, context(), name="runaway")
    assert str(info.value) == ("The template 'runaway' could not be rendered: loop iteration "
                               "limit reached (line 1, column 4).")


def test_output_limit_is_a_render_error() -> None:
    """Output beyond the size limit stops with RenderError."""
    text = "{% for i in (1..5000) %}" + "x" * 200 + "{% endfor %}"
    with pytest.raises(RenderError, match="output stream limit reached"):
        render_message(text, context(), name="flood")


def test_include_cannot_reach_files() -> None:
    """`include` finds nothing: templates cannot pull in files at send time."""
    with pytest.raises(RenderError, match="it includes 'secrets', but templates cannot include"):
        render_message('{% include "secrets" %}', context(), name="sneaky")


def test_html_to_text_keeps_paragraphs_links_and_lists() -> None:
    """Paragraphs become blank-line separated, links show their address, scripts vanish."""
    html = ("<html><head><title>t</title><style>p{}</style></head><body>"
            "<p>Hi   Ana,</p><p>Your cart:<br><a href='https://s.example/c'>back to it</a></p>"
            "<ul><li>one</li><li>two &amp; three</li></ul><script>x()</script>"
            "<p><a href='https://s.example/u'>https://s.example/u</a></p></body></html>")
    assert html_to_text(html) == ("Hi Ana,\n\nYour cart:\nback to it (https://s.example/c)\n\n"
                                  "- one\n- two & three\n\nhttps://s.example/u")


# ------------------------------------------------------------------ the fast path
_PIECES = st.sampled_from([
    "Hi ", "<p>", "\n", "{{ first_name }}", "{{ customer.first_name }}", "{{ event.cart_url }}",
    "{{- first_name -}}", "  ", "{{ nick }}", "{{ event.cart_value }}", "{{ vip }}",
    "{{ first_name | upcase }}", "{{ missing }}", "{{ reply.body }}", "{{ customer }}",
    "{% if vip %}V{% endif %}", "{{ event['cart_url'] }}", "{{ nothing.deep }}", "é€"])


@given(pieces=st.lists(_PIECES, max_size=8), nick=st.one_of(st.none(), st.text(max_size=5)))
@settings(max_examples=300, deadline=None)
def test_text_and_bare_variables_render_as_liquid_does(pieces: list[str],
                                                       nick: str | None) -> None:
    """Templates of text and bare variables skip Liquid's renderer when every value is a
    string; anything else goes through Liquid. Either way the result, or the error, is the
    one Liquid gives."""
    text = "".join(pieces)
    ctx = context(nick=nick, nothing=None)
    try:
        expected: str | None = _compile(text).render(**ctx)  # type: ignore[union-attr]
    except Exception:  # any Liquid error: ours must fail too
        expected = None
    try:
        got: str | None = render_message(text, ctx)
    except RenderError:
        got = None
    assert got == expected


def test_the_fast_path_takes_plain_templates_only() -> None:
    assert _plan("Hi {{ first_name }}, <a href='{{ event.cart_url }}'>") is not None
    assert _plan("Hi {{ first_name | upcase }}") is None
    assert _plan("{% if vip %}x{% endif %}") is None
