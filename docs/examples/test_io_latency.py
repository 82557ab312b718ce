"""A latency budget for code on Redis, robust on a busy machine (see docs/plugin.md).

Run: pytest -n 2 -p no:randomly --panicquota-redis-url redis://127.0.0.1:6379/0 \
    docs/examples/test_io_latency.py
"""

from typing import Any

import pytest

from pytest_panicquota import assert_io_latency


def read_twice(client: Any, key: str) -> int:
    """Two round trips: the code under test."""
    client.get(key)
    return int(client.exists(key))


@pytest.mark.parametrize("copy", [0, 1])
def test_two_round_trips_within_twice_two_pings(
    panic_redis: Any, panic_key_prefix: str, copy: int
) -> None:
    """read_twice's p99 is at most twice two PINGs', timed interleaved with them."""
    key = f"{panic_key_prefix}:greeting"
    panic_redis.set(key, "hello")
    assert_io_latency(
        read_twice, panic_redis, key, control=panic_redis.ping, round_trips=2, max_ratio=2.0
    )
