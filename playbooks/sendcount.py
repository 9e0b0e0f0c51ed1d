"""How many messages on one channel one enrollment can send within a window of time.

Time between two steps is at least the sum of the fixed `wait`s on the path between them:
`wait for event` may end at once (the event path) or after its timeout, `wait until ...` may
already be due, and quiet hours or caps only ever make a send later, never the next one
sooner. So the count below is what can really happen, not a bound that never could.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cadenza.playbooks import model as m

_MAX_PATH = 400  # a loop around a short wait in a long window; deeper is left uncounted


def sends_on(pb: m.Playbook, channel: str) -> list[m.SendStep]:
    return [s for s in pb.steps if isinstance(s, m.SendStep) and s.channel == channel]


def most_sends(pb: m.Playbook, channel: str, window_s: int, limit: int) -> int:
    """The most `channel` sends within any `window_s` seconds of one enrollment, up to `limit`.

    Loops that take no time, and paths deeper than `_MAX_PATH`, are counted once: an
    undercount, so that a warning built on this number never claims more than can happen.
    """
    counter = _Counter(pb={s.id: s for s in pb.steps}, channel=channel, window_s=window_s,
                       limit=limit)
    return max((counter.count(s.id, 0) for s in sends_on(pb, channel)), default=0)


@dataclass
class _Counter:
    pb: dict[str, m.Step]
    channel: str
    window_s: int
    limit: int
    memo: dict[tuple[str, int], int] = field(default_factory=dict)
    path: set[tuple[str, int]] = field(default_factory=set)

    def count(self, sid: str | None, elapsed: int) -> int:
        """Sends from step `sid` on, reached `elapsed` seconds after the window opened."""
        key = (sid or "", elapsed)
        if sid is None or elapsed >= self.window_s or sid not in self.pb:
            return 0
        if key in self.memo:
            return self.memo[key]
        if key in self.path or len(self.path) >= _MAX_PATH:
            return 0
        self.path.add(key)
        step = self.pb[sid]
        own = int(isinstance(step, m.SendStep) and step.channel == self.channel)
        best = 0
        for nxt, delay in _edges(step):
            best = max(best, self.count(nxt, elapsed + delay))
            if own + best >= self.limit:
                break
        self.path.discard(key)
        self.memo[key] = min(own + best, self.limit)
        return self.memo[key]


def _edges(step: m.Step) -> list[tuple[str | None, int]]:
    """Each successor with the least time control takes to get there."""
    match step:
        case m.WaitStep():
            return [(step.next, step.seconds)]
        case m.WaitEventStep():
            timeout = step.on_timeout if step.on_timeout is not None else step.next
            return [(step.next, 0), (timeout, step.timeout_s)]
        case _:
            return [(s, 0) for s in m.successors(step)]
