"""The real run's keys: the backstop expiry on them and their deletion at the end.

Every key of a run lives under a prefix unique to it; the run deletes them
(never a flush: the server is shared) and, should the parent be killed
outright, each carries an expiry as a backstop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["STATE_KEYS", "delete_keys", "delete_keys_or_log", "expire"]

logger = logging.getLogger("panicquota.simulation")

#: The keys a trip or a reset (re)writes without an expiry.
STATE_KEYS: Final = ("start_ts", "activation", "ended")


def expire(admin: Any, keys: Sequence[Any], seconds: int) -> None:
    """Put the backstop expiry on *keys* (the run deletes them; this is for a killed run)."""
    if not keys:
        return
    with admin.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.expire(key, seconds)
        pipe.execute()


def delete_keys_or_log(admin: Any, base: str, redis_url: str, backstop: int) -> str | None:
    """Delete the run's keys; if that fails, log it and return the failure (never raise).

    The cleanup runs on the way out of an error too: raising here would hide it.
    """
    import redis

    try:
        delete_keys(admin, base)
    except (redis.RedisError, OSError) as error:
        message = (
            f"could not delete the run's keys {base}:* on {redis_url} ({error}); "
            f"they expire within {backstop} s"
        )
        logger.error("%s", message)
        return message
    return None


def delete_keys(admin: Any, base: str) -> None:
    """Delete this run's keys, and only them (never a flush: the server is shared)."""
    batch: list[bytes] = []
    for key in admin.scan_iter(match=f"{base}:*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            admin.delete(*batch)
            batch.clear()
    if batch:
        admin.delete(*batch)
