"""How many SMS segments a text costs, and in which encoding it goes (3GPP TS 23.038).

GSM-7 carries 160 characters in one message, 153 per part when concatenated (the rest of each
part holds the concatenation header); characters of the extension table take two (an escape
and the character). One character outside GSM-7 sends the whole text as UCS-2: 70 in one
message, 67 per part, counted in UTF-16 code units so an emoji takes two. Parts are filled
greedily and never split an escape pair or a surrogate pair, as carriers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "sms_segments"]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def sms_segments(text: str) -> tuple[Encoding, int]:
    """The encoding ("GSM-7" or "UCS-2") and the number of segments `text` is sent in.

    An empty text is 0 segments: there is nothing to send.
    """
    encoding: Encoding = "GSM-7" if all(_is_gsm7(c) for c in text) else "UCS-2"
    sizes = [_gsm7_units(c) if encoding == "GSM-7" else _utf16_units(c) for c in text]
    single, part = _LIMITS[encoding]
    if sum(sizes) <= single:
        return encoding, 1 if sizes else 0
    return encoding, _parts(sizes, part)


def _is_gsm7(char: str) -> bool:
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def _gsm7_units(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _parts(sizes: Iterable[int], capacity: int) -> int:
    """Parts needed when characters of these sizes are packed in order, none split."""
    parts, used = 1, 0
    for size in sizes:
        if used + size > capacity:
            parts, used = parts + 1, 0
        used += size
    return parts
