"""What the real mode raises, and what reaching its store may raise."""

from __future__ import annotations

import contextlib

from panicquota.errors import PanicquotaError

__all__ = ["RealModeError", "store_errors"]


class RealModeError(PanicquotaError, RuntimeError):
    """The real mode could not run (Redis unreachable, a worker failed)."""


def store_errors() -> tuple[type[BaseException], ...]:
    """What reaching the store may raise, for redis-py and (if installed) valkey-py."""
    import redis

    errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
    with contextlib.suppress(ImportError):
        from valkey.exceptions import ValkeyError

        errors = (*errors, ValkeyError)
    return errors
