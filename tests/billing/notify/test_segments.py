"""SMS length: GSM-7 vs UCS-2 and segment counts (GSM 03.38 tables, 160/153, 70/67)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from billing.notify.segments import GSM_BASIC, GSM_EXTENSION, SmsLength, is_gsm7, segments

basic = st.text(alphabet=sorted(GSM_BASIC))
gsm = st.text(alphabet=sorted(GSM_BASIC | GSM_EXTENSION))
non_gsm = st.characters(blacklist_characters=sorted(GSM_BASIC | GSM_EXTENSION), codec="utf-8")
anything = st.text(alphabet=st.characters(codec="utf-8"))


def test_tables_are_exact() -> None:
    """The basic table has 127 characters (128 codes less the escape); the extension table 10."""
    assert len(GSM_BASIC) == 127 and len(GSM_EXTENSION) == 10
    assert {"@", "£", "$", "¥", "_", "Δ", "¤", "¡", "¿", "§", "à", "Ç", "\n", "\r"} <= GSM_BASIC
    assert sorted(GSM_EXTENSION) == sorted("\f^{}\\[~]|€")
    assert not {"ç", "`", "\x1b", "á", "â", "ê"} & (GSM_BASIC | GSM_EXTENSION)


def test_known_lengths() -> None:
    """Worked examples at the boundaries of each encoding."""
    assert segments("") == SmsLength("GSM-7", 0, 1, 160)
    assert segments("a" * 160) == SmsLength("GSM-7", 160, 1, 160)
    assert segments("a" * 161) == SmsLength("GSM-7", 161, 2, 153)
    assert segments("a" * 306) == SmsLength("GSM-7", 306, 2, 153)
    assert segments("a" * 307) == SmsLength("GSM-7", 307, 3, 153)
    assert segments("€" * 80) == SmsLength("GSM-7", 160, 1, 160)
    assert segments("€" * 81).segments == 2
    assert segments("Ж" * 70) == SmsLength("UCS-2", 70, 1, 70)
    assert segments("Ж" * 71) == SmsLength("UCS-2", 71, 2, 67)
    assert segments("Ж" * 134).segments == 2 and segments("Ж" * 135).segments == 3
    assert segments("😀") == SmsLength("UCS-2", 2, 1, 70)
    assert segments("Your bill of GHS 120.00 is due on 3 Dec. Pay with MoMo: *170#").encoding == "GSM-7"


def test_escape_and_surrogates_are_not_split() -> None:
    """A part that would end in the middle of an escape sequence or surrogate pair ends before it."""
    # 152 septets then '€' (2) does not fit part 1 (153): it moves, so 152 + 2 + 152 = 306 septets need 3 parts.
    assert segments("a" * 152 + "€" + "a" * 152) == SmsLength("GSM-7", 306, 3, 153)
    assert segments("a" * 151 + "€" + "a" * 153).segments == 2
    assert segments("Ж" * 66 + "😀" + "Ж" * 66) == SmsLength("UCS-2", 134, 3, 67)


@given(basic.filter(lambda t: len(t) <= 160))
def test_short_basic_text_is_one_segment(text: str) -> None:
    """Any text of basic-table characters up to 160 long is one GSM-7 segment of len(text) septets."""
    assert segments(text) == SmsLength("GSM-7", len(text), 1, 160)


@given(gsm, non_gsm, st.integers(min_value=0))
def test_one_foreign_character_switches_to_ucs2(text: str, char: str, where: int) -> None:
    """Adding one character outside GSM 03.38 anywhere makes the text UCS-2, counted in UTF-16 units."""
    i = where % (len(text) + 1)
    t = text[:i] + char + text[i:]
    r = segments(t)
    assert r.encoding == "UCS-2" and not is_gsm7(t)
    assert r.chars == len(t.encode("utf-16-le")) // 2


@given(basic, st.text(alphabet=sorted(GSM_EXTENSION), min_size=1))
def test_extension_characters_count_double(text: str, ext: str) -> None:
    """Each extension-table character costs two septets; the text stays GSM-7."""
    r = segments(text + ext)
    assert r.encoding == "GSM-7" and r.chars == len(text) + 2 * len(ext)


@given(anything, anything)
def test_segments_monotone_in_length(text: str, more: str) -> None:
    """Appending characters in the same encoding never lowers the segment count."""
    a, b = segments(text), segments(text + more)
    if a.encoding == b.encoding:
        assert b.segments >= a.segments and b.chars >= a.chars


@given(anything)
def test_segments_hold_the_text(text: str) -> None:
    """The segments have room for every unit, and each but the last is full (bar an indivisible pair)."""
    r = segments(text)
    assert r.chars <= r.segments * r.per_segment
    if r.segments > 1:
        single = 160 if r.encoding == "GSM-7" else 70
        assert r.chars > single
        assert r.chars >= (r.segments - 1) * (r.per_segment - 1) + 1
