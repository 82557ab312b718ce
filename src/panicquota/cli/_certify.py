"""``panicquota certify``: the certification suite from the command line."""

from __future__ import annotations

import argparse
import os
import sys

from panicquota.errors import InvalidArgumentError

__all__ = ["register"]

#: Exit status after Ctrl-C, as shells report a process ended by SIGINT (as ``simulate``).
EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``certify`` sub-command."""
    certify = subparsers.add_parser(
        "certify",
        help="run the certification suite against a policy",
        description=(
            "Run the contract, determinism, purity, statelessness, bad-input, latency and "
            "leak criteria against a policy; exit 1 if any fails."
        ),
    )
    certify.add_argument(
        "--target",
        required=True,
        metavar="MODULE:ATTR",
        help="a policy object with calculate_ttl_strategy, a class or a zero-argument factory",
    )
    certify.add_argument("--report", metavar="PATH", help="write the report to PATH as JSON")
    certify.add_argument(
        "--p99-ms",
        type=_positive,
        default=1.0,
        metavar="MS",
        help="the latency budget: p99 of one decision in milliseconds (default: 1.0)",
    )
    certify.set_defaults(func=_certify)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of milliseconds, got {text!r}"
        ) from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _certify(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:
        # Fresh interpreters are waited for by subprocess.run, which kills them on the way out.
        print("panicquota certify: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from panicquota.certification import Settings, certify

    # A console script does not put the working directory on sys.path; the
    # target usually lives in the project the command runs from.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    console = Console(highlight=False)
    if ":" not in args.target:
        raise InvalidArgumentError(
            f"--target must look like 'package.module:attr', got {args.target!r}"
        )
    report = certify(args.target, settings=Settings(p99_ms=args.p99_ms))
    table = Table(
        title=f"panicquota certification of {escape(report.target)}", title_justify="left"
    )
    table.add_column("criterion")
    table.add_column("verdict")
    table.add_column("detail", overflow="fold")
    for result in report.results:
        verdict = "[green]PASS[/]" if result.outcome.passed else "[bold red]FAIL[/]"
        table.add_row(result.criterion.value, verdict, escape(result.outcome.message))
    console.print(table)
    failed = [r.criterion.value for r in report.results if not r.outcome.passed]
    if failed:
        console.print(f"[bold red]FAILED[/]: {', '.join(failed)}", soft_wrap=True)
    else:
        console.print(f"[green]CERTIFIED[/]: all {len(report.results)} criteria passed")
    if args.report:
        report.write_json(args.report)
        console.print(f"report written to {escape(args.report)}", soft_wrap=True)
    return 0 if report.passed else 1
