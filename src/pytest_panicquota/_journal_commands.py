"""Which keys a command writes, and the commands a shared server must refuse.

Scripts are journaled through their ``KEYS``; any other command through the
server's own ``COMMAND`` table (its flags and ``COMMAND GETKEYS``).
"""

from __future__ import annotations

from typing import Any

from panicquota.errors import PanicquotaError
from pytest_panicquota._journal_servers import server

__all__ = ["SharedServerError", "named", "written_keys"]

#: Scripts may write any key they are given; their key count is their third word.
_SCRIPT_COMMANDS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_ERASES = (
    "it would erase keys this test did not write; delete your own keys instead "
    "(the fixture removes them anyway)"
)
_OTHER_DB = (
    "it writes to another database, where the journal cannot follow; keep the test in "
    "the database of the URL, or give it a URL of that database"
)
_FUNCTIONS = (
    "Redis functions are server-wide and outlive the test; load your library with a plain "
    "redis client in a fixture of your own that deletes it after (FCALL is journaled), or "
    "test it on the default fakeredis"
)
#: Commands refused on a shared server, and why (a container's subcommand in one word).
_REFUSED = {
    "FLUSHALL": _ERASES,
    "FLUSHDB": _ERASES,
    "SWAPDB": _ERASES,
    "MOVE": _OTHER_DB,
    "SELECT": (
        "the client's next commands would go to another database, where the journal cannot "
        "follow; give the test a URL of that database instead"
    ),
    "MIGRATE": "it moves keys to another server, where the journal cannot follow",
    "FUNCTION FLUSH": "it would delete other people's function libraries",
    "FUNCTION DELETE": "it would delete a function library other people may use",
    "FUNCTION RESTORE": "it replaces the server's function libraries",
    "FUNCTION LOAD": _FUNCTIONS,
}


class SharedServerError(PanicquotaError, RuntimeError):
    """A test asked the shared server for something that would touch other people's keys."""


def written_keys(client: Any, args: tuple[Any, ...]) -> list[bytes]:
    """Return the keys the command *args* writes, asking *client*'s server where needed.

    Raises:
        SharedServerError: the command would erase other people's keys.
    """
    name = _text(args[0]).upper()
    words = name.split()
    full = " ".join(words[:2]) if len(words) > 1 else name
    if len(words) == 1 and name == "FUNCTION" and len(args) > 1:
        full = f"FUNCTION {_text(args[1]).upper()}"
    # By its first word too: redis-py splits "FLUSHALL ASYNC" given as one string.
    reason = _REFUSED.get(full) or _REFUSED.get(words[0])
    if reason is None and name == "COPY":
        db = _copy_db(args)
        if db not in (None, _db(client)):
            full, reason = f"COPY ... DB {db}", _OTHER_DB
    if reason is not None:
        raise SharedServerError(f"panic_redis refuses {full} on a shared Redis server: {reason}")
    encode = client.get_encoder().encode
    if name in _SCRIPT_COMMANDS:
        count = int(args[2])
        return [encode(key) for key in args[3 : 3 + count]]
    parser, untracked, _ = server(client)
    if "write" not in _flags(parser, name.lower().split(), args):
        return []
    return [encode(key) for key in parser.get_keys(untracked, *args) or ()]


def _copy_db(args: tuple[Any, ...]) -> int | None:
    # COPY source destination [DB n] [REPLACE]
    rest = [_text(arg) for arg in args[3:]]
    for index, word in enumerate(rest[:-1]):
        if word.upper() == "DB":
            return int(rest[index + 1])
    return None


def _db(client: Any) -> int:
    pool = getattr(client, "connection_pool", None)  # a cluster client has none: db 0
    return int(pool.connection_kwargs.get("db") or 0) if pool is not None else 0


def _flags(parser: Any, words: list[str], args: tuple[Any, ...]) -> list[str]:
    info = parser.commands.get(words[0])
    if info is None:
        return []
    subcommands = info.get("subcommands")
    if not subcommands:
        return list(info["flags"])
    # A container command (XGROUP, OBJECT, ...) has no flags of its own: its
    # subcommand, "XGROUP CREATE" in one word or two, says whether it writes.
    sub = words[1] if len(words) > 1 else _text(args[1]).lower() if len(args) > 1 else ""
    for entry in subcommands:
        if _text(entry[0]) == f"{words[0]}|{sub}":
            return list(parser.parse_subcommand(entry)["flags"])
    # Unknown to this server: assume a write, since a missed one leaves a key
    # behind while a needless DUMP costs only a round trip.
    return ["write"]


def named(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return *args* with the command's name as text, as redis-py expects it."""
    if args and isinstance(args[0], bytes | bytearray):
        return (args[0].decode(), *args[1:])
    return args


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)
