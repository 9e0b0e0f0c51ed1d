"""Which step of BASE became which step of HEAD: matched by structure, not only by label.

The rules, in order (each round only looks at steps not matched yet):

1. same id and same body (what the step does, without its name and edges): the same step;
2. same body, and it is the only step with that body left on each side, or else the one
   with the most neighbours (steps before and after it, the start, the end) already matched
   to its neighbours: the same step, renamed when the ids differ. Repeated until nothing more
   matches, so a renamed label carries the unlabelled steps under it (`a.2` -> `b.2`) along;
   identical steps structure cannot tell apart (two bare `end`s) then pair in file order;
3. same id and same kind: the same step, changed;
4. same kind and the most already matched neighbours, at least two (say the step before and
   the step after, so it sits in the same place): the same step, changed and renamed;
5. the rest of BASE is removed, the rest of HEAD added.

Order in the file never matters by itself: only ids, bodies and edges do.
"""

from __future__ import annotations

from collections.abc import Callable

from cadenza.playbooks import model as m
from cadenza.playbooks.diff_facts import body_key

START = "^start"  # a pseudo step before the first one, matched to itself
END = "$end"

Pairs = dict[str, str]
PLACE = 2  # matched neighbours that make two steps of one kind "in the same place"


def _neighbours(pb: m.Playbook) -> dict[str, set[str]]:
    """Each step's predecessors and successors, with START and END as fixed anchors."""
    out: dict[str, set[str]] = {s.id: set() for s in pb.steps}
    if pb.start is not None:
        out[pb.start].add("<" + START)
    for s in pb.steps:
        for t in m.successors(s):
            out[s.id].add(">" + (END if t is None else t))
            if t is not None and t in out:
                out[t].add("<" + s.id)
    return out


class _Matcher:
    def __init__(self, old: m.Playbook, new: m.Playbook) -> None:
        self.old, self.new = old, new
        self.old_body = {s.id: body_key(s) for s in old.steps}
        self.new_body = {s.id: body_key(s) for s in new.steps}
        self.old_kind = {s.id: s.kind for s in old.steps}
        self.new_kind = {s.id: s.kind for s in new.steps}
        self.old_nb, self.new_nb = _neighbours(old), _neighbours(new)
        self.pairs: Pairs = {}

    def free_old(self) -> list[str]:
        return [s.id for s in self.old.steps if s.id not in self.pairs]

    def free_new(self) -> list[str]:
        taken = set(self.pairs.values())
        return [s.id for s in self.new.steps if s.id not in taken]

    def score(self, oid: str, nid: str) -> int:
        mapped = {n[0] + self._map(n[1:]) for n in self.old_nb[oid]}
        return len(mapped & self.new_nb[nid])

    def _map(self, sid: str) -> str:
        return sid if sid in (START, END) else self.pairs.get(sid, "?" + sid)

    def by_id(self, same: Callable[[str, str], bool]) -> None:
        free = set(self.free_new())
        for oid in self.free_old():
            if oid in free and same(oid, oid):
                self.pairs[oid] = oid

    def by_body(self, *, need_neighbour: bool) -> bool:
        """One pass; True when something matched (a match can make neighbours of others)."""
        found = False
        old, new = (self.old_kind, self.new_kind) if need_neighbour else (self.old_body,
                                                                          self.new_body)
        for oid in self.free_old():
            candidates = [n for n in self.free_new() if old[oid] == new[n]]
            rivals = [o for o in self.free_old() if old[o] == old[oid]]
            pick = self._pick(oid, candidates, unique=len(candidates) == len(rivals) == 1,
                              least=PLACE if need_neighbour else 1)
            if pick is not None:
                self.pairs[oid] = pick
                found = True
        return found

    def _pick(self, oid: str, candidates: list[str], *, unique: bool, least: int) -> str | None:
        """The one candidate there is (of one body, one on each side), else the one with the
        most matched neighbours; a tie goes to the same id, or waits for more matches."""
        if not candidates:
            return None
        if unique and least == 1:
            return candidates[0]
        scores = {n: self.score(oid, n) for n in candidates}
        best = max(scores.values())
        top = [n for n in candidates if scores[n] == best]
        if best < least:
            return None
        if len(top) == 1:
            return top[0]
        return oid if oid in top else None


def match_steps(old: m.Playbook, new: m.Playbook) -> Pairs:
    """BASE step id -> HEAD step id, for every step that is the same step in both."""
    mt = _Matcher(old, new)
    mt.by_id(lambda o, n: mt.old_body[o] == mt.new_body[n])
    while mt.by_body(need_neighbour=False):
        pass
    _first_in_order(mt)
    mt.by_id(lambda o, n: mt.old_kind[o] == mt.new_kind[n])
    while mt.by_body(need_neighbour=True):
        pass
    return mt.pairs


def _first_in_order(mt: _Matcher) -> None:
    """Identical steps that structure cannot tell apart (two bare `end`s): pair in order."""
    for oid in mt.free_old():
        same = [n for n in mt.free_new() if mt.old_body[oid] == mt.new_body[n]]
        if same:
            mt.pairs[oid] = same[0]
