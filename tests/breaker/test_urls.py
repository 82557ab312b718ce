"""Store URLs: parsing (the limits convention), the clients they build, and misuse."""

from __future__ import annotations

import asyncio
import logging

import fakeredis
import pytest

from panicquota.breaker import (
    AsyncVIXCircuitBreaker,
    MissingDependencyError,
    StoreUnavailableError,
    VIXCircuitBreaker,
    connect,
    connect_async,
)
from panicquota.breaker._base import cluster_prefix
from panicquota.breaker._urls import StoreUrl, has_hash_tag, parse_store_url
from panicquota.errors import InvalidArgumentError, InvalidTypeError, PanicquotaError

ACCEPTED = (
    "accepted: redis://host:6379/0, rediss://..., unix:///path/redis.sock, "
    "redis+cluster://host:port[,host:port...], "
    "redis+sentinel://host:port[,host:port...]/service[/db], "
    "or the same with valkey instead of redis"
)


def test_standalone_urls_keep_their_text() -> None:
    """redis://, rediss://, unix:// and valkey:// are standalone; valkey:// is spelled redis://."""
    assert parse_store_url("redis://h:1/2") == StoreUrl("redis://h:1/2", "redis", "standalone")
    assert parse_store_url("rediss://h").tls
    assert parse_store_url("unix:///tmp/r.sock").topology == "standalone"
    valkey = parse_store_url("valkeys://h:1/0")
    assert (valkey.library, valkey.tls, valkey.standalone_url) == ("valkey", True, "rediss://h:1/0")
    assert parse_store_url("valkey://h").standalone_url == "redis://h"
    assert parse_store_url("redis://h").standalone_url == "redis://h"


def test_cluster_url_lists_its_nodes() -> None:
    """redis+cluster:// lists host:port pairs (default port 6379), IPv6 in brackets, auth."""
    parsed = parse_store_url("redis+cluster://u:p%40ss@a:7000,b,[::1]:7002/?read_from_replicas=1")
    assert parsed.nodes == (("a", 7000), ("b", 6379), ("::1", 7002))
    assert (parsed.username, parsed.password) == ("u", "p@ss")
    assert parsed.query == {"read_from_replicas": "1"}
    assert parse_store_url("valkey+cluster://a:1").library == "valkey"
    assert parse_store_url("redis+cluster://a:1?x=y").query == {"x": "y"}


def test_sentinel_url_names_service_and_db() -> None:
    """redis+sentinel://h:p,h:p/service[/db]: sentinels default to port 26379."""
    parsed = parse_store_url("redis+sentinel://:secret@s1,s2:26380/mymaster/3")
    assert parsed.nodes == (("s1", 26379), ("s2", 26380))
    assert (parsed.service, parsed.db, parsed.password, parsed.username) == (
        "mymaster",
        3,
        "secret",
        None,
    )
    assert parse_store_url("rediss+sentinel://s/m").db == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("localhost:6379", "'localhost:6379' is not a known scheme"),
        ("http://h", "'http://' is not a known scheme"),
        ("redis+cluster://", "no host"),
        ("redis+cluster://a:b", "'a:b' is not host:port"),
        ("redis+cluster://a:1/0", "unexpected path '0'"),
        ("redis+sentinel://a:1", "no Sentinel service name (redis+sentinel://host:port/service)"),
        ("redis+sentinel://a:1/m/x", "database 'x' is not a number"),
        ("redis+sentinel://a:1/m/0/1", "unexpected path 'm/0/1'"),
    ],
)
def test_bad_urls_say_what_is_accepted(url: str, problem: str) -> None:
    """A URL that names no store is refused with the problem and the accepted forms."""
    with pytest.raises(InvalidArgumentError) as caught:
        parse_store_url(url)
    assert str(caught.value) == f"{problem} in store URL {url!r}; {ACCEPTED}"


def test_a_url_must_be_a_string() -> None:
    """A non-string URL is a type error."""
    with pytest.raises(InvalidTypeError, match=r"a store URL must be a string, got 6379"):
        parse_store_url(6379)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("prefix", "tagged"),
    [("{vix}", True), ("a:{vix}:b", True), ("{}", False), ("vix", False), ("{vix", False)],
)
def test_hash_tags(prefix: str, tagged: bool) -> None:
    """Only a non-empty {...} section is a hash tag."""
    assert has_hash_tag(prefix) is tagged


def test_client_options_reach_the_client_and_breaker_options_the_breaker() -> None:
    """from_url keeps the client's options apart from the breaker's; short timeouts, no retry."""
    with VIXCircuitBreaker.from_url(
        "redis://127.0.0.1:1/0",
        client_options={"socket_connect_timeout": 0.5, "client_name": "pq"},
        key_prefix="app",
    ) as breaker:
        kwargs = breaker._redis.connection_pool.connection_kwargs
        assert (kwargs["socket_connect_timeout"], kwargs["client_name"], breaker.key_prefix) == (
            0.5,
            "pq",
            "app",
        )
        assert kwargs["socket_timeout"] == 2.0
        assert kwargs["retry"].get_retries() == 0


def test_async_from_url_builds_an_asyncio_client() -> None:
    """AsyncVIXCircuitBreaker.from_url goes through connect_async."""

    async def build() -> str:
        async with AsyncVIXCircuitBreaker.from_url("valkey://127.0.0.1:1/0") as breaker:
            return type(breaker._redis).__module__

    assert asyncio.run(build()) == "valkey.asyncio.client"


def test_sentinel_clients_are_closed_with_the_master() -> None:
    """A Sentinel URL's client closes the sentinels it asked, sync and async."""
    client = connect("redis+sentinel://127.0.0.1:1/svc/2")
    assert client.connection_pool.connection_kwargs["db"] == 2
    client.close()

    async def close() -> None:
        await connect_async("valkey+sentinel://127.0.0.1:1/svc").aclose()

    asyncio.run(close())


def test_a_missing_client_library_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valkey URL without valkey-py installed names the extra to install."""
    monkeypatch.setitem(__import__("sys").modules, "valkey", None)
    with pytest.raises(MissingDependencyError) as caught:
        connect("valkey://h")
    assert str(caught.value) == (
        "this store URL needs the 'valkey' package: pip install 'panicquota[valkey]'"
    )


@pytest.mark.parametrize("breaker_class", [VIXCircuitBreaker, AsyncVIXCircuitBreaker])
def test_a_url_given_as_the_client_says_to_use_from_url(breaker_class: type) -> None:
    """VIXCircuitBreaker('redis://...') says to use from_url() or connect() (issue 12, 11)."""
    name = breaker_class.__name__
    with pytest.raises(PanicquotaError) as caught:
        breaker_class("redis://localhost:6379/0")
    assert str(caught.value) == (
        "redis must be a Redis client (redis-py, valkey-py, fakeredis), got "
        f"'redis://localhost:6379/0'; to connect by URL use {name}.from_url(url) or "
        f"{name}(panicquota.breaker.connect(url))"
    )
    with pytest.raises(InvalidTypeError, match=r"got 'object'; to connect by URL"):
        breaker_class(object())


def test_prefix_of_a_standalone_client_is_untouched(caplog: pytest.LogCaptureFixture) -> None:
    """Only cluster clients get a hash-tagged prefix; others keep theirs, silently."""
    caplog.set_level(logging.DEBUG, "panicquota.breaker")
    assert cluster_prefix(fakeredis.FakeRedis(), "vix:panic") == "vix:panic"
    assert caplog.messages == []


def test_url_credentials_and_tls_reach_master_and_sentinels() -> None:
    """A Sentinel URL's user, password and TLS go to the master's and the sentinels' clients."""
    client = connect("rediss+sentinel://pq:s%3Acret@127.0.0.1:1/svc")
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["username"], kwargs["password"]) == ("pq", "s:cret")
        assert client.connection_pool.connection_class.__name__ == "SentinelManagedSSLConnection"
        sentinel = client.connection_pool.sentinel_manager.sentinels[0]
        assert sentinel.connection_pool.connection_class.__name__ == "SSLConnection"
        sentinel_kwargs = sentinel.connection_pool.connection_kwargs
        assert (sentinel_kwargs["username"], sentinel_kwargs["password"]) == ("pq", "s:cret")
        assert sentinel_kwargs["socket_timeout"] == 2.0
    finally:
        client.close()


@pytest.mark.parametrize("scheme", ["redis", "valkey"])
def test_a_cluster_urls_query_options_are_typed_and_win(scheme: str) -> None:
    """?socket_timeout=0.5 is a float over the 2 s default; ?require_full_coverage=false, false."""
    client = connect_async(
        f"{scheme}+cluster://127.0.0.1:1?socket_timeout=0.5&require_full_coverage=false",
        require_full_coverage=True,
    )
    assert client.nodes_manager.require_full_coverage is False
    assert client.connection_kwargs["socket_timeout"] == 0.5
    assert client.connection_kwargs["socket_connect_timeout"] == 2.0
    asyncio.run(client.aclose())


@pytest.mark.parametrize("scheme", ["redis", "valkey"])
def test_a_sentinel_urls_query_options_are_typed(scheme: str) -> None:
    """?health_check_interval=10 is an int (a string made every command raise TypeError)."""
    client = connect(
        f"{scheme}+sentinel://127.0.0.1:1/svc?health_check_interval=10&socket_timeout=0.5"
        "&decode_responses=no"
    )
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["health_check_interval"], kwargs["socket_timeout"]) == (10, 0.5)
        assert kwargs["decode_responses"] is False
        sentinel = client.connection_pool.sentinel_manager.sentinels[0]
        assert sentinel.connection_pool.connection_kwargs["socket_timeout"] == 0.5
    finally:
        client.close()


def test_a_query_option_with_a_bad_value_is_refused() -> None:
    url = "redis+cluster://127.0.0.1:1?socket_timeout=soon"
    with pytest.raises(InvalidArgumentError) as caught:
        connect(url)
    assert str(caught.value) == f"invalid value 'soon' for 'socket_timeout' in store URL {url!r}"


@pytest.mark.parametrize("scheme", ["redis", "valkey"])
def test_an_unreachable_cluster_is_a_store_error_when_built(scheme: str) -> None:
    """A sync cluster client reads the slots map when built: no node answering says so."""
    url = f"{scheme}+cluster://127.0.0.1:1"
    with pytest.raises(StoreUnavailableError) as caught:
        VIXCircuitBreaker.from_url(url)
    message = str(caught.value)
    assert message.startswith(f"cannot reach the cluster at {url!r} (")
    assert message.endswith(
        "a sync cluster client reads the slots map when it is built, so build it once a "
        "start-up node answers (connect_async reads it on first use instead)"
    )


def test_an_unreachable_cluster_serves_the_fail_safe_to_an_async_breaker() -> None:
    """The asyncio cluster client reads the slots map on first use: get_ttl serves FAIL_SAFE."""

    async def decide() -> tuple[object, object]:
        async with AsyncVIXCircuitBreaker.from_url("redis+cluster://127.0.0.1:1") as breaker:
            ttl, _, meta = await breaker.get_ttl(60)
            return ttl, meta["source"]

    assert asyncio.run(decide()) == (60, "FAIL_SAFE")


BREAKER_OPTIONS = (
    "calm_seconds, clock, fail_safe_ttl, grace_seconds, key_prefix, max_clock_skew, "
    "max_panic_age, max_staleness, max_wait, metrics, on_transition, reset_level, time_source, "
    "trip_level"
)


@pytest.mark.parametrize("breaker_class", [VIXCircuitBreaker, AsyncVIXCircuitBreaker])
def test_from_url_sends_a_client_option_to_client_options(breaker_class: type) -> None:
    """A client option among the breaker's is refused, naming it and where it goes."""
    name = breaker_class.__name__
    with pytest.raises(InvalidArgumentError) as raised:
        breaker_class.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    assert str(raised.value) == (
        f"{name}.from_url() got 'decode_responses', a client option: "
        "pass client_options={'decode_responses': ...}"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        breaker_class.from_url(
            "valkey://127.0.0.1:1/0", ssl_ca_certs="ca.pem", key_prefix="p", db=2
        )
    assert str(raised.value) == (
        f"{name}.from_url() got 'ssl_ca_certs' and 'db', client options: "
        "pass client_options={'ssl_ca_certs': ..., 'db': ...}"
    )


def test_from_url_refuses_a_client_option_before_connecting() -> None:
    """A sync cluster client connects when built: the option is refused first, not the URL."""
    with pytest.raises(InvalidArgumentError, match=r"got 'read_from_replicas', a client option"):
        VIXCircuitBreaker.from_url("redis+cluster://127.0.0.1:1", read_from_replicas=True)


@pytest.mark.parametrize("breaker_class", [VIXCircuitBreaker, AsyncVIXCircuitBreaker])
def test_from_url_names_an_option_that_is_neither_the_breakers_nor_the_clients(
    breaker_class: type,
) -> None:
    """An unknown name is refused with the breaker's options; cluster=True points at the URL."""
    name = breaker_class.__name__
    with pytest.raises(InvalidArgumentError) as raised:
        breaker_class.from_url("redis://127.0.0.1:1/0", colour="red", decode_responses=True)
    assert str(raised.value) == (
        f"{name}.from_url() got 'colour', neither a breaker option nor an option of redis-py's "
        f"clients; the breaker's options: {BREAKER_OPTIONS} (the client's go in "
        "client_options={...})"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        breaker_class.from_url("valkey://127.0.0.1:1/0", cluster=True)
    assert str(raised.value) == (
        f"{name}.from_url() got 'cluster', neither a breaker option nor an option of valkey-py's "
        "clients (a cluster is chosen by the URL: valkey+cluster://host:port[,host:port...]); "
        f"the breaker's options: {BREAKER_OPTIONS} (the client's go in client_options={{...}})"
    )


def test_from_url_still_takes_client_options_apart() -> None:
    """client_options reach the client, breaker options the breaker."""
    with VIXCircuitBreaker.from_url(
        "redis://127.0.0.1:1/0", client_options={"decode_responses": True}, max_staleness=3
    ) as breaker:
        assert breaker._redis.get_encoder().decode_responses is True
        assert breaker._core.max_staleness == 3


def test_a_client_of_the_wrong_kind_is_refused() -> None:
    """A sync breaker on an asyncio client (or the reverse) would serve the fail-safe for ever."""
    asyncio_client, sync_client = fakeredis.FakeAsyncRedis(), fakeredis.FakeRedis()
    with pytest.raises(InvalidTypeError) as caught:
        VIXCircuitBreaker(asyncio_client)
    assert str(caught.value) == (
        "VIXCircuitBreaker needs a sync client, got an asyncio one "
        f"({type(asyncio_client).__module__}.FakeRedis); use AsyncVIXCircuitBreaker with it, "
        "or pass panicquota.breaker.connect(url)"
    )
    with pytest.raises(InvalidTypeError) as caught:
        AsyncVIXCircuitBreaker(sync_client)
    assert str(caught.value) == (
        "AsyncVIXCircuitBreaker needs an asyncio client, got a sync one "
        f"({type(sync_client).__module__}.FakeRedis); use VIXCircuitBreaker with it, "
        "or pass panicquota.breaker.connect_async(url)"
    )
