"""Decoding a JSON body that came from the network, within bounds: size, nesting, numbers.

Both daemons' APIs read request bodies with :func:`loads`, so an attacker meets the same
limits at the hub and at a site:

- **size**: more than ``max_bytes`` is :class:`~atoll.errors.PayloadTooLarge` (413);
- **nesting**: more than ``max_depth`` (default :data:`MAX_DEPTH`, 32) levels of arrays and
  objects is refused *before* parsing, by a linear scan that never recurses, so ``[`` x
  100,000 costs a scan and a 400, not a ``RecursionError``;
- **what JSON is**: UTF-8 only (RFC 8259); ``NaN``, ``Infinity`` and numbers that overflow a
  float are refused (Python's parser takes them unless told not to);
- **text is Unicode**: a ``\\uD800``-style escape of a lone UTF-16 surrogate is refused, naming
  where it is. Python's parser takes one, but no UTF-8 (so no store, sync frame, config
  drive or log line) can hold it: taken, one such string in a site's object failed every
  sync session of that site from then on.

Every refusal is :class:`~atoll.errors.InvalidInput` with a problem at ``where`` (``body``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from atoll.errors import InvalidInput, PayloadTooLarge, Problem
from atoll.printable import is_unicode

# A decoded JSON object, as it crosses the wire edge (API bodies, stored specs, replies).
# The one definition: everything else imports it, and typed code uses atoll.resources.
JSON = dict[str, Any]
MAX_DEPTH = 32

# A JSON string (with its escapes) or one bracket; brackets inside strings are not structure.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
# An escape of a UTF-16 surrogate: the only way a lone one gets into text decoded from UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def depth(text: str, stop_above: int | None = None) -> int:
    """How deeply arrays and objects nest in ``text`` (0 for a scalar); no recursion.

    Exact for valid JSON. With ``stop_above`` the scan ends as soon as that is exceeded.
    """
    level = deepest = 0
    for match in _TOKENS.finditer(text):
        char = match.group()[0]
        if char in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if stop_above is not None and deepest > stop_above:
                    break
        elif char in "]}":
            level -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:32]} is out of range")
    return value


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def loads(raw: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH, where: str = "body") -> object:
    """The JSON value in ``raw``, or InvalidInput/PayloadTooLarge saying what is wrong."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"the request {where} is over {max_bytes} bytes",
            [Problem(where, f"at most {max_bytes} bytes")],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the request {where} is not valid JSON", [Problem(where, f"not UTF-8: {exc.reason}")]
        ) from exc
    if depth(text, stop_above=max_depth) > max_depth:
        raise InvalidInput(
            f"the request {where} nests too deep (limit {max_depth} levels)",
            [Problem(where, f"arrays and objects nest more than {max_depth} levels deep")],
        )
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_not_json)
    except RecursionError as exc:  # not reached after the scan; kept as a last fence
        raise InvalidInput(
            f"the request {where} nests too deep (limit {max_depth} levels)",
            [Problem(where, "arrays and objects nest too deep")],
        ) from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, over-long integers
        raise InvalidInput(
            f"the request {where} is not valid JSON", [Problem(where, str(exc))]
        ) from exc
    if _SURROGATE_ESCAPE.search(text) is not None:  # rare: only then walk the value
        found = _surrogate_at(value, where)
        if found is not None:
            raise InvalidInput(
                f"the request {where} is not valid Unicode text",
                [Problem(found, "holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape "
                         "not part of a pair), which no UTF-8 text can hold")],
            )  # fmt: skip
    return value


def _surrogate_at(value: object, where: str) -> str | None:
    """Where in ``value`` a string (or an object's key) holds a lone surrogate; no recursion."""
    stack: list[tuple[object, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return at
        elif isinstance(item, dict):
            for key, child in item.items():
                if not is_unicode(key):
                    return f"{at} (a key)"
                stack.append((child, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{at}[{i}]") for i, child in enumerate(item))
    return None
