"""Stale on error: a failed fetch is answered by an entry younger than stale_if_error."""

from __future__ import annotations

import logging

import pytest

from panicquota.cache import CacheSource
from panicquota.clock import ManualClock
from pytest_panicquota import Upstream, UpstreamError

from .conftest import Make


def test_a_failed_fetch_serves_an_entry_within_the_bound(
    make: Make, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Past its TTL but within stale_if_error, the old entry is served as STALE and logged."""
    view = make(stale_if_error=120)
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=90)
    upstream.fail()
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        result = view.lookup("k", upstream)
    assert (result.value, result.source, result.age) == ("upstream #1", CacheSource.STALE, 90.0)
    assert upstream.calls == 2
    assert [r.getMessage() for r in caplog.records if r.name == "panicquota.cache"] == [
        "fetch of 'k' failed (UpstreamError: upstream is down); serving the entry fetched "
        "90.0 s ago (stale_if_error=120 s)"
    ]


def test_a_failed_fetch_past_the_bound_raises_unchanged(make: Make, clock: ManualClock) -> None:
    """An entry older than stale_if_error is not served: the fetch's own exception propagates."""
    view = make(stale_if_error=120)
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=120.5)
    failure = UpstreamError("gone")
    upstream.fail(failure)
    with pytest.raises(UpstreamError) as raised:
        view.lookup("k", upstream)
    assert raised.value is failure


def test_without_stale_if_error_a_failure_raises(make: Make, clock: ManualClock) -> None:
    """The default stale_if_error=0 never serves stale values."""
    view = make()
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=61)
    upstream.fail(KeyError("odds"))
    with pytest.raises(KeyError, match="odds"):
        view.lookup("k", upstream)


def test_a_failure_with_no_entry_raises(make: Make) -> None:
    """Nothing stored, nothing to serve: the exception propagates."""
    view = make(stale_if_error=600)
    upstream = Upstream()
    upstream.fail()
    with pytest.raises(UpstreamError, match=r"^upstream is down$"):
        view.lookup("k", upstream)


def test_stale_is_served_in_a_panic_and_the_next_read_tries_upstream_again(
    make: Make, clock: ManualClock
) -> None:
    """In tier 1 a failing upstream is bridged by the bound; recovery is fetched at once."""
    view = make(stale_if_error=30)
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=10)
    view.trip()
    upstream.fail(times=1)
    assert view.lookup("k", upstream).source is CacheSource.STALE
    recovered = view.lookup("k", upstream)
    assert (recovered.value, recovered.source) == ("upstream #3", CacheSource.MISS)


def test_upstream_failures_can_be_counted_and_limited() -> None:
    """Upstream.fail(times=n) fails n calls, recover() ends failures; calls counts them all."""
    upstream = Upstream("feed")
    upstream.fail(times=2)
    for _ in range(2):
        with pytest.raises(UpstreamError, match=r"^feed is down$"):
            upstream()
    assert upstream() == "feed #3"
    upstream.fail()
    upstream.recover()
    upstream.value = {"odds": 1.5}
    assert (upstream(), upstream.calls) == ({"odds": 1.5}, 4)
    assert repr(upstream) == "Upstream('feed', latency=0.0, calls=4)"
