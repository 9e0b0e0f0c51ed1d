"""What customers and events look like: the schema declared in files plus the built-ins."""

from __future__ import annotations

from cadenza.grammar import ast
from cadenza.grammar.diagnostics import Span, did_you_mean
from cadenza.playbooks.model import AttrType, Schema
from cadenza.playbooks.report import Reporter

TYPE_NAMES = ("string", "number", "bool", "timestamp", "enum")
DATE_WORDS = frozenset({"date", "datetime", "time", "day"})
STRING = AttrType(type="string")
NUMBER = AttrType(type="number")
BOOL = AttrType(type="bool")
TIMESTAMP = AttrType(type="timestamp")

BUILTIN_CUSTOMER: dict[str, AttrType] = {
    "id": STRING, "email": STRING, "phone": STRING, "timezone": STRING,
}
BUILTIN_EVENTS: dict[str, dict[str, AttrType]] = {
    # An inbound SMS reply; `number` is the first integer in the body (an NPS score, say).
    "sms_reply": {"body": STRING, "number": NUMBER},
}


def _field_type(f: ast.Field, file: str, rep: Reporter) -> AttrType | None:
    name = f.type_name.name
    if name == "enum":
        return AttrType(type="enum", members=tuple(m.name for m in f.members))
    if name not in TYPE_NAMES:
        hint = "types are string, number, bool, timestamp and enum(a, b, ...)."
        if name in DATE_WORDS:
            hint = ("there is no date type: declare a timestamp (a date is its midnight, "
                    "1990-05-17T00:00:00Z); for a date every year, such as a birthday, see "
                    "'A birthday email at 09:00 their time' in docs/language.md.")
        rep.error("E021", file, f.type_name.span,
                  f"unknown type '{name}'{did_you_mean(name, TYPE_NAMES)}", hint=hint)
        return None
    return AttrType(type=name)


def _fields(fields: tuple[ast.Field, ...], known: dict[str, AttrType], what: str, file: str,
            rep: Reporter, where: dict[str, tuple[str, Span]]) -> None:
    """`where`: the first declaration of each name (built-ins have none), for the note."""
    for f in fields:
        if f.name.name in known:
            first = where.get(f"{what}:{f.name.name}")
            rep.error("E010", file, f.name.span,
                      f"{what} '{f.name.name}' is declared twice.",
                      hint="keep one declaration; built-in customer attributes are "
                           "id, email, phone and timezone.",
                      related=(first,) if first else ())
            continue
        t = _field_type(f, file, rep)
        where[f"{what}:{f.name.name}"] = (file, f.name.span)
        if t is not None:
            known[f.name.name] = t


def build_schema(schemas: list[tuple[str, ast.Schema]], rep: Reporter) -> Schema:
    customer: dict[str, AttrType] = dict(BUILTIN_CUSTOMER)
    events: dict[str, dict[str, AttrType]] = {k: dict(v) for k, v in BUILTIN_EVENTS.items()}
    where: dict[str, tuple[str, Span]] = {}
    for file, schema in schemas:
        for entry in schema.entries:
            if isinstance(entry, ast.CustomerSchema):
                _fields(entry.fields, customer, "customer attribute", file, rep, where)
                continue
            if entry.name.name in events:
                first = where.get(f"event:{entry.name.name}")
                rep.error("E010", file, entry.name.span,
                          f"event '{entry.name.name}' is declared twice.",
                          hint="merge the two declarations; 'sms_reply' is built in.",
                          related=(first,) if first else ())
                continue
            where[f"event:{entry.name.name}"] = (file, entry.name.span)
            props: dict[str, AttrType] = {}
            _fields(entry.fields, props, f"property of event '{entry.name.name}'", file, rep,
                    where)
            events[entry.name.name] = props
    return Schema(customer=customer, events=events)
