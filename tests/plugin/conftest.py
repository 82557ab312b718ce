"""Fixtures of the plugin's own tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def token(real_redis: Any) -> Iterator[str]:
    """Return a random name part for unprefixed keys; keys ending in ``:<token>`` are deleted after.

    A failing run may leave such keys on the shared server: they are the test's
    own, so it removes them (by ``SCAN``, never ``FLUSH``).
    """
    token = uuid.uuid4().hex[:12]
    yield token
    keys = list(real_redis.scan_iter(match=f"*:{token}"))
    if keys:
        real_redis.delete(*keys)


@pytest.fixture
def outside_prefix(real_redis: Any) -> Iterator[str]:
    """Return a prefix for keys that exist before a run; deleted (by SCAN, not FLUSH) after."""
    prefix = f"panicquota-plugin-test:{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(real_redis.scan_iter(match=f"{prefix}*"))
    if keys:
        real_redis.delete(*keys)
