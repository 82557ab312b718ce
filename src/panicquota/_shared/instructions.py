"""Count the instructions one call of a callable costs, under valgrind.

Wall-clock ratios move with the harness and with the load of a shared
machine; counted instructions do not. A count is taken in a fresh interpreter
run under ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0``. The child
builds the call (the target named by import path, ``module:qualname``, its
positional arguments returned by a set-up callable, also named by import path,
because both must be rebuilt there), warms it up, then runs four loops, each
between two markers: 0 and *calls* calls of the target, then 0 and *calls*
calls of an empty function of the same arity. Callgrind writes out and
zeroes its counters when the child enters ``getppid`` (``os.getppid()``) and
again when it enters ``getpgrp``, so each loop is counted alone: whatever the start-up, the imports
and the set-up cost (and however much that varies: an embedded Lua seeds its
string hashes with the time) is not in the figures.

The target's cost is ``(its loop - its 0-call loop) / calls``, the empty
call's likewise, and the figure gated is the difference: what the target's
body costs on top of a call (the loop and the call itself cancel).

Standard library only: ``import panicquota`` must stay light.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from panicquota.errors import ConfigError, InvalidArgumentError, PanicquotaError

__all__ = [
    "FORMAT",
    "Count",
    "CountingError",
    "InstructionCount",
    "ValgrindMissingError",
    "count",
    "environment",
    "load_counts",
    "parse_counts",
    "valgrind_version",
    "write_counts",
]

#: The ``format`` field of a counts file; bench-compare recognises it.
FORMAT: Final = "panicquota-instructions/1"
_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_INSTALL = "apt-get install valgrind"

# The child: rebuild the call, warm it up, then the four marked loops (the
# first marker pair only ends the uncounted start: its part is dropped).
_CHILD = r"""
import importlib, json, os, sys
from itertools import repeat

spec = json.loads(sys.argv[1])
calls = int(sys.argv[2])
sys.path[0:0] = spec["path"]


def resolve(name):
    module, _, qualname = name.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


target = resolve(spec["target"])
args = tuple(resolve(spec["setup"])()) if spec["setup"] else ()
names = ", ".join(f"a{i}" for i in range(len(args)))
space = {"repeat": repeat}
exec(f"def empty({names}):\n    pass\n", space)
# One loop per callee, from the same text: a loop's call site specialises to
# the first function it calls and would pay a miss on every call of another.
source = (
    f"def loop(fn, n{', ' if names else ''}{names}):\n"
    f"    for _ in repeat(None, n):\n        fn({names})\n"
)
loops = []
for _ in range(2):
    exec(source, space)
    loops.append(space["loop"])
for _ in range(spec["warmup"]):
    target(*args)
os.getppid(); os.getpgrp()
for loop, fn in zip(loops, (target, space["empty"])):
    for n in (0, calls):
        os.getppid(); loop(fn, n, *args); os.getpgrp()
"""
#: Parts callgrind writes before the one at exit: one at each of the 5 pairs of marks.
_PARTS = 10


class CountingError(PanicquotaError, RuntimeError):
    """A count could not be taken: the target failed or valgrind did."""


class ValgrindMissingError(CountingError):
    """valgrind is not installed, so no instruction can be counted."""


@dataclass(frozen=True)
class Count:
    """What to count: *calls* calls of *target* with the arguments *setup* returns.

    Attributes:
        target: the callable, ``"module:qualname"`` (``"pkg.mod:Class.method"``
            for a method: the set-up then returns the instance first).
        setup: a zero-argument callable, ``"module:qualname"``, returning the
            tuple of positional arguments (``None``: no arguments).
        calls: calls in the measured loop (more calls, smaller rounding).
        warmup: calls made before the loop in every run, so that caches and
            the interpreter's specialisation are warm.
        path: folders put first on the child's ``sys.path``.
    """

    target: str
    setup: str | None = None
    calls: int = 1000
    warmup: int = 100
    path: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for label, name in (("target", self.target), ("setup", self.setup)):
            if name is None and label == "setup":
                continue
            if not isinstance(name, str) or not _NAME.match(name):
                raise InvalidArgumentError(
                    f"{label} must be an import path 'module:qualname' such as "
                    f"'mypkg.pricing:quote', got {name!r}"
                )
        for label, number, low in (("calls", self.calls, 1), ("warmup", self.warmup, 0)):
            if isinstance(number, bool) or not isinstance(number, int) or number < low:
                raise InvalidArgumentError(f"{label} must be an integer >= {low}, got {number!r}")


@dataclass(frozen=True)
class InstructionCount:
    """Instructions per call, net of an empty call of the same arity.

    Attributes:
        name: what the count is recorded under (a test's id, a benchmark name).
        target: the callable counted.
        calls: calls in the measured loop.
        instructions: per call of *target*, minus per call of the empty
            function: the figure compared with a baseline.
        gross: per call of *target*, the loop and the call included.
        empty: per call of the empty function, the loop and the call included.
    """

    name: str
    target: str
    calls: int
    instructions: float
    gross: float
    empty: float


def valgrind_version(executable: str = "valgrind") -> str:
    """Return ``valgrind --version`` (``"valgrind-3.19.0"``).

    Raises:
        ValgrindMissingError: *executable* is not found, in one line saying
            how to install it.
    """
    found = shutil.which(executable)
    if found is None:
        raise ValgrindMissingError(
            f"valgrind is not installed ({executable!r} not found on PATH): instructions "
            f"cannot be counted, and time is no substitute; install it ({_INSTALL})"
        )
    done = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def environment(executable: str = "valgrind") -> dict[str, str]:
    """Return what a count depends on besides the code: Python, platform, valgrind."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "machine": platform.machine(),
        "valgrind": valgrind_version(executable),
    }


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    # A controlled environment: coverage's subprocess hook, PYTHONSTARTUP and
    # the like would add work of their own to every count.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(extra or {})
    env["PYTHONHASHSEED"] = "0"
    return env


def _run(command: Sequence[str], env: Mapping[str, str], what: str) -> None:
    done = subprocess.run(list(command), capture_output=True, text=True, env=dict(env), check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise CountingError(f"{what} failed: {last}")


def _command(python: str, spec: Count, calls: int) -> list[str]:
    payload = json.dumps(
        {"target": spec.target, "setup": spec.setup, "warmup": spec.warmup, "path": spec.path}
    )
    return [python, "-c", _CHILD, payload, str(calls)]


def _total(path: Path) -> int:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise CountingError(f"valgrind wrote no summary line to {str(path)!r}")  # pragma: no cover


def count(
    spec: Count,
    name: str | None = None,
    *,
    python: str | None = None,
    valgrind: str = "valgrind",
    env: Mapping[str, str] | None = None,
) -> InstructionCount:
    """Count the instructions one call of ``spec.target`` costs, net of an empty call.

    The call is first made once without valgrind: it compiles every module
    into a bytecode cache of the count's own, which the counted run loads
    (whatever ``__pycache__`` folders or ``PYTHONDONTWRITEBYTECODE`` the
    machine has), and names a failing target in seconds instead of minutes.

    Args:
        spec: what to count.
        name: what to record the count under (default: the target).
        python: the interpreter (default: this one).
        valgrind: the valgrind executable.
        env: extra environment variables of the child interpreters.

    Returns:
        The count.

    Raises:
        ValgrindMissingError: valgrind is not installed.
        CountingError: the target or its set-up failed in the child, or
            valgrind did.
    """
    tool = shutil.which(valgrind)
    if tool is None:
        valgrind_version(valgrind)  # raises, saying how to install it
        raise AssertionError  # pragma: no cover
    python = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="panicquota-count-") as folder:
        # Code loaded from a .pyc runs a different number of instructions than
        # the same code compiled from its source (get_ttl: 13% more), so
        # whether a __pycache__ happened to be there would move the count.
        # Both children use a bytecode cache of their own: the first writes
        # it, the counted one loads every module from it, as a deployed
        # service does.
        child_env = {**_child_env(env), "PYTHONPYCACHEPREFIX": str(Path(folder) / "pycache")}
        child_env.pop("PYTHONDONTWRITEBYTECODE", None)
        _run(_command(python, spec, 1), child_env, f"calling {spec.target} once")
        out = Path(folder) / "callgrind.out"
        command = [
            tool,
            "--tool=callgrind",
            "--quiet",
            f"--callgrind-out-file={out}",
            "--dump-before=getppid",
            "--dump-before=getpgrp",
            *_command(python, spec, spec.calls),
        ]
        _run(command, child_env, f"counting {spec.target} under valgrind")
        parts = sorted(Path(folder).glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        if len(parts) != _PARTS:
            raise CountingError(
                f"{spec.target} calls os.getppid() or os.getpgrp() (valgrind saw "
                f"{len(parts) - _PARTS} extra marks): those mark the counted loops, so it "
                "cannot be counted as is; count a callable that does not call them"
            )
        # Each part ending at getpgrp is one loop alone: it starts at getppid.
        _, none, target, no_empty, empty = (_total(part) for part in parts[1::2])
    gross = (target - none) / spec.calls
    baseline = (empty - no_empty) / spec.calls
    return InstructionCount(
        name=name or spec.target,
        target=spec.target,
        calls=spec.calls,
        instructions=round(gross - baseline, 1),
        gross=round(gross, 1),
        empty=round(baseline, 1),
    )


def write_counts(
    path: str | Path, counts: Sequence[InstructionCount], about: Mapping[str, str]
) -> None:
    """Write *counts* as a counts file (``bench-compare`` reads it).

    Args:
        path: the file, replaced.
        counts: the counts, written sorted by name.
        about: what they depend on (:func:`environment`).
    """
    data: dict[str, Any] = {
        "format": FORMAT,
        **about,
        "benchmarks": [asdict(c) for c in sorted(counts, key=lambda c: c.name)],
    }
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def load_counts(path: str | Path) -> tuple[dict[str, str], dict[str, float]]:
    """Return ``(about, {name: instructions})`` of a counts file.

    Raises:
        ConfigError: unreadable, not a counts file, a name twice, or a count
            that is not a positive number.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {str(path)!r}: {error.strerror}") from None
    except ValueError as error:  # not JSON, or not UTF-8
        raise _not_counts(path, error) from None
    return parse_counts(data, path)


def _not_counts(path: str | Path, error: Exception) -> ConfigError:
    return ConfigError(
        f"{str(path)!r} is not a panicquota counts file (pytest "
        f"--panicquota-instructions=PATH): {type(error).__name__}: {error}"
    )


def parse_counts(data: Any, path: str | Path) -> tuple[dict[str, str], dict[str, float]]:
    """Return ``(about, {name: instructions})`` of the parsed JSON *data* of *path*.

    Raises:
        ConfigError: not a counts file, a name twice, or a count that is not a
            positive number.
    """
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        pairs = [(b["name"], b["instructions"]) for b in data["benchmarks"]]
        about = {k: str(v) for k, v in data.items() if k not in ("format", "benchmarks")}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise _not_counts(path, error) from None
    counts: dict[str, float] = {}
    for name, value in pairs:
        if name in counts:
            raise ConfigError(f"{str(path)!r} holds the count {name!r} twice")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not 0 < value < math.inf:
            raise ConfigError(
                f"{str(path)!r}: the count of {name!r} is {value!r}, not a positive number of "
                "instructions (a target cheaper than an empty call cannot be gated by ratio)"
            )
        counts[name] = float(value)
    return about, counts
