"""The pytest plugin: options, markers, hooks and fixtures.

The certification mode's hooks delegate to :mod:`pytest_panicquota._certification_mode`.
Heavy imports (redis, fakeredis, Hypothesis, the certification engine) happen
inside the hooks and fixtures that need them, so an installed plugin that a
test suite does not use costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_panicquota import _certification_mode, _instructions

# The cache fixtures live in their own module; importing them here registers them.
from pytest_panicquota._cache import (  # noqa: F401
    panic_cache,
    panic_cache_options,
    panic_upstream,
)

if TYPE_CHECKING:
    from panicquota import AdaptivePanicQuota
    from panicquota.clock import ManualClock
    from pytest_panicquota._fixtures import IsolatedFactory, RedisHandle
    from pytest_panicquota._workers import WorkerPool

ENV_REDIS_URL = "PANICQUOTA_REDIS_URL"

MARKERS = (
    "panic_latency(p99_ms=1.0, samples=1000): run the test body repeatedly and fail when its "
    "p99 latency, net of an empty control call, reaches p99_ms milliseconds",
    "panic_no_leak(batch=200, batches=5): run the test body repeatedly after a warm-up and fail "
    "on sustained growth of traced memory or live objects",
    _instructions.MARKER,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the panicquota option group and ini keys."""
    group = parser.getgroup("panicquota", "panicquota: fixtures, checks and certification")
    group.addoption(
        "--panicquota-redis-url",
        dest="panicquota_redis_url",
        metavar="URL",
        default=None,
        help="run panic_redis on this real Redis server, each test's keys removed after it "
        f"(default: ${ENV_REDIS_URL}, else a fresh fakeredis per test)",
    )
    group.addoption(
        "--panicquota-certify",
        dest="panicquota_certify",
        action="store_true",
        default=False,
        help="run the certification suite against --panicquota-target instead of the tests",
    )
    group.addoption(
        "--panicquota-target",
        dest="panicquota_target",
        metavar="MODULE:ATTR",
        default=None,
        help="the policy to certify: an object with calculate_ttl_strategy, a class or a "
        "zero-argument factory",
    )
    group.addoption(
        "--panicquota-report",
        dest="panicquota_report",
        metavar="PATH",
        default=None,
        help="write the certification report to PATH as JSON",
    )
    group.addoption(
        "--panicquota-p99-ms",
        dest="panicquota_p99_ms",
        metavar="MS",
        type=float,
        default=None,
        help="the certification's latency budget: p99 of one decision in ms (default: 1.0)",
    )
    _instructions.add_options(group)
    parser.addini(
        "panicquota_redis_url",
        "the real Redis server panic_redis uses (the option and the environment win)",
        default=None,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers; refuse certification options without certification."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(
        _instructions.InstructionsPlugin(config), "panicquota-instructions"
    )
    _certification_mode.configure(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say, in certification mode, what runs instead of the tests."""
    return _certification_mode.report_header(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to start when the configured real Redis cannot be reached (one error, not N)."""
    config = session.config
    url, source = _redis_source(config)
    # xdist workers: the controller has checked before starting them.
    if url is None or hasattr(config, "workerinput"):
        return
    from pytest_panicquota._fixtures import unreachable

    problem = unreachable(url)
    if problem is not None:
        raise pytest.UsageError(
            f"panic_redis cannot use the Redis server {url!r} (set by {source}): {problem}, "
            f"or remove {source} to test on a fresh fakeredis"
        )


def pytest_collection(session: pytest.Session) -> bool | None:
    """Collect the certification criteria instead of tests with ``--panicquota-certify``."""
    return _certification_mode.collect_criteria(session)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the certification table and write its JSON report."""
    _certification_mode.terminal_summary(terminalreporter, config)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a certification run that was asked for a report it could not write in full."""
    _certification_mode.sessionfinish(session, exitstatus)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a test marked ``panic_latency`` or ``panic_no_leak`` under that check."""
    latency = pyfuncitem.get_closest_marker("panic_latency")
    leak = pyfuncitem.get_closest_marker("panic_no_leak")
    if latency is None and leak is None:
        return None
    from panicquota.certification import check_latency, check_no_leak

    test = pyfuncitem.obj
    # The same private attribute pytest's own pytest_pyfunc_call reads.
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    # Once for real first: the checks below swallow the body's exceptions.
    test(**kwargs)
    calls = [((), kwargs)]
    outcomes = []
    if latency is not None:
        outcomes.append(check_latency(test, calls, **{"samples": 1000, **latency.kwargs}))
    if leak is not None:
        options = {"warmup": 200, "batch": 200, "batches": 5, **leak.kwargs}
        outcomes.append(check_no_leak(test, calls, **options))
    for outcome in outcomes:
        if not outcome.passed:
            pytest.fail(outcome.message, pytrace=False)
    return True


def _redis_url(config: pytest.Config) -> str | None:
    return _redis_source(config)[0]


def _redis_source(config: pytest.Config) -> tuple[str | None, str]:
    """Return the real Redis URL panic_redis uses (``None`` for fakeredis) and where it is set."""
    if config.getoption("panicquota_redis_url"):
        return config.getoption("panicquota_redis_url"), "--panicquota-redis-url"
    if os.environ.get(ENV_REDIS_URL):
        return os.environ[ENV_REDIS_URL], f"${ENV_REDIS_URL}"
    return config.getini("panicquota_redis_url") or None, "the panicquota_redis_url ini key"


@pytest.fixture
def panic_key_prefix(request: pytest.FixtureRequest) -> str:
    """Return a key prefix unique to this test (and xdist worker): the breaker's prefix."""
    from pytest_panicquota._fixtures import unique_prefix

    prefix = unique_prefix(os.environ.get("PYTEST_XDIST_WORKER", "main"))
    url = _redis_url(request.config)
    if url is not None and url.partition("://")[0].endswith("+cluster"):
        prefix = "{" + prefix + "}"  # on a cluster, the test's keys and journal share a slot
    return prefix


@pytest.fixture
def _panic_redis_handle(
    request: pytest.FixtureRequest, panic_key_prefix: str
) -> Iterator[RedisHandle]:
    from pytest_panicquota._fixtures import RedisHandle

    handle = RedisHandle(_redis_url(request.config), panic_key_prefix)
    yield handle
    handle.close()


@pytest.fixture
def panic_redis(_panic_redis_handle: RedisHandle) -> Any:
    """Return a clean Redis client for this test.

    A fresh fakeredis server (Lua enabled) by default; with
    ``--panicquota-redis-url`` or ``$PANICQUOTA_REDIS_URL`` a client of that
    real server whose writes are undone after the test (keys it created are
    deleted, keys it changed restored with their expiry time); nothing else is
    touched. Commands the journal cannot follow are refused with
    ``SharedServerError``: ``FLUSHDB``, ``FLUSHALL``, ``SWAPDB``, ``MOVE``,
    ``COPY ... DB n`` to another database, ``SELECT``, ``MIGRATE``, and
    ``FUNCTION FLUSH``/``DELETE``/``RESTORE``/``LOAD`` (load a library in a
    fixture of your own with a plain client, ``FCALL`` is journaled).

    Scripts (``EVAL``, ``EVALSHA``, ``FCALL``) are journaled through their
    ``KEYS`` only: a script must pass every key it writes in ``KEYS``. A key
    name built inside the script is neither saved nor restored, and a
    ``FLUSHDB`` inside a script is not refused.
    """
    return _panic_redis_handle.client


@pytest.fixture
def panic_clock() -> ManualClock:
    """Return a controllable epoch clock (``advance(minutes=...)``, ``set(...)``)."""
    from panicquota.clock import ManualClock

    return ManualClock()


@pytest.fixture
def panic_quota() -> AdaptivePanicQuota:
    """Return the default policy; override this fixture to test your own configuration."""
    from panicquota import AdaptivePanicQuota

    return AdaptivePanicQuota()


@pytest.fixture
def panic_breaker(
    panic_redis: Any, panic_clock: ManualClock, panic_quota: Any, panic_key_prefix: str
) -> Iterator[Any]:
    """Return a breaker on ``panic_redis``, timed by ``panic_clock``, using ``panic_quota``."""
    from panicquota.breaker import VIXCircuitBreaker

    breaker = VIXCircuitBreaker(
        panic_redis, panic_quota, key_prefix=panic_key_prefix, clock=panic_clock
    )
    yield breaker
    breaker.close()


@pytest.fixture(scope="session")
def panic_isolated(request: pytest.FixtureRequest) -> Iterator[IsolatedFactory]:
    """Return a maker of isolated environments: one per Hypothesis example.

    ``with panic_isolated(quota) as env:`` gives ``env.redis`` (a fresh
    fakeredis, or the real server with the example's writes undone on exit),
    ``env.clock`` (its own ``ManualClock``), ``env.key_prefix`` (its own) and
    ``env.breaker(**options)``; ``env.add_cleanup(fn)`` closes anything else
    built on them. Session-scoped, so ``@given`` tests may use it (the
    function-scoped ``panic_breaker`` fails Hypothesis's health check, and
    would be shared by every example); environments left open are closed at
    the end of the session.
    """
    from pytest_panicquota._fixtures import IsolatedFactory

    factory = IsolatedFactory(_redis_url(request.config))
    yield factory
    factory.close()


@pytest.fixture
def panic_async_redis(_panic_redis_handle: RedisHandle) -> Any:
    """Return an asyncio client of the same Redis as ``panic_redis``.

    A ``fakeredis.FakeAsyncRedis`` on ``panic_redis``'s server by default; on a
    real server a ``redis.asyncio`` client whose writes are undone after the
    test like ``panic_redis``'s. Usable from any event loop: a sync test may
    drive it with ``asyncio.run(...)`` (as often as it likes) or an
    ``asyncio.Runner``; ``async def`` tests of pytest-asyncio or anyio work too.
    """
    return _panic_redis_handle.async_client()


@pytest.fixture
def panic_async_breaker(
    panic_async_redis: Any, panic_clock: ManualClock, panic_quota: Any, panic_key_prefix: str
) -> Any:
    """Return an ``AsyncVIXCircuitBreaker`` wired like ``panic_breaker``, on ``panic_async_redis``.

    Its methods are coroutines; its lock belongs to the first event loop that
    waits on it, so drive one breaker from one loop (one ``asyncio.run`` or one
    ``asyncio.Runner``) whenever its calls overlap.
    """
    from panicquota.breaker import AsyncVIXCircuitBreaker

    # Not closed after the test: it does not own its client, and its close()
    # would only drop its listeners.
    return AsyncVIXCircuitBreaker(
        panic_async_redis, panic_quota, key_prefix=panic_key_prefix, clock=panic_clock
    )


@pytest.fixture
def panic_workers(
    _panic_redis_handle: RedisHandle,
    panic_clock: ManualClock,
    panic_quota: Any,
    panic_key_prefix: str,
) -> WorkerPool:
    """Return a runner of a callable in N processes sharing this test's Redis.

    ``panic_workers(fn, *args, workers=4)`` calls ``fn(context, *args)`` in each
    process (see :class:`pytest_panicquota.WorkerContext`), released together,
    and returns the results in worker order.
    """
    from pytest_panicquota._workers import WorkerPool

    return WorkerPool(
        redis_url=_panic_redis_handle.url,
        key_prefix=panic_key_prefix,
        clock=panic_clock,
        quota=panic_quota,
        tracked=_panic_redis_handle.tracked,
    )
