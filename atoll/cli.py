"""The ``atoll`` command: global options, and the command groups components register.

Components add their groups as plugins through the ``atoll.cli`` entry-point group in
``pyproject.toml`` (``hub = "atoll.hub.cli:register"``), so this root never imports a
component. A plugin's ``register(subparsers)`` adds one sub-parser per group, and every
command sets ``func`` (``args -> exit code``) as its default.

Errors that Atoll raises on purpose print as one line (``error: ...``) with exit code 1;
anything else prints a one-line summary too, and ``--debug`` shows the traceback. Messages
echo what servers and users sent, so control characters in them are escapes
(:mod:`atoll.printable`), never sent to the terminal raw.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Protocol, cast

from atoll import __version__
from atoll.errors import AtollError, InvalidInput
from atoll.logs import setup_logging
from atoll.printable import escape

log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace], int]
NL = "\n"


class Subparsers(Protocol):
    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atoll",
        description="Atoll: an edge/telco distributed cloud — one hub, many autonomous sites.",
    )
    parser.add_argument("--version", action="version", version=f"atoll {__version__}")
    parser.add_argument(
        "--log-format", choices=["human", "json"], default="human", help="log line format"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    groups = parser.add_subparsers(title="command groups", metavar="GROUP")
    for ep in sorted(entry_points(group="atoll.cli"), key=lambda e: e.name):
        register = cast(Callable[[Subparsers], None], ep.load())
        register(cast(Subparsers, groups))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_format, args.log_level)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except InvalidInput as exc:
        print(f"error: {escape(exc.summary, keep=NL)}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {escape(str(problem))}", file=sys.stderr)
        return 1
    except AtollError as exc:
        print(f"error: {escape(exc.message, keep=NL)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        log.debug("internal error", exc_info=True)
        print(
            f"internal error: {type(exc).__name__}: {escape(str(exc), keep=NL)} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
