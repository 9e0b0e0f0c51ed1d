"""Conflicts between the playbooks of one project, reported as warnings.

- W060: two playbooks can reach the same customer and, together, send more on one channel
  within a frequency cap's window than the cap allows: a send is deferred or skipped.
- W061: the event that ends one playbook enrolls the customer in another.
- W062: two playbooks that can reach the same customer cap one channel differently.
- W063: two playbooks that can reach the same customer keep different quiet hours for one
  channel.

"The same customer" is judged from the audiences (and, for W061, the event filters): only a
proof that no customer can satisfy both (cadenza.playbooks.disjoint) keeps two playbooks apart.
Audiences are re-checked at every send, so the proof holds as long as the customer's attributes
do not change between the two playbooks' sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations

from cadenza.grammar.diagnostics import Diagnostic, Span
from cadenza.playbooks import model as m
from cadenza.playbooks.describe import clock, duration
from cadenza.playbooks.disjoint import Node, Prover, disjoint, normal
from cadenza.playbooks.sendcount import most_sends, sends_on

NOUNS = {"email": ("email", "emails"), "sms": ("SMS", "SMS messages"),
         "webhook": ("webhook call", "webhook calls")}
Where = tuple[str, Span]


def find_conflicts(project: m.Project) -> list[Diagnostic]:
    """Every cross-playbook conflict of `project`, as warnings sorted by file and line."""
    playbooks = sorted(project.playbooks.values(), key=_order)
    counts = _Counts()  # W060's counts per playbook and cap are W064's too
    found = [*_policy_conflicts(playbooks, project, counts),
             *_all_handoffs(playbooks, project),
             *(d for pb in playbooks for d in _over_own_cap(pb, counts))]
    return sorted(found, key=Diagnostic.sort_key)


def _policy_conflicts(playbooks: list[m.Playbook], project: m.Project,
                      counts: _Counts) -> list[Diagnostic]:
    """W060, W062, W063. Playbooks alike in every fact these depend on (channels, caps, quiet
    hours, sends per cap window) form one class; a pair of classes is looked at once, and its
    playbooks pair by pair only when it has something to say: a large project of similar
    playbooks costs its number of kinds squared, not its size squared."""
    apart, facts = _Apart(project), _Facts()
    sent = {pb.name: [ch for ch in NOUNS if any(isinstance(s, m.SendStep) and s.channel == ch
                                                 for s in pb.steps)] for pb in playbooks}
    caps = {ch: sorted({k for pb in playbooks for k in facts(pb, ch).keys}) for ch in NOUNS}

    def kind(pb: m.Playbook) -> tuple[object, ...]:
        return tuple((ch, facts(pb, ch).keys, facts(pb, ch).quiet,
                      tuple(counts.of(pb, ch, n, per) for n, per, _ in caps[ch]))
                     for ch in sent[pb.name])

    classes: dict[tuple[object, ...], list[int]] = {}
    for i, pb in enumerate(playbooks):
        classes.setdefault(kind(pb), []).append(i)
    members = list(classes.values())
    found: list[Diagnostic] = []
    for ci, first in enumerate(members):
        for second in members[ci:]:
            pairs = list(combinations(first, 2)) if first is second else \
                [(min(i, j), max(i, j)) for i in first for j in second]
            if not pairs or not _pair_conflicts(*pairs[0], playbooks, sent, facts, counts):
                continue
            for i, j in pairs:
                a, b = playbooks[i], playbooks[j]
                candidates = _pair_conflicts(i, j, playbooks, sent, facts, counts)
                if candidates and not apart(a, b):
                    found += candidates
    return found


def _pair_conflicts(i: int, j: int, playbooks: list[m.Playbook], sent: dict[str, list[str]],
                    facts: _Facts, counts: _Counts) -> list[Diagnostic]:
    a, b = playbooks[i], playbooks[j]
    shared = [ch for ch in sent[a.name] if ch in sent[b.name]]
    return [*_over_cap(a, b, shared, counts, facts), *_policy_mismatches(a, b, shared, facts)]


def _all_handoffs(playbooks: list[m.Playbook], project: m.Project) -> list[Diagnostic]:
    """W061, from an index of entry events: only playbooks that share an event are paired."""
    entering: dict[str, list[m.Playbook]] = {}
    for pb in playbooks:
        for event in dict.fromkeys(e.event for e in pb.entries if isinstance(e, m.EventEntry)):
            entering.setdefault(event, []).append(pb)
    found: list[Diagnostic] = []
    for a in playbooks:
        exits = dict.fromkeys(e.event for e in a.exits if isinstance(e, m.EventExit))
        others = dict.fromkeys(b.name for ev in exits for b in entering.get(ev, []))
        found += [d for name in others if name != a.name
                  for d in _handoffs(a, project.playbooks[name], project)]
    return found


class _Apart:
    """Whether two playbooks' audiences are proven disjoint, once per distinct pair of them."""

    def __init__(self, project: m.Project) -> None:
        self.segments = project.segments
        self.keys: dict[str, str] = {}
        self.nodes: dict[str, Node] = {}
        self.known: dict[tuple[str, str], bool] = {}

    def _key(self, pb: m.Playbook) -> str | None:
        if pb.audience is None:
            return None
        if pb.name not in self.keys:
            key = pb.audience.model_dump_json()
            self.keys[pb.name] = key
            self.nodes.setdefault(key, normal(pb.audience))
        return self.keys[pb.name]

    def __call__(self, a: m.Playbook, b: m.Playbook) -> bool:
        x, y = self._key(a), self._key(b)
        if x is None or y is None:
            return False  # everyone can be in a playbook without an audience
        pair = (x, y) if x <= y else (y, x)
        if pair not in self.known:
            # A fresh prover per question: its step budget bounds one proof, not the project.
            self.known[pair] = Prover(self.segments).disjoint(self.nodes[pair[0]],
                                                              self.nodes[pair[1]])
        return self.known[pair]


def _order(pb: m.Playbook) -> tuple[str, int, str]:
    header = pb.positions.header
    return (pb.file, header.line if header else 0, pb.name)


@dataclass(frozen=True)
class _Channel:
    """One playbook's policies for one channel, worked out once however many pairs ask."""

    caps: tuple[m.Cap, ...]
    keys: tuple[tuple[int, int, str], ...]  # the caps as plain tuples: pairs compare these
    quiet: str

    @staticmethod
    def of(pb: m.Playbook, channel: str) -> _Channel:
        caps = tuple(c for c in pb.policies.caps if c.channel == channel)
        return _Channel(caps=caps, keys=tuple((c.count, c.per_s, c.action) for c in caps),
                        quiet=_quiet_of(pb, channel))


class _Facts:
    def __init__(self) -> None:
        self.known: dict[tuple[str, str], _Channel] = {}

    def __call__(self, pb: m.Playbook, channel: str) -> _Channel:
        key = (pb.name, channel)
        if key not in self.known:
            self.known[key] = _Channel.of(pb, channel)
        return self.known[key]


# ------------------------------------------------------------------ W060 over a cap together
class _Counts:
    """`most_sends` once per playbook, channel and cap, however many pairs ask."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str, int, int], int] = {}

    def __call__(self, pb: m.Playbook, cap: m.Cap) -> int:
        return self.of(pb, cap.channel, cap.count, cap.per_s)

    def of(self, pb: m.Playbook, channel: str, count: int, per_s: int) -> int:
        key = (pb.name, channel, per_s, count)
        if key not in self.known:
            self.known[key] = most_sends(pb, channel, per_s, count + 1)
        return self.known[key]


def _over_cap(a: m.Playbook, b: m.Playbook, channels: list[str], counts: _Counts,
              facts: _Facts) -> Iterator[Diagnostic]:
    for channel in channels:
        x, y = facts(a, channel), facts(b, channel)
        for key, cap in {**dict(zip(y.keys, y.caps, strict=True)),
                         **dict(zip(x.keys, x.caps, strict=True))}.items():
            count, per_s, _ = key
            ca, cb = counts.of(a, channel, count, per_s), counts.of(b, channel, count, per_s)
            owns_a, owns_b = key in x.keys, key in y.keys
            # Within the cap together, or over it alone (that playbook's own matter): nothing
            # to say and no message to build, which is most pairs of a large project.
            if ca + cb <= count or (owns_a and ca > count) or (owns_b and cb > count):
                continue
            owners = [pb for pb, owns in ((a, owns_a), (b, owns_b)) if owns]
            found = _cap_conflict(a, b, cap, counts, owners)
            if found is not None:
                yield found


def _cap_conflict(a: m.Playbook, b: m.Playbook, cap: m.Cap, count: _Counts,
                  owners: list[m.Playbook]) -> Diagnostic | None:
    ch, window = cap.channel, cap.per_s
    counts = {pb.name: count(pb, cap) for pb in (a, b)}
    # Over the cap alone is a matter for that playbook; this is about the two together.
    if sum(counts.values()) <= cap.count or any(counts[o.name] > cap.count for o in owners):
        return None
    primary = owners[0] if len(owners) == 1 else b
    other = a if primary is b else b
    nouns = NOUNS[ch][1]
    whose = "" if len(owners) == 2 else f" of '{primary.name}'"
    sender = "every send over the cap" if len(owners) == 2 else \
        f"every {NOUNS[ch][0]} of '{primary.name}' over the cap"
    fate = "skipped" if cap.action == "skip" else "deferred until the window has room again"
    message = (f"playbooks '{primary.name}' and '{other.name}' can reach the same customer and "
               f"together send up to {sum(counts.values())} {nouns} within {_span(window)} "
               f"({counts[primary.name]} and {counts[other.name]}), more than "
               f"'{_cap_text(cap)}'{whose} allows: when they do, {sender} is {fate}.")
    related = [_first_send(other, ch), *_policy_at(primary, f"Cap:{ch}")]
    return Diagnostic(
        code="W060", severity="warning", message=message, file=primary.file,
        span=_first_send(primary, ch)[1], related=tuple(related),
        hint=f"the cap counts the {nouns} a customer gets from every playbook: raise it, send "
             f"fewer {nouns} within {_span(window)} in one of the playbooks, or keep the "
             "audiences apart (for example 'and not segment ...' in one of them).")


def _over_own_cap(pb: m.Playbook, counts: _Counts) -> Iterator[Diagnostic]:
    """W064: one journey of `pb` sends more within a cap's window than the cap allows, so
    its own later sends wait (or are skipped); the pairs W060 looks at leave this out."""
    for cap in pb.policies.caps:
        if counts(pb, cap) <= cap.count:
            continue
        nouns = NOUNS[cap.channel][1]
        fate = "skipped" if cap.action == "skip" else "deferred until the window has room"
        yield Diagnostic(
            code="W064", severity="warning", file=pb.file,
            span=_first_send(pb, cap.channel)[1],
            message=(f"playbook '{pb.name}' alone can send one customer more than "
                     f"{cap.count} {nouns} within {_span(cap.per_s)}, so '{_cap_text(cap)}' "
                     f"holds back its own sends: the ones past the cap are {fate}."),
            related=tuple(_policy_at(pb, f"Cap:{cap.channel}")),
            hint=(f"space the sends out (a longer wait between them), send fewer {nouns}, or "
                  "raise the cap; if holding them back is intended, keep the warning."))


def _cap_text(cap: m.Cap) -> str:
    skip = " else skip" if cap.action == "skip" else ""
    return f"cap {cap.channel} {cap.count} per {_span(cap.per_s)}{skip}"


def _span(seconds: int) -> str:
    """Whole days as days: people write caps per 7d, not per 1w."""
    return f"{seconds // 86400}d" if seconds % 86400 == 0 else duration(seconds)


def _first_send(pb: m.Playbook, channel: str) -> Where:
    return _where(pb, pb.locations.get(sends_on(pb, channel)[0].id))


# ------------------------------------------------------------------ W061 exit starts another
def _handoffs(a: m.Playbook, b: m.Playbook, project: m.Project) -> Iterator[Diagnostic]:
    """`a` ends on an event that enrolls the customer in `b`."""
    for i, ex in enumerate(a.exits):
        if not isinstance(ex, m.EventExit):
            continue
        for j, entry in enumerate(b.entries):
            if not isinstance(entry, m.EventEntry) or entry.event != ex.event:
                continue
            if disjoint(_both(a.audience, ex.where), _both(b.audience, entry.where),
                        project.segments):
                continue
            yield Diagnostic(
                code="W061", severity="warning", file=a.file,
                span=_where(a, _nth(a.positions.exits, i))[1],
                related=(_where(b, _nth(b.positions.entries, j)),),
                message=f"the event '{ex.event}' that ends playbook '{a.name}' also enrolls the "
                        f"customer in playbook '{b.name}': whoever leaves '{a.name}' this way "
                        f"starts '{b.name}' at the same moment.",
                hint="if the hand-off is not intended, keep the two apart with a where-filter "
                     f"('exit when event {ex.event} where ...') or an audience that excludes "
                     "the other playbook's customers.")


def _both(x: m.Cond | None, y: m.Cond | None) -> m.Cond | None:
    parts = tuple(c for c in (x, y) if c is not None)
    return parts[0] if len(parts) == 1 else m.AllOf(items=parts) if parts else None


def _nth(items: tuple[m.Location, ...], i: int) -> m.Location | None:
    return items[i] if i < len(items) else None


# ------------------------------------------------------------------ W062, W063 declared apart
def _policy_mismatches(a: m.Playbook, b: m.Playbook, channels: list[str], facts: _Facts,
                       ) -> Iterator[Diagnostic]:
    for channel in channels:
        x, y = facts(a, channel), facts(b, channel)
        if x.keys and y.keys and x.keys[0] != y.keys[0]:
            yield _mismatch("W062", (a, b), channel, "Cap", (_cap_text(x.caps[0]),
                                                             _cap_text(y.caps[0])))
        if x.quiet and y.quiet and x.quiet != y.quiet:
            yield _mismatch("W063", (a, b), channel, "QuietHours", (x.quiet, y.quiet))


def _quiet_of(pb: m.Playbook, channel: str) -> str:
    spans = sorted({(q.start_min, q.end_min) for q in pb.policies.quiet_hours
                    if q.channel in (None, channel)})
    return ", ".join(f"{clock(s)}-{clock(e)}" for s, e in spans)


def _mismatch(code: str, pair: tuple[m.Playbook, m.Playbook], channel: str, kind: str,
              texts: tuple[str, str]) -> Diagnostic:
    own = [bool(_own_policy(pb, kind, channel)) for pb in pair]
    # Point at the declaration that departs from the other; the later one when both do.
    first = 0 if own[0] and not own[1] else 1
    pb, other = pair[first], pair[1 - first]
    text, other_text = texts[first], texts[1 - first]
    nouns = NOUNS[channel][1]
    here, there = (_source(p, kind, channel) for p in (pb, other))
    if code == "W062":
        message = (f"playbook '{pb.name}' has '{text}'{here}, but playbook '{other.name}', which "
                   f"can reach the same customers, has '{other_text}'{there}: each playbook "
                   f"stops at its own limit, so how many {nouns} a customer gets depends on "
                   "which playbook sends.")
        hint = (f"declare 'cap {channel} ...' once in 'defaults' and remove it from the "
                "playbooks, or make the two caps equal.")
    else:
        message = (f"playbook '{pb.name}' keeps quiet hours {text} for {channel}{here}, but "
                   f"playbook '{other.name}', which can reach the same customers, keeps "
                   f"{other_text}{there}: a customer in both can get {nouns} at hours one of "
                   "them promises to keep quiet.")
        hint = (f"declare the quiet hours once in 'defaults' ('quiet hours {channel} ...' for "
                "this channel only), or make the two playbooks say the same.")
    return Diagnostic(code=code, severity="warning", message=message, file=pb.file,
                      span=_where(pb, _own_policy(pb, kind, channel))[1],
                      related=(_where(other, _own_policy(other, kind, channel)),), hint=hint)


def _own_policy(pb: m.Playbook, kind: str, channel: str) -> m.Location | None:
    """The playbook's own declaration for `channel`; None when it comes from defaults."""
    keys = (f"{kind}:{channel}", f"{kind}:*")
    return next((pb.positions.policies[k] for k in keys if k in pb.positions.policies), None)


def _source(pb: m.Playbook, kind: str, channel: str) -> str:
    return "" if _own_policy(pb, kind, channel) else " (from defaults)"


def _policy_at(pb: m.Playbook, key: str) -> list[Where]:
    loc = pb.positions.policies.get(key)
    return [] if loc is None else [_where(pb, loc)]


def _where(pb: m.Playbook, loc: m.Location | None) -> Where:
    """A location, or the playbook's name when the part has none (a policy from defaults)."""
    loc = loc or pb.positions.header
    if loc is None:
        return pb.file, Span.point(1, 1)
    return loc.file, Span.point(loc.line, loc.col)
