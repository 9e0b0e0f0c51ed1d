"""Playbook test blocks -> `PlaybookTest`: names and types checked, times made absolute (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span, did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.contacts import clean_contact
from cadenza.playbooks.localtime import resolve_local
from cadenza.playbooks.policies import CHANNELS, valid_zone
from cadenza.playbooks.report import Reporter

EXPECT_CHANNELS = (*CHANNELS, "task")
Scalar = str | float | bool
TIMESTAMP_HINT = ("write a real date and time: 2026-03-07T10:00Z (UTC), 2026-03-07T10:00 (in the "
                  "test customer's zone) or 2026-03-07T10:00:00+01:00.")


def to_utc(raw: str, zone: str) -> datetime:
    """ISO 8601 -> aware UTC; a time without an offset is read in `zone` as the engine reads
    local times (a skipped time is the end of the gap; a repeated one, its first pass)."""
    dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        return datetime.fromtimestamp(resolve_local(dt, ZoneInfo(zone)), UTC)
    return dt.astimezone(UTC)


def _scalar(pair: ast.Pair, t: m.AttrType | None, what: str, file: str,
            rep: Reporter, of: str = "") -> Scalar:
    v = pair.value.value
    if t is None:
        return v
    kind = "bool" if isinstance(v, bool) else "string" if isinstance(v, str) else "number"
    is_ts = pair.value.raw[:1].isdigit() and isinstance(v, str)
    if is_ts:
        kind = "timestamp"
    ok = kind == t.type or (t.type == "enum" and kind == "string" and v in t.members) or (
        t.type == "timestamp" and kind == "string")
    if not ok:
        rep.error("E020", file, pair.value.span,
                  f"{what} '{pair.name.name}'{of} is a {t}, but {pair.value.raw} is a {kind}.",
                  hint=f"write a {t} value (strings in double quotes, true/false, numbers bare, "
                       "timestamps as 2026-03-07T10:00Z).")
    return v


def _pairs(pairs: tuple[ast.Pair, ...], known: dict[str, m.AttrType], what: str, file: str,
           rep: Reporter, of: str = "") -> dict[str, Scalar]:
    """`of` follows the name in messages: "property 'plan' of event 'signed_up'"."""
    out: dict[str, Scalar] = {}
    for p in pairs:
        t = known.get(p.name.name)
        if t is None:
            names = ", ".join(sorted(known)) or "none"
            rep.error("E015", file, p.name.span,
                      f"unknown {what} '{p.name.name}'{of}{did_you_mean(p.name.name, known)}",
                      hint=f"declare it in the schema, or use a declared one: {names}.")
        out[p.name.name] = _scalar(p, t, what, file, rep, of)
    return out


class _TestBuilder:
    def __init__(self, decl: ast.TestDecl, file: str, schema: m.Schema, zone: str,
                 rep: Reporter) -> None:
        self.decl, self.file, self.schema, self.rep = decl, file, schema, rep
        self.zone = zone
        self.playbook: str | None = None
        self.customer: dict[str, Scalar] = {}
        self.start: datetime | None = None
        self.until: datetime | None = None
        self.events: list[m.TestEvent] = []
        self.expects: list[m.Expectation] = []
        self.named: list[tuple[str, str, Span]] = []  # (channel, template, where) expected

    def time(self, lit: ast.Literal) -> datetime:
        try:
            return to_utc(str(lit.value), self.zone)
        except ValueError:
            # Shaped like a timestamp but no real moment (2026-02-30): an error, not a crash.
            self.rep.error("E021", self.file, lit.span,
                           f"'{lit.raw}' is not a valid timestamp.", hint=TIMESTAMP_HINT)
            return datetime.fromtimestamp(0, UTC)

    def customer_zone(self, pairs: tuple[ast.Pair, ...]) -> None:
        zone = self.customer.get("timezone")
        if not isinstance(zone, str):
            return
        if valid_zone(zone):
            self.zone = zone
            return
        span = next(p.value.span for p in pairs if p.name.name == "timezone")
        self.rep.error("E021", self.file, span, f"unknown time zone '{zone}' for the test "
                       "customer.", hint='use an IANA zone name such as "America/New_York" or '
                       '"Europe/London".')
        del self.customer["timezone"]  # the test still checks; it runs in the project's zone

    def customer_contacts(self, pairs: tuple[ast.Pair, ...]) -> None:
        """An email or phone the providers would refuse is an error here too: the engine drops
        it from a simulation's audience, so a test sending to it would pass for nothing."""
        for p in pairs:
            if p.name.name not in ("email", "phone") or p.name.name not in self.customer:
                continue
            value, problem = clean_contact(p.name.name, self.customer[p.name.name])
            if value is not None:
                self.customer[p.name.name] = value
                continue
            self.rep.error("E021", self.file, p.value.span,
                           f"the test customer's {p.name.name}: {problem}.",
                           hint="write it as the provider takes it, or leave it out for a "
                                "customer who has none.")
            del self.customer[p.name.name]

    def _zoned(self, pairs: tuple[ast.Pair, ...], known: dict[str, m.AttrType],
               values: dict[str, Scalar]) -> dict[str, Scalar]:
        """Timestamp values made absolute (UTC), like `at`: a time written without a zone
        (`renewal_date = 2026-05-15T09:00`) is read in the test customer's zone, as the docs
        promise; left as written, the engine would refuse it as zone-less."""
        out = dict(values)
        for p in pairs:
            t, v = known.get(p.name.name), out.get(p.name.name)
            if t is None or t.type != "timestamp" or not isinstance(v, str):
                continue
            try:
                out[p.name.name] = to_utc(v, self.zone).isoformat()
            except ValueError:
                self.rep.error("E021", self.file, p.value.span,
                               f"'{p.value.raw}' is not a valid timestamp for "
                               f"'{p.name.name}'.",
                               hint=TIMESTAMP_HINT)
        return out

    def line(self, x: ast.TestLine, playbooks: dict[str, m.Playbook]) -> None:
        match x:
            case ast.TestPlaybook():
                self.playbook = x.name.name
                if x.name.name not in playbooks:
                    self.rep.error("E019", self.file, x.name.span,
                                   f"unknown playbook '{x.name.name}'"
                                   f"{did_you_mean(x.name.name, playbooks)}",
                                   hint=f"playbooks here: "
                                        f"{', '.join(sorted(playbooks)) or 'none'}.")
            case ast.TestCustomer():
                self.customer = _pairs(x.pairs, self.schema.customer, "customer attribute",
                                       self.file, self.rep)
                self.customer_zone(x.pairs)
                self.customer_contacts(x.pairs)
                self.customer = self._zoned(x.pairs, self.schema.customer, self.customer)
            case ast.TestStart():
                self.start = self.time(x.at)
            case ast.TestUntil():
                self.until = self.time(x.at)
            case ast.TestEvent():
                self._event(x)
            case ast.TestExpect():
                self._expect(x)

    def _event(self, x: ast.TestEvent) -> None:
        props = self.schema.events.get(x.event.name)
        if props is None:
            self.rep.error("E014", self.file, x.event.span,
                           f"unknown event '{x.event.name}'"
                           f"{did_you_mean(x.event.name, self.schema.events)}",
                           hint="declare it in: schema { event NAME { ... } }")
            props = {}
        values = _pairs(x.pairs, props, "property", self.file, self.rep,
                        of=f" of event '{x.event.name}'")
        values = self._zoned(x.pairs, props, values)
        self.events.append(m.TestEvent(event=x.event.name, at=self.time(x.at),
                                       properties=values))

    def _expect(self, x: ast.TestExpect) -> None:
        if x.channel is None:
            return  # `expect nothing`: an empty list of expected sends
        if x.channel.name not in EXPECT_CHANNELS:
            self.rep.error("E016", self.file, x.channel.span,
                           f"unknown channel '{x.channel.name}'"
                           f"{did_you_mean(x.channel.name, EXPECT_CHANNELS)}",
                           hint=f"expect one of: {', '.join(EXPECT_CHANNELS)}.")
        template = None if x.template is None else x.template.value
        if template is not None and not template.strip():
            self.rep.error("E013", self.file, x.template.span if x.template else x.span,
                           "an empty template name: an expectation names a template or none.",
                           hint=f"write 'expect {x.channel.name}' to accept any "
                                f"{x.channel.name} (an inline text has no template), or name "
                                "the template.")
            template = None
        at = None if x.at is None else self.time(x.at)
        self.expects.append(m.Expectation(channel=x.channel.name, template=template, at=at))
        if template is not None and x.template is not None and x.channel.name != "task":
            self.named.append((x.channel.name, template, x.template.span))

    def check_templates(self, playbooks: dict[str, m.Playbook], known: set[str]) -> None:
        """A template that is neither sent by the playbook on that channel nor in the project
        (`expect email "welcom"`): the test could never pass. One the project has but the
        playbook does not send is left to the run (the playbook may name it wrongly: E013
        there already)."""
        pb = playbooks.get(self.playbook or "")
        if pb is None:
            return
        for channel, template, span in self.named:
            sent = {s.template for s in pb.steps
                    if isinstance(s, m.SendStep) and s.channel == channel and s.template}
            if template not in sent and template not in known:
                self.rep.error("E013", self.file, span,
                               f"playbook '{pb.name}' never sends {channel} template "
                               f"'{template}'{did_you_mean(template, sent)}",
                               hint=f"its {channel} templates: "
                                    f"{', '.join(sorted(sent)) or 'none (inline texts)'}; "
                                    f"write 'expect {channel}' to accept any {channel}.")

    def build(self) -> m.PlaybookTest | None:
        if self.playbook is None:
            self.rep.error("E019", self.file, self.decl.name.span,
                           f"test {self.decl.name.raw} names no playbook.",
                           hint="add a line: playbook NAME")
            return None
        return m.PlaybookTest(
            name=self.decl.name.value, playbook=self.playbook, customer=self.customer,
            start=self.start, events=tuple(sorted(self.events, key=lambda e: e.at)),
            expects=tuple(self.expects), until=self.until,
            location=m.Location(file=self.file, line=self.decl.span.line,
                                col=self.decl.span.col))


def compile_test(decl: ast.TestDecl, file: str, schema: m.Schema, zone: str,
                 playbooks: dict[str, m.Playbook], rep: Reporter,
                 templates: set[str]) -> m.PlaybookTest | None:
    b = _TestBuilder(decl, file, schema, zone, rep)
    # The customer's zone decides how zone-less times read, so take it first.
    for x in sorted(decl.lines, key=lambda x: not isinstance(x, ast.TestCustomer)):
        b.line(x, playbooks)
    b.check_templates(playbooks, templates)
    return b.build()


