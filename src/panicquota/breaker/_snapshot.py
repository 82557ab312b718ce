"""The shared state as a worker last read it: the stored start's encoding and the snapshot."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from panicquota.breaker._types import StateSource

__all__ = ["JUST_STARTED", "NEVER_READ", "Snapshot", "as_text", "encode_ts", "extras"]

#: The policy reads a duration of 0 as "no panic": a panic that started this
#: very instant is given this many minutes (60 ns) so that it is tier 1.
JUST_STARTED: Final = 1e-9


def as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def encode_ts(epoch_seconds: float) -> str:
    """Return epoch seconds as stored in Redis (microsecond precision)."""
    return f"{epoch_seconds:.6f}"


def extras(source: StateSource, start: float | None, clamped: bool) -> Mapping[str, Any]:
    return MappingProxyType({"source": source, "panic_start_ts": start, "clamped": clamped})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The shared state as this worker last read it."""

    start: float | None
    raw: bytes | str | None  # the start exactly as stored, for compare-and-set
    activation: bytes | str | None
    read_at: float  # the interval clock (monotonic) when read; -inf if never read
    offset: float  # add to the local clock to get the breaker's time
    fresh: Mapping[str, Any]
    cached: Mapping[str, Any]
    stale: Mapping[str, Any]

    @classmethod
    def build(
        cls,
        start: float | None,
        raw: bytes | str | None,
        activation: bytes | str | None,
        read_at: float,
        offset: float,
    ) -> Snapshot:
        """Return a snapshot with its metadata extras built once, not per call."""
        return cls(
            start,
            raw,
            activation,
            read_at,
            offset,
            extras(StateSource.FRESH, start, False),
            extras(StateSource.CACHED, start, False),
            extras(StateSource.STALE, start, False),
        )

    @property
    def known(self) -> bool:
        """Whether this worker ever read the state."""
        return self.read_at > -math.inf


NEVER_READ: Final = Snapshot.build(None, None, None, -math.inf, 0.0)
