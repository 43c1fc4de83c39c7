from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from atoll.errors import InvalidInput
from atoll.logs import (
    REQUEST_ID,
    HumanFormatter,
    JsonFormatter,
    LogSettings,
    RedactSecrets,
    RequestContext,
    log_to_file,
    redact_text,
    setup_logging,
)
from atoll.output import FORMATS, Format, Options, emit, render_table


def test_table_aligns_columns_and_renders_nested_values() -> None:
    rows = [{"name": "a", "labels": {"zone": "x"}}, {"name": "long-name", "labels": {}}]
    text = render_table(rows, ["name", "labels"])
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "LABELS"]
    assert lines[1].startswith("a          zone=x")
    assert lines[2].rstrip() == "long-name"


def test_json_output_is_parseable() -> None:
    buf = io.StringIO()
    emit([{"id": 1}], "json", stream=buf)
    assert json.loads(buf.getvalue()) == [{"id": 1}]
    buf = io.StringIO()
    emit({"id": 1, "name": "x"}, "table", stream=buf)
    assert "FIELD" in buf.getvalue() and "name   x" in buf.getvalue()


@pytest.mark.parametrize(
    "text",
    ["password=hunter2", "admin token: abc.def.ghi", "client_secret=s3cr3t"],
)
def test_secrets_are_masked_in_text(text: str) -> None:
    masked = redact_text(text)
    assert "***" in masked
    assert not any(s in masked for s in ("hunter2", "abc.def.ghi", "s3cr3t"))


def test_json_log_lines_carry_extra_fields_with_secrets_masked() -> None:
    record = logging.LogRecord(
        "atoll.x", logging.INFO, __file__, 1, "login %s", ("password=pw1",), None
    )
    record.site = "edge-1"
    record.token = "tok-123"
    assert RedactSecrets().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "login password=***"
    assert line["site"] == "edge-1"
    assert line["token"] == "***"
    assert line["level"] == "info" and line["logger"] == "atoll.x"


def test_mapping_arguments_stay_a_mapping_with_secrets_masked() -> None:
    """Libraries log ``"%(txn)s ..."`` with one dict argument (ovsdbapp does at debug)."""
    record = logging.LogRecord("ovsdbapp", logging.DEBUG, __file__, 1,
                               "txn %(txn)s n=%(n)d %(password)s", ({"txn": "ab", "n": 1,
                               "password": "pw"},), None)  # fmt: skip
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "txn ab n=1 ***"


ROWS = [
    {"id": "a1", "name": "alpha", "status": "ACTIVE", "networks": ["lan", "wan"]},
    {"id": "b2", "name": "evil\x1b[31m", "status": "ERROR", "networks": []},
]


def shown(fmt: str, data: Any = None, *, default: Any = ("id", "name"), **options: Any) -> str:
    """What ``emit`` prints of ``data`` (ROWS) with the command line's ``options``
    (``columns``: the ``-c`` given); ``default``: the command's own columns."""
    buf = io.StringIO()
    emit(ROWS if data is None else data, Format(fmt, Options(**options)), default, stream=buf)
    return buf.getvalue()


def test_every_format_with_columns_and_no_control_character() -> None:
    picked = ("name", "networks")
    assert json.loads(shown("json", columns=picked)) == [
        {"name": "alpha", "networks": ["lan", "wan"]},
        {"name": "evil\x1b[31m", "networks": []},
    ]
    assert "\n" not in shown("json", noindent=True).rstrip("\n")
    assert yaml.safe_load(shown("yaml", columns=picked)) == json.loads(
        shown("json", columns=picked)
    )
    rows = list(csv.reader(io.StringIO(shown("csv", columns=picked))))
    assert rows == [["name", "networks"], ["alpha", "lan, wan"], ["evil\\x1b[31m", ""]]
    assert shown("value", columns=("id", "status")) == "a1 ACTIVE\nb2 ERROR\n"
    table = shown("table", columns=("id", "status"))
    assert table.splitlines()[0].split() == ["ID", "STATUS"]
    assert "name" not in table.lower()
    for fmt in FORMATS:
        out = shown(fmt, columns=picked)
        assert "\x1b" not in out and "evil" in out, fmt


def test_a_record_takes_columns_too_and_value_prints_one_per_line() -> None:
    record = {"id": "a1", "name": "alpha", "status": "ACTIVE"}
    assert shown("value", record, columns=("status", "id")) == "ACTIVE\na1\n"
    assert json.loads(shown("json", record, columns=("name",))) == {"name": "alpha"}
    assert list(csv.reader(io.StringIO(shown("csv", record, columns=("id",))))) == [
        ["Field", "Value"],
        ["id", "a1"],
    ]


def test_an_unknown_column_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as exc:
        shown("table", columns=("nmae",))
    assert "'nmae'" in exc.value.message
    assert "id, name, status, networks" in exc.value.message


def test_tables_fit_the_width_given_cutting_or_wrapping_long_cells() -> None:
    rows = [{"id": "x" * 32, "name": "n", "status": "ACTIVE", "image": "y" * 120}]
    wide = render_table(rows, ["id", "name", "status", "image"])
    assert max(map(len, wide.splitlines())) > 160
    buf = io.StringIO()
    emit(rows, Format("table", Options(max_width=60)), ["id", "name", "status", "image"], buf)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and max(map(len, lines)) <= 60
    assert lines[1].split()[1:3] == ["n", "ACTIVE"]  # narrow columns keep their width
    assert lines[1].rstrip().endswith("…")
    buf = io.StringIO()
    emit({"image": "y" * 120, "name": "n"}, Format("table", Options(max_width=40)), stream=buf)
    record = buf.getvalue().splitlines()
    assert max(map(len, record)) <= 40 and "".join(record).count("y") == 120  # wrapped, kept


def test_fitting_follows_the_terminal_unless_told() -> None:
    rows = [{"a": "z" * 300}]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, options, fits in (
        (Terminal(), Options(), True),
        (io.StringIO(), Options(), False),
        (io.StringIO(), Options(fit_width=True), True),
        (Terminal(), Options(fit_width=False), False),
    ):
        emit(rows, Format("table", options), stream=stream)
        longest = max(map(len, stream.getvalue().splitlines()))
        assert (longest <= shutil.get_terminal_size().columns) == fits, options


def test_human_log_lines_end_with_the_request_id_and_files_rotate(tmp_path: Path) -> None:
    record = logging.LogRecord("atoll.x", logging.INFO, __file__, 1, "hello", None, None)
    token = REQUEST_ID.set("req-abc")
    try:
        assert RequestContext().filter(record)
    finally:
        REQUEST_ID.reset(token)
    assert HumanFormatter().format(record).endswith("atoll.x: hello [req-abc]")
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        setup_logging("json")
        log_to_file(LogSettings(tmp_path / "logs" / "hub.log", max_bytes=2000, backup_count=2))
        for n in range(100):
            logging.getLogger("atoll.test").warning("line %d password=hunter2", n)
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["hub.log", "hub.log.1", "hub.log.2"]
    last = json.loads((tmp_path / "logs" / "hub.log").read_text().splitlines()[-1])
    assert last["msg"] == "line 99 password=***"
