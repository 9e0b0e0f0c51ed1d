"""Liquid templates: loaded from `templates/`, compiled once, their variables checked per use.

Liquid is what Braze, Customer.io and Shopify users already write. Rendering happens in the
engine at send time; here we only prove that every template compiles and names nothing the
schema does not know.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from liquid import BoundTemplate, Environment, StrictUndefined
from liquid.exceptions import LiquidError, TemplateNotFoundError

from cadenza.grammar.diagnostics import Span, did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.report import Reporter

PLAYBOOK_VARS = ("name", "title")
EXTRA_VARS = ("unsubscribe_url",)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(undefined=StrictUndefined)


def load_template(path: Path, root: Path, text: str) -> m.Template:
    name = path.relative_to(root / "templates").as_posix().removesuffix(".liquid")
    subject, body, body_line = split_front_matter(text.replace("\r\n", "\n"))
    return m.Template(name=name, file=str(path), subject=subject, body=body,
                      body_line=body_line)


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """`---\\nsubject: ...\\n---\\nbody` -> (subject, body, first line of body)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, text, 1
    subject = None
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return subject, "\n".join(lines[i + 1:]), i + 2
        key, _, value = line.partition(":")
        if key.strip().lower() == "subject":
            subject = value.strip()
    return subject, text, 1


@dataclass(frozen=True)
class Vars:
    """The names a template may use where it is sent."""

    customer: dict[str, m.AttrType]
    event: dict[str, m.AttrType] | None
    bound: dict[str, dict[str, m.AttrType]]
    lenient_event: bool = False
    # An event property some entry does not carry -> that entry, in words ("the entry on
    # line 8, `when cron`"): a customer who enters there has no such value.
    event_gaps: Mapping[str, str] = field(default_factory=dict)

    def gap(self, path: str) -> str | None:
        """Why `event.x` may be missing at send time, or None when every entry carries it."""
        head, _, rest = path.partition(".")
        prop = rest.split(".")[0]
        if head != "event" or self.lenient_event or self.event is None or prop not in self.event:
            return None
        entry = self.event_gaps.get(prop)
        if entry is None:
            return None
        return (f"uses '{path}', but a customer who enters by {entry} has no such value, so "
                "the message would be skipped for them at send time (render_error)")

    def problem(self, path: str) -> str | None:
        head, _, rest = path.partition(".")
        if head == "event" and self.lenient_event:
            return None
        prop = rest.split(".")[0] if rest else ""
        if head in self.customer and not rest:
            return None
        namespaces: dict[str, frozenset[str] | None] = {
            "customer": frozenset(self.customer),
            "event": None if self.event is None else frozenset(self.event),
            "playbook": frozenset(PLAYBOOK_VARS),
            **{k: frozenset(v) for k, v in self.bound.items()}}
        if head in EXTRA_VARS and not rest:
            return None
        if head not in namespaces:
            known = [*self.customer, *namespaces, *EXTRA_VARS]
            return f"uses the unknown variable '{head}'{did_you_mean(head, known)}"
        names = namespaces[head]
        if names is None:
            return f"uses '{path}', but this playbook is not triggered by an event."
        if prop not in names:
            # Suggest the whole path the author would write: 'reply.body', not 'body'.
            whole = [f"{head}.{n}" for n in names]
            return f"uses '{path}', which is not known{did_you_mean(f'{head}.{prop}', whole)}"
        return None


@functools.lru_cache(maxsize=4096)
def analyse(source: str) -> tuple[tuple[str, ...], LiquidError | None]:
    """The variable paths a template uses, or its compile error; one analysis per text,
    however many steps send it."""
    template, exc = compile_source(source)
    if template is None:
        return (), exc
    try:
        paths = template.global_variable_paths()
    except LiquidError as error:  # the analysis follows {% include %}: a missing one raises
        return (), error
    return tuple(sorted(paths)), None


# `default` must be the first filter: any other filter fails on an unset value first.
_DEFAULTED = re.compile(r"""[\w.\[\]'"]+\s*\|\s*default\s*:""")


@functools.lru_cache(maxsize=4096)
def defaulted(source: str) -> frozenset[str]:
    """Paths every use of which is followed by `| default: ...` as its first filter: at send
    time an unset value renders as the default there instead of failing."""
    template, _ = compile_source(source)
    if template is None:
        return frozenset()
    try:
        uses = template.analyze().variables
    except LiquidError:
        return frozenset()
    covered: dict[str, bool] = {}
    for occurrences in uses.values():
        for var in occurrences:
            path = ".".join(str(s) for s in var.segments)
            guarded = _DEFAULTED.match(source, var.span.index) is not None
            covered[path] = covered.get(path, True) and guarded
    return frozenset(path for path, ok in covered.items() if ok)


@functools.lru_cache(maxsize=4096)
def unknown_filters(source: str) -> tuple[tuple[str, int], ...]:
    """Filters Liquid does not have, each with where it is first used: Liquid finds them only
    when it renders, so the message would be skipped at send time for everyone."""
    template, _ = compile_source(source)
    if template is None:
        return ()
    try:
        used = template.analyze().filters
    except LiquidError:
        return ()
    known = environment().filters
    return tuple((name, spans[0].index) for name, spans in sorted(used.items())
                 if name not in known)


def _index_span(source: str, index: int, first_line: int) -> Span:
    before = source[:max(0, min(index, len(source)))]
    return Span.point(first_line + before.count("\n"), index - (before.rfind("\n") + 1) + 1)


def compile_source(source: str) -> tuple[BoundTemplate | None, LiquidError | None]:
    try:
        return environment().from_string(source), None
    except LiquidError as exc:
        return None, exc


def _error_span(source: str, exc: LiquidError, first_line: int) -> Span:
    token = getattr(exc, "token", None)
    index = getattr(token, "start_index", 0) or 0
    if not 0 <= index <= len(source):  # Liquid's end-of-input token has a negative index
        index = len(source)
    before = source[:index]
    line = before.count("\n")
    col = index - (before.rfind("\n") + 1) + 1
    return Span.point(first_line + line, col)


def _message(exc: LiquidError) -> str:
    text = str(getattr(exc, "message", None) or exc).splitlines()[0].strip()
    if isinstance(exc, TemplateNotFoundError):  # its message is the bare name
        return f"it includes '{text}', and templates cannot include other templates"
    return text


def check_source(source: str, vars_: Vars, where: tuple[str, Span], origin: tuple[str, int],
                 label: str, rep: Reporter) -> None:
    """Compile one template text and check its variables; errors point at the template."""
    file, line = origin
    paths, exc = analyse(source)
    if exc is not None:
        rep.error("E037", file, _error_span(source, exc, line),
                  f"{label} does not compile: {_message(exc)}.",
                  hint="check the Liquid syntax: {{ variable }}, {% if %}...{% endif %}.",
                  related=(where,))
        return
    # A template file is shown beside the step; inline text is the step's own line already.
    related = () if file == where[0] else ((file, Span.point(line, 1)),)
    for name, index in unknown_filters(source):
        known = environment().filters
        span = _index_span(source, index, line) if related else where[1]  # inline: the step
        rep.error("E037", file, span,
                  f"{label} uses the unknown filter '{name}'{did_you_mean(name, known)}",
                  hint="Liquid's standard filters work (default, upcase, date, round, "
                       "truncate, ...); a message with an unknown one is never sent.",
                  related=(where,) if related else ())
    for path in paths:
        gap = None if path in defaulted(source) else vars_.gap(path)
        if gap is not None:
            # Single quotes: pasted into an inline `text "..."`, double ones end the string.
            fix = f"{{{{ {path} | default: '...' }}}}"
            rep.error("E038", where[0], where[1], f"{label} {gap}.",
                      hint=f"give it a default as its first filter ({fix}), or move that "
                           "entry to a playbook of its own.", related=related)
        problem = vars_.problem(path)
        if problem is not None:
            end = "" if problem.endswith(("?", ".")) else "."
            rep.error("E038", where[0], where[1], f"{label} {problem}{end}",
                      hint="templates may use customer attributes, event.PROPERTY of the "
                           "trigger event, NAME.PROPERTY of a bound event, playbook.name.",
                      related=related)
