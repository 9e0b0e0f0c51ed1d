"""Messages rendered at send time: Liquid, strict and sandboxed, compiled once per text.

Exceptions: every Liquid failure (syntax, an undefined variable, a limit reached, a filter
error) leaves this module as `RenderError`, a sentence naming the template, the problem and
its line:column. Nothing from `liquid.exceptions` crosses this boundary.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Mapping
from html.parser import HTMLParser

from liquid import BoundTemplate, Environment, StrictDefaultUndefined
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.output import OutputNode
from liquid.exceptions import LiquidError, TemplateNotFoundError

from cadenza.engine.timing import local_iso

__all__ = ["RenderError", "build_context", "html_to_text", "render_message"]

LOOP_ITERATION_LIMIT = 10_000
OUTPUT_LIMIT_BYTES = 512 * 1024  # far above any email; stops a runaway template early
LOCAL_NAMESPACE_LIMIT_BYTES = 256 * 1024


class RenderError(Exception):
    """A template could not be rendered for one message; the message says which and why."""


class SandboxedEnvironment(Environment):
    """Liquid with limits, so one bad template cannot stall or flood the engine.

    python-liquid reads its resource limits from class attributes, hence the subclass.
    """

    loop_iteration_limit = LOOP_ITERATION_LIMIT
    output_stream_limit = OUTPUT_LIMIT_BYTES
    local_namespace_limit = LOCAL_NAMESPACE_LIMIT_BYTES


@functools.lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # StrictDefaultUndefined is StrictUndefined that still lets `| default: "there"` work, as
    # the language reference promises; any other use of a missing variable is an error. The
    # default loader is empty, so `include` and `render` cannot reach the file system.
    env = SandboxedEnvironment(undefined=StrictDefaultUndefined)
    env.filters["date"] = _date_of_nothing_is_empty(env.filters["date"])
    return env


def _date_of_nothing_is_empty(date: Callable[..., object]) -> Callable[..., object]:
    """A declared attribute that is not set renders empty, filtered or not (as in Shopify's
    Liquid, where `nil | date` is nil); python-liquid's `date` refuses None instead, and
    `{{ trial_ends_at | date: "%B %d" }}` skipped the whole message."""
    @functools.wraps(date)  # keeps the flags by which Liquid passes the environment
    def wrapped(value: object, *args: object, **kwargs: object) -> object:
        return "" if value is None else date(value, *args, **kwargs)
    return wrapped


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> BoundTemplate | LiquidError:
    """The parsed template, or its syntax error: cached either way, one parse per text."""
    try:
        return _environment().from_string(text)
    except LiquidError as exc:
        return exc


def render_message(template_text: str, context: Mapping[str, object], *,
                   name: str | None = None) -> str:
    """Render `template_text` with `context`; `name` (the template file's name) is used in errors.

    Raises RenderError on any Liquid error.
    """
    plan = _plan(template_text)
    if plan is not None and (fast := _fill(plan, context)) is not None:
        return fast
    compiled = _compile(template_text)
    if isinstance(compiled, LiquidError):
        # Not re-raised: a cached exception would grow its traceback on every raise.
        raise RenderError(_describe(compiled, template_text, name))
    try:
        return compiled.render(**context)
    except LiquidError as exc:
        raise RenderError(_describe(exc, template_text, name)) from exc


# A template of text and bare `{{ a.b }}` outputs, as most messages are: its parts, a string
# or the path of a variable. Filled with string values it renders exactly as Liquid does; any
# other value (a number, a list, nothing) goes through Liquid, which formats or refuses it.
Plan = tuple[str | tuple[str, ...], ...]


@functools.lru_cache(maxsize=4096)
def _plan(text: str) -> Plan | None:
    compiled = _compile(text)
    if isinstance(compiled, LiquidError):
        return None
    parts: list[str | tuple[str, ...]] = []
    for node in compiled.nodes:
        if type(node) is ContentNode:
            parts.append(node.text)
            continue
        expr = getattr(node, "expression", None)
        if type(node) is not OutputNode or type(expr) is not FilteredExpression or \
                expr.filters or type(expr.left) is not Path or \
                not all(isinstance(key, str) for key in expr.left.path):
            return None
        parts.append(tuple(str(key) for key in expr.left.path))
    return tuple(parts)


def _fill(plan: Plan, context: Mapping[str, object]) -> str | None:
    out: list[str] = []
    for part in plan:
        if isinstance(part, str):
            out.append(part)
            continue
        value: object = context
        for key in part:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        if not isinstance(value, str):
            return None
        out.append(value)
    text = "".join(out)
    return text if len(text) * 4 <= OUTPUT_LIMIT_BYTES else None  # near the limit: Liquid


def _describe(exc: LiquidError, text: str, name: str | None) -> str:
    which = f"The template '{name}'" if name else f"The inline template {_excerpt(text)}"
    problem = str(exc.message or type(exc).__name__).splitlines()[0].strip().rstrip(".")
    if isinstance(exc, TemplateNotFoundError):
        problem = f"it includes '{problem}', but templates cannot include other templates"
    return f"{which} could not be rendered: {problem}{_position(exc, text)}."


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return f'"{flat[:40]}..."' if len(flat) > 40 else f'"{flat}"'


def _position(exc: LiquidError, text: str) -> str:
    token = exc.token
    if token is None or token.source != text:
        return ""
    before = text[:token.start_index]
    line = before.count("\n") + 1
    col = token.start_index - (before.rfind("\n") + 1) + 1
    return f" (line {line}, column {col})"


# ------------------------------------------------------------------ the variables
def build_context(customer: Mapping[str, object], event: Mapping[str, object] | None,
                  bound: Mapping[str, Mapping[str, object]], playbook: tuple[str, str],
                  unsubscribe_url: str | None, *, zone: str = "UTC",
                  timestamp_names: Collection[str] = ()) -> dict[str, object]:
    """The variables a message may use.

    Customer attributes appear bare (`first_name`) and as `customer.first_name`; the trigger
    event as `event.x`; events bound by `wait for event ... as NAME` as `NAME.x`; the playbook
    as `playbook.name` and `playbook.title`; `unsubscribe_url` when there is one.

    `timestamp_names` names the timestamp variables as templates write them: bare for customer
    attributes (`renewal_date`), prefixed for events (`event.shipped_at`, `reply.received_at`).
    Their epoch-second values become ISO 8601 text in `zone`, the customer's zone.
    """
    people = _localise(customer, "", timestamp_names, zone)
    context: dict[str, object] = {
        **people,
        "customer": people,
        "playbook": {"name": playbook[0], "title": playbook[1]},
    }
    if event is not None:
        context["event"] = _localise(event, "event.", timestamp_names, zone)
    for var, props in bound.items():
        context[var] = _localise(props, f"{var}.", timestamp_names, zone)
    if unsubscribe_url is not None:
        context["unsubscribe_url"] = unsubscribe_url
    return context


def _localise(values: Mapping[str, object], prefix: str, timestamps: Collection[str],
              zone: str) -> dict[str, object]:
    return {k: _as_local(v, zone) if f"{prefix}{k}" in timestamps else v
            for k, v in values.items()}


def _as_local(value: object, zone: str) -> object:
    # bool is an int: never mistake a flag for 1970; text is left as the caller gave it.
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return local_iso(math.floor(value), zone)
    return value


# ------------------------------------------------------------------ email text part
_BLOCKS = frozenset({"address", "article", "blockquote", "div", "footer", "h1", "h2", "h3",
                     "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "section", "table",
                     "tr", "ul"})
_ROWS = frozenset({"li", "tr"})  # one line each, not a paragraph
_HIDDEN = frozenset({"head", "script", "style", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in {"td", "th"}:
            self.parts.append(" ")  # cells side by side must not run together
        elif tag in _BLOCKS:
            self.parts.append("\n" if tag in _ROWS else "\n\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.parts.append("\x00")  # marks where the link text starts

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS and tag not in _ROWS:  # rows end where the next one starts
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            self._close_link(self.links.pop())

    def _close_link(self, href: str | None) -> None:
        start = len(self.parts) - 1 - self.parts[::-1].index("\x00")
        label = " ".join("".join(self.parts[start + 1:]).split())
        # A reader of the text part cannot click: show the address unless the label is it.
        shown = f"{label} ({href})" if href and label and label != href else (label or href or "")
        self.parts[start:] = [shown]

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """A plain-text rendering of an HTML email for its text part: paragraphs and line breaks
    kept, links as 'label (url)', scripts and styles dropped, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(p for p in parser.parts if p != "\x00")
    lines = (" ".join(line.split()) for line in text.split("\n"))
    paragraphs: list[str] = []
    blank = True
    for line in lines:
        if line or not blank:
            paragraphs.append(line)
        blank = not line
    return "\n".join(paragraphs).strip()
