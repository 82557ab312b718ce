"""``panicquota bench-compare``: gate a run against a baseline, timed or counted.

Two kinds of files. Counted instructions (``pytest --panicquota-instructions``,
see :mod:`panicquota._shared.instructions`) are compared as they are: they are net of
an empty call already and do not move with the machine's load, so a tight
budget (3% by default) holds against a committed baseline.

Timings (pytest-benchmark JSON) mean little as absolute times on CI machines
that change from run to run (pytest-benchmark's saved-baseline comparison
breaks there, its issue #276). Each benchmark is divided by a control
benchmark measured in the same run, so a slower machine moves both and no
regression is reported unless the benchmark got slower relative to the
control.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panicquota.errors import ConfigError, InvalidArgumentError

__all__ = ["Comparison", "compare", "load_run", "parse_run", "register"]

#: The budgets when --max-regression is not given: counts are exact, times are not.
DEFAULT_BUDGET = {"counts": 0.03, "times": 0.10}
#: What a count depends on besides the code: counts taken elsewhere are not comparable.
_COMPARABLE = ("python", "implementation", "machine")
_UPDATE = "pytest --panicquota-instructions=OLD.json"

STATS = ("median", "min", "mean")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench-compare`` sub-command."""
    parser = subparsers.add_parser(
        "bench-compare",
        help="gate a run against a baseline: counted instructions, or timings by ratio to a "
        "control",
        description=(
            "Compare two counted-instruction files (pytest --panicquota-instructions=PATH): "
            "exit 1 when a count grew by more than --max-regression (default 3%). Or compare "
            "two pytest-benchmark JSON files (pytest --benchmark-json=PATH): each benchmark is "
            "divided by the control measured in the same run; exit 1 when a ratio grew by more "
            "than --max-regression (default 10%)."
        ),
    )
    parser.add_argument("old", metavar="OLD.json", help="the baseline run")
    parser.add_argument("new", metavar="NEW.json", help="the run to judge")
    parser.add_argument(
        "--max-regression",
        type=_fraction,
        default=None,
        metavar="PERCENT",
        help="how much a count or a ratio may grow, e.g. 3%% (default: 3%% for counts, 10%% "
        "for timings)",
    )
    parser.add_argument(
        "--control",
        default=None,
        metavar="NAME",
        help="timings: the control benchmark's full name or name, e.g. test_empty_call "
        "(required for timings; counts are already net of an empty call)",
    )
    parser.add_argument(
        "--stat",
        choices=STATS,
        default="median",
        help="timings: the statistic compared (default: median)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="do not fail when a benchmark of OLD is missing from NEW (removed on purpose)",
    )
    parser.set_defaults(func=_bench_compare)


def _fraction(text: str) -> float:
    # The sign is required: a bare 0.1 could mean 10% or 0.1%, and a budget
    # read the wrong way lets regressions through or flags noise.
    stripped = text.strip()
    try:
        if not stripped.endswith("%"):
            raise ValueError(stripped)
        value = float(stripped[:-1]) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a percentage with its sign, such as 10%, got {text!r}"
        ) from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a percentage >= 0, got {text!r}")
    return value


def load_run(path: str | Path, stat: str = "median") -> dict[str, float]:
    """Return ``{fullname: statistic}`` of a pytest-benchmark JSON file.

    Raises:
        ConfigError: the file is unreadable, not pytest-benchmark JSON, names a
            benchmark twice or holds a time that is not a positive number.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {str(path)!r}: {error.strerror}") from None
    except ValueError as error:  # not JSON, or not UTF-8
        raise _not_timings(path, error) from None
    return parse_run(data, path, stat)


def _not_timings(path: str | Path, error: Exception) -> ConfigError:
    return ConfigError(
        f"{str(path)!r} is not pytest-benchmark JSON (pytest --benchmark-json=PATH): "
        f"{type(error).__name__}: {error}"
    )


def parse_run(data: Any, path: str | Path, stat: str = "median") -> dict[str, float]:
    """Return ``{fullname: statistic}`` of the parsed pytest-benchmark JSON *data* of *path*.

    Raises:
        ConfigError: not pytest-benchmark JSON, a benchmark twice or a time that
            is not a positive number.
    """
    try:
        pairs = [(b["fullname"], float(b["stats"][stat])) for b in data["benchmarks"]]
    except (ValueError, KeyError, TypeError) as error:
        raise _not_timings(path, error) from None
    run: dict[str, float] = {}
    for name, value in pairs:
        if name in run:
            raise ConfigError(
                f"{str(path)!r} holds the benchmark {name!r} twice: compare one run per file"
            )
        if not 0 < value < math.inf:
            raise ConfigError(
                f"{str(path)!r}: the {stat} of {name!r} is {value!r}, "
                "not a positive time: a ratio cannot be taken"
            )
        run[name] = value
    return run


def _path_tail(name: str) -> str:
    """Return a benchmark's name without its directories (runs may start elsewhere)."""
    path, _, test = name.partition("::")
    return f"{path.rsplit('/', 1)[-1]}::{test}"


def _find_control(run: Mapping[str, float], control: str, path: str) -> str:
    matches = [
        name
        for name in run
        if name == control
        or _path_tail(name) == _path_tail(control)
        or name.split("::")[-1] == control
    ]
    if len(matches) != 1:
        found = "no benchmark" if not matches else f"{len(matches)} benchmarks ({matches!r})"
        raise InvalidArgumentError(
            f"{found} in {path!r} matches the control {control!r}; pass --control with one of "
            f"{sorted(run)!r}"
        )
    return matches[0]


@dataclass(frozen=True)
class Comparison:
    """One benchmark's ratio to the control in each run."""

    name: str
    old_ratio: float | None
    new_ratio: float | None

    @property
    def change(self) -> float | None:
        """How much the ratio grew (0.1 is 10% slower relative to the control)."""
        if self.old_ratio is None or self.new_ratio is None:
            return None
        return self.new_ratio / self.old_ratio - 1


def compare(
    old: Mapping[str, float], new: Mapping[str, float], old_control: str, new_control: str
) -> list[Comparison]:
    """Return each benchmark's ratios to its run's control, old and new."""
    rows = []
    for name in sorted((set(old) | set(new)) - {old_control, new_control}):
        old_ratio = old[name] / old[old_control] if name in old else None
        new_ratio = new[name] / new[new_control] if name in new else None
        rows.append(Comparison(name, old_ratio, new_ratio))
    return rows


@dataclass(frozen=True)
class _File:
    """A file given to bench-compare, read and parsed once."""

    path: str
    kind: str  # "counts", "times" (pytest-benchmark JSON) or "other"
    data: Any  # the parsed JSON; the parse error when the file is not JSON


def _read(path: str) -> _File:
    """Read and parse *path*, and say what it holds.

    Raises:
        ConfigError: the file cannot be read.
    """
    from panicquota._shared.instructions import FORMAT

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        # The plugin writes no file when nothing was counted (no test selected,
        # valgrind missing and the test skipped): say so where it is read.
        raise ConfigError(
            f"cannot read {path!r}: {error.strerror} (pytest --panicquota-instructions=PATH "
            "writes it only when a benchmark was counted; pytest --benchmark-json=PATH for "
            "timings)"
        ) from None
    except ValueError as error:  # not JSON, or not UTF-8
        return _File(path, "other", error)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return _File(path, "counts", data)
    if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
        return _File(path, "times", data)
    return _File(path, "other", data)


_KINDS = {
    "counts": "counted instructions",
    "times": "pytest-benchmark timings",
    "other": "neither counted instructions nor pytest-benchmark timings",
}


def _bench_compare(args: argparse.Namespace) -> int:
    old, new = _read(args.old), _read(args.new)
    if "counts" in (old.kind, new.kind) and old.kind != new.kind:
        raise InvalidArgumentError(
            f"{args.old!r} holds {_KINDS[old.kind]} and {args.new!r} "
            f"{_KINDS[new.kind]}: compare two files of one kind"
        )
    if old.kind == "counts":
        return _compare_counts(args, old, new)
    return _compare_times(args, old, new)


def _compare_counts(args: argparse.Namespace, old_file: _File, new_file: _File) -> int:
    from panicquota._shared.instructions import parse_counts

    old_about, old = parse_counts(old_file.data, old_file.path)
    new_about, new = parse_counts(new_file.data, new_file.path)
    differ = [key for key in _COMPARABLE if old_about.get(key) != new_about.get(key)]
    if differ:
        shown = ", ".join(f"{k} {old_about.get(k)!r} vs {new_about.get(k)!r}" for k in differ)
        raise ConfigError(
            f"{args.old!r} and {args.new!r} were counted on different interpreters ({shown}): "
            f"counts are comparable only on one; take the baseline again where the gate runs "
            f"({_UPDATE})"
        )
    names = sorted(set(old) | set(new))
    if not set(old) & set(new):
        raise InvalidArgumentError(
            f"{args.old!r} and {args.new!r} have no benchmark in common: nothing to compare"
        )
    limit = DEFAULT_BUDGET["counts"] if args.max_regression is None else args.max_regression
    table: list[tuple[str, ...]] = []
    regressions: list[tuple[str, float]] = []
    for name in names:
        before, after = old.get(name), new.get(name)
        change = None if before is None or after is None else after / before - 1
        if change is None:
            verdict = "new" if before is None else "gone"
        elif change > limit:
            verdict = "REGRESSION"
            regressions.append((name, change))
        else:
            verdict = "ok"
        table.append(
            (
                name,
                "-" if before is None else f"{before:,.1f}",
                "-" if after is None else f"{after:,.1f}",
                "-" if change is None else f"{change:+.2%}",
                verdict,
            )
        )
    _print_table(
        "instructions per call, net of an empty call (valgrind)",
        ("benchmark", "old", "new", "change", "verdict"),
        table,
    )
    gone = [name for name in names if name not in new]
    budget = f"{limit * 100:g}%"
    failed = None
    if regressions:
        grew = "; ".join(f"{name} grew {change:+.2%}" for name, change in regressions)
        failed = f"{len(regressions)} regression(s) beyond {budget} over the baseline: {grew}"
    return _verdict(args, gone, failed, f"no regression beyond {budget} over the baseline")


def _print_table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print a plain-text table: first and last columns left-aligned, numbers right-aligned.

    Plain text rather than rich: a gate runs in CI logs and in projects that
    installed only pytest and panicquota, and whole benchmark names must stay
    on one line whatever the log's width.
    """
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    last = len(headers) - 1

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(width) if i in (0, last) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    print(title)
    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def _verdict(args: argparse.Namespace, gone: list[str], failed: str | None, passed: str) -> int:
    """Print the outcome and return the exit code: 1 on a regression or a missing benchmark."""
    # A renamed or deleted benchmark would otherwise hide a regression.
    missing = bool(gone) and not args.allow_missing
    if missing:
        print(
            f"{len(gone)} benchmark(s) of OLD missing from NEW: "
            f"{', '.join(gone)} (pass --allow-missing if removed on purpose)"
        )
    if failed is not None:
        print(failed)
    elif not missing:
        print(passed)
    return 1 if failed is not None or missing else 0


def _compare_times(args: argparse.Namespace, old_file: _File, new_file: _File) -> int:
    if args.control is None:
        raise InvalidArgumentError(
            "comparing timings needs --control NAME, the control benchmark measured in the "
            "same runs (e.g. --control test_empty_call)"
        )
    old, new = (_timings(file, args.stat) for file in (old_file, new_file))
    old_control = _find_control(old, args.control, args.old)
    new_control = _find_control(new, args.control, args.new)
    rows = compare(old, new, old_control, new_control)
    if not any(row.change is not None for row in rows):
        raise InvalidArgumentError(
            f"{args.old!r} and {args.new!r} have no benchmark in common besides the control: "
            "nothing to compare"
        )
    limit = DEFAULT_BUDGET["times"] if args.max_regression is None else args.max_regression
    table: list[tuple[str, ...]] = []
    regressions = []
    for row in rows:
        change = row.change
        if change is None:
            verdict = "new" if row.old_ratio is None else "gone"
        elif change > limit:
            verdict = "REGRESSION"
            regressions.append(row)
        else:
            verdict = "ok"
        table.append(
            (
                row.name,
                _ratio(row.old_ratio),
                _ratio(row.new_ratio),
                "-" if change is None else f"{change:+.1%}",
                verdict,
            )
        )
    _print_table(
        f"{args.stat} / control ({new_control.split('::')[-1]}): control "
        f"{old[old_control] * 1e9:.1f} ns -> {new[new_control] * 1e9:.1f} ns",
        ("benchmark", "old ratio", "new ratio", "change", "verdict"),
        table,
    )
    gone = [row.name for row in rows if row.new_ratio is None]
    budget = f"{limit * 100:g}%"
    failed = None
    if regressions:
        worst = max(regressions, key=lambda r: r.change or 0.0)
        failed = (
            f"{len(regressions)} regression(s) beyond {budget}: worst {worst.name} at "
            f"{worst.change:+.1%} relative to the control"
        )
    return _verdict(args, gone, failed, f"no regression beyond {budget} relative to the control")


def _timings(file: _File, stat: str) -> dict[str, float]:
    if isinstance(file.data, ValueError):  # not JSON at all
        raise _not_timings(file.path, file.data)
    return parse_run(file.data, file.path, stat)


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}x"
