"""Deploying a project to a store: `plan` says what would change, `apply` does it atomically.

A deployment records the compiled project and, per playbook, the version it runs. A changed
playbook gets a new version; customers in flight follow the NEW version's change policy:
`pin` (default) keeps them on the version they entered until they finish; `migrate` moves each
one to the mapped step (`old -> new`; a step with the same name maps to itself; an unmapped
step that no longer exists is drained); `drain` ends their journeys. A removed playbook's
customers follow its last policy (`migrate` has nowhere to go: drained). Applying the same
source twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cadenza.engine import schema as t
from cadenza.engine.db import DEPLOY_LOCK, one_at_a_time
from cadenza.engine.store import OPEN, Store, record_project, version_id
from cadenza.playbooks import model as m
from cadenza.playbooks.describe import step as describe_step
from cadenza.playbooks.diff_match import match_steps


def source_hash(root: Path, files: list[str]) -> str:
    """A digest of the project's source files (playbooks, templates), by relative path."""
    digest = hashlib.sha256()
    for name in sorted(files):
        path = Path(name)
        rel = path.relative_to(root) if path.is_absolute() else path
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class StepChange:
    mark: str  # + ~ -
    step: str
    before: str
    after: str
    in_flight: int = 0
    fate: str = ""  # "kept on version 2", "migrated to x", "drained"


@dataclass
class PlaybookChange:
    mark: str  # + ~ - (and "=" for unchanged)
    name: str
    old_version: int | None
    policy: str
    steps: list[StepChange] = field(default_factory=list)
    in_flight: int = 0
    kept: int = 0
    migrated: int = 0
    drained: int = 0
    moves: dict[tuple[int, str], str | None] = field(default_factory=dict)  # (version, node)


@dataclass
class Plan:
    changes: list[PlaybookChange]
    same_source: bool
    deployment: int | None  # the current deployment id

    @property
    def empty(self) -> bool:
        return self.same_source or all(c.mark == "=" for c in self.changes)

    def render(self) -> str:
        if self.same_source:
            return "No changes: this source is already deployed."
        lines: list[str] = []
        for c in self.changes:
            if c.mark == "=":
                continue
            lines.append(_headline(c))
            lines += [_step_line(s) for s in c.steps]
        counts = Counter(c.mark for c in self.changes)
        lines.append(f"Plan: {counts['+']} to add, {counts['~']} to change, "
                     f"{counts['-']} to remove. In flight: "
                     f"{sum(c.kept for c in self.changes)} kept, "
                     f"{sum(c.migrated for c in self.changes)} migrated, "
                     f"{sum(c.drained for c in self.changes)} drained.")
        return "\n".join(lines)


def _headline(c: PlaybookChange) -> str:
    match c.mark:
        case "+":
            return f"+ playbook {c.name} (new)"
        case "-":
            return (f"- playbook {c.name} (removed; on change {c.policy}: {c.in_flight} in "
                    f"flight, {c.kept} kept, {c.drained} drained)")
        case _:
            return (f"~ playbook {c.name} (version {c.old_version} -> new, on change "
                    f"{c.policy}: {c.in_flight} in flight, {c.kept} kept, {c.migrated} "
                    f"migrated, {c.drained} drained)")


def _step_line(s: StepChange) -> str:
    what = {"+": s.after, "-": s.before, "~": f"{s.before} -> {s.after}"
            if " -> " not in s.after else f"{s.before} ({s.after})"}[s.mark]
    flight = f"  [{s.in_flight} in flight: {s.fate}]" if s.in_flight else ""
    return f"    {s.mark} step {s.step}: {what}{flight}"


def _latest(conn: Connection) -> Any:
    d = t.deployments
    return conn.execute(select(d).order_by(d.c.id.desc()).limit(1)).first()


def _in_flight(conn: Connection, playbook: str) -> Counter[tuple[int, str]]:
    e = t.enrollments
    rows = conn.execute(select(e.c.version_id, e.c.node).where(
        e.c.playbook == playbook, e.c.state.in_(OPEN)))
    return Counter((r.version_id, r.node or "") for r in rows)


def _steps(pb: m.Playbook | None) -> dict[str, str]:
    if pb is None:
        return {}
    return {s.id: json.dumps(s.model_dump(mode="json"), sort_keys=True) for s in pb.steps}


def _step_changes(old: m.Playbook | None, new: m.Playbook | None) -> list[StepChange]:
    before, after = _steps(old), _steps(new)
    say = {s.id: describe_step(s) for pb in (old, new) if pb for s in pb.steps}
    out = [StepChange("-", sid, say[sid], "") for sid in before if sid not in after]
    out += [_changed(old, new, sid) for sid in after
            if sid in before and before[sid] != after[sid]]
    out += [StepChange("+", sid, "", say[sid]) for sid in after if sid not in before]
    return out


def _changed(old: m.Playbook | None, new: m.Playbook | None, sid: str) -> StepChange:
    assert old is not None
    assert new is not None
    a, b = old.step(sid), new.step(sid)
    if describe_step(a) != describe_step(b):
        return StepChange("~", sid, describe_step(a), describe_step(b))
    # Same one-line summary: name what moved (an edge, a condition, a stage ...).
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    fields = [k for k in da if da[k] != db.get(k)]
    return StepChange("~", sid, describe_step(a), ", ".join(
        f"{k} {json.dumps(da[k])} -> {json.dumps(db[k])}" for k in fields))


def migrate_target(new: m.Playbook, node: str, pairs: Mapping[str, str] | None) -> str | None:
    """Where `on change migrate` moves a customer at `node`: the step the map names, else the
    same step in `new` — as `diff` matches it (`pairs`, from `version_pairs`), not merely a
    step that now has its name (remove `wait 6d`, and the unlabelled step after it takes its
    generated name `start.2`); None: drained. `pairs` None: the version's graph is unknown,
    so only the name can tell."""
    mapped = new.change.mapping.get(node)
    if mapped is not None:
        return mapped
    if pairs is None:
        return node if any(s.id == node for s in new.steps) else None
    return node if pairs.get(node) == node else None


def version_pairs(conn: Connection, ids: set[int],
                  new: m.Playbook | None) -> dict[int, dict[str, str]]:
    """Per playbook version in `ids`, which of its steps became which step of `new`."""
    if new is None or not ids:
        return {}
    v = t.playbook_versions
    return {int(r.id): match_steps(m.Playbook.model_validate(r.graph), new)
            for r in conn.execute(select(v.c.id, v.c.graph).where(v.c.id.in_(sorted(ids))))}


def _fates(change: PlaybookChange, new: m.Playbook | None, flight: Counter[tuple[int, str]],
           versions: dict[int, int], pairs: Mapping[int, Mapping[str, str]]) -> None:
    """Decide, per (version, step) in flight, what the policy does, and count it."""
    for (vid, node), n in flight.items():
        change.in_flight += n
        if change.policy == "pin":
            change.kept += n
            fate = f"kept on version {versions.get(vid, vid)}"
        elif change.policy == "migrate" and new is not None:
            target = migrate_target(new, node, pairs.get(vid))
            change.moves[(vid, node)] = target
            if target is None:
                change.drained += n
                fate = "drained"
            else:
                change.migrated += n
                fate = f"migrated to {target}"
        else:
            change.moves[(vid, node)] = None
            change.drained += n
            fate = "drained"
        for s in change.steps:
            if s.step == node:
                s.in_flight += n
                s.fate = fate


def plan(store: Store, project: m.Project, digest: str) -> Plan:
    with store.engine.connect() as conn:
        return _plan(conn, project, digest)


def _plan(conn: Connection, project: m.Project, digest: str) -> Plan:
    latest = _latest(conn)
    if latest is not None and latest.source_hash == digest:
        return Plan(changes=[], same_source=True, deployment=latest.id)
    old_project = None if latest is None else m.Project.model_validate(latest.project)
    numbers = _version_numbers(conn)
    changes = []
    names = list(project.playbooks) + [n for n in (old_project.playbooks if old_project
                                                   else {}) if n not in project.playbooks]
    for name in names:
        old = old_project.playbooks.get(name) if old_project else None
        new = project.playbooks.get(name)
        changes.append(_change(conn, name, old, new, latest, numbers))
    return Plan(changes=changes, same_source=False,
                deployment=None if latest is None else latest.id)


def _version_numbers(conn: Connection) -> dict[int, int]:
    v = t.playbook_versions
    return {r.id: r.version for r in conn.execute(select(v.c.id, v.c.version))}


def _change(conn: Connection, name: str, old: m.Playbook | None, new: m.Playbook | None,
            latest: Any, numbers: dict[int, int]) -> PlaybookChange:
    if old is not None and new is not None and old.semantic() == new.semantic():
        return PlaybookChange("=", name, None, new.change.mode)
    mark = "+" if old is None else "-" if new is None else "~"
    policy = (new or old).change.mode if (new or old) else "pin"  # type: ignore[union-attr]
    old_vid = None if latest is None else latest.versions.get(name)
    change = PlaybookChange(mark, name, numbers.get(old_vid) if old_vid else None, policy,
                            steps=_step_changes(old, new))
    if old is not None:
        flight = _in_flight(conn, name)
        pairs = version_pairs(conn, {v for v, _ in flight}, new if policy == "migrate" else None)
        _fates(change, new, flight, numbers, pairs)
    return change


def apply(store: Store, project: m.Project, digest: str, now: int,
          git_commit: str | None = None) -> Plan:
    """Record the project as the new deployment and apply each change policy, atomically.
    Planned inside the transaction, one process at a time: `serve` and `work` started
    together both deploy the folder they run, and the second finds the first's deployment."""
    with store.engine.begin() as conn:
        one_at_a_time(conn, DEPLOY_LOCK)
        current = _plan(conn, project, digest)
        if current.same_source:
            return current
        latest = _latest(conn)
        versions = dict(latest.versions) if latest is not None else {}
        by_name = {c.name: c for c in current.changes}
        for name, pb in project.playbooks.items():
            if by_name[name].mark != "=" or name not in versions:
                versions[name] = version_id(conn, pb, now, git_commit)
        for c in current.changes:
            if c.mark == "-":
                versions.pop(c.name, None)
            _move(conn, c, versions.get(c.name), project.playbooks.get(c.name), now)
        conn.execute(insert(t.deployments).values(
            source_hash=digest, git_commit=git_commit, versions=versions, created_at=now,
            project=project.model_dump(mode="json", by_alias=True)))
        record_project(conn, project)
    return current


def _move(conn: Connection, c: PlaybookChange, new_vid: int | None, new: m.Playbook | None,
          now: int) -> None:
    e = t.enrollments
    for (vid, node), target in c.moves.items():
        where = (e.c.playbook == c.name, e.c.version_id == vid, e.c.node == node,
                 e.c.state.in_(OPEN))
        if target is None or new_vid is None or new is None:
            conn.execute(update(e).where(*where).values(
                state="exited", ended_at=now, end_reason="drained by a deploy", node=None,
                due_at=None))
            continue
        # `node` is the step to run next and `due_at` when: a wait in progress keeps its
        # time. Only a wait for an event whose new step is no such wait resumes at once.
        conn.execute(update(e).where(*where).values(version_id=new_vid, node=target))
        if not isinstance(new.step(target), m.WaitEventStep):
            conn.execute(update(e).where(e.c.playbook == c.name, e.c.version_id == new_vid,
                                         e.c.node == target, e.c.state == "waiting")
                         .values(state="active", due_at=now))
