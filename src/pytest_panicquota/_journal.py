"""Which keys a test wrote to a shared Redis, and how to put them back.

Before a process's first write to a key, the state the key had (``DUMP`` and
the absolute ``PEXPIRETIME``, or "absent") is saved on the server itself, in a hash under the
test's prefix, by a script that saves it only if no process saved it first.
Every write follows its writer's attempt to save, so the first saved state is
the key's state before any write, whichever of the test's processes (the test,
its workers, a worker that crashed) got there first. After the test, keys that
were absent are deleted and the others restored (``RESTORE ... ABSTTL``: a key
whose saved expiry time has passed meanwhile is deleted, as it would have
expired), so keys already on the server end the test as they began. Keys
under the test's own unique prefix could not exist before: they are not
saved, the prefix is deleted as a whole.

Nothing else on the server is touched: no ``FLUSHDB``, no ``KEYS``; the only
scan is of the test's own unique prefix. Commands whose writes the journal
cannot follow (another database, ``MIGRATE``, server-wide functions) are refused.

Scripts are journaled through their ``KEYS``: a script that builds a key name
itself, or calls ``FLUSHDB``, escapes the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from panicquota.errors import PanicquotaError

__all__ = [
    "KeyJournal",
    "RestoreError",
    "SharedServerError",
    "named",
    "tracking_client",
    "tracking_client_class",
    "written_keys",
]

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

#: Save KEYS[2]'s state in the hash KEYS[1] unless it is saved already: as
#: "EXPIRETIME:DUMP payload", EXPIRETIME in Unix milliseconds or -1 for none,
#: or "" when the key is absent. Atomic, being a script. Before Redis 7 (no
#: PEXPIRETIME) the time is the server's clock plus PTTL.
_SAVE_FIRST_STATE = """
if redis.call('HEXISTS', KEYS[1], KEYS[2]) == 1 then return 0 end
local payload = redis.call('DUMP', KEYS[2])
if payload then
  local ok, at = pcall(redis.call, 'PEXPIRETIME', KEYS[2])
  if not ok or type(at) ~= 'number' then
    at = redis.call('PTTL', KEYS[2])
    if at >= 0 then
      local now = redis.call('TIME')
      at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + at
    end
  end
  redis.call('HSET', KEYS[1], KEYS[2], string.format('%d', at) .. ':' .. payload)
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
        #: Whether the last :meth:`restore` read the journal (so tried every key).
        self.read = False
        #: Keys this process saw already: each is saved once per process.
        self.seen: set[bytes] = set()

    def before_command(self, client: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """Journal what the command *args* is about to write; return *args* ready to send.

        *client* is a tracked sync client of the server (for an async client,
        its sync twin): it finds the written keys and saves their first state.
        """
        args = named(args)
        self.before_write(client, written_keys(client, args))
        return args

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
        self.read = False
        try:
            saved = untracked.hgetall(self.record_key)
            seconds, micros = untracked.time()
        except Exception as error:  # nothing to restore from: say so with the rest
            return [f"reading the journal {self.record_key!r} ({type(error).__name__}: {error})"]
        self.read = True
        now = int(seconds) * 1000 + int(micros) // 1000
        problems = []
        for key, state in saved.items():
            try:
                at, _, payload = state.partition(b":")
                if state == b"" or 0 <= int(at) <= now:
                    # Absent before, or its saved expiry time has passed.
                    untracked.delete(key)
                elif int(at) < 0:
                    untracked.restore(key, 0, payload, replace=True)
                else:  # a time passed meanwhile makes RESTORE delete the key
                    untracked.restore(key, int(at), payload, replace=True, absttl=True)
            except Exception as error:  # reported with the others once all were tried
                problems.append(f"{key!r} ({type(error).__name__}: {error})")
        self.seen.clear()
        return problems

    def delete_prefix(self, client: Any, *, keep_journal: bool = False) -> None:
        """Delete every key under the test's prefix (``SCAN MATCH`` and ``DEL``, never ``FLUSHDB``).

        Args:
            keep_journal: leave the journal, to check by hand keys it could not restore.
        """
        untracked = _server(client).untracked
        keys = list(untracked.scan_iter(match=f"{_escape(self.prefix)}:*", count=1000))
        if keep_journal:
            keys = [key for key in keys if key != self.record_key.encode()]
        if keys:
            untracked.delete(*keys)


def _escape(prefix: str) -> str:
    # SCAN MATCH is a glob: the prefix's own glob characters must match literally.
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in prefix)


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
    parser, untracked, _ = _server(client)
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


class _Server(NamedTuple):
    """What the journal needs of one server, made once per server and process."""

    parser: Any
    untracked: Any
    save_first_state: Any


_SERVERS: dict[tuple[Any, ...], _Server] = {}


def _server(client: Any) -> _Server:
    import redis
    from redis._parsers.commands import CommandsParser

    url = getattr(client, "panic_url", None)
    if url is not None and _topology(url) != "standalone":
        return _server_by_url(url)
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    # Which server, database and user: stable across the clients of a session,
    # unlike the kwargs' repr, which shows object addresses.
    fields = ("host", "port", "path", "db", "username", "password")
    where = (*(str(kwargs.get(name)) for name in fields), pool.connection_class.__name__)
    if where not in _SERVERS:
        # The parser (COMMAND, COMMAND GETKEYS) and the journal's own script go
        # through a plain client with its own pool: through the tracked one they
        # would be journaled themselves, and its replies must stay bytes (DUMP
        # payloads) whatever the test's client decodes.
        untracked = redis.Redis(
            connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class,
                **{**kwargs, "decode_responses": False},
            )
        )
        # COMMAND is answered once per server and process: key positions do
        # not change while a test session runs.
        parser = CommandsParser(untracked)  # type: ignore[no-untyped-call]
        _SERVERS[where] = _Server(parser, untracked, untracked.register_script(_SAVE_FIRST_STATE))
    return _SERVERS[where]


def _topology(url: str) -> str:
    from panicquota.breaker import parse_store_url

    return parse_store_url(url).topology


def redis_py_url(url: str) -> str:
    """Return *url* for redis-py: the journal's clients are redis-py's, on Valkey servers too."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower().startswith("valkey"):
        return "redis" + scheme[len("valkey") :] + sep + rest
    return url


def _server_by_url(url: str) -> _Server:
    """The journal's view of a Cluster or a Sentinel group, made from the test's URL."""
    from redis._parsers.commands import CommandsParser

    from panicquota.breaker import connect

    where = ("url", url)
    if where not in _SERVERS:
        untracked = connect(url, socket_timeout=_TIMEOUT)
        parser = CommandsParser(untracked)  # type: ignore[no-untyped-call]
        if _topology(url) == "cluster":
            # The journal hash and a written key may live on different nodes:
            # no script can touch both, so save in steps (see _save_in_steps).
            save = _save_in_steps(untracked)
        else:
            save = untracked.register_script(_SAVE_FIRST_STATE)
        _SERVERS[where] = _Server(parser, untracked, save)
    return _SERVERS[where]


#: Seconds the journal's and the plugin's clients of a Cluster or Sentinel wait for a reply.
_TIMEOUT = 5.0


def _save_in_steps(untracked: Any) -> Any:
    """Return a ``save_first_state(keys=[journal, key])`` that needs no script (a cluster).

    ``HSETNX`` keeps the first state saved, and every writer saves before it
    writes: a state read after another process's write can only be saved
    after that process saved the state before it, so it is never the one kept.
    """

    def save_first_state(keys: list[Any]) -> int:
        journal, key = keys
        if untracked.hexists(journal, key):
            return 0
        payload = untracked.dump(key)
        if payload is None:
            return int(untracked.hsetnx(journal, key, ""))
        at = untracked.pexpiretime(key)
        return int(untracked.hsetnx(journal, key, f"{at}:".encode() + payload))

    return save_first_state


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
            args = self.journal.before_command(self.tracked_by, args)
            return super().pipeline_execute_command(*args, **options)

        def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.tracked_by, args)
            return super().immediate_execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingRedis(redis.Redis):
        """A redis-py client that records, before each write, what the key held."""

        journal: KeyJournal

        def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self, args)
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


def tracking_cluster_class() -> type[Any]:
    """Return a ``RedisCluster`` subclass whose writes are recorded in a :class:`KeyJournal`."""
    if "cluster" in _CLASSES:
        return _CLASSES["cluster"]
    from redis.cluster import ClusterPipeline, RedisCluster

    class TrackingClusterPipeline(ClusterPipeline):
        journal: KeyJournal
        tracked_by: Any

        def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self.tracked_by, args)
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    class TrackingRedisCluster(RedisCluster):
        """A redis-py cluster client that records, before each write, what the key held."""

        journal: KeyJournal
        panic_url: str

        def execute_command(self, *args: Any, **options: Any) -> Any:
            args = self.journal.before_command(self, args)
            return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
            pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
            pipe.__class__ = TrackingClusterPipeline
            pipe.journal = self.journal
            pipe.tracked_by = self
            return pipe

    _CLASSES["cluster"] = TrackingRedisCluster
    return TrackingRedisCluster


def tracking_client(url: str, journal: KeyJournal) -> Any:
    """Return a client of *url* that records its writes in *journal*.

    *url* may name a standalone server, a Cluster (``redis+cluster://``) or a
    Sentinel group's master (``redis+sentinel://``), as
    :func:`panicquota.breaker.connect` reads it.
    """
    url = redis_py_url(url)
    topology = _topology(url)
    if topology == "standalone":
        client = tracking_client_class().from_url(url)
    else:
        from panicquota.breaker import connect

        client = connect(url, socket_timeout=_TIMEOUT)
        # The same client, journaling: the class that adds the journal to its own.
        if topology == "cluster":
            client.__class__ = tracking_cluster_class()
        else:
            base = type(client)
            client.__class__ = type(f"Tracking{base.__name__}", (tracking_client_class(), base), {})
    client.journal = journal
    client.panic_url = url
    return client
