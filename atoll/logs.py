"""Logging setup: human lines for terminals, JSON lines for log shippers, files that rotate.

- Secrets never reach a log: :class:`RedactSecrets` masks values of keys that look like
  secrets in structured ``extra`` fields and in ``key=value`` text.
- Every line logged while a daemon answers a request carries that request's id
  (:data:`REQUEST_ID`, set by the API middlewares; ``request_id`` in JSON, ``[req-...]`` at
  the end of a human line), so the id an error body shows finds its lines in the log.
- :mod:`atoll.access_log` writes the one line per HTTP request both daemons log.
- One record is one human line: control characters in a message (a request's path, a name a
  site or an upload chose) are escaped (``\\x0a``, ``\\x1b``), so no one outside can forge a
  line of the log or send escape codes to the terminal of an operator reading it; JSON lines
  escape them anyway.
- :class:`LogSettings` (``[logging]``: ``file``, ``max_bytes``, ``backup_count``; ``--log-file``
  on ``atoll hub serve`` and ``atoll site-agent run``) sends the log to a file rotated by
  size (:func:`log_to_file`).
- ``atoll --debug`` turns on :data:`HTTP_LOGGER`: each HTTP request and reply of the client
  core (:mod:`atoll.client.debug`).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from atoll.errors import ConfigError
from atoll.printable import escape

LogFormat = Literal["human", "json"]
HTTP_LOGGER = "atoll.http"
HUMAN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# The id of the request being answered in this task (aiohttp runs each in its own task).
REQUEST_ID: ContextVar[str | None] = ContextVar("atoll_request_id", default=None)

_SECRET_KEY = re.compile(r"(password|passwd|secret|token|private_key|authorization)", re.I)
_SECRET_TEXT = re.compile(
    r"(?P<key>\b\w*(?:password|passwd|secret|token|private_key)\w*\b\s*[=:]\s*)(?P<val>\S+)", re.I
)
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def secret_name(key: str) -> bool:
    """Whether ``key`` names a secret (``password``, ``client_secret``, ``bearer_token``...):
    what the log masks, and what a reply leaves out where it may hold one."""
    return _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    """Mask the value in ``password=...``-shaped fragments of free text."""
    return _SECRET_TEXT.sub(lambda m: m.group("key") + "***", text)


class RedactSecrets(logging.Filter):
    """Masks secret-looking values in the message and in ``extra`` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key in list(vars(record)):
            if key not in _STD_ATTRS and secret_name(key):
                setattr(record, key, "***")
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, Mapping):  # "%(name)s" style: keep it a mapping
            record.args = {
                k: "***" if isinstance(k, str) and secret_name(k)
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


class RequestContext(logging.Filter):
    """Adds ``request_id`` to every record logged while a request is being answered."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message [req-...]`` (the request id when there is one)."""

    def __init__(self, datefmt: str = "%H:%M:%S") -> None:
        super().__init__(HUMAN_FORMAT, datefmt)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = escape(super().formatMessage(record), keep="\t")
        request_id = getattr(record, "request_id", None)
        return f"{text} [{request_id}]" if request_id and request_id not in text else text

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        """A traceback keeps its lines, nothing else (an exception's message may quote
        what came from outside)."""
        return escape(super().formatException(ei), keep="\n\t")


def _handler(handler: logging.Handler, fmt: LogFormat, datefmt: str) -> logging.Handler:
    handler.addFilter(RequestContext())
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter(datefmt))
    return handler


def setup_logging(
    fmt: LogFormat = "human", level: str | int = "INFO", *, debug: bool = False
) -> None:
    """Configure the root logger once for a process (CLI entry points call this); ``debug``
    also logs every HTTP request and reply of the client core (:data:`HTTP_LOGGER`)."""
    root = logging.getLogger()
    root.handlers[:] = [_handler(logging.StreamHandler(sys.stderr), fmt, "%H:%M:%S")]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger(HTTP_LOGGER).setLevel(logging.DEBUG if debug else logging.NOTSET)


@dataclass(frozen=True)
class LogSettings:
    """``[logging]``: where a daemon logs (``ATOLL_LOGGING_<KEY>``, ``--log-file``)."""

    file: Path | None = None  # none: standard error
    max_bytes: int = 20 * 1024 * 1024  # a file is rotated when it reaches this size
    backup_count: int = 5  # rotated files kept (FILE.1 ... FILE.N)


def log_to_file(settings: LogSettings, fmt: LogFormat | None = None) -> None:
    """Send the process's log to ``settings.file`` (rotated by size) instead of standard
    error, in the format :func:`setup_logging` chose unless ``fmt`` says otherwise."""
    if settings.file is None:
        return
    root = logging.getLogger()
    if fmt is None:
        current = root.handlers[0].formatter if root.handlers else None
        fmt = "json" if isinstance(current, JsonFormatter) else "human"
    try:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            settings.file, maxBytes=settings.max_bytes, backupCount=settings.backup_count
        )
    except OSError as exc:
        raise ConfigError(f"cannot write the log file {settings.file}: {exc.strerror}") from exc
    root.handlers[:] = [_handler(handler, fmt, "%Y-%m-%dT%H:%M:%S")]
