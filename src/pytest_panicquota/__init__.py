"""pytest_panicquota: fixtures, checks and certification for panicquota users.

The plugin registers itself through the ``pytest11`` entry point; the checks
are plain functions usable in any test::

    from pytest_panicquota import assert_deterministic, assert_latency

Importing this package imports neither pytest, Redis nor Hypothesis.
"""

from __future__ import annotations

from pytest_panicquota._checks import (
    assert_deterministic,
    assert_latency,
    assert_no_leak,
    assert_pure,
    assert_workers_agree,
)
from pytest_panicquota._journal import SharedServerError
from pytest_panicquota._workers import WorkerContext, WorkerError

__all__ = [
    "SharedServerError",
    "WorkerContext",
    "WorkerError",
    "assert_deterministic",
    "assert_latency",
    "assert_no_leak",
    "assert_pure",
    "assert_workers_agree",
]
