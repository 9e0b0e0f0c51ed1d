"""Pause the cyclic garbage collector around the front end's allocation bursts.

Parsing and compiling allocate hundreds of thousands of small acyclic objects (tokens, AST
nodes, spans, models); each burst of 700 of them starts a collection, and every tenth of those
walks older objects too, so with the libraries a command imports (SQLAlchemy, pydantic, ...)
the collector took a fifth of the front end's time while finding nothing to free. Reference
counting still frees everything as usual; cycles made meanwhile wait until the end of the
outermost pause. Nested pauses are safe: only the pause that found the collector on turns
it back on, so none turns it on if someone else had turned it off. Overlapping pauses in two
threads at worst end the later one's pause early.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
