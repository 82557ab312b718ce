"""Run calls in fresh interpreters, each with its own ``PYTHONHASHSEED``.

The parent pickles the callable and its calls to the child's standard input;
the child answers on its standard output with the :func:`plain` form of each
result. Modules the callable lives in that the child cannot import by name
(test modules imported by file, as pytest does) are loaded from their file.
Run as ``python -m panicquota.certification._fresh [--replay PAYLOAD]``.
"""

from __future__ import annotations

import base64
import os
import pickle
import shlex
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panicquota._shared.calls import Call, load_modules, modules_of
from panicquota._shared.state import plain
from panicquota.errors import InvalidTypeError

__all__ = ["FreshRun", "reproduce_command", "run_fresh"]

_CHILD = "panicquota.certification._fresh"


@dataclass(frozen=True)
class FreshRun:
    """The results of one fresh interpreter: a plain result or an error text per call."""

    seed: int
    results: list[Any]


def _payload(fn: Callable[..., Any], calls: Sequence[Call]) -> bytes:
    try:
        job = pickle.dumps((fn, list(calls)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # pickling fails in many ways, all with the same advice
        raise InvalidTypeError(
            f"{_name(fn)} cannot be sent to a fresh interpreter ({error}); pass a module-level "
            "function or a bound method of a picklable object, or seeds=() to "
            "check in this process only"
        ) from None
    header = {"sys_path": list(sys.path), "modules": modules_of(fn)}
    return pickle.dumps((header, job), protocol=pickle.HIGHEST_PROTOCOL)


def _name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return str(name).rpartition("<locals>.")[2]


def run_fresh(
    fn: Callable[..., Any], calls: Sequence[Call], seeds: Sequence[int], timeout: float = 120
) -> list[FreshRun]:
    """Run *calls* of *fn* in one fresh interpreter per hash seed, one after the other.

    Raises:
        InvalidTypeError: *fn* or its arguments cannot be pickled.
        RuntimeError: a child interpreter crashed; its error output is quoted.
    """
    if not seeds:
        return []
    payload = _payload(fn, calls)
    runs = []
    for seed in seeds:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        done = subprocess.run(
            [sys.executable, "-m", _CHILD],
            input=payload,
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError(
                f"the fresh interpreter with PYTHONHASHSEED={seed} failed "
                f"(exit code {done.returncode}): {' | '.join(tail)}"
            )
        runs.append(FreshRun(seed, pickle.loads(done.stdout)))
    return runs


def _module_root(name: str) -> str | None:
    """Return the directory module *name* imports from, unless any interpreter finds it."""
    path = getattr(sys.modules.get(name), "__file__", None)
    if not path:
        return None
    root = Path(path).resolve().parent
    if Path(path).name == "__init__.py":
        root = root.parent
    for _ in range(name.count(".")):
        root = root.parent
    installed = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    return None if root in installed else str(root)


def _environment(module: str | None, seed: int) -> str:
    # The module may be importable here only through the working directory or
    # a path pytest added: name its directory, so the command runs from anywhere.
    root = _module_root(module) if module else None
    where = f"PYTHONPATH={shlex.quote(root)} " if root else ""
    return f"{where}PYTHONHASHSEED={seed}"


def reproduce_command(fn: Callable[..., Any], call: Call, seed: int) -> str:
    """Return a shell command that prints the result of *call* under *seed*, from any directory."""
    args, kwargs = call
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    arguments = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    target = getattr(fn, "target_spec", None)
    if isinstance(target, str):
        code = (
            "from panicquota.certification import load_target; "
            f"print(load_target('{target}').calculate_ttl_strategy({arguments}))"
        )
        module = target.partition(":")[0]
    elif module and module != "__main__" and "<" not in qualname and "." not in qualname:
        code = f"from {module} import {qualname}; print({qualname}({arguments}))"
    else:
        encoded = base64.b64encode(_payload(fn, [call])).decode()
        return f"PYTHONHASHSEED={seed} {shlex.quote(sys.executable)} -m {_CHILD} --replay {encoded}"
    return f"{_environment(module, seed)} {shlex.quote(sys.executable)} -c {_quote(code)}"


def _quote(code: str) -> str:
    # Double quotes keep the Python code's own single quotes readable.
    if not any(char in code for char in '"$`\\!'):
        return f'"{code}"'
    return shlex.quote(code)


def _load_job(raw: bytes) -> tuple[Callable[..., Any], list[Call]]:
    header, job = pickle.loads(raw)
    sys.path[:] = header["sys_path"]
    load_modules(header["modules"])
    fn, calls = pickle.loads(job)
    return fn, calls


def _run_calls(fn: Callable[..., Any], calls: list[Call]) -> list[Any]:
    results = []
    for args, kwargs in calls:
        try:
            results.append(plain(fn(*args, **kwargs)))
        except Exception as error:  # the parent compares errors too
            results.append(("error", type(error).__name__, str(error)))
    return results


def _main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--replay"]:
        fn, calls = _load_job(base64.b64decode(argv[1]))
        for args, kwargs in calls:
            print(fn(*args, **kwargs))
        return 0
    out = sys.stdout.buffer
    # Whatever the callable prints must not corrupt the pickled answer.
    sys.stdout = sys.stderr
    fn, calls = _load_job(sys.stdin.buffer.read())
    out.write(pickle.dumps(_run_calls(fn, calls), protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
