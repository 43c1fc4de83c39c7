"""Rendering command results: human tables by default, JSON for scripts (``-f json``).

Nothing reaches the terminal raw: table cells go through :func:`atoll.printable.escape` and
JSON is written ASCII-only (``\u001b``), so a stored escape sequence cannot act on the
operator's terminal whichever format is chosen.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TextIO

from atoll.printable import escape

OutputFormat = Literal["table", "json"]


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """Give a list/show/create command the ``-f/--format`` option every such command has."""
    parser.add_argument(
        "-f",
        "--format",
        choices=["table", "json"],
        default="table",
        help="output format (default: table; json for scripts)",
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return escape(str(value))


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A plain, aligned text table with a header row."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = "  ".join(escape(c).upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line.rstrip()]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(out)


def render_record(record: Mapping[str, Any]) -> str:
    """One object as FIELD/VALUE pairs, one per line."""
    rows = [{"field": k, "value": v} for k, v in record.items()]
    return render_table(rows, ["field", "value"])


def emit(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    columns: Sequence[str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Print one record or a list of records in the chosen format."""
    stream = stream or sys.stdout
    if fmt == "json":
        text = json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=True)
        stream.write(text + "\n")
        return
    if isinstance(data, Mapping):
        stream.write(render_record(data) + "\n")
        return
    cols = list(columns) if columns else sorted({k for row in data for k in row})
    stream.write(render_table(data, cols) + "\n")
