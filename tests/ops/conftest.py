"""Ops tests reuse the engine tests' stores: SQLite and PostgreSQL, each fresh per test."""

from __future__ import annotations

from tests.engine.conftest import _dispose_engines, store_url

__all__ = ["_dispose_engines", "store_url"]
