"""Options and inputs: exact errors, serializers, Cache-Control, the decorator, the stores."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import fakeredis
import pytest

from panicquota import InvalidArgumentError, InvalidTypeError, PanicquotaError
from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker
from panicquota.cache import (
    AsyncMemoryStore,
    AsyncPanicCache,
    AsyncRedisStore,
    CacheSource,
    Entry,
    JSONSerializer,
    MemoryStore,
    PanicCache,
    PickleSerializer,
    RedisStore,
    Serializer,
)
from panicquota.cache._core import breaker_clock
from panicquota.cache._redis import decode_entry, encode_entry
from panicquota.clock import ManualClock, system_clock
from pytest_panicquota import Upstream

from .conftest import Make
from .support import T0


@pytest.fixture
def redis() -> Any:
    """A fresh fakeredis."""
    return fakeredis.FakeRedis()


@pytest.fixture
def breaker(redis: Any) -> VIXCircuitBreaker:
    """A breaker on fakeredis at T0."""
    return VIXCircuitBreaker(redis, clock=ManualClock(T0))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param(
            {"normal_ttl": -1},
            InvalidArgumentError,
            "normal_ttl must be a finite number >= 0, got -1",
            id="negative-normal-ttl",
        ),
        pytest.param(
            {"normal_ttl": "60"},
            InvalidTypeError,
            "normal_ttl must be a finite number >= 0, got str '60'",
            id="str-normal-ttl",
        ),
        pytest.param(
            {"normal_ttl": 60, "stale_if_error": -5},
            InvalidArgumentError,
            "stale_if_error must be a finite number >= 0, got -5",
            id="negative-stale",
        ),
        pytest.param(
            {"normal_ttl": 60, "stale_if_error": float("nan")},
            InvalidArgumentError,
            "stale_if_error must be a finite number >= 0, got nan",
            id="nan-stale",
        ),
        pytest.param(
            {"normal_ttl": 60, "coalesce": 1},
            InvalidTypeError,
            "coalesce must be True or False, got int 1",
            id="int-coalesce",
        ),
        pytest.param(
            {"normal_ttl": 60, "coalesce_timeout": 0},
            InvalidArgumentError,
            "coalesce_timeout must be a finite number > 0, got 0",
            id="zero-timeout",
        ),
        pytest.param(
            {"normal_ttl": 60, "serializer": "json"},
            InvalidTypeError,
            "serializer must have dumps(value) -> bytes and loads(bytes) methods, "
            "such as JSONSerializer(), got 'json'",
            id="str-serializer",
        ),
        pytest.param(
            {"normal_ttl": 60, "clock": 5},
            InvalidTypeError,
            "clock must be a callable returning epoch seconds, got 5",
            id="number-clock",
        ),
    ],
)
@pytest.mark.parametrize("cls", [PanicCache, AsyncPanicCache])
def test_bad_options_are_refused(
    cls: Any, breaker: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Each bad option is a PanicquotaError naming it, its value and what is accepted."""
    with pytest.raises(error) as raised:
        cls(breaker, MemoryStore(), **options)
    assert str(raised.value) == message
    assert isinstance(raised.value, PanicquotaError)


def test_a_breaker_and_a_store_are_checked(breaker: Any) -> None:
    """Something without get_ttl is no breaker; something without get/set is no store."""
    with pytest.raises(InvalidTypeError) as raised:
        PanicCache(object, MemoryStore(), normal_ttl=60)
    assert str(raised.value) == (
        "breaker must have a get_ttl(normal_ttl, context) method, such as a VIXCircuitBreaker, "
        "got <class 'object'>"
    )
    with pytest.raises(InvalidTypeError) as raised:
        PanicCache(breaker, {}, normal_ttl=60)
    assert str(raised.value) == (
        "store must be a cache store such as MemoryStore() or RedisStore(client) (with set()), "
        "got {}"
    )


@pytest.mark.parametrize(
    ("key", "fetch", "message"),
    [
        pytest.param(7, lambda: 1, "key must be a str, got int 7", id="int-key"),
        pytest.param(b"k", lambda: 1, "key must be a str, got bytes b'k'", id="bytes-key"),
        pytest.param(
            "k", "value", "fetch must be a zero-argument callable, got str 'value'", id="str-fetch"
        ),
    ],
)
def test_bad_lookups_are_refused(breaker: Any, key: Any, fetch: Any, message: str) -> None:
    """A key that is not a str or a fetch that is not callable is refused before any I/O."""
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)
    with pytest.raises(InvalidTypeError) as raised:
        cache.lookup(key, fetch)
    assert str(raised.value) == message


def test_async_lookups_are_checked(redis: Any) -> None:
    """The async cache refuses a fetch that is not callable or returns no awaitable."""
    breaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(), clock=ManualClock(T0))
    cache = AsyncPanicCache(breaker, AsyncMemoryStore(), normal_ttl=60)

    def plain() -> str:
        return "value"

    with pytest.raises(InvalidTypeError) as raised:
        asyncio.run(cache.lookup("k", None))  # type: ignore[arg-type]
    assert str(raised.value) == (
        "fetch must be a coroutine function taking no arguments, got NoneType None"
    )
    with pytest.raises(InvalidTypeError) as raised:
        asyncio.run(cache.lookup("k", plain))  # type: ignore[arg-type]
    assert str(raised.value).startswith(
        "fetch must be a coroutine function taking no arguments, got <function "
    )
    assert str(raised.value).endswith(" returning str 'value'")


# -- serializers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"\x00raw", 'text {"not": json}', {"odds": [1.5, 2.25]}, [1, "a", None], 3, True, None],
)
def test_json_serializer_round_trips_data_bytes_and_str(value: Any) -> None:
    """JSON data comes back equal; bytes and str come back as themselves."""
    serializer = JSONSerializer()
    data = serializer.dumps(value)
    assert isinstance(data, bytes)
    back = serializer.loads(data)
    assert (back, type(back)) == (value, type(value))


def test_json_serializer_refuses_what_json_cannot_hold() -> None:
    """A value JSON cannot encode is an error that says what to do."""
    with pytest.raises(InvalidArgumentError) as raised:
        JSONSerializer().dumps({1, 2})
    assert str(raised.value) == (
        "the default JSON serializer cannot store set {1, 2} (Object of type set is not JSON "
        "serializable); return JSON data (dict with str keys, list, str, int, float, bool, "
        "None), str or bytes from fetch, or pass serializer=PickleSerializer() if every "
        "writer of the store is trusted (or a serializer of your own)"
    )
    with pytest.raises(ValueError, match=r"^not a JSONSerializer entry \(tag b'x'\)$"):
        JSONSerializer().loads(b"x123")


def test_pickle_serializer_only_on_request(redis: Any, breaker: Any) -> None:
    """The default is JSON; PickleSerializer stores any picklable value when passed."""
    assert isinstance(JSONSerializer(), Serializer)
    default = PanicCache(breaker, RedisStore(redis, prefix="j"), normal_ttl=60)
    with pytest.raises(InvalidArgumentError, match="cannot store set"):
        default.get_or_fetch("k", lambda: {1, 2})
    pickled = PanicCache(
        breaker, RedisStore(redis, prefix="p"), normal_ttl=60, serializer=PickleSerializer()
    )
    assert pickled.get_or_fetch("k", lambda: {1, 2}) == {1, 2}
    result = pickled.lookup("k", Upstream())
    assert (result.value, result.source) == ({1, 2}, CacheSource.HIT)
    assert repr(PickleSerializer(4)) == "PickleSerializer(protocol=4)"
    assert repr(JSONSerializer()) == "JSONSerializer()"


def test_an_unreadable_entry_is_fetched_again(
    redis: Any, breaker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An entry that does not decode is logged and treated as absent."""
    cache = PanicCache(breaker, RedisStore(redis, prefix="c"), normal_ttl=60)
    redis.set("c:v:k", b"%.6f xgarbage" % T0)
    redis.set("c:v:bad", b"not-an-entry")
    with caplog.at_level(logging.WARNING, logger="panicquota.cache"):
        assert cache.lookup("k", Upstream()).source is CacheSource.MISS
        assert cache.lookup("bad", Upstream()).source is CacheSource.MISS
    assert cache.lookup("k", Upstream()).source is CacheSource.HIT
    messages = list(dict.fromkeys(r.getMessage() for r in caplog.records))
    assert messages[0] == (
        "ignoring the unreadable cache entry 'k' (ValueError(\"not a JSONSerializer entry "
        "(tag b'x')\"))"
    )
    assert messages[1] == (
        "ignoring the unreadable cache entry 'bad' (not a panicquota cache entry: b'not-an-entry')"
    )


def test_entries_encode_their_fetch_time() -> None:
    """A Redis entry is the fetch time, a space, the payload; str replies decode too."""
    entry = Entry(b"payload with spaces", T0 + 0.25)
    raw = encode_entry(entry)
    assert raw == b"1800000000.250000 payload with spaces"
    assert decode_entry(raw) == entry
    assert decode_entry(raw.decode()) == entry
    with pytest.raises(ValueError, match="not a panicquota cache entry"):
        decode_entry(b"inf x")


def test_redis_entries_expire_after_the_stale_window_never_ex_0(redis: Any, breaker: Any) -> None:
    """Written in tier 1 (TTL 0), an entry still gets PX = max(normal_ttl, stale_if_error)."""
    breaker.trip()
    cache = PanicCache(breaker, RedisStore(redis, prefix="c"), normal_ttl=60, stale_if_error=300)
    cache.lookup("k", Upstream())
    assert 299_000 < redis.pttl("c:v:k") <= 300_000
    short = PanicCache(breaker, RedisStore(redis, prefix="s"), normal_ttl=0)
    short.lookup("k", Upstream())
    assert 0 < redis.pttl("s:v:k") <= 1000


# -- Cache-Control ------------------------------------------------------------------


def test_cache_control_follows_the_tiers(make: Make, clock: ManualClock) -> None:
    """max-age is the TTL now; stale-if-error past max-age; stale-while-revalidate outside TTL 0."""
    view = make(stale_if_error=90)
    assert view.cache_control() == "max-age=60, stale-if-error=30"
    assert view.cache_control(stale_while_revalidate=10) == (
        "max-age=60, stale-while-revalidate=10, stale-if-error=30"
    )
    view.trip()
    assert view.cache_control(stale_while_revalidate=10) == "max-age=0, stale-if-error=90"
    clock.advance(minutes=16)
    assert view.cache_control() == "max-age=5, stale-if-error=85"
    upstream = Upstream()
    view.lookup("k", upstream)
    clock.advance(seconds=4)
    hit = view.lookup("k", upstream)
    assert hit.source is CacheSource.HIT
    assert view.cache_control(result=hit) == "max-age=1, stale-if-error=85"
    # A stale window no longer than the TTL gives a proxy nothing to serve on error.
    assert make(stale_if_error=5).cache_control() == "max-age=5"


@pytest.mark.parametrize("flavour", ["sync"], indirect=True)
@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
def test_cache_control_without_stale_and_bad_revalidate(make: Make) -> None:
    """Without stale_if_error only max-age; a negative stale_while_revalidate is refused."""
    view = make(normal_ttl=12.9)
    assert view.cache_control() == "max-age=12"
    with pytest.raises(InvalidArgumentError) as raised:
        view.cache_control(stale_while_revalidate=-1)
    assert str(raised.value) == "stale_while_revalidate must be a finite number >= 0, got -1"


# -- the decorator ------------------------------------------------------------------


def test_cached_decorates_with_a_format_key(breaker: Any) -> None:
    """cached(key="odds:{0}") caches each argument's result under its own key."""
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)
    calls: list[int] = []

    @cache.cached(key="odds:{0}", context={"league": "Ligue 1"})
    def odds(match: int) -> dict[str, int]:
        """Return the odds."""
        calls.append(match)
        return {"match": match}

    assert [odds(1), odds(1), odds(2)] == [{"match": 1}, {"match": 1}, {"match": 2}]
    assert calls == [1, 2]
    assert odds.__doc__ == "Return the odds."
    assert cache.store.get("odds:1").value == {"match": 1}


def test_cached_with_a_callable_key_and_context(breaker: Any) -> None:
    """A key callable and a context callable receive the call's arguments."""
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)
    seen: list[Any] = []

    def context(match: int, *, league: str) -> dict[str, str]:
        seen.append(league)
        return {"league": league}

    @cache.cached(key=lambda match, league: f"{league}/{match}", context=context)
    def odds(match: int, *, league: str) -> str:
        return f"{league} {match}"

    assert odds(3, league="Serie A") == "Serie A 3"
    assert cache.store.get("Serie A/3").value == "Serie A 3"
    assert seen == ["Serie A"]


def test_cached_without_a_key_uses_the_name_and_arguments(breaker: Any) -> None:
    """key=None builds the key from the function's qualified name and the arguments' reprs."""
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)

    @cache.cached()
    def odds(match: int, market: str = "1x2") -> str:
        return f"{match} {market}"

    assert odds(4, market="ou") == "4 ou"
    name = f"{__name__}.test_cached_without_a_key_uses_the_name_and_arguments.<locals>.odds"
    assert cache.store.get(f"{name}(4, 'ou')").value == "4 ou"


def test_cached_refuses_a_bad_key(breaker: Any) -> None:
    """A key spec that is neither None, a str nor callable is refused at decoration."""
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60)
    with pytest.raises(InvalidTypeError) as raised:
        cache.cached(key=5)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "key must be a format string such as 'odds:{0}', a callable returning the key, "
        "or None, got int 5"
    )
    bad = cache.cached(key=lambda: 5)(lambda: "x")  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidTypeError, match=r"^key must be a str, got int 5$"):
        bad()


def test_async_cached_decorates_coroutine_functions() -> None:
    """AsyncPanicCache.cached wraps a coroutine function on the same path."""

    async def scenario() -> tuple[list[str], list[int], str]:
        breaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(), clock=ManualClock(T0))
        cache = AsyncPanicCache(breaker, AsyncMemoryStore(), normal_ttl=60)
        calls: list[int] = []

        @cache.cached(key="odds:{0}", context=lambda match: None)
        async def odds(match: int) -> str:
            calls.append(match)
            return f"odds {match}"

        values = [await odds(1), await odds(1), await odds(2)]
        return values, calls, await cache.cache_control()

    assert asyncio.run(scenario()) == (["odds 1", "odds 1", "odds 2"], [1, 2], "max-age=60")


# -- stores -------------------------------------------------------------------------


def test_memory_store_evicts_the_least_recently_used() -> None:
    """Past max_entries the least recently used entry goes; a read refreshes recency."""
    store = MemoryStore(max_entries=2)
    for key in "abc"[:2]:
        store.set(key, Entry(key, T0), 60)
    assert store.get("a") is not None
    store.set("c", Entry("c", T0), 60)
    assert (store.get("a"), store.get("b"), store.get("c")) == (
        Entry("a", T0),
        None,
        Entry("c", T0),
    )
    assert len(store) == 2
    store.delete("a")
    store.delete("missing")
    assert len(store) == 1
    assert repr(store) == "MemoryStore(max_entries=2)"


def test_memory_store_drops_entries_past_their_storage_expiry() -> None:
    """An entry past its storage expiry is gone, whatever the breaker's clock says."""
    store = MemoryStore()
    store.set("k", Entry("v", T0), 0)
    assert store.get("k") is None
    assert len(store) == 0


def test_async_memory_store() -> None:
    """AsyncMemoryStore is the memory store behind coroutines."""

    async def scenario() -> tuple[Any, Any, int, str]:
        store = AsyncMemoryStore(max_entries=5)
        await store.set("k", Entry("v", T0), 60)
        found = await store.get("k")
        await store.delete("k")
        return found, await store.get("k"), len(store), repr(store)

    assert asyncio.run(scenario()) == (Entry("v", T0), None, 0, "AsyncMemoryStore(max_entries=5)")


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, InvalidArgumentError, "max_entries must be an int >= 1, got 0"),
        (2.5, InvalidTypeError, "max_entries must be an int >= 1, got float 2.5"),
        (True, InvalidTypeError, "max_entries must be an int >= 1, got bool True"),
    ],
)
def test_memory_store_checks_max_entries(value: Any, error: type[Exception], message: str) -> None:
    """max_entries must be a positive int."""
    with pytest.raises(error) as raised:
        MemoryStore(max_entries=value)
    assert str(raised.value) == message


@pytest.mark.parametrize("cls", [RedisStore, AsyncRedisStore])
def test_redis_store_checks_its_arguments(cls: Any, redis: Any) -> None:
    """An empty prefix or something that is no Redis client is refused."""
    with pytest.raises(InvalidArgumentError) as raised:
        cls(redis, prefix="")
    assert str(raised.value) == ("prefix must be a non-empty string such as 'odds:cache', got ''")
    with pytest.raises(InvalidArgumentError) as raised:
        cls(object())
    assert str(raised.value).startswith(
        "client must be a redis-py compatible client (with get()), got <object object at "
    )
    assert repr(cls(redis, prefix="odds")) == f"{cls.__name__}(prefix='odds')"


def test_redis_store_operations(redis: Any) -> None:
    """Entries and leases live under the prefix; release deletes only the holder's lease."""
    store = RedisStore(redis, prefix="p")
    store.set("k", Entry(b"v", T0), 10)
    assert store.get("k") == Entry(b"v", T0)
    store.delete("k")
    assert store.get("k") is None
    token = store.acquire("k", 5)
    assert token is not None
    assert store.acquire("k", 5) is None
    store.release("k", "someone else")
    assert redis.get("p:l:k") == token.encode()
    store.release("k", token)
    assert redis.get("p:l:k") is None


def test_async_redis_store_operations() -> None:
    """The async Redis store does the same through awaits."""

    async def scenario() -> list[Any]:
        client = fakeredis.FakeAsyncRedis()
        store = AsyncRedisStore(client, prefix="p")
        await store.set("k", Entry(b"v", T0), 10)
        found = [await store.get("k")]
        await store.delete("k")
        found.append(await store.get("k"))
        token = await store.acquire("k", 5)
        found.append(await store.acquire("k", 5))
        assert token is not None
        await store.release("k", token)
        found.append(await client.get("p:l:k"))
        await client.aclose()
        return found

    assert asyncio.run(scenario()) == [Entry(b"v", T0), None, None, None]


# -- clocks and reprs ---------------------------------------------------------------


def test_the_cache_times_entries_on_the_breaker_s_clock(breaker: Any) -> None:
    """Fetch times come from the breaker's clock (and its Redis offset), else the system's."""
    assert breaker_clock(breaker)() == T0

    class WithNow:
        def now(self) -> float:
            return 42.0

        def get_ttl(self, normal_ttl: float, context: Any = None) -> Any:
            raise AssertionError

    assert breaker_clock(WithNow())() == 42.0
    assert breaker_clock(object()) is system_clock


def test_reprs(breaker: Any) -> None:
    """The caches show their store and options."""
    cache = PanicCache(breaker, MemoryStore(), normal_ttl=60, stale_if_error=5)
    assert repr(cache) == (
        "PanicCache(store=MemoryStore(max_entries=10000), normal_ttl=60.0, "
        "stale_if_error=5.0, coalesce=True)"
    )
    async_cache = AsyncPanicCache(breaker, AsyncMemoryStore(), normal_ttl=1)
    assert repr(async_cache) == (
        "AsyncPanicCache(store=AsyncMemoryStore(max_entries=10000), normal_ttl=1.0, "
        "stale_if_error=0.0, coalesce=True)"
    )


def test_json_entries_with_whitespace_or_errors_take_the_full_decoder() -> None:
    """JSON written by another tool (spaces) decodes; broken JSON raises json's own error."""
    serializer = JSONSerializer()
    assert serializer.loads(b'j { "odds" : [1, 2] } ') == {"odds": [1, 2]}
    with pytest.raises(ValueError, match=r"^Expecting value: line 1 column 1 \(char 0\)$"):
        serializer.loads(b"j")
    with pytest.raises(ValueError, match=r"^Extra data: line 1 column 3 \(char 2\)$"):
        serializer.loads(b"j1 2")


def test_the_caches_expose_their_store(breaker: Any) -> None:
    """.store is the store passed in, for both caches."""
    store, async_store = MemoryStore(), AsyncMemoryStore()
    assert PanicCache(breaker, store, normal_ttl=1).store is store
    assert AsyncPanicCache(breaker, async_store, normal_ttl=1).store is async_store
