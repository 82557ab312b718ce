"""The JSON serializer refuses a value it would give back changed (a tuple as a list, ...)."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panicquota import InvalidArgumentError
from panicquota.cache import CacheSource, JSONSerializer
from pytest_panicquota import Upstream

from .conftest import Make

ALTERNATIVES = (
    "return JSON data (dict with str keys, list, str, int, float, bool, None), str or bytes "
    "from fetch, or pass serializer=PickleSerializer() if every writer of the store is trusted "
    "(or a serializer of your own)"
)


class Market(IntEnum):
    """An int enum."""

    WIN = 1


class League(StrEnum):
    """A str enum."""

    LIGUE_1 = "Ligue 1"


Pair = namedtuple("Pair", "home away")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ((1, 2), "the tuple at value would come back as a list"),
        ({1: "a"}, "the int key 1 in value would come back as a str"),
        (
            {"odds": [1, {"x": (2, 3)}]},
            "the tuple at value['odds'][1]['x'] would come back as a list",
        ),
        ({"a": {True: 1}}, "the bool key True in value['a'] would come back as a str"),
        ({"a": {None: 1}}, "the NoneType key None in value['a'] would come back as a str"),
        ([Market.WIN], "the Market at value[0] would come back as a plain int"),
        (Pair(1, 2), "the Pair at value would come back as a plain list"),
        (OrderedDict(a=1), "the OrderedDict at value would come back as a plain dict"),
        (League.LIGUE_1, "the League at value would come back as a plain str"),
    ],
)
def test_a_value_json_would_change_is_refused(value: Any, problem: str) -> None:
    """The error names the value, where it would change, and what to do instead."""
    with pytest.raises(InvalidArgumentError) as raised:
        JSONSerializer().dumps(value)
    assert str(raised.value) == (
        f"the default JSON serializer cannot store {type(value).__name__} {value!r} unchanged "
        f"({problem}); {ALTERNATIVES}"
    )


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def typed(value: Any) -> Any:
    """Return *value* with the type of every part beside it, so a list is no tuple."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


@given(JSON)
def test_json_data_round_trips_with_its_types(value: Any) -> None:
    """JSON data is accepted and comes back equal, part by part and type by type."""
    serializer = JSONSerializer()
    assert typed(serializer.loads(serializer.dumps(value))) == typed(value)


@pytest.mark.parametrize("store_kind", ["fakeredis", "redis"], indirect=True)
def test_a_shared_store_refuses_it_as_it_refuses_a_set(make: Make) -> None:
    """Through a Redis cache the fetch's tuple is the same error as a set: nothing is stored."""
    view = make()
    upstream = Upstream()
    upstream.value = (1, 2)
    with pytest.raises(InvalidArgumentError) as raised:
        view.lookup("k", upstream)
    assert str(raised.value) == (
        "the default JSON serializer cannot store tuple (1, 2) unchanged (the tuple at value "
        f"would come back as a list); {ALTERNATIVES}"
    )
    assert view.redis.get(f"{view.prefix}:v:k") is None
    upstream.value = [1, 2]
    assert view.lookup("k", upstream).source is CacheSource.MISS
    assert view.lookup("k", upstream).value == [1, 2]


@pytest.mark.parametrize("store_kind", ["memory"], indirect=True)
def test_a_memory_store_keeps_the_value_itself(make: Make) -> None:
    """A memory store serializes nothing: the tuple comes back a tuple on a hit."""
    view = make()
    upstream = Upstream()
    upstream.value = (1, 2)
    assert view.lookup("k", upstream).value == (1, 2)
    hit = view.lookup("k", upstream)
    assert (hit.source, hit.value) == (CacheSource.HIT, (1, 2))
