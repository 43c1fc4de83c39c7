"""The last lines of a console log within a byte budget (atoll.sync.console, as the site
agent reads a console): whole lines from the end, and ``truncated`` exactly when lines
asked for did not fit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atoll.sync.console import last_lines

LOG = "boot 1\nboot 2\r\n\x1b[32mOK\x1b[0m 3\nlast, unended"


def test_the_last_lines_come_whole_and_as_the_guest_wrote_them() -> None:
    assert last_lines(LOG, 1, 1 << 20) == ("last, unended", False)
    assert last_lines(LOG, 2, 1 << 20) == ("\x1b[32mOK\x1b[0m 3\nlast, unended", False)
    assert last_lines(LOG, 99, 1 << 20) == (LOG, False)  # all there is: nothing left out
    assert last_lines("a\nb\n", 1, 100) == ("b\n", False)
    assert last_lines("a\nb\n", 2, 100) == ("a\nb\n", False)
    assert last_lines("", 5, 100) == ("", False)


def test_lines_that_do_not_fit_the_budget_are_left_out_from_the_oldest_and_said() -> None:
    text = "".join(f"line {i:03}\n" for i in range(100))  # 9 bytes a line
    assert last_lines(text, 3, 30) == ("line 097\nline 098\nline 099\n", False)
    out, truncated = last_lines(text, 10, 30)
    assert (out, truncated) == ("line 097\nline 098\nline 099\n", True)  # from a whole line
    out, truncated = last_lines("x" * 50 + "\n", 1, 20)
    assert (out, truncated) == ("x" * 19 + "\n", True)  # one line longer than the budget


def test_a_character_cut_at_the_budget_is_left_out_not_mangled() -> None:
    out, truncated = last_lines("\u00e9" * 10, 1, 5)  # 2 bytes each: the cut splits one
    assert (out, truncated) == ("\u00e9" * 2, True)


# a console is read with invalid UTF-8 replaced: it never holds a lone surrogate
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=300), st.integers(1, 50),
       st.integers(1, 400))  # fmt: skip
def test_the_output_is_the_end_of_the_log_within_the_budget(
    text: str, lines: int, budget: int
) -> None:
    out, truncated = last_lines(text, lines, budget)
    data = text.encode()
    assert len(out.encode()) <= budget
    assert text.endswith(out)
    assert out.count("\n") <= lines
    if len(data) <= budget:
        assert not truncated
    if not truncated and len(data) > budget:
        assert out.count("\n") + (0 if out.endswith("\n") or not out else 1) == lines
