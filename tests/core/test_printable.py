"""What counts as a control character, for the APIs that refuse it and the CLI that escapes it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from atoll.printable import PRINTABLE_PATTERN, escape, is_printable

CONTROLS = [chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))]


def test_every_c0_del_and_c1_character_is_a_control() -> None:
    for char in CONTROLS:
        assert not is_printable(f"a{char}b"), repr(char)
        assert re.fullmatch(PRINTABLE_PATTERN, f"a{char}b") is None, repr(char)
    assert is_printable("Zürich — 東京 🙂") and re.fullmatch(PRINTABLE_PATTERN, "Zürich")


@given(text=st.text())
def test_escaped_text_is_printable_and_the_pattern_agrees(text: str) -> None:
    assert is_printable(escape(text))
    assert is_printable(text) == (re.fullmatch(PRINTABLE_PATTERN, text) is not None)
    assert escape(text) == text or not is_printable(text)


def test_escape_keeps_what_it_is_told_to() -> None:
    assert escape("\x1b[31mred\x1b[0m\n", keep="\n") == "\\x1b[31mred\\x1b[0m\n"
    assert escape("\u009b2J\t") == "\\x9b2J\\x09"
