"""What a failed store call means: Redis unreachable, or refusing the breaker's scripts.

By error code or exception class name, never by class: redis-py and valkey-py
raise their own classes, and the breaker imports neither here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["describe_store_error", "is_refusal"]

#: What the server says when it refuses, by error code (or exception class
#: name, as redis-py and valkey-py strip the code), and what to change.
_REFUSALS: Final = (
    (
        ("MOVED", "ASK", "MovedError", "AskError"),
        "this is a cluster node: use a cluster client (redis.RedisCluster) or a "
        "redis+cluster:// URL, and a hash-tagged key prefix such as '{vix:panic}'",
    ),
    (
        ("NOPERM", "NoPermissionError"),
        "the Redis user lacks a permission: grant it EVAL, EVALSHA, SCRIPT and TIME "
        "and read/write access to the prefix's keys (ACL SETUSER <user> +eval +evalsha "
        "+script +time ~<prefix>*)",
    ),
    (
        ("NOSCRIPT", "NoScriptError"),
        "the server does not keep the breaker's Lua scripts: allow SCRIPT LOAD and "
        "do not flush the script cache (a proxy in front of Redis may drop scripts)",
    ),
    (
        ("READONLY", "ReadOnlyError"),
        "this server is a read-only replica: point the breaker at the primary "
        "(with Sentinel, a redis+sentinel:// URL)",
    ),
)


def _class_names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


def is_refusal(error: BaseException) -> bool:
    """Whether the server answered and refused (redis-py, valkey-py: a ResponseError)."""
    names = _class_names(error)
    code = str(error).split(" ", 1)[0]
    return "ResponseError" in names or any(
        code in markers or names.intersection(markers) for markers, _ in _REFUSALS
    )


def describe_store_error(error: BaseException) -> str:
    """Say what a failed store call means: Redis unreachable, or refusing the scripts."""
    names = _class_names(error)
    text = str(error)
    code = text.split(" ", 1)[0]
    for markers, advice in _REFUSALS:
        if code in markers or names.intersection(markers):
            return f"Redis refused the breaker's script ({type(error).__name__}: {error}): {advice}"
    if "ResponseError" in names:
        # The server answered: retrying will not help until someone changes
        # the configuration, so say which configuration.
        return (
            f"Redis refused the breaker's script ({type(error).__name__}: {error}); "
            "check that the server runs Lua scripts (EVALSHA), that on Redis Cluster the "
            "key prefix has a hash tag such as '{vix:panic}', and that no other data "
            "uses keys under the prefix"
        )
    if isinstance(error, (UnicodeError, ValueError, TypeError, IndexError)):
        return (
            f"the breaker could not read Redis's reply ({type(error).__name__}: {error}); "
            "pass a client without decode_responses, or check what else writes the prefix's keys"
        )
    return f"Redis is unreachable ({type(error).__name__}: {error})"
