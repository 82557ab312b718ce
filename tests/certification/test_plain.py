"""Comparable forms: equal results compare equal in any process, unequal ones do not."""

from __future__ import annotations

import datetime
import math
from collections import deque
from typing import Any

import pytest

from panicquota import PanicMode
from panicquota._shared.state import NAN, plain


class Slotted:
    """An object whose state is in slots."""

    __slots__ = ("ttl",)

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl


class Bare:
    """An object with neither attributes nor a repr of its own."""


class Node:
    """An object that may refer to itself."""

    def __init__(self) -> None:
        self.next: Node | None = None


@pytest.mark.parametrize(
    ("value", "form"),
    [
        pytest.param({"tier": 2}, ("mapping", (("'tier'", 2),)), id="mapping-as-plain"),
        pytest.param(PanicMode.DEGRADED, "DEGRADED", id="str-enum-as-plain"),
        pytest.param(float("nan"), NAN, id="nan"),
        pytest.param(complex(math.nan, 1), ("complex", "(nan+1j)"), id="complex-nan"),
        pytest.param(Slotted(5), ("mapping", (("<class>", "Slotted"), (".ttl", 5))), id="slots"),
        pytest.param(Bare(), ("mapping", (("<class>", "Bare"),)), id="bare"),
        pytest.param(math.floor, ("ref", "math.floor"), id="builtin"),
        pytest.param(Bare, ("ref", f"{__name__}.Bare"), id="class"),
        pytest.param(deque([1, 2]), (1, 2), id="sized-iterable"),
        pytest.param({1, 2}, frozenset({1, 2}), id="set"),
        pytest.param(datetime.date(2024, 5, 1), "datetime.date(2024, 5, 1)", id="own-repr"),
    ],
)
def test_forms(value: Any, form: Any) -> None:
    """Built-ins keep plain()'s form; NaN, objects, references get forms that compare by value."""
    assert plain(value) == form


def test_a_cycle_ends_at_the_repeated_object() -> None:
    """An object that refers to itself is shown by its class where it repeats."""
    node = Node()
    node.next = node
    assert plain(node) == (
        "mapping",
        (("<class>", "Node"), (".next", ("ref", f"{__name__}.Node"))),
    )


def test_equal_objects_compare_equal_and_unequal_ones_do_not() -> None:
    """Two objects with the same class and attributes are equal; another attribute is not."""
    first, second = ([Slotted(1), {"a": Slotted(2)}] for _ in range(2))
    assert first is not second
    assert plain(first) == plain(second)
    assert plain(Slotted(1)) != plain(Slotted(2))
