"""The journal's view of each server: its command table, an untracked client, the save script.

Made once per server (or Cluster / Sentinel URL) and process: a standalone
server is found from the client's connection pool, the other topologies from
the test's URL.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["SERVERS", "TIMEOUT", "Server", "redis_py_url", "server", "topology_of"]

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


class Server(NamedTuple):
    """What the journal needs of one server, made once per server and process."""

    parser: Any
    untracked: Any
    save_first_state: Any


SERVERS: dict[tuple[Any, ...], Server] = {}


def server(client: Any) -> Server:
    import redis
    from redis._parsers.commands import CommandsParser

    url = getattr(client, "panic_url", None)
    if url is not None and topology_of(url) != "standalone":
        return _server_by_url(url)
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    # Which server, database and user: stable across the clients of a session,
    # unlike the kwargs' repr, which shows object addresses.
    fields = ("host", "port", "path", "db", "username", "password")
    where = (*(str(kwargs.get(name)) for name in fields), pool.connection_class.__name__)
    if where not in SERVERS:
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
        SERVERS[where] = Server(parser, untracked, untracked.register_script(_SAVE_FIRST_STATE))
    return SERVERS[where]


def topology_of(url: str) -> str:
    from panicquota.breaker import parse_store_url

    return parse_store_url(url).topology


def redis_py_url(url: str) -> str:
    """Return *url* for redis-py: the journal's clients are redis-py's, on Valkey servers too."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower().startswith("valkey"):
        return "redis" + scheme[len("valkey") :] + sep + rest
    return url


def _server_by_url(url: str) -> Server:
    """The journal's view of a Cluster or a Sentinel group, made from the test's URL."""
    from redis._parsers.commands import CommandsParser

    from panicquota.breaker import connect

    where = ("url", url)
    if where not in SERVERS:
        untracked = connect(url, socket_timeout=TIMEOUT)
        parser = CommandsParser(untracked)  # type: ignore[no-untyped-call]
        if topology_of(url) == "cluster":
            # The journal hash and a written key may live on different nodes:
            # no script can touch both, so save in steps (see _save_in_steps).
            save = _save_in_steps(untracked)
        else:
            save = untracked.register_script(_SAVE_FIRST_STATE)
        SERVERS[where] = Server(parser, untracked, save)
    return SERVERS[where]


#: Seconds the journal's and the plugin's clients of a Cluster or Sentinel wait for a reply.
TIMEOUT = 5.0


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
