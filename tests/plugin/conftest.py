"""Fixtures shared by the plugin's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .support import REAL_URL


@pytest.fixture
def real_redis() -> Iterator[Any]:
    """Return a client of the shared real Redis, or skip when it is not running."""
    import redis

    client = redis.Redis.from_url(REAL_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        client.close()
        pytest.skip(f"no Redis at {REAL_URL}")
    yield client
    client.close()
