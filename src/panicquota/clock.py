"""Clocks: where the breaker and the simulator read the time.

Anything that must agree across processes uses epoch seconds from an
injectable clock, never ``time.monotonic`` (it is per process). A clock is any
zero-argument callable returning epoch seconds as a float.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from panicquota.errors import InvalidArgumentError, InvalidTypeError

__all__ = ["Clock", "ManualClock", "system_clock"]

#: A clock: a zero-argument callable that returns epoch seconds.
Clock = Callable[[], float]


def system_clock() -> float:
    """Return the host's wall-clock time in epoch seconds."""
    return time.time()


class ManualClock:
    """A clock that moves only when told to: for tests and simulations.

    Args:
        start: the epoch seconds it starts at (default: the current wall time,
            so that timestamps written to a shared Redis look plausible).
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._now = time.time() if start is None else self._checked("start", start)

    def __call__(self) -> float:
        return self._now

    def now(self) -> float:
        """Return the clock's current time in epoch seconds."""
        return self._now

    def advance(self, *, minutes: float = 0, seconds: float = 0) -> float:
        """Move the clock forward and return the new time.

        Raises:
            InvalidArgumentError: the step is negative or not finite (time
                never goes backwards; use :meth:`set` for that).
        """
        step = self._checked("minutes", minutes) * 60 + self._checked("seconds", seconds)
        with self._lock:
            self._now += step
            return self._now

    def set(self, epoch_seconds: float) -> None:
        """Put the clock at *epoch_seconds* (forwards or backwards)."""
        self._now = self._checked("epoch_seconds", epoch_seconds)

    @staticmethod
    def _checked(name: str, value: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidTypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value) or value < 0:
            raise InvalidArgumentError(f"{name} must be a finite number >= 0, got {value!r}")
        return float(value)

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
