"""Audience and event history files for `simulate`: read, checked against the schema.

Customers come from JSONL (one flat object per line) or CSV (a header row); events from JSONL
(`customer_id`, `event`, `timestamp` with a zone, `properties`, optional `message_id`). A row
that cannot be used is skipped and reported as a `Problem` naming the file and line; nothing is
dropped silently, and the report counts what was skipped and why.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cadenza.engine.state import Event
from cadenza.engine.timing import parse_timestamp
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m
from cadenza.playbooks.contacts import clean_contact
from cadenza.playbooks.policies import valid_zone

COLUMNS = ("id", "email", "phone", "timezone")
TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str
    reason: str  # a short key the report counts by
    skipped: bool = True  # False: the row was used, one value was dropped

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {'error' if self.skipped else 'warning'}: {self.message}"


@dataclass
class Loaded:
    customers: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def skipped(self) -> Counter[str]:
        return Counter(p.reason for p in self.problems if p.skipped)


class BadValueError(ValueError):
    """A value that does not fit its declared type; the message is a full sentence."""


def coerce(value: Any, t: m.AttrType, name: str) -> Any:
    """A raw value (JSON, or CSV text) -> the stored form for its schema type."""
    if value is None or value == "":
        return None
    match t.type:
        case "number":
            return _number(value, name)
        case "bool":
            return _bool(value, name)
        case "timestamp":
            try:
                return parse_timestamp(value)
            except ValueError as exc:
                reason = str(exc)  # a sentence of its own: mid-sentence here
                raise BadValueError(f"'{name}': {reason[:1].lower()}{reason[1:]}") from exc
        case "enum":
            if str(value) not in t.members:
                raise BadValueError(f"'{name}' is {value!r}, not one of {', '.join(t.members)}"
                               f"{did_you_mean(str(value), t.members)}")
            return str(value)
        case _:
            return str(value)


def _number(value: Any, name: str) -> float | int:
    if isinstance(value, bool):
        raise BadValueError(f"'{name}' should be a number, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise BadValueError(f"'{name}' should be a number, not {value!r}.") from exc
    return int(number) if number.is_integer() else number


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise BadValueError(f"'{name}' should be true or false, not {value!r}.")


def _customer(raw: Mapping[str, Any], schema: m.Schema, file: str, line: int,
              problems: list[Problem]) -> dict[str, Any] | None:
    cid = str(raw.get("id") or "").strip()
    if not cid:
        problems.append(Problem(file, line, "the row has no 'id'.", "customer without id"))
        return None
    zone = raw.get("timezone") or None
    if zone is not None and not valid_zone(str(zone)):
        problems.append(Problem(file, line, f"unknown time zone {zone!r} for customer "
                                f"'{cid}'; the project's zone is used.", "bad time zone",
                                skipped=False))
        zone = None
    fields = {k: v for k, v in raw.items() if k not in COLUMNS}
    attrs = _typed(fields, schema.customer, "attribute", (file, line), problems)
    contacts = {key: _contact(key, raw.get(key) or None, cid, (file, line), problems)
                for key in ("email", "phone")}
    return {"id": cid, **contacts, "timezone": zone, "attributes": attrs}


def _contact(key: str, value: object, cid: str, where: tuple[str, int],
             problems: list[Problem]) -> str | None:
    if value is None:
        return None
    stored, problem = clean_contact(key, value)
    if problem is not None:
        problems.append(Problem(*where, f"the {key} of customer '{cid}': {problem} (value "
                                "dropped).", f"bad {key}", skipped=False))
    return stored


def _typed(raw: Mapping[str, Any], types: Mapping[str, m.AttrType], what: str,
           where: tuple[str, int], problems: list[Problem]) -> dict[str, Any]:
    """Values converted to their schema types; unknown or bad ones dropped, each reported."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        t = types.get(key)
        if t is None:
            problems.append(Problem(*where, f"unknown {what} '{key}'"
                                    f"{did_you_mean(key, types)} (value dropped)",
                                    f"unknown {what.split(maxsplit=1)[0]}", skipped=False))
            continue
        try:
            out[key] = coerce(value, t, key)
        except BadValueError as exc:
            problems.append(Problem(*where, f"{exc} (value dropped)", "bad value",
                                    skipped=False))
    return out


JSONL_HINT = ("This file is read as JSON Lines, one JSON object per line "
              '(events: {"customer_id": ..., "event": ..., "timestamp": ..., "properties": '
              "{...}}); only customers may be CSV.")


def _rows(path: Path, problems: list[Problem]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    file = str(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        if path.suffix.lower() == ".csv":
            yield from _csv_rows(csv.DictReader(fh, strict=True), file, problems)
            return
        yield from _jsonl(fh, file, problems)


def _csv_rows(reader: csv.DictReader[str], file: str,
              problems: list[Problem]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    while True:
        start = reader.line_num + 1  # where the next row begins: an error names that line
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(Problem(file, start, _csv_error(exc), "malformed row"))
            return
        header = len(reader.fieldnames or [])
        extra = row.get(None) or []
        missing = sum(1 for k, v in row.items() if k is not None and v is None)
        if extra or missing:
            problems.append(Problem(file, reader.line_num, "the row has "
                                    f"{header - missing + len(extra)} fields where "
                                    f"the header has {header}.", "malformed row"))
            continue
        yield reader.line_num, row


def _csv_error(exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return ("malformed CSV: a quote opened in this row is never closed, so the rest of the "
                "file was read as one field and nothing from this line on was loaded; close "
                'the quote (a quote inside a quoted field is written twice: "").')
    return f"malformed CSV: {exc}."


def _jsonl(lines: Any, file: str, problems: list[Problem]) -> Iterator[tuple[int, Any]]:
    first = True
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # A first line that is no JSON is most likely a file in another format (a CSV).
            hint = f" {JSONL_HINT}" if first else ""
            problems.append(Problem(file, number, f"not valid JSON: {exc.msg}.{hint}",
                                    "malformed row"))
            first = False
            continue
        first = False
        if not isinstance(value, dict):
            problems.append(Problem(file, number, "each line must be a JSON object.",
                                    "malformed row"))
            continue
        yield number, value


def load_customers(path: Path, schema: m.Schema, out: Loaded) -> None:
    seen: set[str] = set()
    for line, raw in _rows(path, out.problems):
        row = _customer(raw, schema, str(path), line, out.problems)
        if row is None:
            continue
        if row["id"] in seen:
            out.problems.append(Problem(str(path), line, f"customer '{row['id']}' appears "
                                        "twice; the later row is skipped.", "duplicate customer"))
            continue
        seen.add(row["id"])
        out.customers.append(row)


def load_events(path: Path, schema: m.Schema, out: Loaded) -> None:
    known = {c["id"] for c in out.customers}
    with path.open(encoding="utf-8-sig") as fh:
        for line, raw in _jsonl(fh, str(path), out.problems):
            event = _event(raw, schema, known, str(path), line, out.problems)
            if event is not None:
                out.events.append(event)
    out.events.sort(key=lambda e: e.ts)


def _event(raw: Mapping[str, Any], schema: m.Schema, known: set[str], file: str, line: int,
           problems: list[Problem]) -> Event | None:
    cid, name = str(raw.get("customer_id") or ""), str(raw.get("event") or "")
    missing = [key for key, value in (("customer_id", cid), ("event", name)) if not value]
    if missing:
        keys = " and ".join(f'"{k}"' for k in missing)
        problems.append(Problem(file, line, f"the row has no {keys}; each line is "
                                '{"customer_id": ..., "event": ..., "timestamp": ..., '
                                '"properties": {...}}.', "missing field"))
        return None
    props = schema.events.get(name)
    if props is None:
        problems.append(Problem(file, line, f"unknown event '{name}'"
                                f"{did_you_mean(name, schema.events)}", "unknown event"))
        return None
    if cid not in known:
        problems.append(Problem(file, line, f"event '{name}' is for unknown customer "
                                f"'{cid}'.", "unknown customer"))
        return None
    try:
        ts = parse_timestamp(raw.get("timestamp", ""))
    except ValueError as exc:
        problems.append(Problem(file, line, str(exc), "bad timestamp"))
        return None
    values = _typed(dict(raw.get("properties") or {}), props, f"property of '{name}'",
                    (file, line), problems)
    message_id = raw.get("message_id")
    return Event(customer_id=cid, name=name, ts=ts, properties=values,
                 message_id=None if message_id is None else str(message_id))


def load_data(project: m.Project, customers: Path, events: Path | None) -> Loaded:
    out = Loaded()
    load_customers(customers, project.schema_, out)
    if events is not None:
        load_events(events, project.schema_, out)
    return out
