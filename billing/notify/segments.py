"""How long an SMS is, and so what it costs: GSM-7 or UCS-2, and how many segments.

A text every character of which is in the GSM 03.38 default alphabet (the basic
table, or the extension table reached by an escape, which costs two septets) is
sent as GSM-7: 160 septets in one SMS, 153 per part of a concatenated one (the
user data header takes the rest). Anything else is sent as UCS-2 (UTF-16): 70
code units in one SMS, 67 per part. A part never splits an escape sequence or a
surrogate pair, as handsets and gateways do; the split is counted exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# GSM 03.38 basic table, in code order 0x00..0x7F; 0x1B is the escape to the extension table.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128

#: The characters of the basic table (the escape itself is not a character).
GSM_BASIC: frozenset[str] = frozenset(_BASIC) - {"\x1b"}
#: The extension table: each is sent as escape + code, two septets.
GSM_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7 = "GSM-7"
UCS2 = "UCS-2"

SINGLE = {GSM7: 160, UCS2: 70}
PART = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True)
class SmsLength:
    """What a text takes as an SMS."""
    encoding: Literal["GSM-7", "UCS-2"]
    chars: int          # septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2)
    segments: int       # SMS messages billed (1 for an empty text)
    per_segment: int    # the capacity of each: 160/153 (GSM-7) or 70/67 (UCS-2)


def is_gsm7(text: str) -> bool:
    """Whether ``text`` fits the GSM 03.38 default alphabet (basic and extension tables)."""
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def _units(text: str, gsm: bool) -> list[int]:
    """The size of each character, indivisible across parts: septets, or UTF-16 code units."""
    if gsm:
        return [2 if c in GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def segments(text: str) -> SmsLength:
    """The encoding, length and segment count of ``text`` sent as one SMS."""
    gsm = is_gsm7(text)
    encoding: Literal["GSM-7", "UCS-2"] = "GSM-7" if gsm else "UCS-2"
    units = _units(text, gsm)
    total = sum(units)
    if total <= SINGLE[encoding]:
        return SmsLength(encoding, total, 1, SINGLE[encoding])
    part = PART[encoding]
    count, used = 1, 0
    for u in units:
        if used + u > part:
            count, used = count + 1, 0
        used += u
    return SmsLength(encoding, total, count, part)
