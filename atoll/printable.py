"""Control characters: what the APIs refuse in names and descriptions, and what the CLI escapes.

A control character in stored text is a way into the operator's terminal: ``ESC [`` (or the
one-byte C1 ``CSI``, U+009B) starts an escape sequence that can recolour, move the cursor,
retitle the window or, on some terminals, answer back. So:

- the hub's schema layer and the site's body checks refuse C0 (U+0000-U+001F), DEL (U+007F)
  and C1 (U+0080-U+009F) in names and descriptions (:func:`is_printable`,
  :data:`PRINTABLE_PATTERN` for JSON Schema);
- the CLI passes everything it prints through :func:`escape`, so text stored by an older
  version, or text no API vets (a VNFD's product name, a guest's console), shows as ``\\x1b``
  and cannot act on the terminal.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # keeps \t \n \r
# A lone UTF-16 surrogate: Python's str holds one (from a JSON or YAML escape), UTF-8 cannot.
_SURROGATE = re.compile("[\ud800-\udfff]")
# The same class as a JSON Schema (ECMA-262) pattern, which Python's ``re`` reads alike.
PRINTABLE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
PRINTABLE_HELP = "text without control characters or escape sequences (C0, DEL, C1)"


def is_printable(text: str, *, multiline: bool = False) -> bool:
    """True when ``text`` holds no C0 control, DEL or C1 control character (``multiline``:
    but tabs and line breaks)."""
    return (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text) is None


def is_unicode(text: str) -> bool:
    """True when ``text`` can be written as UTF-8: it holds no lone surrogate (which a JSON
    or YAML ``\\ud800`` escape makes, and which no store, frame or file can then hold)."""
    return _SURROGATE.search(text) is None


def escape(text: str, keep: str = "") -> str:
    """``text`` with every control character but those in ``keep`` shown as ``\\xNN``."""

    def shown(match: re.Match[str]) -> str:
        char = match.group()
        return char if char in keep else f"\\x{ord(char):02x}"

    return _CONTROL.sub(shown, text)
