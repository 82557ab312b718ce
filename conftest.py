"""Fixtures shared by the tests and the benchmarks: the shared real Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

#: The shared Redis the real-server tests use; never flushed, each test
#: writes under its own prefix and deletes only its keys.
REAL_REDIS_URL = os.environ.get("PANICQUOTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def real_redis_url() -> str:
    """Return the URL of the shared real Redis: a dead server fails under CI, else skips."""
    from redis.exceptions import RedisError

    from panicquota.breaker import connect

    client = connect(REAL_REDIS_URL)
    try:
        client.ping()
    except RedisError as error:
        message = f"the real Redis at {REAL_REDIS_URL} is unreachable: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the real-Redis tests must not skip)")
        pytest.skip(message)
    finally:
        client.close()
    return REAL_REDIS_URL


@pytest.fixture
def real_redis(real_redis_url: str) -> Iterator[Any]:
    """Return a client of the shared real Redis (never flushed: delete only your keys)."""
    from panicquota.breaker import connect

    client = connect(real_redis_url)
    yield client
    client.close()
