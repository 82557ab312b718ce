"""The objects behind ``panic_redis``: a fresh fakeredis, or a journaled real server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from pytest_panicquota._journal import KeyJournal, RestoreError
from pytest_panicquota._journal_clients import tracking_client

__all__ = ["Isolated", "IsolatedFactory", "RedisHandle", "unique_prefix", "unreachable"]

#: How long the session-start check waits for the server to accept a connection.
CONNECT_TIMEOUT_SECONDS = 5.0


def unique_prefix(worker: str) -> str:
    """Return a key prefix no other test, xdist worker or run uses."""
    return f"panicquota-test:{worker}:{uuid.uuid4().hex[:12]}"


def unreachable(url: str) -> str | None:
    """Return why *url* cannot serve ``panic_redis``, and what to do, or ``None`` if it can."""
    try:
        client = tracking_client(url, KeyJournal(unique_prefix("check")))
    except ValueError as error:  # redis-py's word for a URL it cannot read
        return f"it is not a Redis URL ({error}); pass one such as redis://127.0.0.1:6379/0"
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.connection_kwargs.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_SECONDS)
    try:
        client.ping()
    except Exception as error:  # any failure: the message quotes it
        return f"PING failed ({type(error).__name__}: {error}); start that server"
    finally:
        client.close()
    return None


class RedisHandle:
    """One test's Redis: its client, and a URL other processes can reach it at.

    Args:
        url: a real server's URL; ``None`` for a fresh fakeredis server.
    """

    def __init__(self, url: str | None, key_prefix: str) -> None:
        self.journal = KeyJournal(key_prefix)
        self.key_prefix = key_prefix
        self.real_url = url
        self._tcp: Any = None
        self._async: Any = None
        self._thread: threading.Thread | None = None
        if url is None:
            from panicquota._shared.extras import require

            require("panic_redis's default fake Redis", "testing", "fakeredis", "lupa")
            import fakeredis

            self._fake_server = fakeredis.FakeServer()
            self.client: Any = fakeredis.FakeRedis(server=self._fake_server)
        else:
            self.client = tracking_client(url, self.journal)

    @property
    def tracked(self) -> bool:
        """Whether writes are journaled and undone (a real, shared server)."""
        return self.real_url is not None

    def async_client(self) -> Any:
        """Return an asyncio client of this Redis, made on first use, usable from any loop."""
        if self._async is None:
            if self.real_url is None:
                import fakeredis

                self._async = fakeredis.FakeAsyncRedis(server=self._fake_server)
            else:
                from pytest_panicquota._async import tracking_async_client

                self._async = tracking_async_client(self.real_url, self.journal, self.client)
        return self._async

    def url(self) -> str:
        """Return a URL of this Redis, serving the fakeredis over TCP on first use."""
        if self.real_url is not None:
            return self.real_url
        if self._tcp is None:
            import fakeredis

            self._tcp = fakeredis.TcpFakeServer(("127.0.0.1", 0))
            # Served over TCP, the same data the test's client sees.
            self._tcp.fake_server = self._fake_server
            self._thread = threading.Thread(
                target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        host, port = self._tcp.server_address[:2]
        return f"redis://{host}:{port}/0"

    def close(self) -> None:
        """Undo the test's writes on a real server, stop the TCP server, close the client.

        Raises:
            RestoreError: something could not be undone or closed; every other
                step was still carried out, and the message lists all failures.
        """
        problems: list[str] = []
        restored = ""
        if self.tracked:
            unrestored = self.journal.restore(self.client)
            problems += unrestored
            # Keys under the test's own prefix belong to it alone (the prefix is
            # unique), whoever wrote them: a client the test made, or a worker.
            # The journal stays when a key could not be restored: it holds the
            # key's saved state, to put it back by hand.
            problems += _attempt(
                f"the keys under {self.key_prefix!r}",
                lambda: self.journal.delete_prefix(self.client, keep_journal=bool(unrestored)),
            )
            if unrestored and self.journal.read:
                restored = (
                    "; every other key in the journal was restored or deleted, and the journal "
                    f"{self.journal.record_key!r} is kept (hash: key -> 'expiry time in Unix ms, "
                    "-1 for none:DUMP payload', or '' if the key was absent) to put those keys "
                    "back by hand"
                )
            elif unrestored:
                restored = (
                    f"; no key was restored: check by hand the keys the test wrote, and the "
                    f"journal {self.journal.record_key!r} if it exists"
                )
        if self._async is not None:
            problems += _attempt("closing the asyncio client", self._close_async)
        problems += _attempt("closing the client", self.client.close)
        if self._tcp is not None:
            problems += _attempt("stopping the fakeredis TCP server", self._stop_tcp)
        if problems:
            where = self.real_url or "fakeredis"
            raise RestoreError(
                f"panic_redis could not clean up after the test on {where}: "
                f"{_count(len(problems), 'step')} failed ({'; '.join(problems)}){restored}"
            )

    def _close_async(self) -> None:
        if self.real_url is None:
            return
        from pytest_panicquota._async import close_sockets

        close_sockets(self._async)

    def _stop_tcp(self) -> None:
        self._tcp.shutdown()
        self._tcp.server_close()
        assert self._thread is not None
        self._thread.join(5)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _attempt(what: str, step: Callable[[], object]) -> list[str]:
    try:
        step()
    except Exception as error:  # reported with the others once all steps ran
        return [f"{what} ({type(error).__name__}: {error})"]
    return []


class Isolated:
    """One isolated environment: its own Redis keyspace, clock and breakers.

    Made by the ``panic_isolated`` fixture, one per Hypothesis example; a
    context manager whose exit undoes everything it built.

    Attributes:
        redis: a client of a fresh fakeredis server, or of the real server
            (``--panicquota-redis-url``) with its writes undone on exit.
        clock: a :class:`panicquota.clock.ManualClock` of its own.
        key_prefix: a key prefix no other environment, test or worker uses.
        quota: the policy the breakers use by default.
    """

    def __init__(self, url: str | None, quota: Any, start: float | None) -> None:
        from panicquota.clock import ManualClock

        self.key_prefix = unique_prefix("isolated")
        self._handle = RedisHandle(url, self.key_prefix)
        self.redis: Any = self._handle.client
        self.clock = ManualClock(start)
        self.quota = quota
        self._cleanups: list[tuple[str, Callable[[], object]]] = []
        self.closed = False

    def __enter__(self) -> Isolated:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def async_redis(self) -> Any:
        """Return an asyncio client of the same Redis as :attr:`redis`."""
        return self._handle.async_client()

    def breaker(self, quota: Any = None, **options: Any) -> Any:
        """Return a new ``VIXCircuitBreaker`` on this environment's Redis, clock and prefix.

        Args:
            quota: its policy (default: :attr:`quota`).
            options: more ``VIXCircuitBreaker`` keyword arguments.
        """
        from panicquota.breaker import VIXCircuitBreaker

        breaker = VIXCircuitBreaker(
            self.redis,
            self.quota if quota is None else quota,
            key_prefix=self.key_prefix,
            clock=self.clock,
            **options,
        )
        self.add_cleanup(breaker.close, "closing a breaker")
        return breaker

    def cache(self, breaker: Any = None, store: Any = None, **options: Any) -> Any:
        """Return a new ``PanicCache`` on this environment, as ``panic_cache`` is on a test's.

        Args:
            breaker: its breaker (default: a new :meth:`breaker`).
            store: its store (default: a ``RedisStore`` on :attr:`redis` under
                ``<key_prefix>:cache``, cleaned on exit with the rest).
            options: more ``PanicCache`` keyword arguments (``normal_ttl``
                defaults to 60, as for ``panic_cache``).
        """
        from panicquota.cache import PanicCache, RedisStore

        if store is None:
            store = RedisStore(self.redis, prefix=f"{self.key_prefix}:cache")
        options.setdefault("normal_ttl", 60.0)
        return PanicCache(self.breaker() if breaker is None else breaker, store, **options)

    def add_cleanup(self, step: Callable[[], object], what: str = "a cleanup step") -> None:
        """Run *step* on exit, before the Redis is cleaned (last added, first run).

        For anything built on the environment that needs closing (a client
        or a thread of the code under test, for instance).
        """
        self._cleanups.append((what, step))

    def close(self) -> None:
        """Run the cleanups, then undo the Redis writes; idempotent.

        Raises:
            RestoreError: a step failed; every other step was still run.
        """
        if self.closed:
            return
        self.closed = True
        problems: list[str] = []
        while self._cleanups:
            what, step = self._cleanups.pop()
            problems += _attempt(what, step)
        try:
            self._handle.close()
        except RestoreError as error:
            problems.append(str(error))
        if problems:
            raise RestoreError(
                f"panic_isolated could not clean up the environment {self.key_prefix!r}: "
                f"{'; '.join(problems)}"
            )


class IsolatedFactory:
    """The ``panic_isolated`` fixture: call it for a new :class:`Isolated` environment.

    Args:
        url: the real Redis server, or ``None`` for a fakeredis per environment.
    """

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._open: list[Isolated] = []

    def __call__(self, quota: Any = None, *, start: float | None = None) -> Isolated:
        """Return a new isolated environment.

        Args:
            quota: the policy of its breakers (default: a fresh ``AdaptivePanicQuota()``).
            start: the epoch second its clock starts at (default: ``ManualClock``'s).
        """
        if quota is None:
            from panicquota import AdaptivePanicQuota

            quota = AdaptivePanicQuota()
        # Closed ones are dropped here so that a long Hypothesis run holds no
        # more than the environments still open.
        self._open = [env for env in self._open if not env.closed]
        environment = Isolated(self.url, quota, start)
        self._open.append(environment)
        return environment

    def close(self) -> None:
        """Close the environments a test left open.

        Raises:
            RestoreError: one could not be cleaned up (the others were).
        """
        problems: list[str] = []
        for environment in self._open:
            try:
                environment.close()
            except RestoreError as error:
                problems.append(str(error))
        self._open = []
        if problems:
            raise RestoreError("; ".join(problems))
