"""The plugin's cache fixtures, through pytester: panic_cache, its options, panic_upstream."""

from __future__ import annotations

import pytest


def test_panic_cache_applies_the_breaker_s_decision(pytester: pytest.Pytester) -> None:
    """panic_cache runs on panic_breaker and panic_clock over panic_redis, under the prefix."""
    pytester.makepyfile(
        """
        from panicquota.cache import CacheSource, PanicCache, RedisStore

        def test_freshness(panic_cache, panic_breaker, panic_clock, panic_upstream,
                           panic_redis, panic_key_prefix):
            assert isinstance(panic_cache, PanicCache)
            assert isinstance(panic_cache.store, RedisStore)
            assert panic_cache.get_or_fetch("odds", panic_upstream) == "upstream #1"
            panic_clock.advance(seconds=30)
            assert panic_cache.lookup("odds", panic_upstream).source is CacheSource.HIT
            assert panic_redis.exists(f"{panic_key_prefix}:cache:v:odds") == 1
            panic_breaker.trip()
            assert panic_cache.lookup("odds", panic_upstream).source is CacheSource.MISS
            assert panic_upstream.calls == 2

        def test_failures(panic_cache, panic_upstream):
            panic_upstream.fail(times=1)
            try:
                panic_cache.get_or_fetch("odds", panic_upstream)
            except Exception as error:
                assert type(error).__name__ == "UpstreamError"
            else:
                raise AssertionError("the failure did not propagate")
            assert panic_cache.get_or_fetch("odds", panic_upstream) == "upstream #2"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_panic_cache_options_can_be_overridden(pytester: pytest.Pytester) -> None:
    """Overriding panic_cache_options configures panic_cache (here: stale on error)."""
    pytester.makepyfile(
        """
        import pytest
        from panicquota.cache import CacheSource

        @pytest.fixture
        def panic_cache_options():
            return {"normal_ttl": 10, "stale_if_error": 300}

        def test_stale(panic_cache, panic_clock, panic_upstream):
            panic_cache.lookup("odds", panic_upstream)
            panic_clock.advance(seconds=100.5)
            panic_upstream.fail()
            result = panic_cache.lookup("odds", panic_upstream)
            assert (result.source, result.value) == (CacheSource.STALE, "upstream #1")
            assert result.age == pytest.approx(100.5)
            assert panic_cache.cache_control() == "max-age=10, stale-if-error=290"
            assert panic_cache.cache_control(result=result) == "max-age=0, stale-if-error=199"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_cache_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` shows the cache fixtures with their docstrings."""
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines_random(
        [
            "panic_cache -- *",
            "panic_cache_options -- *",
            "panic_upstream -- *",
        ]
    )
