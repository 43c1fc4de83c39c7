from __future__ import annotations

import io
import json
import logging

import pytest

from atoll.logs import JsonFormatter, RedactSecrets, redact_text
from atoll.output import emit, render_table


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
