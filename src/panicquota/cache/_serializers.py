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
from typing import Any, Protocol, runtime_checkable

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
        if isinstance(value, bytes):
            return b"b" + value
        if isinstance(value, str):
            return b"s" + value.encode("utf-8", "surrogatepass")
        try:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(
                f"the default JSON serializer cannot store {type(value).__name__} {value!r} "
                f"({error}); return JSON data, str or bytes from fetch, or pass "
                "serializer=PickleSerializer() if every writer of the store is trusted"
            ) from None
        return b"j" + text.encode("utf-8")

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
