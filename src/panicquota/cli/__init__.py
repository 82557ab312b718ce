"""The ``panicquota`` command line: one sub-command per module, registered here."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from panicquota.errors import PanicquotaError

__all__ = ["main", "run"]

#: Exit status when the reader of standard output went away (``panicquota table | head -1``):
#: 128 + SIGPIPE, what a shell reports for ``cat`` or ``grep`` stopped the same way.
EXIT_BROKEN_PIPE = 141

#: Modules that each define ``register(subparsers)``; a sub-command stores its
#: handler as ``func(args) -> int`` in its parser's defaults.
COMMAND_MODULES = (
    "panicquota.cli._policy",
    "panicquota.cli._simulate",
    "panicquota.cli._certify",
    "panicquota.cli._bench",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line that says where to look next."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every sub-command."""
    parser = _Parser(
        prog="panicquota",
        description="Adaptive cache TTLs during volatility panics.",
    )
    from panicquota import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except PanicquotaError as error:
        print(f"panicquota {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        # The wheel requires only redis-py: name the extra instead of a traceback.
        from panicquota._shared.extras import missing_extra_hint

        hint = missing_extra_hint("this command", error)
        if hint is None:
            raise
        print(f"panicquota {args.command}: error: {hint}", file=sys.stderr)
        return 2
    return code


def run(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: :func:`main`, quiet when standard output is closed early."""
    try:
        code = main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        # The reader has what it wanted: no traceback. Point stdout at /dev/null
        # so the interpreter's own flush at exit does not fail again (the
        # recipe of the Python documentation, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    raise SystemExit(code)
