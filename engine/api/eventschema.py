"""Track events checked against the project's schema at the door, as identify's traits are.

An event the schema does not declare, or a property it does not declare, is stored (history
is the product's, and a later schema may name it) and the 200 answer warns. A declared
property of the wrong type is not stored — the event is, without it — and the answer says so:
stored as sent, it would reach conditions and templates as a value of the wrong type.
Declared values are stored in the engine's form (an ISO 8601 timestamp as epoch seconds), as
`simulate` and `cadenza test` store them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cadenza.engine.dataload import BadValueError, coerce
from cadenza.engine.state import Event
from cadenza.grammar.diagnostics import did_you_mean
from cadenza.playbooks import model as m


def checked(event: Event, schema: m.Schema, where: str) -> tuple[Event, list[str]]:
    """The event as it will be stored, and the warnings for the answer."""
    prefix = f"{where}: " if where.startswith("batch") else ""
    declared = schema.events.get(event.name)
    if declared is None:
        return event, [f"{prefix}event '{event.name}' is not in the schema"
                       f"{did_you_mean(event.name, schema.events)} It was stored; declare it "
                       "in the schema to use it in playbooks."]
    warnings: list[str] = []
    properties: dict[str, Any] = {}
    for key, value in event.properties.items():
        kind = declared.get(key)
        if kind is None:
            properties[key] = value
            warnings.append(f"{prefix}unknown property '{key}' of event '{event.name}'"
                            f"{did_you_mean(key, declared)} It was stored; declare it in the "
                            "schema to use it in playbooks.")
            continue
        try:
            properties[key] = coerce(value, kind, key)
        except BadValueError as exc:
            warnings.append(f"{prefix}event '{event.name}': {exc} It was not stored; the "
                            "event was, without it.")
    return replace(event, properties=properties), warnings
