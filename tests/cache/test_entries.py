"""Entries other writers left in Redis, and the store's outage bookkeeping."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from panicquota.cache import CacheSource
from panicquota.cache._core import BACKOFF_FIRST, BACKOFF_MAX, StoreHealth
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream, UpstreamError

from .conftest import Make
from .support import T0

ON_FAKEREDIS = pytest.mark.parametrize("store_kind", ["fakeredis"], indirect=True)


@ON_FAKEREDIS
def test_an_unreadable_fresh_entry_is_fetched_again(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh entry whose payload does not decode is logged and replaced by a fetch."""
    view = make()
    view.redis.set(f"{view.prefix}:v:k", b"%.6f xgarbage" % T0)
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        result = view.lookup("k", Upstream())
    assert result.source is CacheSource.MISS
    assert [r.getMessage() for r in caplog.records][:1] == [
        "ignoring the unreadable cache entry 'k' (ValueError(\"not a JSONSerializer entry "
        "(tag b'x')\"))"
    ]
    assert view.lookup("k", Upstream()).source is CacheSource.HIT


@ON_FAKEREDIS
def test_an_unreadable_entry_is_not_served_stale(make: Make, clock: ManualClock) -> None:
    """When the fetch fails, an old entry that does not decode is no answer: the error is."""
    view = make(stale_if_error=600)
    view.redis.set(f"{view.prefix}:v:k", b"%.6f xgarbage" % (T0 - 100))
    view.redis.set(f"{view.prefix}:v:other", b"not an entry")
    upstream = Upstream()
    upstream.fail()
    with pytest.raises(UpstreamError):
        view.lookup("k", upstream)
    with pytest.raises(UpstreamError):
        view.lookup("other", upstream)


@ON_FAKEREDIS
def test_a_waiter_skips_an_unreadable_entry_from_the_lease_holder(make: Make) -> None:
    """A waiter ignores an unreadable newer entry and fetches once the holder's lease is gone."""
    view = make(coalesce_timeout=5)
    view.redis.set(f"{view.prefix}:l:k", "holder", px=400)

    def holder_writes_garbage() -> None:
        time.sleep(0.1)
        view.redis.set(f"{view.prefix}:v:k", b"%.6f xgarbage" % (T0 + 1))

    writer = threading.Thread(target=holder_writes_garbage)
    writer.start()
    started = time.monotonic()
    result = view.lookup("k", Upstream("own"))
    writer.join(5)
    assert (result.value, result.source) == ("own #1", CacheSource.MISS)
    assert 0.3 <= time.monotonic() - started < 4.0


@ON_FAKEREDIS
def test_a_waiter_takes_the_lease_holder_s_entry(make: Make, clock: ManualClock) -> None:
    """A waiter is answered by the entry the holder writes: COALESCED, with that entry's age."""
    view = make()
    view.redis.set(f"{view.prefix}:l:k", "holder", px=5000)

    def holder_writes() -> None:
        time.sleep(0.1)
        view.redis.set(f"{view.prefix}:v:k", b"%.6f sodds" % (T0 - 0.5))

    writer = threading.Thread(target=holder_writes)
    writer.start()
    result = view.lookup("k", Upstream())
    writer.join(5)
    assert (result.value, result.source, result.age) == ("odds", CacheSource.COALESCED, 0.5)


@ON_FAKEREDIS
def test_a_waiter_ignores_an_entry_older_than_the_one_it_saw(
    make: Make, clock: ManualClock
) -> None:
    """An entry no newer than the one read at the miss is not another worker's fresh fetch."""
    view = make(coalesce_timeout=0.3)
    view.trip()
    view.redis.set(f"{view.prefix}:v:k", b"%.6f sold" % (T0 - 5))
    view.redis.set(f"{view.prefix}:l:k", "holder", px=5000)
    result = view.lookup("k", Upstream("own"))
    assert (result.value, result.source) == ("own #1", CacheSource.MISS)


def test_store_health_logs_once_backs_off_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    """Failures double the backoff up to its cap and log once; a success logs the recovery."""
    health = StoreHealth("store", None)
    assert health.available()
    with caplog.at_level(logging.DEBUG, logger="panicquota.cache"):
        for _ in range(5):
            health.failed("get", OSError("down"))
        assert not health.available()
        assert health.backoff == BACKOFF_MAX
        health.succeeded()
        health.succeeded()
    assert health.available()
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING] + [logging.DEBUG] * 4 + [logging.WARNING]
    assert caplog.records[-1].getMessage().startswith("cache store 'store' answers again, after ")
    health.failed("get", OSError("down again"))
    assert health.backoff == BACKOFF_FIRST
