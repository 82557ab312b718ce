"""Clients tuned for the request path: short timeouts, no client-side retries.

:func:`connect` and :func:`connect_async` read a store URL (see
:mod:`panicquota.breaker._urls`): standalone Redis or Valkey, a Cluster, or a
Sentinel group's master, with redis-py or valkey-py.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from panicquota.breaker._types import MissingDependencyError, StoreUnavailableError
from panicquota.breaker._urls import StoreUrl, parse_store_url
from panicquota.errors import InvalidArgumentError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["connect", "connect_async", "is_cluster_client"]

#: Seconds a breaker's Redis call may take before it counts as an outage. The
#: calls run off the request path (get_ttl waits at most max_wait for them),
#: so this only says how soon an outage is logged, and it must leave room for
#: a slow link: 200 ms each way with lost packets retransmitted still answers.
DEFAULT_SOCKET_TIMEOUT = 2.0

_EXTRA = {"redis": "redis", "valkey": "valkey"}


def _module(library: str, name: str) -> ModuleType:
    try:
        return importlib.import_module(f"{library}{name}")
    except ImportError as error:
        raise MissingDependencyError(
            f"this store URL needs the {library!r} package: "
            f"pip install 'panicquota[{_EXTRA[library]}]'"
        ) from error


def _timeouts(options: dict[str, Any], socket_timeout: float) -> dict[str, Any]:
    options.setdefault("socket_timeout", socket_timeout)
    options.setdefault("socket_connect_timeout", socket_timeout)
    return options


def _to_bool(value: str) -> bool:
    # redis-py's rule for URL options (valkey-py's too): these spell false.
    return value.upper() not in ("", "0", "F", "FALSE", "N", "NO")


#: How a cluster's or Sentinel's URL query option is read: redis-py's
#: ``URL_QUERY_ARGUMENT_PARSERS`` for a standalone URL, plus the options of
#: the cluster and Sentinel clients. Any other option is passed as a string.
_QUERY_TYPES: dict[str, Callable[[str], Any]] = {
    "db": int,
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "socket_read_size": int,
    "socket_keepalive": _to_bool,
    "retry_on_timeout": _to_bool,
    "max_connections": int,
    "health_check_interval": int,
    "ssl_check_hostname": _to_bool,
    "timeout": float,
    "protocol": int,
    "decode_responses": _to_bool,
    "ssl": _to_bool,
    "read_from_replicas": _to_bool,
    "require_full_coverage": _to_bool,
    "dynamic_startup_nodes": _to_bool,
    "reinitialize_steps": int,
    "cluster_error_retry_attempts": int,
    "min_other_sentinels": int,
}


def _typed_query(parsed: StoreUrl) -> dict[str, Any]:
    """Read a cluster's or Sentinel's query options as the client expects them.

    A standalone URL goes to the library's own ``from_url``, which types its
    query; a cluster's or Sentinel's is read here by the same rules, so
    ``?socket_timeout=0.5`` is a float and ``?read_from_replicas=false``
    false, not a truthy string.

    Raises:
        InvalidArgumentError: a value the option cannot take.
    """
    typed: dict[str, Any] = {}
    for name, value in parsed.query.items():
        parser = _QUERY_TYPES.get(name)
        try:
            typed[name] = value if parser is None else parser(value)
        except ValueError:
            raise InvalidArgumentError(
                f"invalid value {value!r} for {name!r} in store URL {parsed.url!r}"
            ) from None
    return typed


def _no_retry(parsed: StoreUrl, asyncio: bool) -> Any:
    retry = _module(parsed.library, ".asyncio.retry" if asyncio else ".retry").Retry
    return retry(_module(parsed.library, ".backoff").NoBackoff(), 0)


def _auth(parsed: StoreUrl, options: dict[str, Any]) -> dict[str, Any]:
    if parsed.username is not None:
        options.setdefault("username", parsed.username)
    if parsed.password is not None:
        options.setdefault("password", parsed.password)
    if parsed.tls:
        options.setdefault("ssl", True)
    return options


def _build(url: str, socket_timeout: float, options: dict[str, Any], asyncio: bool) -> Any:
    parsed = parse_store_url(url)
    pkg = parsed.library + (".asyncio" if asyncio else "")
    # The breaker backs off on its own clock; the client's own retries would
    # block the request path several times per call during an outage.
    options.setdefault("retry", _no_retry(parsed, asyncio))
    if parsed.topology == "standalone":
        _timeouts(options, socket_timeout)
        client_class = "Valkey" if parsed.library == "valkey" else "Redis"
        return getattr(_module(pkg, ""), client_class).from_url(parsed.standalone_url, **options)
    # The URL's options win over keywords and defaults, as in the library's
    # own from_url for a standalone URL.
    options = _timeouts({**options, **_typed_query(parsed)}, socket_timeout)
    if parsed.topology == "cluster":
        cluster = _module(pkg, ".cluster")
        client_class = "ValkeyCluster" if parsed.library == "valkey" else "RedisCluster"
        nodes = [cluster.ClusterNode(host, port) for host, port in parsed.nodes]
        if parsed.library == "valkey":
            # valkey-py's cluster retries through its own counter, not `retry`.
            options.setdefault("cluster_error_retry_attempts", 1)
        build = getattr(cluster, client_class)
        if asyncio:  # reads the topology on first use
            return build(startup_nodes=nodes, **_auth(parsed, options))
        try:
            return build(startup_nodes=nodes, **_auth(parsed, options))
        except Exception as error:  # RedisClusterException, ValkeyError, OSError...
            raise StoreUnavailableError(
                f"cannot reach the cluster at {url!r} ({type(error).__name__}: {error}): a "
                "sync cluster client reads the slots map when it is built, so build it once a "
                "start-up node answers (connect_async reads it on first use instead)"
            ) from error
    sentinel_module = _module(pkg, ".sentinel")
    node_options = _auth(parsed, options)
    node_options.setdefault("db", parsed.db)
    sentinel_options = {
        key: node_options[key]
        for key in ("socket_timeout", "socket_connect_timeout", "username", "password", "ssl")
        if key in node_options
    }
    sentinel = sentinel_module.Sentinel(
        list(parsed.nodes), sentinel_kwargs=sentinel_options, **node_options
    )
    base = getattr(_module(pkg, ""), "Valkey" if parsed.library == "valkey" else "Redis")
    class_option = "valkey_class" if parsed.library == "valkey" else "redis_class"
    return sentinel.master_for(parsed.service, **{class_option: _sentinel_master(base, asyncio)})


def _sentinel_master(base: type[Any], asyncio: bool) -> type[Any]:
    """Return a subclass of *base* whose close also closes the Sentinel clients it asked."""

    def sentinels(client: Any) -> list[Any]:
        return list(client.connection_pool.sentinel_manager.sentinels)

    if asyncio:

        class AsyncSentinelMaster(base):  # type: ignore[misc]
            async def aclose(self, close_connection_pool: bool | None = None) -> None:
                await super().aclose(close_connection_pool)
                for client in sentinels(self):
                    await client.aclose()

        return AsyncSentinelMaster

    class SentinelMaster(base):  # type: ignore[misc]
        def close(self) -> None:
            super().close()
            for client in sentinels(self):
                client.close()

    return SentinelMaster


def connect(url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT, **options: Any) -> Any:
    """Return a client for *url* suited to a breaker.

    Args:
        url: a store URL: ``redis://host:6379/0``, ``rediss://...``,
            ``unix:///path``, ``redis+cluster://h:p[,h:p...]``,
            ``redis+sentinel://h:p[,h:p...]/service[/db]``, or the same with
            ``valkey`` for a valkey-py client.
        socket_timeout: connect and read timeout, in seconds.
        options: more options of the client class (they win over the
            defaults), e.g. ``decode_responses``, ``ssl_ca_certs`` or
            ``read_from_replicas``. Options in the URL's query string
            (``?socket_timeout=0.5``) win over both, as in redis-py's
            ``from_url``, and are typed by its rules.

    Returns:
        A ``redis.Redis``, ``redis.cluster.RedisCluster`` or Sentinel-managed
        master client (valkey-py's for ``valkey`` URLs), with short timeouts
        and no client-side retries.

    Raises:
        InvalidArgumentError: *url* is not a store URL, or a query option
            has a value it cannot take.
        MissingDependencyError: the URL's client library is not installed.
        StoreUnavailableError: no start-up node of a cluster URL answered (a
            sync cluster client reads the slots map when it is built).
    """
    return _build(url, socket_timeout, options, asyncio=False)


def connect_async(
    url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT, **options: Any
) -> Any:
    """Return an asyncio client for *url* suited to a breaker (see :func:`connect`)."""
    return _build(url, socket_timeout, options, asyncio=True)


def is_cluster_client(client: object) -> bool:
    """Whether *client* is a Redis or Valkey cluster client (sync or asyncio)."""
    return any(cls.__name__ in ("RedisCluster", "ValkeyCluster") for cls in type(client).__mro__)
