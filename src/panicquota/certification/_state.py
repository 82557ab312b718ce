"""Comparable forms of values: for comparing results across processes and snapshots."""

from __future__ import annotations

import enum
import pickle
import types
from collections.abc import Mapping, Set
from typing import Any

__all__ = ["brief", "class_state", "describe_change", "difference", "plain", "snapshot"]

_SCALARS = (type(None), bool, int, float, complex, bytes)


def plain(value: Any) -> Any:
    """Return *value* as nested built-ins that compare by value in any process.

    Mappings become sorted item tuples, sequences tuples, sets frozensets, str
    enums their value, other objects their public state or their ``repr``.
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value, str | int) else repr(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return ("mapping", tuple(sorted((repr(plain(k)), plain(v)) for k, v in value.items())))
    if isinstance(value, Set):
        return frozenset(plain(item) for item in value)
    if isinstance(value, list | tuple):
        return tuple(plain(item) for item in value)
    if hasattr(value, "__iter__") and hasattr(value, "__len__"):
        return tuple(plain(item) for item in value)
    return repr(value)


def snapshot(value: Any) -> Any:
    """Return a deep snapshot of *value*'s state, to compare before and after a call.

    A picklable value is snapshotted by its pickle (what it declares as its
    state, so caches an object leaves out of its pickle do not count); other
    values by a structural walk of their attributes and items.
    """
    try:
        return ("pickle", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # any object may refuse pickling in its own way
        return ("walk", _walk(value, set()))


def describe_change(before: Any, after: Any, name: str = "") -> str:
    """Return where two snapshots taken by :func:`snapshot` differ, as a short phrase.

    *name* starts the phrase (``Class.counter: 0 became 2``); without it the
    phrase names the path inside the value (``.seen['x'] was added (1)``).
    """
    old, new = _restore(before), _restore(after)
    path = _first_difference(old, new, name)
    return path or name or "its state"


def class_state(obj: object) -> dict[str, Any]:
    """Return the data attributes of *obj*'s classes, as ``{"Class.name": value}``.

    Every class of its MRO but ``object`` and built-in types counts. Left out:
    dunder names, callables (methods, nested classes), descriptors (properties,
    slots, class and static methods) and modules; what remains is data shared
    by every instance, such as counters and caches kept on the class.
    """
    state: dict[str, Any] = {}
    for cls in type(obj).__mro__:
        if cls is object or cls.__module__ == "builtins":
            continue
        for name, value in vars(cls).items():
            if (
                (name.startswith("__") and name.endswith("__"))
                or name == "_abc_impl"  # the ABC machinery's own registry cache
                or callable(value)
                or hasattr(type(value), "__get__")
                or isinstance(value, types.ModuleType)
            ):
                continue
            state.setdefault(f"{cls.__qualname__}.{name}", value)
    return state


def _restore(snap: Any) -> Any:
    kind, data = snap
    return _walk(pickle.loads(data), set()) if kind == "pickle" else data


def _walk(value: Any, seen: set[int]) -> Any:
    if isinstance(value, (*_SCALARS, str)):
        return value
    if id(value) in seen:
        return "<cycle>"
    seen = seen | {id(value)}
    if isinstance(value, Mapping):
        return {repr(k): _walk(v, seen) for k, v in value.items()}
    if isinstance(value, Set):
        return {repr(item): True for item in value}
    if isinstance(value, list | tuple):
        return [_walk(item, seen) for item in value]
    state: dict[str, Any] = {}
    for name in getattr(value, "__dict__", {}):
        state[f".{name}"] = _walk(vars(value)[name], seen)
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(value, name) and name not in ("__dict__", "__weakref__"):
                state[f".{name}"] = _walk(getattr(value, name), seen)
    return state if state else repr(value)


def _first_difference(old: Any, new: Any, path: str) -> str | None:
    if type(old) is not type(new):
        return f"{path or 'the value'}: {old!r} became {new!r}"
    if isinstance(old, dict):
        for key in list(old) + [k for k in new if k not in old]:
            if key not in new:
                return f"{path}{_step(key)} was removed"
            if key not in old:
                return f"{path}{_step(key)} was added ({new[key]!r})"
            found = _first_difference(old[key], new[key], f"{path}{_step(key)}")
            if found:
                return found
        return None
    if isinstance(old, list):
        if len(old) != len(new):
            return f"{path or 'the value'} went from {len(old)} to {len(new)} items"
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if old == new else f"{path or 'the value'}: {old!r} became {new!r}"


def _step(key: str) -> str:
    return key if key.startswith(".") else f"[{key}]"


def difference(expected: Any, got: Any, limit: int | None = None) -> str:
    """Return where two :func:`plain` forms differ: ``[2]['alert'] 'a' != 'b'``.

    With *limit*, only the first *limit* differences are named, then how many more.
    """
    found = _differences(expected, got, "")
    if limit is not None and len(found) > limit:
        found = [*found[:limit], f"{len(found) - limit} more"]
    return ", ".join(found)


def _differences(expected: Any, got: Any, path: str) -> list[str]:
    if isinstance(expected, tuple) and isinstance(got, tuple):
        if expected[:1] == ("mapping",) and got[:1] == ("mapping",) and len(expected) == 2:
            old, new = dict(expected[1]), dict(got[1])
            missing = "<missing>"
            found: list[str] = []
            for key in sorted(set(old) | set(new)):
                found += _differences(
                    old.get(key, missing), new.get(key, missing), f"{path}[{key}]"
                )
            return found
        if len(expected) == len(got):
            found = []
            for index, (a, b) in enumerate(zip(expected, got, strict=True)):
                found += _differences(a, b, f"{path}[{index}]")
            return found
    if expected == got:
        return []
    return [f"{path} {expected!r} != {got!r}" if path else f"{expected!r} != {got!r}"]


def brief(answer: Any) -> str:
    """Return a :func:`plain` decision as ``TTL 5 at tier 2``, anything else as its repr."""
    if isinstance(answer, tuple) and len(answer) == 3 and answer[2][:1] == ("mapping",):
        tier = dict(answer[2][1]).get("'tier'")
        return f"TTL {answer[0]!r} at tier {tier!r}"
    if isinstance(answer, tuple) and answer[:1] == ("error",):
        return f"{answer[1]}: {answer[2]}"
    return repr(answer)
