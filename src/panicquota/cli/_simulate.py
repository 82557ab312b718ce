"""``panicquota simulate``: play a scenario and report what the policy does to the upstream."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from panicquota.errors import PanicquotaError
from panicquota.simulation import DEFAULT_MAX_SPEED, DEFAULT_MIN_WALL_SECONDS, MAX_WORKERS

#: Exit status when workers disagreed: a bug, never a tuning matter.
EXIT_DISAGREEMENT = 1
#: Exit status when the real mode could not run or finish (Redis unreachable
#: or failing mid-run, a worker that failed): neither a bug found (1) nor a
#: usage error (2).
EXIT_REAL_MODE_FAILED = 3
#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
EXIT_INTERRUPTED = 130

_DEFAULT_SCENARIO = "persistent"
_DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="play a volatility scenario and report upstream load, tiers and agreement",
        description=(
            "Play a scenario on a simulated clock (default) or on real worker processes "
            "against a real Redis (--real), and report upstream requests against the "
            "always-fresh baseline, time in each tier, staleness served, alerts and "
            "worker agreement. Exits 1 if the workers ever disagreed."
        ),
    )
    parser.add_argument("--list", action="store_true", help="list the built-in scenarios and exit")
    parser.add_argument(
        "--scenario",
        default=_DEFAULT_SCENARIO,
        metavar="NAME|FILE",
        help=f"a built-in scenario or a .toml scenario file (default: {_DEFAULT_SCENARIO})",
    )
    parser.add_argument(
        "--workers",
        type=_at_least(1, "--workers", maximum=MAX_WORKERS),
        metavar="N",
        help="workers sharing the panic state (default: the scenario's)",
    )
    parser.add_argument(
        "--rps",
        type=_at_least(1, "--rps"),
        metavar="R",
        help="requests per second, per worker (default: the scenario's)",
    )
    parser.add_argument(
        "--seed",
        type=_at_least(0, "--seed"),
        metavar="S",
        help="seed of the volatility noise (default: the scenario's)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH")
    parser.add_argument(
        "--plot", metavar="PATH", help="draw the report as a PNG (needs panicquota[plot])"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no table (exit code only)"
    )
    real = parser.add_argument_group("real mode")
    real.add_argument(
        "--real",
        action="store_true",
        help="run real worker processes against a real Redis, time compressed",
    )
    real.add_argument(
        "--redis",
        default=None,
        metavar="URL",
        help=f"the Redis server of --real (default: {_DEFAULT_REDIS_URL})",
    )
    real.add_argument(
        "--wall-seconds",
        type=_positive("--wall-seconds"),
        metavar="SECONDS",
        help=(
            "how long a --real run lasts in wall time (default: the scenario at "
            f"{DEFAULT_MAX_SPEED:g} simulated seconds per wall second, at least "
            f"{DEFAULT_MIN_WALL_SECONDS:g} s)"
        ),
    )
    parser.set_defaults(func=_simulate)


def _at_least(minimum: int, option: str, *, maximum: int | None = None) -> argparse._ActionType:
    accepted = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(
                f"{option} must be an integer {accepted}, got {text!r}"
            )
        return value

    return parse


def _positive(option: str) -> argparse._ActionType:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{option} must be a number > 0, got {text!r}")
        return value

    return parse


def _simulate(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:
        # The run has already cleaned up behind itself (keys, processes).
        print("panicquota simulate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


#: The options that only a --real run reads.
_REAL_ONLY = (("--redis", "redis"), ("--wall-seconds", "wall_seconds"))


def _check_real_options(args: argparse.Namespace) -> None:
    """Refuse real-mode options without --real, and a --redis that is not a URL (usage errors)."""
    if not args.real:
        for option, name in _REAL_ONLY:
            if getattr(args, name) is not None:
                raise PanicquotaError(
                    f"{option} only applies to a real-processes run: add --real or drop {option}"
                )
        return
    if args.redis is None:
        args.redis = _DEFAULT_REDIS_URL
    from panicquota.breaker import parse_store_url

    try:
        parse_store_url(args.redis)
    except PanicquotaError as error:
        raise PanicquotaError(f"--redis must be a store URL: {error}") from None


def _run(args: argparse.Namespace) -> int:
    _check_real_options(args)
    from panicquota import simulation
    from panicquota.simulation import RealModeError, progress_bar

    if args.list:
        width = max(map(len, simulation.BUILTIN_SCENARIOS))
        for name in simulation.BUILTIN_SCENARIOS:
            print(f"{name:<{width}}  {simulation.builtin_scenario(name).description}")
        return 0
    if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise simulation.PlotUnavailableError(
            "--plot needs matplotlib: install it with `pip install 'panicquota[plot]'`"
        )
    scenario = simulation.resolve_scenario(args.scenario).with_overrides(
        workers=args.workers, rps=args.rps, seed=args.seed
    )
    # A run may last minutes: an output that cannot be written is said first.
    for path in (args.json, args.plot):
        if path is not None:
            _check_writable(path)
    show_progress = not args.quiet and sys.stderr.isatty()
    mode = "real processes" if args.real else "simulated"
    with (
        _run_logging(),
        progress_bar(f"{scenario.name} ({mode})", enabled=show_progress) as progress,
    ):
        if args.real:

            def announce(base: str) -> None:
                if not args.quiet:
                    print(
                        f"panicquota simulate: {scenario.workers} processes against {args.redis}, "
                        f"keys under {base}:* (deleted at the end)",
                        file=sys.stderr,
                    )

            try:
                report = simulation.simulate_real(
                    scenario,
                    redis_url=args.redis,
                    wall_seconds=args.wall_seconds,
                    progress=progress,
                    on_start=announce,
                )
            except RealModeError as error:
                print(f"panicquota simulate: error: {error}", file=sys.stderr)
                return EXIT_REAL_MODE_FAILED
        else:
            report = simulation.simulate(scenario, progress=progress)
    if not args.quiet:
        simulation.print_report(report)
    if args.json is not None:
        _write(args.json, json.dumps(report.as_dict(), indent=2) + "\n")
        _wrote("report", args.json, args.quiet)
    if args.plot is not None:
        simulation.plot_report(report, args.plot)
        _wrote("plot", args.plot, args.quiet)
    if report.worker_agreement < 1.0:
        print(
            f"panicquota simulate: workers disagreed on "
            f"{report.decision_points - report.agreeing_points} of {report.decision_points} "
            "decision points: this is a bug",
            file=sys.stderr,
        )
        return EXIT_DISAGREEMENT
    return 0


def _check_writable(path: str) -> None:
    """Raise unless *path* can be written: its folder exists and takes files."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise PanicquotaError(f"cannot write {path!r}: it is a directory")
    if not folder.is_dir():
        raise PanicquotaError(f"cannot write {path!r}: no directory {str(folder)!r}")
    if not os.access(folder, os.W_OK):
        raise PanicquotaError(f"cannot write {path!r}: the directory is not writable")


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise PanicquotaError(f"cannot write {path!r}: {error.strerror}") from None


def _wrote(what: str, path: str, quiet: bool) -> None:
    if not quiet:
        print(f"{what} written to {Path(path).resolve()}")


@contextlib.contextmanager
def _run_logging() -> Iterator[None]:
    """Show the breaker's and the simulator's warnings and errors on stderr, for the run."""
    # The breaker logs every trip, tier change and reset as a warning; the
    # report already shows them, and thousands of lines would bury the table.
    # Its other warnings (an outage, a repair) and errors (a store refusing
    # its scripts) are what the user must see.
    breaker = logging.getLogger("panicquota.breaker")
    level = breaker.level
    breaker.setLevel(logging.WARNING)
    breaker_handler = _stderr_handler()
    breaker_handler.addFilter(_not_routine)
    breaker.addHandler(breaker_handler)
    # The simulator logs what the report cannot carry (a cleanup that failed
    # on the way out of an error): the library keeps its logs to itself, the
    # command line shows them.
    simulator = logging.getLogger("panicquota.simulation")
    handler = _stderr_handler()
    simulator.addHandler(handler)
    try:
        yield
    finally:
        simulator.removeHandler(handler)
        breaker.removeHandler(breaker_handler)
        breaker.setLevel(level)


#: The breaker's announcements of the panic's course, which the report shows.
_ROUTINE = ("panic %s for breaker", "panic of breaker %r (started", "breaker %r: %s tier")


def _stderr_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("panicquota simulate: %(levelname)s: %(message)s"))
    return handler


def _not_routine(record: logging.LogRecord) -> bool:
    return not (isinstance(record.msg, str) and record.msg.startswith(_ROUTINE))
