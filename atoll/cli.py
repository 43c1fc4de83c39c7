"""The ``atoll`` command: global options, and the command groups components register.

Components add their groups as plugins through the ``atoll.cli`` entry-point group in
``pyproject.toml`` (``hub = "atoll.hub.cli:register"``), so this root never imports a
component. A plugin's ``register(subparsers)`` adds one sub-parser per group, and every
command sets ``func`` (``args -> exit code``) as its default.

Errors that Atoll raises on purpose print as one line (``error: ...``) with exit code 1;
anything else prints a one-line summary too. ``--debug`` prints every HTTP request and reply
of the client core (secrets masked, :mod:`atoll.client.debug`) and the traceback of an
internal error. A mistyped command gets "did you mean" (:class:`Parser`); the output
options of every command are handed to :mod:`atoll.output` once (:func:`atoll.output.bind`);
``atoll completion bash|zsh`` prints a completion script of this tree. Messages
echo what servers and users sent, so control characters in them are escapes
(:mod:`atoll.printable`), never sent to the terminal raw.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import NoReturn, Protocol, cast

from atoll import __version__, completion, output
from atoll.errors import AtollError, InvalidInput
from atoll.logs import setup_logging
from atoll.printable import escape

log = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace], int]
NL = "\n"


class Subparsers(Protocol):
    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser: ...


class Parser(argparse.ArgumentParser):
    """argparse's parser, saying "did you mean ...?" on a mistyped command, choice or option
    (every sub-parser is one too: argparse makes them of the root's class)."""

    def error(self, message: str) -> NoReturn:
        unknown = "unrecognized arguments: "
        if message.startswith(unknown):
            options = {o for _, node in completion.walk(self, self.prog) for o in node.options}
            hints = [
                f"{word} (did you mean {close[0]}?)"
                for word in message.removeprefix(unknown).split()
                if word.startswith("-")
                and (close := difflib.get_close_matches(word.partition("=")[0], options, n=1))
            ]
            if hints:
                message = f"{message}; {', '.join(hints)}"
        super().error(message)

    def _check_value(self, action: argparse.Action, value: object) -> None:
        choices = action.choices
        if choices is None or value in choices or not isinstance(value, str):
            return super()._check_value(action, value)
        names = [str(c) for c in choices]
        close = difflib.get_close_matches(value, names, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise argparse.ArgumentError(
            action, f"invalid choice: {value!r} ({hint}choose from {', '.join(names)})"
        )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command tree; or, when ``argv`` names a group that one package registers
    alone (``atoll site-agent ...``), that package's commands only, so a daemon started from
    the command line does not hold every other component's CLI (33 modules and their
    parsers; with the agent's malloc trim, ~1 MB of its idle RSS, see site-agent/malloc.py)."""
    parser = Parser(
        prog="atoll",
        description="Atoll: an edge/telco distributed cloud — one hub, many autonomous sites.",
    )
    root_options = [
        parser.add_argument("--version", action="version", version=f"atoll {__version__}"),
        parser.add_argument(
            "--log-format", choices=["human", "json"], default="human", help="log line format"
        ),
        parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR"),
        parser.add_argument(
            "--debug",
            action="store_true",
            help="print each HTTP request and reply (secrets masked) and tracebacks of internal "
            "errors",
        ),
        parser.add_argument(
            "--cloud",
            metavar="NAME",
            help="the named profile of clouds.toml to use (or ATOLL_CLOUD; see 'atoll login "
            "--cloud')",
        ),
    ]
    groups = parser.add_subparsers(title="command groups", metavar="GROUP")
    packages = sorted(entry_points(group="atoll.cli"), key=lambda e: e.name)
    word = None if argv is None else _group_word(root_options, argv)
    alone = [ep for ep in packages if ep.name.replace("_", "-") == word]
    for ep in alone or packages:
        register = cast(Callable[[Subparsers], None], ep.load())
        register(cast(Subparsers, groups))
    shells = groups.add_parser("completion", help="print a shell completion script")
    shells.add_argument("shell", choices=completion.SHELLS)
    shells.set_defaults(func=lambda args: _completion(parser, args.shell))
    return parser


def _group_word(root_options: Sequence[argparse.Action], argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` that is not a root option or a root option's value."""
    with_value = {o for a in root_options if a.nargs != 0 for o in a.option_strings}
    words = iter(argv)
    for word in words:
        if word in with_value:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _command_parser(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> argparse.ArgumentParser:
    """The (sub)command parser ``argv`` reaches: each word naming a sub-command goes down."""
    for word in argv:
        subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subcommands and word in subcommands[0].choices:
            parser = subcommands[0].choices[word]
    return parser


def _completion(parser: argparse.ArgumentParser, shell: str) -> int:
    sys.stdout.write(completion.script(parser, shell))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the command they were given to: its usage, its options' hints
        _command_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.log_format, args.log_level, debug=args.debug)
    output.bind(args)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    # The parsers are done with; a long-running command (``atoll site-agent run``) should not
    # hold them (a cycle: the completion command refers to the root parser; gc frees it).
    del parser
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
