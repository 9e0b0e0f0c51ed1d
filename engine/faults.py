"""Crash points for the crash trials (tests/crash): kill this process at a named point.

Off unless BOTH `CADENZA_TEST_BUILD=1` and `CADENZA_FAULT_POINT` are set, so a stray
variable in production cannot arm it. The environment is read once, at import, into a frozen
plan; when nothing is armed `hit` is a function that returns at once.

- `CADENZA_FAULT_POINT`: one of POINTS, optionally narrowed to a channel
  (`after_provider_accept:sms`); the process SIGKILLs itself there.
- `CADENZA_FAULT_AFTER`: on the Nth time the point is reached (default 1).
- `CADENZA_FAULT_BROKEN`: comma-separated BROKEN variants, deliberately wrong builds that show
  the crash trials can fail (also only with `CADENZA_TEST_BUILD=1`).
"""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

POINTS = frozenset({
    "after_claim",            # customers locked for a batch, before any effect is computed
    "after_commit",           # a batch's effects and outbox rows committed, before dispatch
    "after_outbox_claim",     # outbox rows leased to this worker, before any send
    "after_provider_accept",  # a provider accepted a message, before its status is written
})
BROKEN = frozenset({
    "skip_lease_recovery",  # expired outbox leases are never taken back
    "resend_sms",           # an SMS whose sender died goes back to pending, like email
})


@dataclass(frozen=True)
class FaultPlan:
    point: str | None = None
    after: int = 1
    broken: frozenset[str] = frozenset()


def plan_from(env: Mapping[str, str]) -> FaultPlan:
    """The armed plan, or an empty one outside a test build; unknown names are refused."""
    if env.get("CADENZA_TEST_BUILD") != "1":
        return FaultPlan()
    point = env.get("CADENZA_FAULT_POINT") or None
    broken = frozenset(x.strip() for x in env.get("CADENZA_FAULT_BROKEN", "").split(",")
                       if x.strip())
    if point is not None and point.split(":")[0] not in POINTS:
        raise ValueError(f"CADENZA_FAULT_POINT={point!r} is not one of {sorted(POINTS)}.")
    if broken - BROKEN:
        raise ValueError(f"CADENZA_FAULT_BROKEN names {sorted(broken - BROKEN)}; known: "
                         f"{sorted(BROKEN)}.")
    return FaultPlan(point=point, after=max(1, int(env.get("CADENZA_FAULT_AFTER", "1"))),
                     broken=broken)


class Hook(Protocol):
    def __call__(self, point: str, channel: str = "") -> None: ...


def _nothing(point: str, channel: str = "") -> None:
    """The production hook: armed by nothing, costs one call."""


def _armed(plan: FaultPlan) -> Hook:
    hits = itertools.count(1)

    def hit(point: str, channel: str = "") -> None:
        if plan.point in (point, f"{point}:{channel}") and next(hits) >= plan.after:
            os.kill(os.getpid(), signal.SIGKILL)  # as abrupt as power loss: no cleanup runs

    return hit


PLAN = plan_from(os.environ)
hit: Hook = _armed(PLAN) if PLAN.point else _nothing


def broken(variant: str) -> bool:
    """True only in a deliberately broken test build (CADENZA_FAULT_BROKEN)."""
    return variant in PLAN.broken
