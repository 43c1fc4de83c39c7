"""Logging setup: human lines for terminals, JSON lines for log shippers.

Secrets never reach a log: :class:`RedactSecrets` masks values of keys that look like
secrets in structured ``extra`` fields and in ``key=value`` text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Literal

LogFormat = Literal["human", "json"]

_SECRET_KEY = re.compile(r"(password|passwd|secret|token|private_key|authorization)", re.I)
_SECRET_TEXT = re.compile(
    r"(?P<key>\b\w*(?:password|passwd|secret|token|private_key)\w*\b\s*[=:]\s*)(?P<val>\S+)", re.I
)
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def redact_text(text: str) -> str:
    """Mask the value in ``password=...``-shaped fragments of free text."""
    return _SECRET_TEXT.sub(lambda m: m.group("key") + "***", text)


class RedactSecrets(logging.Filter):
    """Masks secret-looking values in the message and in ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if key not in _STD_ATTRS and _SECRET_KEY.search(key):
                setattr(record, key, "***")
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, Mapping):  # "%(name)s" style: keep it a mapping
            record.args = {
                k: "***" if isinstance(k, str) and _SECRET_KEY.search(k)
                else redact_text(v) if isinstance(v, str) else v
                for k, v in record.args.items()
            }  # fmt: skip
        elif record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in args)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STD_ATTRS:
                out[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(fmt: LogFormat = "human", level: str | int = "INFO") -> None:
    """Configure the root logger once for a process (CLI entry points call this)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
