"""Diagnostic helpers shared by every stage."""

from __future__ import annotations

from cadenza.grammar.diagnostics import did_you_mean


def test_did_you_mean_offers_the_same_name_in_another_case() -> None:
    """'C1' for the id 'c1': too short for a similarity match, so no suggestion was given."""
    assert did_you_mean("C1", ["c2", "c1", "d1"]) == " — did you mean 'c1'?"
