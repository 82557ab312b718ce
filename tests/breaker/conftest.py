"""Fixtures of the breaker tests.

The behavioural suite runs on every (backend, flavour) pair: fakeredis and the
real Redis on 127.0.0.1:6379, the sync and the async breaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import fakeredis
import pytest

from panicquota.breaker import _base, connect_async

from .support import REAL_REDIS_URL, Backend, Factory, delete_prefix

#: Read before any test patches it.
SHIPPED_MAX_WAIT = _base.DEFAULT_MAX_WAIT


@pytest.fixture(autouse=True)
def patient_breakers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Breakers built without max_wait wait up to 5 s: a loaded machine cannot flip FRESH."""
    monkeypatch.setattr(_base, "DEFAULT_MAX_WAIT", 5.0)


@pytest.fixture
def default_wait(monkeypatch: pytest.MonkeyPatch, patient_breakers: None) -> float:
    """The shipped max_wait default, for the tests of the request-path bound."""
    monkeypatch.setattr(_base, "DEFAULT_MAX_WAIT", SHIPPED_MAX_WAIT)
    return SHIPPED_MAX_WAIT


@pytest.fixture(params=["fakeredis", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A clean Redis: a fresh fakeredis server, or the real one under a unique prefix."""
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=server)
        yield Backend("fakeredis", client, lambda: fakeredis.FakeAsyncRedis(server=server))
        client.close()
        return
    client = request.getfixturevalue("real_redis")
    found = Backend("redis", client, lambda: connect_async(REAL_REDIS_URL))
    yield found
    delete_prefix(client, found.prefix)


@pytest.fixture(params=["sync", "async"])
def make_breaker(request: pytest.FixtureRequest, backend: Backend) -> Iterator[Factory]:
    """A factory of sync or async breakers over the test's backend and a shared ManualClock."""
    runner = asyncio.Runner() if request.param == "async" else None
    factory = Factory(backend, request.param, runner)
    yield factory
    factory.close()
