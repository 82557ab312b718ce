"""The cache fixtures: ``panic_cache`` (a PanicCache on the test's Redis) and ``panic_upstream``.

Imported by the plugin module, so the fixtures register with it; everything
heavy (redis, the cache) is imported inside the fixtures.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from panicquota.cache import PanicCache

__all__ = ["Upstream", "UpstreamError", "panic_cache", "panic_cache_options", "panic_upstream"]


class UpstreamError(Exception):
    """What an :class:`Upstream` told to fail raises by default."""


class Upstream:
    """A fake upstream to pass as ``fetch``: counts calls, answers after a latency, fails on cue.

    Call it (threads) or :meth:`fetch_async` (asyncio); both count into
    :attr:`calls`, safely across threads. Each answer is ``"<name> #<n>"``
    where *n* is the call's number, unless :attr:`value` is set, so a test can
    tell which fetch produced a served value.

    Args:
        name: the start of every answer.
        latency: seconds every call takes before answering.
    """

    def __init__(self, name: str = "upstream", *, latency: float = 0.0) -> None:
        self.name = name
        self.latency = latency
        #: Answer this instead of ``"<name> #<n>"`` when not ``None``.
        self.value: Any = None
        self._calls = 0
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._failures_left: int | None = None

    @property
    def calls(self) -> int:
        """How many times the upstream was called (failed calls included)."""
        return self._calls

    def fail(self, error: BaseException | None = None, *, times: int | None = None) -> None:
        """Make the next calls raise *error* (default :class:`UpstreamError`), *times* of them.

        ``times=None`` fails until :meth:`recover`.
        """
        self._failure = UpstreamError(f"{self.name} is down") if error is None else error
        self._failures_left = times

    def recover(self) -> None:
        """Answer normally again."""
        self._failure = None
        self._failures_left = None

    def _answer(self) -> Any:
        with self._lock:
            self._calls += 1
            number = self._calls
            failure = self._failure
            if failure is not None and self._failures_left is not None:
                self._failures_left -= 1
                if self._failures_left <= 0:
                    self._failure = None
        if failure is not None:
            raise failure
        return f"{self.name} #{number}" if self.value is None else self.value

    def __call__(self) -> Any:
        """Answer as a blocking call: sleep *latency*, then count and answer (or raise)."""
        if self.latency:
            time.sleep(self.latency)
        return self._answer()

    async def fetch_async(self) -> Any:
        """Answer as a coroutine: await *latency*, then count and answer (or raise)."""
        if self.latency:
            import asyncio

            await asyncio.sleep(self.latency)
        return self._answer()

    def __repr__(self) -> str:
        return f"Upstream({self.name!r}, latency={self.latency!r}, calls={self._calls!r})"


@pytest.fixture
def panic_cache_options() -> dict[str, Any]:
    """Return the options ``panic_cache`` is built with; override this fixture to change them."""
    return {"normal_ttl": 60.0}


@pytest.fixture
def panic_cache(
    panic_breaker: Any,
    panic_redis: Any,
    panic_key_prefix: str,
    panic_cache_options: dict[str, Any],
) -> PanicCache:
    """Return a ``PanicCache`` on ``panic_breaker`` over a ``RedisStore`` on ``panic_redis``.

    Its entries live under ``<panic_key_prefix>:cache`` and are undone with
    the test's other writes; ``panic_clock`` times it (through the breaker).
    """
    from panicquota.cache import PanicCache, RedisStore

    store = RedisStore(panic_redis, prefix=f"{panic_key_prefix}:cache")
    return PanicCache(panic_breaker, store, **panic_cache_options)


@pytest.fixture
def panic_upstream() -> Upstream:
    """Return an :class:`Upstream`: a ``fetch`` that counts its calls and fails on cue."""
    return Upstream()
