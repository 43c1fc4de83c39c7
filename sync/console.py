"""What "the last lines of a console log" means in a ``console`` request (version 3), for
both ends: the site cuts the log it reads to them within a reply's room
(:func:`last_lines`), the hub holds a reply to the lines it asked for (:func:`last`).

A line ends with ``\\n`` (a guest's ``\\r\\n`` too); an unended last line counts. Nothing
else is done to the text: a console's control characters and escape sequences stay, for
whoever shows it to a person to escape.
"""

from __future__ import annotations


def last(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text`` (all of it if it holds no more)."""
    return _last(text, lines)[0]


def last_lines(text: str, lines: int, max_bytes: int) -> tuple[str, bool]:
    """The last ``lines`` lines of ``text`` in at most ``max_bytes`` bytes of UTF-8,
    starting at a whole line, and whether lines asked for were left out to fit (older
    ones, or the head of a line longer than ``max_bytes``)."""
    data = text.encode()
    cut = len(data) > max_bytes
    partial = False
    if cut:
        data = data[-max_bytes:]
        start = data.find(b"\n")
        if 0 <= start < len(data) - 1:
            data = data[start + 1 :]  # from a whole line ("\n" is one byte in UTF-8)
        else:
            partial = True  # one line longer than max_bytes: its end
    kept = data.decode(errors="ignore")  # only a character cut at the head can be broken
    output, fewer = _last(kept, lines)
    return output, cut and (fewer or partial)


def _last(text: str, lines: int) -> tuple[str, bool]:
    """The last ``lines`` lines of ``text``, and whether it holds fewer."""
    pos = len(text) - 1 if text.endswith("\n") else len(text)
    for i in range(lines):
        pos = text.rfind("\n", 0, pos)
        if pos == -1:
            return text, i + 1 < lines  # all of it: it holds i + 1 lines
    return text[pos + 1 :], False
