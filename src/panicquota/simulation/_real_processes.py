"""The real run's worker processes: waiting for their start, collecting results, stopping them."""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence
from typing import Any, Final

from panicquota.simulation._real_errors import RealModeError
from panicquota.simulation._real_worker import WorkerControl, WorkerResult

__all__ = ["STARTUP_SECONDS", "await_ready", "collect", "stop"]

#: How long the workers get to connect and build their breakers.
STARTUP_SECONDS: Final = 60.0


def await_ready(control: WorkerControl, processes: Sequence[Any]) -> None:
    """Wait until every worker reached Redis; raise the first failure instead."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while control.ready.value < len(processes):
        try:
            item = control.results.get(timeout=0.05)
        except queue.Empty:
            _check_alive(processes, set())
            if time.monotonic() > deadline:
                raise RealModeError(
                    f"the workers did not all start within {STARTUP_SECONDS:g} s"
                ) from None
            continue
        raise _failure(item)


def _check_alive(processes: Sequence[Any], reported: set[int]) -> None:
    """Raise if a worker that has not reported exited (workers wait to be collected)."""
    for index, process in enumerate(processes):
        if index not in reported and process.exitcode is not None:
            raise RealModeError(
                f"worker {index} exited with status {process.exitcode} without reporting"
            )


def _failure(item: object) -> RealModeError:
    """Return the error for a worker's report that is not a result."""
    if isinstance(item, tuple):
        index, trace = item
        return RealModeError(f"worker {index} failed:\n{trace}")
    return RealModeError(f"a worker reported before the start: {item!r}")


def collect(
    control: WorkerControl, processes: Sequence[Any], *, timeout: float
) -> list[WorkerResult]:
    collected: dict[int, WorkerResult] = {}
    deadline = time.monotonic() + timeout
    while len(collected) < len(processes):
        try:
            item = control.results.get(timeout=0.25)
        except queue.Empty:
            _check_alive(processes, set(collected))
            if time.monotonic() > deadline:
                raise RealModeError(
                    f"only {len(collected)} of {len(processes)} workers reported "
                    f"within {timeout:g} s"
                ) from None
            continue
        if not isinstance(item, WorkerResult):
            raise _failure(item)
        collected[item.index] = item
    return [collected[index] for index in sorted(collected)]


def stop(processes: Sequence[Any]) -> None:
    """End every worker: they exit by themselves once told; the stragglers are terminated."""
    deadline = time.monotonic() + 5
    for process in processes:
        if process.pid is not None:  # started
            process.join(timeout=max(deadline - time.monotonic(), 0.0))
    for process in processes:
        if process.pid is not None and process.is_alive():
            process.terminate()
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join()
