"""SMS encoding and segment counts at the carriers' boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cadenza.engine.sms import GSM7_BASIC, GSM7_EXTENSION, sms_segments


@pytest.mark.parametrize(("length", "segments"), [
    (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_boundaries(length: int, segments: int) -> None:
    """GSM-7: 160 characters fit one message; beyond that, 153 per part."""
    assert sms_segments("a" * length) == ("GSM-7", segments)


@pytest.mark.parametrize(("length", "segments"), [
    (70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length: int, segments: int) -> None:
    """UCS-2: 70 characters fit one message; beyond that, 67 per part."""
    assert sms_segments("ж" * length) == ("UCS-2", segments)


def test_euro_sign_counts_two() -> None:
    """The euro sign is in the extension table: it stays GSM-7 but takes two of the 160."""
    assert sms_segments("€" + "a" * 158) == ("GSM-7", 1)
    assert sms_segments("€" + "a" * 159) == ("GSM-7", 2)


def test_extension_pair_is_not_split_across_parts() -> None:
    """An extension character that would straddle two parts moves whole to the next part."""
    assert sms_segments("a" * 152 + "€" + "a" * 152) == ("GSM-7", 3)
    assert sms_segments("a" * 151 + "€" + "a" * 153) == ("GSM-7", 2)


def test_emoji_forces_ucs2_and_counts_two() -> None:
    """One emoji sends the whole text as UCS-2, and it takes two UTF-16 units."""
    assert sms_segments("a" * 68 + "🙂") == ("UCS-2", 1)
    assert sms_segments("a" * 69 + "🙂") == ("UCS-2", 2)


def test_accent_outside_gsm7_forces_ucs2() -> None:
    """'ê' is not in GSM-7 (while 'é' is): its presence switches the encoding."""
    assert sms_segments("café") == ("GSM-7", 1)
    assert sms_segments("crêpe") == ("UCS-2", 1)


def test_empty_text_is_no_segments() -> None:
    """An empty text costs nothing: zero segments."""
    assert sms_segments("") == ("GSM-7", 0)


def test_tables_have_their_standard_sizes() -> None:
    """The basic table has 127 characters (its escape is not one), the extension table 10."""
    assert (len(GSM7_BASIC), len(GSM7_EXTENSION)) == (127, 10)


@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=600))
def test_gsm7_segments_bound_the_units(text: str) -> None:
    """Segments are at least units/153, and at most units/152 (a part may lose one unit to
    an extension pair moved whole to the next part)."""
    encoding, segments = sms_segments(text)
    units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    assert encoding == "GSM-7"
    if units <= 160:
        assert segments == (1 if text else 0)
    else:
        assert -(-units // 153) <= segments <= -(-units // 152)
