"""pytest_panicquota: fixtures, checks and certification for panicquota users.

The plugin registers itself through the ``pytest11`` entry point; the checks
are plain functions usable in any test::

    from pytest_panicquota import assert_deterministic, assert_latency

Everything here is imported on first use, so that loading the plugin in a
suite that does not use it imports nothing beyond pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_panicquota._cache import Upstream, UpstreamError
    from pytest_panicquota._checks import (
        assert_deterministic,
        assert_latency,
        assert_no_leak,
        assert_pure,
        assert_workers_agree,
    )
    from pytest_panicquota._io_latency import assert_io_latency
    from pytest_panicquota._journal import RestoreError
    from pytest_panicquota._journal_commands import SharedServerError
    from pytest_panicquota._workers import WorkerContext, WorkerError

__all__ = [
    "RestoreError",
    "SharedServerError",
    "Upstream",
    "UpstreamError",
    "WorkerContext",
    "WorkerError",
    "assert_deterministic",
    "assert_io_latency",
    "assert_latency",
    "assert_no_leak",
    "assert_pure",
    "assert_workers_agree",
]

_HOMES = {
    "RestoreError": "pytest_panicquota._journal",
    "SharedServerError": "pytest_panicquota._journal_commands",
    "WorkerContext": "pytest_panicquota._workers",
    "WorkerError": "pytest_panicquota._workers",
    "Upstream": "pytest_panicquota._cache",
    "UpstreamError": "pytest_panicquota._cache",
    "assert_io_latency": "pytest_panicquota._io_latency",
    **dict.fromkeys(
        (
            "assert_deterministic",
            "assert_latency",
            "assert_no_leak",
            "assert_pure",
            "assert_workers_agree",
        ),
        "pytest_panicquota._checks",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pytest_panicquota' has no attribute {name!r}")
    # Not cached here: a home module imported anew (pytester's in-process runs
    # drop the modules a run imported) must not meet this module's old classes.
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
