"""Comparable forms of values: for comparing results across processes and snapshots."""

from __future__ import annotations

import cmath
import enum
import math
import pickle
import types
from collections.abc import Mapping, Set
from typing import Any

__all__ = ["brief", "class_state", "describe_change", "difference", "plain", "snapshot"]

_SCALARS = (type(None), bool, int, float, complex, bytes)
#: What any NaN becomes: NaN equals nothing, not even itself.
NAN = ("float", "nan")
#: Shown by their qualified name: code, not values.
_REFERENCES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
)
#: Deeper than this, an object is shown by its class alone: results are values, not graphs.
_MAX_DEPTH = 20


def plain(value: Any) -> Any:
    """Return *value* as nested built-ins that compare by value in any process.

    Mappings become sorted item tuples, sequences tuples, sets frozensets, str
    and int enums their value, any NaN one marker (NaN equals nothing), a
    function, class or module its qualified name, and any other object its
    class and attributes (``__dict__`` and ``__slots__``), recursively, or its
    ``repr`` when it has no attributes but a ``repr`` of its own. Not the
    default ``repr``: it holds a memory address, so equal answers would differ.
    """
    return _form(value, frozenset(), 0)


def _form(value: Any, seen: frozenset[int], depth: int) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return NAN
    if isinstance(value, complex) and cmath.isnan(value):
        return ("complex", repr(value))
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value, str | int) else repr(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, _REFERENCES):
        return ("ref", f"{getattr(value, '__module__', '?')}.{_qualname(value)}")
    if id(value) in seen or depth > _MAX_DEPTH:
        return ("ref", _class_name(value))
    seen, depth = seen | {id(value)}, depth + 1
    if isinstance(value, Mapping):
        items = ((repr(_form(k, seen, depth)), _form(v, seen, depth)) for k, v in value.items())
        return ("mapping", tuple(sorted(items, key=lambda item: item[0])))
    if isinstance(value, Set):
        return frozenset(_form(item, seen, depth) for item in value)
    if isinstance(value, list | tuple) or (
        hasattr(value, "__iter__") and hasattr(value, "__len__")
    ):
        return tuple(_form(item, seen, depth) for item in value)
    state = _attributes(value)
    if not state and _has_own_repr(type(value)):
        return repr(value)
    fields = [(f".{name}", _form(attribute, seen, depth)) for name, attribute in state.items()]
    return ("mapping", (("<class>", type(value).__qualname__), *sorted(fields)))


def _attributes(value: Any) -> dict[str, Any]:
    state = dict(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        slots = getattr(cls, "__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                state.setdefault(name, getattr(value, name))
    return state


def _has_own_repr(cls: type) -> bool:
    return any("__repr__" in vars(base) for base in cls.__mro__ if base is not object)


def _qualname(value: Any) -> str:
    return str(getattr(value, "__qualname__", None) or getattr(value, "__name__", "?"))


def _class_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


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


def describe_change(before: Any, after: Any, name: str = "") -> str | None:
    """Return where two snapshots taken by :func:`snapshot` differ, or None if they do not.

    *name* starts the phrase (``Class.counter: 0 became 2``); without it the
    phrase names the path inside the value (``.seen['x'] was added (1)``).
    Pickles that differ only in their bytes (an attribute deleted and set
    again to the same value moves in the pickle) are not a change.
    """
    if before == after:
        return None
    return _first_difference(_restore(before), _restore(after), name)


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
    state = {f".{name}": _walk(item, seen) for name, item in _attributes(value).items()}
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
