"""Rendering command results the way openstackclient does: ``-f table|json|yaml|csv|value``,
``-c COLUMN`` (repeatable), ``--max-width N``, ``--fit-width``/``--no-fit-width`` and
``--noindent``.

Every list/show/create command calls :func:`add_format_option` once and :func:`emit` with
``args.format``; :func:`atoll.cli.main` hands the parsed flags over once (:func:`bind`), after
which ``args.format`` is a :class:`Format`: still the format's name (``args.format == "json"``
reads as before), carrying the other options. So every command has every option without its
call sites changing.

- Lists: ``-c`` picks the columns of every format (json/yaml print whole objects without it);
  an unknown column is an error naming the known ones.
- Tables fit the terminal when stdout is one (or ``--fit-width``; ``--max-width N`` sets the
  width): list cells are cut with an ellipsis, a record's values wrap. Never a 209-column line.

Nothing reaches the terminal raw: table, csv and value cells go through
:func:`atoll.printable.escape`, JSON is written ASCII-only (``\\u001b``) and YAML with every
non-printable character escaped (``"\\e"``), so a stored escape sequence cannot act on the
operator's terminal whichever format is chosen.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from atoll.errors import InvalidInput, Problem
from atoll.printable import escape

OutputFormat = Literal["table", "json", "yaml", "csv", "value"]
FORMATS: tuple[OutputFormat, ...] = ("table", "json", "yaml", "csv", "value")
MIN_CELL = 6  # a column is never squeezed narrower than this (the ellipsis needs room)
GAP = "  "


@dataclass(frozen=True)
class Options:
    """The output flags of one command line."""

    columns: tuple[str, ...] = ()
    max_width: int | None = None
    fit_width: bool | None = None  # None: fit when the stream is a terminal
    noindent: bool = False


class Format(str):
    """A format's name that carries the other output options (see the module docstring)."""

    options: Options

    def __new__(cls, name: str, options: Options) -> Format:
        made = super().__new__(cls, name)
        made.options = options
        return made


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """Give a list/show/create command the output options every such command has."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default: table; json, yaml, csv or value for scripts)",
    )
    group.add_argument(
        "-c",
        "--column",
        dest="columns",
        action="append",
        default=[],
        metavar="COLUMN",
        help="show this column (repeatable; default: the command's own set)",
    )
    group.add_argument(
        "--max-width", type=int, metavar="N", help="fit tables in N characters (0: no limit)"
    )
    group.add_argument(
        "--fit-width",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fit tables to the terminal (default: when stdout is a terminal)",
    )
    group.add_argument("--noindent", action="store_true", help="json on one line")


def bind(args: argparse.Namespace) -> None:
    """Fold the output flags of a parsed command line into ``args.format`` (:class:`Format`)."""
    name = getattr(args, "format", None)
    if not isinstance(name, str) or name not in FORMATS:
        return
    args.format = Format(
        name,
        Options(
            columns=tuple(getattr(args, "columns", None) or ()),
            max_width=getattr(args, "max_width", None),
            fit_width=getattr(args, "fit_width", None),
            noindent=bool(getattr(args, "noindent", False)),
        ),
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return escape(str(value))


def _fit(widths: list[int], limit: int) -> list[int]:
    """Column widths that add up (with the gaps) to at most ``limit`` when they can: the
    columns narrower than a fair share keep their width, the others share what is left."""
    room = limit - len(GAP) * (len(widths) - 1)
    if sum(widths) <= room:
        return widths
    keep: set[int] = set()
    while True:
        wide = [i for i in range(len(widths)) if i not in keep]
        left = room - sum(widths[i] for i in keep)
        share, extra = divmod(max(left, 0), len(wide))
        narrow = [i for i in wide if widths[i] <= share]
        if narrow:
            keep.update(narrow)
            continue
        fitted = list(widths)
        for n, i in enumerate(wide):
            fitted[i] = max(MIN_CELL, share + (1 if n < extra else 0))
        return fitted


def _cut(text: str, width: int, ellipsis: str) -> str:
    return text if len(text) <= width else text[: max(width - len(ellipsis), 0)] + ellipsis


def render_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    max_width: int | None = None,
    *,
    wrap: bool = False,
    ellipsis: str = "…",
) -> str:
    """An aligned text table with a header row, at most ``max_width`` wide (when it can be:
    a column keeps at least :data:`MIN_CELL` characters); too-long cells are cut with an
    ellipsis, or wrapped onto more lines when ``wrap``."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    heads = [escape(c).upper() for c in columns]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(heads)]
    if max_width:
        widths = _fit(widths, max_width)
    out: list[str] = []
    for row in [heads, *cells]:
        if wrap:
            parts = [
                textwrap.wrap(v, w, break_on_hyphens=False) or [""]
                for v, w in zip(row, widths, strict=True)
            ]
        else:
            parts = [[_cut(v, w, ellipsis)] for v, w in zip(row, widths, strict=True)]
        for n in range(max(len(p) for p in parts)):
            line = GAP.join(
                (p[n] if n < len(p) else "").ljust(w) for p, w in zip(parts, widths, strict=True)
            )
            out.append(line.rstrip())
    return "\n".join(out)


def render_record(record: Mapping[str, Any], max_width: int | None = None) -> str:
    """One object as FIELD/VALUE pairs, one per line (long values wrap)."""
    rows = [{"field": k, "value": v} for k, v in record.items()]
    return render_table(rows, ["field", "value"], max_width, wrap=True)


def _known(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]], default: Sequence[str]
) -> list[str]:
    if isinstance(data, Mapping):
        return list(data)
    seen = dict.fromkeys(default)
    for row in data:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _check_columns(asked: Sequence[str], known: Sequence[str]) -> None:
    """An unknown column is an error naming the known ones (nothing is known of an empty
    list without default columns: then every column is taken)."""
    unknown = [c for c in asked if c not in known]
    if unknown and known:
        raise InvalidInput(
            f"no column {', '.join(map(repr, unknown))}; the columns are: {', '.join(known)}",
            [Problem("-c/--column", c) for c in unknown],
        )


def _width(options: Options, stream: TextIO) -> int | None:
    if options.max_width is not None:
        return options.max_width or None
    fit = options.fit_width
    if fit is None:
        fit = bool(getattr(stream, "isatty", lambda: False)())
    return shutil.get_terminal_size().columns if fit else None


def _ellipsis(stream: TextIO) -> str:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return "…" if encoding in ("utf8", "") else "..."


def _yaml(data: Any) -> str:
    import yaml  # only for -f yaml: keeps the CLI's start quick

    text: str = yaml.safe_dump(
        data, default_flow_style=False, sort_keys=False, allow_unicode=False, width=1 << 16
    )
    return text


def emit(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    fmt: OutputFormat | str,
    columns: Sequence[str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Print one record or a list of records in the chosen format; ``columns`` are the
    command's default table columns (all keys when None)."""
    stream = stream or sys.stdout
    options = fmt.options if isinstance(fmt, Format) else Options()
    picked = list(options.columns)
    if picked:
        _check_columns(picked, _known(data, columns or []))
    if isinstance(data, Mapping):
        record = {k: data.get(k) for k in picked} if picked else dict(data)
        if not _structured(record, fmt, options, stream):
            _emit_record(record, fmt, options, stream)
        return
    rows = [{k: row.get(k) for k in picked} for row in data] if picked else list(data)
    if _structured(rows, fmt, options, stream):
        return
    cols = picked or (list(columns) if columns else sorted({k for row in rows for k in row}))
    if fmt == "value":
        stream.write("".join(" ".join(_cell(row.get(c)) for c in cols) + "\n" for row in rows))
    elif fmt == "csv":
        _csv(rows, cols, stream)
    else:
        text = render_table(rows, cols, _width(options, stream), ellipsis=_ellipsis(stream))
        stream.write(text + "\n")


def _structured(data: Any, fmt: str, options: Options, stream: TextIO) -> bool:
    """Write ``data`` as json or yaml; False for the other formats."""
    if fmt == "json":
        indent = None if options.noindent else 2
        text = json.dumps(data, indent=indent, sort_keys=True, default=str, ensure_ascii=True)
        stream.write(text + "\n")
        return True
    if fmt == "yaml":
        stream.write(_yaml(json.loads(json.dumps(data, default=str))))
        return True
    return False


def _emit_record(record: Mapping[str, Any], fmt: str, options: Options, stream: TextIO) -> None:
    if fmt == "value":
        stream.write("".join(_cell(v) + "\n" for v in record.values()))
    elif fmt == "csv":
        _csv([{"Field": k, "Value": v} for k, v in record.items()], ["Field", "Value"], stream)
    else:
        stream.write(render_record(record, _width(options, stream)) + "\n")


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], stream: TextIO) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([escape(c) for c in columns])
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    stream.write(buf.getvalue())
