"""How values are turned into bytes for a shared store: JSON by default, pickle on request.

A value read back from a Redis that other processes (or people) can write to
must not be able to run code when decoded: :class:`JSONSerializer` can only
produce data. :class:`PickleSerializer` can produce anything, and so can a
crafted entry; pass it only when every writer of the Redis is trusted.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any, Final, Protocol, runtime_checkable

from panicquota.errors import InvalidArgumentError

__all__ = ["JSONSerializer", "PickleSerializer", "Serializer"]

_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads_json(text: str) -> Any:
    # The scanner alone, without json.loads's whitespace regexes: a hit on a
    # shared store spends a large part of its in-process time decoding.
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return json.loads(text)  # surrounding whitespace, or the exact error
    return value


_ALTERNATIVES = (
    "return JSON data (dict with str keys, list, str, int, float, bool, None), str or "
    "bytes from fetch, or pass serializer=PickleSerializer() if every writer of the store "
    "is trusted (or a serializer of your own)"
)

#: What JSON gives back for a value of (a subclass of) each type it encodes.
_JSON_TYPES: Final = (
    (dict, "dict"),
    (list, "list"),
    (tuple, "list"),
    (str, "str"),
    (bytes, "bytes"),
    (int, "int"),
    (float, "float"),
)


#: The types JSON gives back as they are, with nothing inside.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _changed_by_json(value: Any) -> str | None:
    """Say where JSON would not give *value* back as it is (same types, same keys), else None.

    *value* is one :func:`json.dumps` accepted, so it holds no cycle. A tuple
    comes back as a list, an int key as a str, an enum member or a dict
    subclass as the plain type: each changes what the caller's code does on a
    hit, which a memory store would not.
    """
    scalars = _SCALARS
    if type(value) in scalars:
        return None
    # Only containers are queued; each path is (parent's path, key), spelt out
    # only for the message.
    pending: list[tuple[Any, Any]] = [(value, None)]
    while pending:
        item, path = pending.pop()
        kind = type(item)
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str:
                    return (
                        f"the {type(key).__name__} key {key!r} in {_spell(path)} would come "
                        "back as a str"
                    )
                if type(inner) not in scalars:
                    pending.append((inner, (path, key)))
        elif kind is list:
            for index, inner in enumerate(item):
                if type(inner) not in scalars:
                    pending.append((inner, (path, index)))
        else:
            return _comes_back_as(item, _spell(path))
    return None


def _spell(path: Any) -> str:
    keys: list[str] = []
    while path is not None:
        path, key = path
        keys.append(f"[{key!r}]")
    return "value" + "".join(reversed(keys))


def _comes_back_as(item: Any, where: str) -> str:
    plain = next(name for base, name in _JSON_TYPES if isinstance(item, base))
    article = "a" if type(item) is tuple else "a plain"
    return f"the {type(item).__name__} at {where} would come back as {article} {plain}"


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back."""

    def dumps(self, value: Any) -> bytes:
        """Return *value* as bytes."""
        ...

    def loads(self, data: bytes) -> Any:
        """Return the value *data* stands for."""
        ...


class JSONSerializer:
    """JSON for data, with ``bytes`` and ``str`` stored as they are.

    The first byte tags the kind, so a ``str`` that looks like JSON comes back
    as that ``str`` and ``bytes`` come back as ``bytes``.

    Raises:
        InvalidArgumentError: (from :meth:`dumps`) a value JSON cannot encode.
    """

    def dumps(self, value: Any) -> bytes:
        """Return *value* tagged and encoded."""
        kind = type(value)
        if kind is bytes:
            raw: bytes = value
            return b"b" + raw
        if kind is str:
            text: str = value
            return b"s" + text.encode("utf-8", "surrogatepass")
        if isinstance(value, str | bytes):
            raise InvalidArgumentError(
                f"the default JSON serializer cannot store {kind.__name__} {value!r} unchanged "
                f"({_comes_back_as(value, 'value')}); {_ALTERNATIVES}"
            )
        try:
            encoded = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(
                f"the default JSON serializer cannot store {type(value).__name__} {value!r} "
                f"({error}); {_ALTERNATIVES}"
            ) from None
        changed = _changed_by_json(value)
        if changed is not None:
            raise InvalidArgumentError(
                f"the default JSON serializer cannot store {type(value).__name__} {value!r} "
                f"unchanged ({changed}); {_ALTERNATIVES}"
            )
        return b"j" + encoded.encode("utf-8")

    def loads(self, data: bytes) -> Any:
        """Return the value *data* was made from.

        Raises:
            ValueError: *data* was not made by this serializer.
        """
        tag, body = data[:1], data[1:]
        if tag == b"b":
            return bytes(body)
        if tag == b"s":
            return body.decode("utf-8", "surrogatepass")
        if tag == b"j":
            return _loads_json(body.decode("utf-8"))
        raise ValueError(f"not a JSONSerializer entry (tag {tag!r})")

    def __repr__(self) -> str:
        return "JSONSerializer()"


class PickleSerializer:
    """Pickle: any picklable value, for a store whose every writer is trusted.

    Unpickling runs code chosen by whoever wrote the bytes: anyone who can
    write to the Redis the cache reads can run code in every worker.
    """

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        """Return *value* pickled."""
        return pickle.dumps(value, protocol=self.protocol)

    def loads(self, data: bytes) -> Any:
        """Return the value unpickled from *data* (runs the writer's code)."""
        return pickle.loads(data)

    def __repr__(self) -> str:
        return f"PickleSerializer(protocol={self.protocol!r})"
