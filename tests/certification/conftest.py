"""The certification tests measure the whole process: nothing else may run in it."""

from __future__ import annotations

import threading

import pytest

#: A breaker's refresher thread ends by itself 10 s after its last use.
_REFRESHER_EXIT_SECONDS = 15.0


@pytest.fixture(autouse=True)
def _no_breaker_threads() -> None:
    """Wait for breaker refresher threads left by earlier tests: they allocate while traced."""
    for thread in threading.enumerate():
        if thread.name.startswith("panicquota-breaker"):
            thread.join(_REFRESHER_EXIT_SECONDS)
