"""panic_isolated: one isolated breaker environment per Hypothesis example."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_panicquota import RestoreError
from pytest_panicquota._fixtures import IsolatedFactory

from .support import REAL_URL

HYPOTHESIS_SUITE = """
from hypothesis import given, settings
from panicquota import AdaptivePanicQuota
from pytest_panicquota.strategies import contexts, durations

PREFIXES = []


@settings(max_examples=10, deadline=None)
@given(minutes=durations(max_minutes=600, allow_none=False).filter(bool), context=contexts())
def test_each_example_is_isolated(panic_isolated, minutes, context):
    with panic_isolated(AdaptivePanicQuota(), start=1_700_000_000) as env:
        # A fresh keyspace and clock: nothing left by an earlier example.
        assert list(env.redis.scan_iter(f"{env.key_prefix}*")) == []
        assert env.clock() == 1_700_000_000
        assert env.key_prefix not in PREFIXES
        PREFIXES.append(env.key_prefix)
        breaker = env.breaker()
        breaker.trip()
        env.clock.advance(minutes=minutes)
        ttl, mode, meta = breaker.get_ttl(60, context)
        lasted = breaker.panic_duration_minutes()
        assert abs(lasted - minutes) < 1e-6
        expected = env.quota.calculate_ttl_strategy(60, lasted, context)
        assert (ttl, mode) == expected[:2]
        assert list(env.redis.scan_iter(f"{env.key_prefix}*"))


@settings(max_examples=10, deadline=None)
@given(minutes=durations(max_minutes=600, allow_none=False).filter(bool))
def test_each_example_has_its_own_cache(panic_isolated, minutes):
    with panic_isolated(start=1_700_000_000) as env:
        PREFIXES.append(env.key_prefix)
        breaker = env.breaker()
        cache = env.cache(breaker)
        fetches = []
        fetch = lambda: fetches.append(1) or len(fetches)
        # A fresh store: the first read of the key misses in every example.
        assert cache.lookup("odds", fetch).source.value == "MISS"
        assert cache.lookup("odds", fetch).source.value == "HIT"
        breaker.trip()
        env.clock.advance(minutes=minutes)
        # Another cache on the environment (its own breaker, same keys) sees the panic.
        result = env.cache().lookup("odds", fetch)
        assert result.decision[0] == env.quota.calculate_ttl_strategy(60, minutes, None)[0]
        assert result.source.value == "MISS"  # the entry predates the trip
        assert fetches == [1, 1]
        assert list(env.redis.scan_iter(f"{env.key_prefix}:cache*"))


def test_keys_are_gone_after_each_example(panic_isolated):
    assert len(PREFIXES) > 1
    with panic_isolated() as env:
        for prefix in PREFIXES:
            assert list(env.redis.scan_iter(f"{prefix}*")) == []
"""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="fakeredis"),
        pytest.param(("--panicquota-redis-url", REAL_URL), id="real"),
    ],
)
def test_given_with_panic_isolated(pytester: pytest.Pytester, args: tuple[str, ...]) -> None:
    """@given with panic_isolated passes the health check; each example gets its own keys."""
    pytester.makepyfile(HYPOTHESIS_SUITE)
    result = pytester.runpytest("-p", "no:randomly", *args)
    result.assert_outcomes(passed=3)


def test_panic_breaker_with_given_is_what_fails(pytester: pytest.Pytester) -> None:
    """The function-scoped panic_breaker under @given fails Hypothesis's health check."""
    pytester.makepyfile(
        """
        from hypothesis import given
        from pytest_panicquota.strategies import durations

        @given(minutes=durations())
        def test_shared(panic_breaker, minutes):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*uses a function-scoped fixture 'panic_breaker'*"])


def test_async_redis_and_cleanups() -> None:
    """env.async_redis shares env.redis's server; cleanups run last-first, before the Redis."""
    factory = IsolatedFactory(None)
    order: list[str] = []
    with factory() as env:
        env.redis.set(f"{env.key_prefix}:k", "v")
        assert env.async_redis is env.async_redis
        env.add_cleanup(lambda: order.append("first added"))
        env.add_cleanup(lambda: order.append("second added"))
    assert order == ["second added", "first added"]
    assert env.closed
    env.close()  # idempotent
    assert order == ["second added", "first added"]


def test_failing_cleanup_is_reported_after_the_rest_ran() -> None:
    """A cleanup that raises is named in one RestoreError; the other steps still run."""
    factory = IsolatedFactory(None)
    ran: list[str] = []
    env = factory()

    def broken() -> None:
        raise OSError("socket gone")

    env.add_cleanup(lambda: ran.append("ran"))
    env.add_cleanup(broken, "closing the cache")
    with pytest.raises(RestoreError) as raised:
        env.close()
    assert str(raised.value) == (
        f"panic_isolated could not clean up the environment {env.key_prefix!r}: "
        "closing the cache (OSError: socket gone)"
    )
    assert ran == ["ran"]


def test_factory_closes_environments_left_open() -> None:
    """At the session's end the factory closes what a test left open, reporting failures."""
    factory = IsolatedFactory(None)
    left: Any = factory()
    done = factory()
    done.close()
    failing = factory()

    def broken() -> None:
        raise RuntimeError("boom")

    failing.add_cleanup(broken)
    with pytest.raises(RestoreError, match=r"a cleanup step \(RuntimeError: boom\)"):
        factory.close()
    assert left.closed
    assert failing.closed
    factory.close()  # nothing left


def test_real_redis_environment_undoes_writes(real_redis: Any) -> None:
    """On the real server an environment's writes, prefixed or not, are undone on exit."""
    factory = IsolatedFactory(REAL_URL)
    with factory() as env:
        name = f"{env.key_prefix}-outside"
        env.redis.set(name, "x")
        env.breaker().trip()
        assert real_redis.exists(name)
    assert not real_redis.exists(name)
    assert list(real_redis.scan_iter(f"{env.key_prefix}*")) == []


def test_a_redis_that_cannot_be_cleaned_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis client that fails to close is named in the environment's RestoreError."""
    env = IsolatedFactory(None)()

    def broken() -> None:
        raise OSError("already gone")

    monkeypatch.setattr(env.redis, "close", broken)
    with pytest.raises(RestoreError) as raised:
        env.close()
    assert str(raised.value) == (
        f"panic_isolated could not clean up the environment {env.key_prefix!r}: panic_redis "
        "could not clean up after the test on fakeredis: 1 step failed (closing the client "
        "(OSError: already gone))"
    )
