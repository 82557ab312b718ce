"""Comparable forms of results: equal in any process when the results are equal.

:func:`panicquota.certification.plain` shows an object it does not know by
its ``repr``, which for most classes holds a memory address, and keeps NaN,
which equals nothing: two equal answers of that kind never compare equal. The
forms here are :func:`plain`'s for built-in values, so that messages read the
same, and for other objects their class and their attributes, recursively.
"""

from __future__ import annotations

import cmath
import enum
import math
import types
from collections.abc import Callable, Mapping, Set
from typing import Any

from panicquota.certification import plain

__all__ = ["Comparing", "comparable"]

#: What any NaN becomes: NaN equals nothing, not even itself.
NAN = ("float", "nan")
_SCALARS = (type(None), bool, int, float, complex, bytes, str, enum.Enum)
_REFERENCES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
)
#: Deeper than this, an object is shown by its class alone: results are values, not graphs.
_MAX_DEPTH = 20


def comparable(value: Any) -> Any:
    """Return *value* as nested built-ins that compare by value in any process.

    Built-in values get :func:`plain`'s form; NaN becomes one marker; a
    function, class or module its qualified name; any other object a mapping
    of its class and its attributes (``__dict__`` and ``__slots__``), or its
    ``repr`` when it has no attributes but a ``repr`` of its own.
    """
    return _form(value, frozenset(), 0)


def _form(value: Any, seen: frozenset[int], depth: int) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return NAN
    if isinstance(value, complex) and cmath.isnan(value):
        return ("complex", repr(value))
    if isinstance(value, _SCALARS):
        return plain(value)
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


class Comparing:
    """*fn*, answering :func:`comparable` forms: picklable whenever *fn* is.

    It carries *fn*'s name and module (and instance, for a bound method) so
    that messages, reproducing commands and fresh interpreters see *fn*.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__module__ = getattr(fn, "__module__", None) or type(self).__module__
        self.__qualname__ = getattr(fn, "__qualname__", None) or type(fn).__name__
        for name in ("__self__", "target_spec"):
            if hasattr(fn, name):
                setattr(self, name, getattr(fn, name))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return comparable(self.fn(*args, **kwargs))
