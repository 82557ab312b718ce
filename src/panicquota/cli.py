"""The ``panicquota`` command line: one sub-command per module, registered here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from panicquota.errors import PanicquotaError

__all__ = ["main", "run"]

#: Modules that each define ``register(subparsers)``; a sub-command stores its
#: handler as ``func(args) -> int`` in its parser's defaults.
COMMAND_MODULES = (
    "panicquota._cli_policy",
    "panicquota._cli_simulate",
    "panicquota._cli_certify",
    "panicquota._cli_bench",
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


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
