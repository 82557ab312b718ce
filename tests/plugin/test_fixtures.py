"""The fixtures on fakeredis (default) and on the shared real Redis."""

from __future__ import annotations

from typing import Any

import pytest

from .support import REAL_URL

FAKE_SUITE = """
import pytest

def test_write(panic_redis):
    assert panic_redis.dbsize() == 0
    panic_redis.set("shared-name", "first")

def test_fresh_server_per_test(panic_redis):
    assert panic_redis.get("shared-name") is None

def test_lua(panic_redis):
    assert panic_redis.eval("return redis.call('INCR', KEYS[1])", 1, "counter") == 1

def test_clock(panic_clock):
    start = panic_clock()
    assert panic_clock.advance(minutes=2, seconds=3) == start + 123

def test_clock_set(panic_clock):
    from panicquota.errors import InvalidArgumentError
    panic_clock.set(1_700_000_000.5)
    assert panic_clock() == 1_700_000_000.5
    panic_clock.set(1_600_000_000)
    assert panic_clock.now() == 1_600_000_000.0
    with pytest.raises(InvalidArgumentError, match="epoch_seconds must be a finite number >= 0"):
        panic_clock.set(float("nan"))

def test_quota(panic_quota):
    ttl, mode, meta = panic_quota.calculate_ttl_strategy(60, 35.0, {"league": "Ligue 1"})
    assert (ttl, mode.value, meta["tier"]) == (5, "PANIC_PARTIAL", 2)

def test_prefixes_differ(panic_key_prefix, request):
    assert panic_key_prefix.startswith("panicquota-test:main:")
"""


def test_fakeredis_fixtures(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """panic_redis is a fresh Lua-enabled fakeredis per test; clock (advance, set), quota work."""
    # The inner run is not an xdist worker, even when this test runs in one.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(FAKE_SUITE)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=7)


BREAKER_SUITE = """
from panicquota import AdaptivePanicQuota
import pytest

@pytest.fixture
def panic_quota():
    return AdaptivePanicQuota({"medium": (10, 20, 40)})

def test_breaker(panic_breaker, panic_clock, panic_redis, panic_key_prefix):
    panic_breaker.trip()
    panic_clock.advance(minutes=15)
    panic_breaker.refresh()
    ttl, mode, meta = panic_breaker.get_ttl(60, {"league": "Ligue 1"})
    assert (ttl, meta["tier"]) == (5, 2)
    assert panic_redis.exists(f"{panic_key_prefix}:start_ts") == 1
"""


def test_breaker_fixture_with_overridden_quota(pytester: pytest.Pytester) -> None:
    """panic_breaker decides with an overridden panic_quota, on panic_redis and panic_clock."""
    pytester.makepyfile(BREAKER_SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


REAL_SUITE = """
import pytest

OUTSIDE = {outside!r}

@pytest.fixture(autouse=True)
def record_prefix(panic_key_prefix):
    with open("prefixes.txt", "a") as prefixes:
        prefixes.write(panic_key_prefix + "\\n")

def test_writes_keys_directly(panic_redis, panic_key_prefix):
    panic_redis.set(f"{{panic_key_prefix}}:plain", 1)
    panic_redis.hset("panicquota-plugin-test-unprefixed:{token}", "a", 1)
    pipe = panic_redis.pipeline()
    pipe.set("panicquota-plugin-test-piped:{token}", 1).incr(f"{{panic_key_prefix}}:n")
    pipe.execute()
    panic_redis.eval("redis.call('SET', KEYS[1], 1)", 1, "panicquota-plugin-test-scripted:{token}")
    with panic_redis.pipeline() as watching:
        watching.watch("panicquota-plugin-test-watched:{token}")
        watching.set("panicquota-plugin-test-immediate:{token}", 1)  # runs at once: watching
        watching.multi()
        watching.incr("panicquota-plugin-test-watched:{token}")
        watching.execute()
    panic_redis.xgroup_create("panicquota-plugin-test-stream:{token}", "g", mkstream=True)
    panic_redis.execute_command(
        "XGROUP", "CREATE", "panicquota-plugin-test-stream-2:{token}", "g", "$", "MKSTREAM"
    )
    import redis
    other = redis.Redis.from_url("{url}")
    other.set(f"{{panic_key_prefix}}:written-by-another-client", 1)
    other.close()

def test_overwrites_and_deletes_existing_keys(panic_redis):
    assert panic_redis.get(f"{{OUTSIDE}}:kept") == b"before"
    panic_redis.set(f"{{OUTSIDE}}:kept", "changed")
    panic_redis.delete(f"{{OUTSIDE}}:deleted")
    panic_redis.expire(f"{{OUTSIDE}}:expiring", 5000)

def test_breaker_keys(panic_breaker, panic_clock):
    panic_breaker.trip()
    panic_clock.advance(minutes=40)
    panic_breaker.refresh()
    assert panic_breaker.get_ttl(60, "Ligue 1")[0] == 5

def test_next_test_starts_clean(panic_redis):
    assert panic_redis.exists("panicquota-plugin-test-unprefixed:{token}") == 0
    assert panic_redis.get(f"{{OUTSIDE}}:kept") == b"before"

def test_flush_is_refused(panic_redis):
    from pytest_panicquota import SharedServerError
    with pytest.raises(SharedServerError, match="panic_redis refuses FLUSHDB on a shared Redis"):
        panic_redis.flushdb()
"""


def test_real_redis_keeps_existing_keys(
    pytester: pytest.Pytester, real_redis: Any, outside_prefix: str, token: str
) -> None:
    """On a real server, a run's writes are undone and keys that existed survive unchanged."""
    real_redis.set(f"{outside_prefix}:kept", "before")
    real_redis.set(f"{outside_prefix}:deleted", "before")
    real_redis.set(f"{outside_prefix}:expiring", "before", px=10_000_000)
    real_redis.rpush(f"{outside_prefix}:untouched", "a", "b")
    before = {key: real_redis.dump(key) for key in real_redis.scan_iter(match="*")}
    pytester.makepyfile(REAL_SUITE.format(outside=outside_prefix, token=token, url=REAL_URL))
    result = pytester.runpytest("--panicquota-redis-url", REAL_URL, "-p", "no:randomly")
    result.assert_outcomes(passed=5)
    after = {key: real_redis.dump(key) for key in real_redis.scan_iter(match="*")}
    mine = {k: v for k, v in after.items() if k.decode().startswith(outside_prefix)}
    assert mine == {k: v for k, v in before.items() if k.decode().startswith(outside_prefix)}
    assert real_redis.pttl(f"{outside_prefix}:expiring") > 5_000_000
    # Only this run's own prefixes: other runs may share the server meanwhile.
    prefixes = (pytester.path / "prefixes.txt").read_text().split()
    assert len(set(prefixes)) == 5
    assert all(prefix.startswith("panicquota-test:") for prefix in prefixes)
    left = [k for k in after if token.encode() in k or k.decode().startswith(tuple(prefixes))]
    assert not left


def test_real_redis_from_the_environment(
    pytester: pytest.Pytester, real_redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PANICQUOTA_REDIS_URL selects the real server like the option does."""
    monkeypatch.setenv("PANICQUOTA_REDIS_URL", REAL_URL)
    pytester.makepyfile(
        """
        def test_real(panic_redis):
            assert type(panic_redis).__name__ == "TrackingRedis"
            assert panic_redis.connection_pool.connection_kwargs["port"] == 6379
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


XDIST_SUITE = """
import pytest

@pytest.fixture(autouse=True)
def record_prefix(panic_key_prefix):
    # Appends of one short line from both xdist workers do not interleave.
    with open("prefixes.txt", "a") as prefixes:
        prefixes.write(panic_key_prefix + "\\n")

@pytest.mark.parametrize("n", range(8))
def test_isolated(panic_breaker, panic_redis, panic_clock, panic_key_prefix, n):
    assert panic_redis.exists(f"{panic_key_prefix}:start_ts") == 0
    panic_breaker.trip()
    panic_clock.advance(minutes=20 * n)
    panic_breaker.refresh()
    assert panic_breaker.panic_duration_minutes() == pytest.approx(20 * n, abs=1e-6)
    assert panic_key_prefix.startswith("panicquota-test:gw")
"""


def test_under_xdist_on_real_redis(pytester: pytest.Pytester, real_redis: Any) -> None:
    """Under ``-n 2`` on the shared server, tests do not collide and leave no keys behind."""
    pytester.makepyfile(XDIST_SUITE)
    result = pytester.runpytest_subprocess("-n", "2", "--panicquota-redis-url", REAL_URL)
    result.assert_outcomes(passed=8)
    # Only this run's own prefixes: other runs may share the server meanwhile.
    prefixes = (pytester.path / "prefixes.txt").read_text().split()
    assert len(set(prefixes)) == 8
    assert {prefix.split(":")[1] for prefix in prefixes} == {"gw0", "gw1"}
    keys = real_redis.scan_iter(match="panicquota-test:gw*", count=1000)
    assert [key for key in keys if key.decode().startswith(tuple(prefixes))] == []


TEARDOWN_SUITE = """
OUTSIDE = {outside!r}

def test_one_restore_fails(panic_redis, panic_key_prefix):
    panic_redis.set(f"{{OUTSIDE}}:broken", "changed")
    panic_redis.set(f"{{OUTSIDE}}:kept", "changed")
    panic_redis.set("panicquota-plugin-test-unprefixed:{token}", 1)
    panic_redis.set(f"{{panic_key_prefix}}:own", 1)
    with open("prefix.txt", "w") as out:
        out.write(panic_key_prefix)
    {corrupt}
"""


def test_real_redis_teardown_goes_on_after_a_failure(
    pytester: pytest.Pytester, real_redis: Any, outside_prefix: str, token: str
) -> None:
    """A key that cannot be restored is reported, and every other key is still cleaned up."""
    for name in ("broken", "kept"):
        real_redis.set(f"{outside_prefix}:{name}", "before")
    corrupt = (
        f"panic_redis.hset(panic_redis.journal.record_key, '{outside_prefix}:broken', "
        "b'-1:not a dump')"
    )
    pytester.makepyfile(TEARDOWN_SUITE.format(outside=outside_prefix, token=token, corrupt=corrupt))
    result = pytester.runpytest("--panicquota-redis-url", REAL_URL)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            f"E   *RestoreError: panic_redis could not clean up after the test on {REAL_URL}: "
            f"1 step failed (b'{outside_prefix}:broken' (ResponseError: *)); every other key "
            "in the journal was restored or deleted, and the journal "
            "'panicquota-test:*:panic-journal' is kept *"
        ]
    )
    prefix = (pytester.path / "prefix.txt").read_text()
    assert real_redis.get(f"{outside_prefix}:kept") == b"before"
    assert real_redis.exists(f"panicquota-plugin-test-unprefixed:{token}") == 0
    # Only the journal stays, holding the state the broken key had.
    journal = f"{prefix}:panic-journal"
    left = list(real_redis.scan_iter(match=f"{prefix}*"))
    real_redis.delete(journal)
    assert left == [journal.encode()]
