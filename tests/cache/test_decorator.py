"""cached(): the key and the context of a call come from its arguments bound to the signature."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest

from panicquota import InvalidArgumentError, InvalidTypeError
from panicquota.breaker import AsyncVIXCircuitBreaker, VIXCircuitBreaker
from panicquota.cache import AsyncMemoryStore, AsyncPanicCache, MemoryStore, PanicCache
from panicquota.clock import ManualClock

from .support import T0

HERE = __name__


@pytest.fixture
def cache() -> PanicCache:
    """A memory cache on a breaker at T0."""
    return PanicCache(
        VIXCircuitBreaker(fakeredis.FakeRedis(), clock=ManualClock(T0)),
        MemoryStore(),
        normal_ttl=60,
    )


def keys(cache: PanicCache) -> list[str]:
    """Return the keys of the cache's memory store, oldest first."""
    return list(cache.store._data)


def test_a_named_field_works_however_the_argument_is_passed(cache: PanicCache) -> None:
    """key="odds:{match_id}" fills from a positional or a keyword argument: one key, one fetch."""
    calls: list[int] = []

    @cache.cached(key="odds:{match_id}")
    def odds(match_id: int) -> str:
        calls.append(match_id)
        return f"odds {match_id}"

    assert [odds(7), odds(match_id=7)] == ["odds 7", "odds 7"]
    assert calls == [7]
    assert keys(cache) == ["odds:7"]


def test_a_numbered_field_works_with_a_keyword_argument(cache: PanicCache) -> None:
    """The docs' key="odds:{0}" called as odds(match_id=7) is the key odds:7."""

    @cache.cached(key="odds:{0}", context=lambda match_id: {"league": "Ligue 1"})
    def odds(match_id: int) -> str:
        return f"odds {match_id}"

    assert odds(match_id=7) == "odds 7"
    assert odds(7) == "odds 7"
    assert keys(cache) == ["odds:7"]


def test_defaults_fill_the_template(cache: PanicCache) -> None:
    """A parameter left to its default fills its field: odds(1) and odds(1, "1x2") are one key."""
    calls: list[tuple[int, str]] = []

    @cache.cached(key="odds:{match_id}:{market}:{2}")
    def odds(match_id: int, market: str = "1x2", line: float = 2.5) -> str:
        calls.append((match_id, market))
        return market

    odds(1)
    odds(1, "1x2")
    odds(market="1x2", match_id=1, line=2.5)
    assert calls == [(1, "1x2")]
    assert keys(cache) == ["odds:1:1x2:2.5"]


def test_equal_calls_give_one_key_without_a_template(cache: PanicCache) -> None:
    """key=None: f(1), f(1, b=2) (b's default) and f(a=1) are one call: one fetch."""
    calls: list[int] = []

    @cache.cached()
    def f(a: int, b: int = 2) -> int:
        calls.append(a)
        return a + b

    assert [f(1), f(1, b=2), f(a=1), f(1, 2)] == [3, 3, 3, 3]
    assert calls == [1]
    assert keys(cache) == [
        f"{HERE}.test_equal_calls_give_one_key_without_a_template.<locals>.f(1, 2)"
    ]


def test_the_key_without_a_template_spells_every_kind_of_parameter(cache: PanicCache) -> None:
    """Positional values in order, *args spread, keyword-only and **kwargs (sorted) by name."""

    @cache.cached()
    def f(a: int, /, b: int, *rest: int, c: int = 3, **extra: int) -> int:
        return a

    f(1, 2, 8, 9, y=5, x=4)
    f(1, 2, 8, 9, x=4, y=5)
    name = f"{HERE}.test_the_key_without_a_template_spells_every_kind_of_parameter.<locals>.f"
    assert keys(cache) == [f"{name}(1, 2, 8, 9, c=3, x=4, y=5)"]


def test_a_field_the_function_does_not_take_is_refused_at_decoration(cache: PanicCache) -> None:
    """{1} on a one-argument function, or a name it has no parameter for, raise at once."""
    with pytest.raises(InvalidArgumentError) as raised:

        @cache.cached(key="odds:{1}")
        def odds(match_id: int) -> int:
            return match_id

    where = "test_a_field_the_function_does_not_take_is_refused_at_decoration.<locals>"
    assert str(raised.value) == (
        f"key 'odds:{{1}}' names the argument {{1}}, which {where}.odds(match_id) does not take"
    )
    with pytest.raises(InvalidArgumentError) as raised:

        @cache.cached(key="odds:{match}:{market}")
        def named(match_id: int, market: str = "1x2") -> int:
            return match_id

    assert str(raised.value) == (
        "key 'odds:{match}:{market}' names the argument {match}, which "
        f"{where}.named(match_id, market='1x2') does not take"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        cache.cached(key="{0:>{width}}")(lambda match: match)
    assert str(raised.value) == (
        f"key '{{0:>{{width}}}}' names the argument {{width}}, which {where}.<lambda>(match) "
        "does not take"
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("odds:{", "key 'odds:{' is not a format string (Single '{' encountered in format string)"),
        (
            "{}:{0}",
            "key '{}:{0}' is not a format string (it mixes automatic fields {} with numbered "
            "ones such as {0})",
        ),
    ],
)
def test_a_template_that_is_no_format_string_is_refused(
    cache: PanicCache, key: str, message: str
) -> None:
    """A broken template is an InvalidArgumentError at decoration, not an error per call."""
    with pytest.raises(InvalidArgumentError) as raised:
        cache.cached(key=key)(lambda a, b: a)
    assert str(raised.value) == message


def test_automatic_fields_number_the_arguments(cache: PanicCache) -> None:
    """key="{}:{}" takes the arguments in order, however they were passed."""

    @cache.cached(key="{}:{}")
    def odds(league: str, match_id: int) -> int:
        return match_id

    odds(match_id=3, league="L1")
    assert keys(cache) == ["L1:3"]


def test_a_field_only_a_call_can_miss_is_an_error_naming_template_and_function(
    cache: PanicCache,
) -> None:
    """With *args or **kwargs a field is checked per call: the error names both."""

    @cache.cached(key="x:{0}:{league}")
    def f(*ids: int, **options: str) -> tuple[int, ...]:
        return ids

    assert f(1, league="L1") == (1,)
    assert keys(cache) == ["x:1:L1"]
    where = "test_a_field_only_a_call_can_miss_is_an_error_naming_template_and_function.<locals>"
    with pytest.raises(InvalidArgumentError) as raised:
        f(league="L1")
    assert str(raised.value) == (
        f"key 'x:{{0}}:{{league}}' names the argument {{0}}, which this call of "
        f"{where}.f(*ids, **options) did not pass"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        f(1)
    assert str(raised.value) == (
        f"key 'x:{{0}}:{{league}}' names the argument {{league}}, which this call of "
        f"{where}.f(*ids, **options) did not pass"
    )


def test_a_lookup_inside_an_argument_keeps_its_own_error(cache: PanicCache) -> None:
    """{0[home]} on a dict without "home" raises the dict's KeyError, not the cache's error."""

    @cache.cached(key="odds:{0[home]}")
    def odds(match: dict[str, str]) -> str:
        return "x"

    assert odds({"home": "PSG"}) == "x"
    with pytest.raises(KeyError) as raised:
        odds({"away": "OM"})
    assert raised.value.args == ("home",)
    assert not isinstance(raised.value, InvalidArgumentError)


def test_a_call_that_does_not_fit_the_function_fetches_nothing(cache: PanicCache) -> None:
    """A wrong call is the TypeError Python would raise, named after the function."""
    calls: list[int] = []

    @cache.cached(key="odds:{0}")
    def odds(match_id: int) -> int:
        calls.append(match_id)
        return match_id

    with pytest.raises(TypeError) as raised:
        odds()  # type: ignore[call-arg]
    assert str(raised.value) == (
        "test_a_call_that_does_not_fit_the_function_fetches_nothing.<locals>.odds(): "
        "missing a required argument: 'match_id'"
    )
    assert calls == []


def test_a_function_without_a_readable_signature_is_refused(cache: PanicCache) -> None:
    """A builtin inspect cannot read is refused at decoration, with what to do."""
    with pytest.raises(InvalidTypeError) as raised:
        cache.cached()(max)
    assert str(raised.value) == (
        "the function given to cached() must be a function whose signature inspect can read, "
        "got <built-in function max> (no signature found for builtin <built-in function max>); "
        "wrap it in a def"
    )


def test_a_key_or_context_callable_that_cannot_take_the_call_says_so(cache: PanicCache) -> None:
    """A callable whose parameters do not fit the call is named with the call; its own
    TypeError, or that of a callable without a signature, propagates unchanged."""

    def odds(match_id: int) -> int:
        return match_id

    where = "test_a_key_or_context_callable_that_cannot_take_the_call_says_so.<locals>"
    by_key = cache.cached(key=lambda m: f"odds:{m}")(odds)
    assert by_key(7) == 7
    with pytest.raises(InvalidArgumentError) as raised:
        by_key(match_id=7)
    assert str(raised.value) == (
        f"key={where}.<lambda>(m) cannot take the arguments of the call "
        f"{where}.odds(match_id=7) (missing a required argument: 'm'); it is called with the "
        "decorated function's arguments"
    )
    by_context = cache.cached(key="c:{0}", context=lambda *, league: league)(odds)
    with pytest.raises(InvalidArgumentError) as raised:
        by_context(7)
    assert str(raised.value) == (
        f"context={where}.<lambda>(*, league) cannot take the arguments of the call "
        f"{where}.odds(7) (too many positional arguments); it is called with the "
        "decorated function's arguments"
    )

    def failing(match_id: int) -> str:
        raise TypeError("the key's own bug")

    with pytest.raises(TypeError, match=r"^the key's own bug$"):
        cache.cached(key=failing)(odds)(7)
    with pytest.raises(TypeError, match=r"^'match_id' is an invalid keyword argument for str\(\)$"):
        cache.cached(key=str)(odds)(match_id=7)


def test_a_context_callable_gets_the_call_as_passed(cache: PanicCache) -> None:
    """context= receives the arguments of the call; a non-callable context is passed as is."""
    seen: list[Any] = []

    def context(match_id: int, *, league: str = "Ligue 1") -> dict[str, str]:
        seen.append((match_id, league))
        return {"league": league}

    @cache.cached(key="odds:{match_id}", context=context)
    def odds(match_id: int, *, league: str = "Ligue 1") -> int:
        return match_id

    odds(match_id=4)
    assert seen == [(4, "Ligue 1")]


def test_the_async_decorator_binds_the_same_way() -> None:
    """AsyncPanicCache.cached: {match_id} by position or name, one fetch, the same errors."""

    async def scenario() -> tuple[list[int], list[str], str]:
        breaker = AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(), clock=ManualClock(T0))
        store = AsyncMemoryStore()
        cache = AsyncPanicCache(breaker, store, normal_ttl=60)
        calls: list[int] = []

        @cache.cached(key="odds:{match_id}:{market}", context=lambda match_id, market="1x2": None)
        async def odds(match_id: int, market: str = "1x2") -> str:
            calls.append(match_id)
            return f"odds {match_id}"

        await odds(7)
        await odds(match_id=7)
        await odds(7, market="1x2")

        @cache.cached(key="{0}:{league}")
        async def loose(*ids: int, **options: str) -> int:
            return 0

        try:
            await loose(1)
        except InvalidArgumentError as error:
            message = str(error)
        return calls, list(store.sync._data), message

    calls, stored, message = asyncio.run(scenario())
    assert calls == [7]
    assert stored == ["odds:7:1x2"]
    assert message == (
        "key '{0}:{league}' names the argument {league}, which this call of "
        "test_the_async_decorator_binds_the_same_way.<locals>.scenario.<locals>.loose"
        "(*ids, **options) did not pass"
    )
    with pytest.raises(InvalidArgumentError, match=r"^key 'odds:\{1\}' names the argument \{1\}"):
        AsyncPanicCache(
            AsyncVIXCircuitBreaker(fakeredis.FakeAsyncRedis(), clock=ManualClock(T0)),
            AsyncMemoryStore(),
            normal_ttl=60,
        ).cached(key="odds:{1}")(_one_argument)


async def _one_argument(match_id: int) -> int:
    return match_id


def test_a_template_without_fields_is_one_key(cache: PanicCache) -> None:
    """key="board" caches every call of a function under that one key."""
    calls: list[int] = []

    @cache.cached(key="board")
    def board(day: int) -> int:
        calls.append(day)
        return day

    assert [board(1), board(2)] == [1, 1]
    assert calls == [1]
    assert keys(cache) == ["board"]
