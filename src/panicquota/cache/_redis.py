"""RedisStore: entries shared by every worker through Redis, with leases for coalescing.

An entry is one string key, ``<prefix>:v:<key>``, holding the fetch time
(epoch seconds on the breaker's clock) then a space then the serialized
value, so a hit is one ``GET``. It is written with ``PX`` (never 0) long
enough for the stale window. A lease is ``<prefix>:l:<key>``, set with
``SET NX PX`` to a random token and deleted only by its holder (compare and
delete in Lua); a holder that dies or hangs loses it when ``PX`` runs out.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

from panicquota.cache._types import Entry
from panicquota.errors import InvalidArgumentError

__all__ = ["AsyncRedisStore", "RedisStore", "decode_entry", "encode_entry"]

logger = logging.getLogger("panicquota.cache")

#: SET the entry unless the key holds another kind of value (someone else's
#: hash, list, ...), which is left alone: returns that kind, else nil.
STORE = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'string' then
    return kind
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

#: Take the lease (1), or say it is held (0), or that the key holds a value
#: with no expiry (-1): no lease of ours (they always expire), but someone
#: else's data, which is left alone; waiting for it to go would be waiting
#: for nothing.
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
if redis.call('PTTL', KEYS[1]) == -1 then
    return -1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def encode_entry(entry: Entry) -> bytes:
    """Return *entry* (whose value is bytes) as stored in Redis."""
    return b"%.6f %b" % (entry.fetched_at, entry.value)


def decode_entry(raw: bytes | str) -> Entry:
    """Return the entry stored as *raw*.

    Raises:
        ValueError: *raw* is not an entry.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    stamp, sep, payload = raw.partition(b" ")
    try:
        fetched_at = float(stamp)
    except ValueError:
        fetched_at = math.nan
    if not sep or not math.isfinite(fetched_at):
        raise ValueError(f"not a panicquota cache entry: {raw[:40]!r}")
    return Entry(payload, fetched_at)


def _milliseconds(seconds: float) -> int:
    # Never PX 0 (Redis refuses it): at least one millisecond.
    return max(math.ceil(seconds * 1000), 1)


def _store_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def _response_error() -> type[Exception]:
    from redis.exceptions import ResponseError

    return ResponseError


#: The token acquire() returns when the lease key holds someone else's data:
#: the caller fetches, and there is nothing to release.
UNLEASED: str = "unleased"

#: How many keys holding foreign data a store remembers having warned about.
WARNED_MAX = 1024


class _RedisBase:
    shared = True

    def __init__(self, client: Any, prefix: str = "panicquota:cache") -> None:
        if not isinstance(prefix, str) or not prefix:
            raise InvalidArgumentError(
                f"prefix must be a non-empty string such as 'odds:cache', got {prefix!r}"
            )
        for method in ("get", "set", "register_script"):
            if not callable(getattr(client, method, None)):
                raise InvalidArgumentError(
                    f"client must be a redis-py compatible client (with {method}()), got {client!r}"
                )
        self.client = client
        self.prefix = prefix
        #: What a call may raise when Redis is down or answers garbage.
        self.errors = _store_errors()
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)
        self._store = client.register_script(STORE)
        self._response_error = _response_error()
        #: Keys whose foreign value was already logged at WARNING (then DEBUG).
        self._warned: set[str] = set()

    def _decoded(self, key: str, raw: bytes | str | None) -> Entry | None:
        if raw is None:
            return None
        try:
            return decode_entry(raw)
        except ValueError as error:
            # Somebody else's data under the prefix: a miss, not an outage.
            logger.warning("ignoring the unreadable cache entry %r (%s)", key, error)
            return None

    def _wrong_type(self, key: str, error: Exception) -> None:
        """Log a read that met another kind of value at *key*'s entry (WRONGTYPE): a miss."""
        if not str(error).startswith("WRONGTYPE"):
            raise error
        self._foreign(
            key,
            "ignoring %r, which holds another kind of Redis value than a cache entry "
            "(WRONGTYPE): reads of %r are misses and the cache does not store over it",
            self.entry_key(key),
            key,
        )

    def _kept(self, key: str, kind: bytes | str | None) -> None:
        """Log a write not made because *key*'s entry holds someone else's *kind* of value."""
        if kind is None:
            return
        if isinstance(kind, bytes):
            kind = kind.decode("utf-8", "replace")
        self._foreign(
            key,
            "not storing %r: %r holds a %s, not a cache entry, and the cache does not "
            "overwrite other data (reads of %r are misses)",
            key,
            self.entry_key(key),
            kind,
            key,
        )

    def _foreign(self, key: str, message: str, *args: object) -> None:
        if key in self._warned:
            logger.debug(message, *args)
            return
        if len(self._warned) >= WARNED_MAX:
            self._warned.clear()
        self._warned.add(key)
        logger.warning(message, *args)

    def entry_key(self, key: str) -> str:
        """Return the Redis key of *key*'s entry."""
        return f"{self.prefix}:v:{key}"

    def _leased(self, key: str, token: str, taken: int) -> str | None:
        """Return what acquire() returns for the script's answer *taken*."""
        if taken == 1:
            return token
        if taken == 0:
            return None
        self._foreign(
            self.lease_key(key),  # remembered apart from a warning about the entry
            "not coalescing the fetches of %r across workers: its lease key %r holds a value "
            "that never expires, not a lease (the cache leaves it alone; each worker fetches)",
            key,
            self.lease_key(key),
        )
        return UNLEASED

    def lease_key(self, key: str) -> str:
        """Return the Redis key of *key*'s lease."""
        return f"{self.prefix}:l:{key}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r})"


class RedisStore(_RedisBase):
    """Share entries, and the leases that coalesce misses, through a redis-py client.

    Args:
        client: a redis-py compatible client (redis-py, valkey-py, fakeredis);
            build it with short socket timeouts and no retries
            (:func:`panicquota.breaker.connect` does) so an outage costs little.
        prefix: the prefix of every key the store writes.
    """

    def get(self, key: str) -> Entry | None:
        """Return the entry at *key*, or ``None`` (absent, or not an entry: logged)."""
        try:
            raw = self.client.get(self.entry_key(key))
        except self._response_error as error:
            self._wrong_type(key, error)
            return None
        return self._decoded(key, raw)

    def set(self, key: str, entry: Entry, expire: float) -> None:
        """Store *entry* (bytes value) at *key* for *expire* seconds.

        A key holding another kind of value than a string (someone's hash) is
        left alone, with a warning.
        """
        kind = self._store(
            keys=[self.entry_key(key)], args=[encode_entry(entry), _milliseconds(expire)]
        )
        self._kept(key, kind)

    def delete(self, key: str) -> None:
        """Remove the entry at *key*, if any."""
        self.client.delete(self.entry_key(key))

    def acquire(self, key: str, seconds: float) -> str | None:
        """Take *key*'s lease for *seconds*; return its token, or ``None`` if somebody holds it.

        A lease key holding someone else's data (no expiry) is left alone and
        logged: the caller gets :data:`UNLEASED` and fetches without a lease.
        """
        token = secrets.token_hex(8)
        taken = self._acquire(keys=[self.lease_key(key)], args=[token, _milliseconds(seconds)])
        return self._leased(key, token, int(taken))

    def release(self, key: str, token: str) -> None:
        """Give back *key*'s lease if *token* still holds it."""
        if token != UNLEASED:
            self._release(keys=[self.lease_key(key)], args=[token])


class AsyncRedisStore(_RedisBase):
    """The :class:`RedisStore` over a ``redis.asyncio`` client, for :class:`AsyncPanicCache`.

    Args:
        client: a ``redis.asyncio`` compatible client (or ``fakeredis.FakeAsyncRedis``).
        prefix: the prefix of every key the store writes.
    """

    async def get(self, key: str) -> Entry | None:
        """Return the entry at *key*, or ``None`` (absent, or not an entry: logged)."""
        try:
            raw = await self.client.get(self.entry_key(key))
        except self._response_error as error:
            self._wrong_type(key, error)
            return None
        return self._decoded(key, raw)

    async def set(self, key: str, entry: Entry, expire: float) -> None:
        """Store *entry* (bytes value) at *key* for *expire* seconds, as :meth:`RedisStore.set`."""
        kind = await self._store(
            keys=[self.entry_key(key)], args=[encode_entry(entry), _milliseconds(expire)]
        )
        self._kept(key, kind)

    async def delete(self, key: str) -> None:
        """Remove the entry at *key*, if any."""
        await self.client.delete(self.entry_key(key))

    async def acquire(self, key: str, seconds: float) -> str | None:
        """Take *key*'s lease for *seconds*, as :meth:`RedisStore.acquire`."""
        token = secrets.token_hex(8)
        args = [token, _milliseconds(seconds)]
        taken = await self._acquire(keys=[self.lease_key(key)], args=args)
        return self._leased(key, token, int(taken))

    async def release(self, key: str, token: str) -> None:
        """Give back *key*'s lease if *token* still holds it."""
        if token != UNLEASED:
            await self._release(keys=[self.lease_key(key)], args=[token])
