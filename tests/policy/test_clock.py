"""The injectable clocks."""

from __future__ import annotations

import math
import time

import pytest

from panicquota import InvalidArgumentError, InvalidTypeError
from panicquota.clock import ManualClock, system_clock


def test_system_clock_is_epoch_seconds() -> None:
    """system_clock returns the wall-clock epoch time."""
    assert abs(system_clock() - time.time()) < 5


def test_manual_clock_moves_only_when_told() -> None:
    """A manual clock advances by minutes and seconds and can be set."""
    clock = ManualClock(1_000.0)
    assert clock() == clock.now() == 1_000.0
    assert clock.advance(minutes=2, seconds=3) == 1_123.0
    clock.set(50)
    assert clock() == 50.0
    assert repr(clock) == "ManualClock(50.0)"


def test_manual_clock_starts_at_wall_time_by_default() -> None:
    """Without a start, the clock starts at the current wall time."""
    assert abs(ManualClock()() - time.time()) < 5


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"minutes": -1}, InvalidArgumentError, "minutes must be a finite number >= 0, got -1"),
        (
            {"seconds": math.nan},
            InvalidArgumentError,
            "seconds must be a finite number >= 0, got nan",
        ),
        ({"seconds": "1"}, InvalidTypeError, "seconds must be a number, got str '1'"),
    ],
)
def test_time_never_goes_backwards(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    """advance() refuses negative, non-finite or non-numeric steps."""
    with pytest.raises(error) as info:
        ManualClock(0).advance(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
