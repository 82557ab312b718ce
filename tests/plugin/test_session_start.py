"""Refusals before any test runs: an unusable Redis URL, certification options alone."""

from __future__ import annotations

import socket

import pytest

from pytest_panicquota import _fixtures

from .support import REAL_URL

SUITE = """
def test_writes(panic_redis):
    panic_redis.set("k", "v")

def test_writes_nothing(panic_redis):
    pass

def test_no_redis():
    pass
"""


def closed_port() -> int:
    """Return a loopback port nothing listens on (the OS picks it, then it is released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_redis_url_is_one_usage_error(pytester: pytest.Pytester) -> None:
    """An unreachable --panicquota-redis-url stops the run at start with one error naming it."""
    pytester.makepyfile(SUITE)
    url = f"redis://127.0.0.1:{closed_port()}/0"
    result = pytester.runpytest("--panicquota-redis-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: panic_redis cannot use the Redis server {url!r} (set by "
            "--panicquota-redis-url): PING failed (ConnectionError: Error 111 connecting to "
            "127.0.0.1:*. Connection refused.); start that server, or remove "
            "--panicquota-redis-url to test on a fresh fakeredis"
        ]
    )
    assert "test_writes" not in result.stdout.str()
    assert result.stderr.str().count("ERROR:") == 1


def test_unreachable_redis_url_under_xdist(pytester: pytest.Pytester) -> None:
    """Under -n 2 the controller refuses before starting workers: one error, no test run."""
    pytester.makepyfile(SUITE)
    url = f"redis://127.0.0.1:{closed_port()}/0"
    result = pytester.runpytest_subprocess("-n", "2", "--panicquota-redis-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: panic_redis cannot use the Redis server {url!r} *"])
    assert result.stderr.str().count("ERROR:") == 1
    assert "passed" not in result.stdout.str()


@pytest.mark.parametrize(
    ("setting", "source"),
    [
        pytest.param("env", "$PANICQUOTA_REDIS_URL", id="environment"),
        pytest.param("ini", "the panicquota_redis_url ini key", id="ini"),
    ],
)
def test_the_error_names_where_the_url_is_set(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, setting: str, source: str
) -> None:
    """The message says which setting gave the bad URL, here not a URL at all."""
    pytester.makepyfile(SUITE)
    monkeypatch.delenv("PANICQUOTA_REDIS_URL", raising=False)
    if setting == "env":
        monkeypatch.setenv("PANICQUOTA_REDIS_URL", "localhost:6379")
    else:
        pytester.makeini("[pytest]\npanicquota_redis_url = localhost:6379\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: panic_redis cannot use the Redis server 'localhost:6379' (set by {source}): "
            "it is not a Redis URL ('localhost:6379' is not a known scheme in store URL "
            "'localhost:6379'; accepted: redis://host:6379/0, rediss://..., "
            "unix:///path/redis.sock, redis+cluster://host:port[,host:port...], "
            "redis+sentinel://host:port[,host:port...]/service[/db], or the same with valkey "
            "instead of redis); pass one such as redis://127.0.0.1:6379/0, or "
            f"remove {source} to test on a fresh fakeredis"
        ]
    )


def test_reachable_redis_url_runs_the_tests(pytester: pytest.Pytester) -> None:
    """A reachable server passes the start check and the suite runs on it."""
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("--panicquota-redis-url", REAL_URL)
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(("--panicquota-target", "policies:x"), "--panicquota-target applies", id="t"),
        pytest.param(("--panicquota-report", "r.json"), "--panicquota-report applies", id="r"),
        pytest.param(("--panicquota-p99-ms", "2"), "--panicquota-p99-ms applies", id="p99"),
        pytest.param(
            ("--panicquota-target", "policies:x", "--panicquota-report", "r.json"),
            "--panicquota-target and --panicquota-report apply",
            id="two",
        ),
    ],
)
def test_certification_options_need_certify(
    pytester: pytest.Pytester, args: tuple[str, ...], named: str
) -> None:
    """A certification option without --panicquota-certify is a usage error, not ignored."""
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: {named} only with --panicquota-certify; add it to certify a target, or "
            "drop them to run the tests"
        ]
    )


def test_xdist_workers_leave_the_check_to_the_controller(pytester: pytest.Pytester) -> None:
    """Under -n 2 with a reachable server the controller checks once and the workers run."""
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-n", "2", "--panicquota-redis-url", REAL_URL)
    result.assert_outcomes(passed=3)


def test_a_client_without_a_connection_pool_is_pinged_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client with no standalone pool (a cluster client) is pinged without a set-up timeout."""
    pinged: list[str] = []

    class PoolLess:
        def ping(self) -> bool:
            pinged.append("ping")
            return True

        def close(self) -> None:
            pinged.append("close")

    monkeypatch.setattr(_fixtures, "tracking_client", lambda url, journal: PoolLess())
    assert _fixtures.unreachable("redis+cluster://127.0.0.1:7000") is None
    assert pinged == ["ping", "close"]
