"""Store URLs: which client a URL names, and its parts (the ``limits`` library's convention).

==============================================  =========================================
URL                                             client
==============================================  =========================================
``redis://h:p/db``, ``rediss://``, ``unix://``  ``redis.Redis`` (``from_url``)
``redis+cluster://h:p[,h:p...]``                ``redis.cluster.RedisCluster``
``redis+sentinel://h:p[,h:p...]/service[/db]``  the master of *service*, through Sentinel
``valkey://``, ``valkeys://``, ``valkey+...``   the same with valkey-py
==============================================  =========================================

Parsing needs only the standard library; the client library is imported when
a client is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

from panicquota.errors import InvalidArgumentError, InvalidTypeError

__all__ = ["StoreUrl", "has_hash_tag", "parse_store_url"]

#: scheme -> (client library, topology); a ``+cluster``/``+sentinel`` scheme
#: over TLS is spelled ``rediss+cluster`` like ``rediss``.
_SCHEMES: Final = {
    "redis": ("redis", "standalone"),
    "rediss": ("redis", "standalone"),
    "unix": ("redis", "standalone"),
    "redis+cluster": ("redis", "cluster"),
    "rediss+cluster": ("redis", "cluster"),
    "redis+sentinel": ("redis", "sentinel"),
    "rediss+sentinel": ("redis", "sentinel"),
    "valkey": ("valkey", "standalone"),
    "valkeys": ("valkey", "standalone"),
    "valkey+cluster": ("valkey", "cluster"),
    "valkeys+cluster": ("valkey", "cluster"),
    "valkey+sentinel": ("valkey", "sentinel"),
    "valkeys+sentinel": ("valkey", "sentinel"),
}
_ACCEPTED: Final = (
    "redis://host:6379/0, rediss://..., unix:///path/redis.sock, "
    "redis+cluster://host:port[,host:port...], "
    "redis+sentinel://host:port[,host:port...]/service[/db], "
    "or the same with valkey instead of redis"
)
_HOST_PORT: Final = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d+))?$")
_DEFAULT_PORTS: Final = {"standalone": 6379, "cluster": 6379, "sentinel": 26379}


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A parsed store URL.

    Attributes:
        url: the URL as given.
        library: ``"redis"`` (redis-py) or ``"valkey"`` (valkey-py).
        topology: ``"standalone"``, ``"cluster"`` or ``"sentinel"``.
        nodes: the ``(host, port)`` pairs of a cluster's or Sentinel's URL.
        service: the Sentinel service name (``""`` otherwise).
        db: the database of a Sentinel URL.
        tls: whether the scheme asks for TLS (``rediss``, ``valkeys``).
        username: the user of a cluster's or Sentinel's URL, if any.
        password: its password, if any.
        query: a cluster's or Sentinel's query-string options, as strings.
    """

    url: str
    library: str
    topology: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def standalone_url(self) -> str:
        """The URL as the client library's own ``from_url`` spells it (standalone only)."""
        scheme, sep, rest = self.url.partition("://")
        if self.library == "valkey" and scheme in ("valkey", "valkeys"):
            # valkey-py reads redis:// as well; spelling it so works on every version.
            return ("rediss" if scheme == "valkeys" else "redis") + sep + rest
        return self.url


def _fail(url: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{problem} in store URL {url!r}; accepted: {_ACCEPTED}")


def _nodes(url: str, netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = netloc.rpartition("@")[2]
    nodes = []
    for location in hosts.split(","):
        match = _HOST_PORT.match(location.strip())
        if match is None:
            raise _fail(url, f"{location!r} is not host:port")
        host = match["v6"] or match["host"]
        nodes.append((host, int(match["port"]) if match["port"] else default_port))
    return tuple(nodes)


def parse_store_url(url: str) -> StoreUrl:
    """Return what *url* names: its client library, topology and parts.

    Raises:
        InvalidTypeError: *url* is not a string.
        InvalidArgumentError: an unknown scheme, no host, a bad port or
            database, or a Sentinel URL without its service name.
    """
    if not isinstance(url, str):
        raise InvalidTypeError(f"a store URL must be a string, got {url!r}")
    scheme, sep, rest = url.partition("://")
    topology_of = _SCHEMES.get(scheme.lower()) if sep else None
    if topology_of is None:
        raise _fail(url, f"{scheme + sep if sep else url!r} is not a known scheme")
    library, topology = topology_of
    tls = scheme.lower().split("+")[0] in ("rediss", "valkeys")
    if topology == "standalone":
        return StoreUrl(url, library, topology, tls=tls)
    # urlsplit would read "h1:1,h2:2" as a host with a bad port: split by hand.
    netloc, _, tail = rest.partition("/")
    path, _, query_text = tail.partition("?")
    if "?" in netloc:
        netloc, _, query_text = netloc.partition("?")
    if not netloc.rpartition("@")[2]:
        raise _fail(url, "no host")
    nodes = _nodes(url, netloc, _DEFAULT_PORTS[topology])
    auth = urlsplit(f"//{netloc.rpartition('@')[0]}@x") if "@" in netloc else None
    username = unquote(auth.username) if auth is not None and auth.username else None
    password = unquote(auth.password) if auth is not None and auth.password else None
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    parts = [part for part in path.split("/") if part]
    service, db = "", 0
    if topology == "sentinel":
        if not parts:
            raise _fail(url, "no Sentinel service name (redis+sentinel://host:port/service)")
        service = unquote(parts[0])
        parts = parts[1:]
    if len(parts) > 1 or (parts and topology == "cluster"):
        raise _fail(url, f"unexpected path {path!r}")
    if parts:
        if not parts[0].isdigit():
            raise _fail(url, f"database {parts[0]!r} is not a number")
        db = int(parts[0])
    return StoreUrl(url, library, topology, nodes, service, db, tls, username, password, query)


def has_hash_tag(prefix: str) -> bool:
    """Whether every key under *prefix* hashes to one cluster slot.

    Redis hashes the text between the first ``{`` and the next ``}`` when that
    text is not empty; a prefix holding such a tag puts every key built from it
    in the tag's slot.
    """
    start = prefix.find("{")
    if start < 0:
        return False
    end = prefix.find("}", start + 1)
    return end > start + 1
