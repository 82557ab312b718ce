"""Which keys a test wrote to a shared Redis, and how to put them back.

Before a process's first write to a key, the state the key had (``DUMP`` and
``PTTL``, or "absent") is saved on the server itself, in a hash under the
test's prefix, by a script that saves it only if no process saved it first.
Every write follows its writer's attempt to save, so the first saved state is
the key's state before any write, whichever of the test's processes (the test,
its workers, a worker that crashed) got there first. After the test, keys that
were absent are deleted and the others restored, so keys already on the server
end the test as they began. Keys under the test's own unique prefix could not
exist before: they are not saved, the prefix is deleted as a whole.

Nothing else on the server is touched: no ``FLUSHDB``, no ``KEYS``; the only
scan is of the test's own unique prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from panicquota.errors import PanicquotaError

__all__ = [
    "KeyJournal",
    "RestoreError",
    "SharedServerError",
    "tracking_client",
    "tracking_client_class",
    "written_keys",
]

#: Scripts may write any key they are given; their key count is their third word.
_SCRIPT_COMMANDS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
_REFUSED = frozenset({"FLUSHALL", "FLUSHDB", "SWAPDB"})

#: Save KEYS[2]'s state in the hash KEYS[1] unless it is saved already: as
#: "PTTL:DUMP payload", or "" when the key is absent. Atomic, being a script.
_SAVE_FIRST_STATE = """
if redis.call('HEXISTS', KEYS[1], KEYS[2]) == 1 then return 0 end
local payload = redis.call('DUMP', KEYS[2])
if payload then
  redis.call('HSET', KEYS[1], KEYS[2], redis.call('PTTL', KEYS[2]) .. ':' .. payload)
else
  redis.call('HSET', KEYS[1], KEYS[2], '')
end
return 1
"""


class SharedServerError(PanicquotaError, RuntimeError):
    """A test asked the shared server for something that would touch other people's keys."""


class RestoreError(PanicquotaError, RuntimeError):
    """The test's writes to a shared server could not all be undone after it."""


class KeyJournal:
    """Where the processes of one test save the first state of each key they write.

    Args:
        prefix: the test's unique key prefix; the saved states live in the
            hash ``{prefix}:panic-journal``.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.record_key = f"{prefix}:panic-journal"
        self._own = f"{prefix}:".encode()
        #: Keys this process saw already: each is saved once per process.
        self.seen: set[bytes] = set()

    def before_write(self, client: Any, keys: Iterable[bytes]) -> None:
        """Save what each key not seen yet holds, unless another process saved it first."""
        for key in keys:
            if key in self.seen:
                continue
            if not key.startswith(self._own):
                _server(client).save_first_state(keys=[self.record_key, key])
            self.seen.add(key)

    def restore(self, client: Any) -> list[str]:
        """Delete the keys that were absent and put back the ones that existed.

        Returns:
            What could not be undone, one phrase per key: every key is tried,
            whatever happened to the others.
        """
        untracked = _server(client).untracked
        try:
            saved = untracked.hgetall(self.record_key)
        except Exception as error:  # nothing to restore from: say so with the rest
            return [f"reading the journal {self.record_key!r} ({type(error).__name__}: {error})"]
        problems = []
        for key, state in saved.items():
            try:
                if state == b"":
                    untracked.delete(key)
                else:
                    pttl, _, payload = state.partition(b":")
                    untracked.restore(key, max(int(pttl), 0), payload, replace=True)
            except Exception as error:  # reported with the others once all were tried
                problems.append(f"{key!r} ({type(error).__name__}: {error})")
        self.seen.clear()
        return problems

    def delete_prefix(self, client: Any, prefix: str) -> None:
        """Delete every key under *prefix* (``SCAN MATCH`` and ``DEL``, never ``FLUSHDB``)."""
        keys = list(client.scan_iter(match=f"{_escape(prefix)}:*", count=1000))
        if keys:
            client.delete(*keys)


def _escape(prefix: str) -> str:
    # SCAN MATCH is a glob: the prefix's own glob characters must match literally.
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in prefix)


def written_keys(client: Any, args: tuple[Any, ...]) -> list[bytes]:
    """Return the keys the command *args* writes, asking *client*'s server where needed.

    Raises:
        SharedServerError: the command would erase other people's keys.
    """
    name = _text(args[0]).upper()
    if name in _REFUSED:
        raise SharedServerError(
            f"panic_redis refuses {name} on a shared Redis server: it would erase keys this "
            "test did not write; delete your own keys instead (the fixture removes them anyway)"
        )
    encode = client.get_encoder().encode
    if name in _SCRIPT_COMMANDS:
        count = int(args[2])
        return [encode(key) for key in args[3 : 3 + count]]
    parser, untracked, _ = _server(client)
    if "write" not in _flags(parser, name.lower().split(), args):
        return []
    return [encode(key) for key in parser.get_keys(untracked, *args) or ()]


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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Server(NamedTuple):
    """What the journal needs of one server, made once per server and process."""

    parser: Any
    untracked: Any
    save_first_state: Any


_SERVERS: dict[str, _Server] = {}


def _server(client: Any) -> _Server:
    import redis
    from redis._parsers.commands import CommandsParser

    where = repr(client.connection_pool.connection_kwargs)
    if where not in _SERVERS:
        # The parser (COMMAND, COMMAND GETKEYS) and the journal's own script go
        # through a plain client on the same pool: through the tracked one they
        # would be journaled themselves.
        untracked = redis.Redis(connection_pool=client.connection_pool)
        # COMMAND is answered once per server and process: key positions do
        # not change while a test session runs.
        parser = CommandsParser(untracked)  # type: ignore[no-untyped-call]
        _SERVERS[where] = _Server(parser, untracked, untracked.register_script(_SAVE_FIRST_STATE))
    return _SERVERS[where]


_CLASSES: dict[str, type[Any]] = {}


def tracking_client_class() -> type[Any]:
    """Return a ``redis.Redis`` subclass whose writes are recorded in a :class:`KeyJournal`."""
    if "client" in _CLASSES:
        return _CLASSES["client"]
    import redis
    from redis.client import Pipeline

    class TrackingPipeline(Pipeline):
        journal: KeyJournal
        tracked_by: Any

        def pipeline_execute_command(self, *args: Any, **options: Any) -> Any:
            self.journal.before_write(self.tracked_by, written_keys(self.tracked_by, args))
            return super().pipeline_execute_command(*args, **options)

        def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            self.journal.before_write(self.tracked_by, written_keys(self.tracked_by, args))
            return super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingRedis(redis.Redis):
        """A redis-py client that records, before each write, what the key held."""

        journal: KeyJournal

        def execute_command(self, *args: Any, **options: Any) -> Any:
            keys = written_keys(self, args)
            if keys:
                self.journal.before_write(self, keys)
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
            pipe = TrackingPipeline(
                self.connection_pool, self.response_callbacks, transaction, shard_hint
            )
            pipe.journal = self.journal
            pipe.tracked_by = self
            return pipe

    _CLASSES["client"] = TrackingRedis
    return TrackingRedis


def tracking_client(url: str, journal: KeyJournal) -> Any:
    """Return a client of *url* that records its writes in *journal*."""
    client = tracking_client_class().from_url(url)
    client.journal = journal
    return client
