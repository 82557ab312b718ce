"""Constructor and argument checks: clear errors naming the value and what is accepted."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import fakeredis
import pytest

from panicquota import ConfigError, InvalidArgumentError, InvalidTypeError
from panicquota.breaker import TimeSource, VIXCircuitBreaker


@pytest.fixture
def client() -> Any:
    """A throwaway fakeredis client."""
    fake = fakeredis.FakeRedis()
    yield fake
    fake.close()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param(
            {"key_prefix": ""},
            InvalidArgumentError,
            "key_prefix must be a non-empty string such as 'vix:panic', got ''",
            id="empty-prefix",
        ),
        pytest.param(
            {"time_source": "gps"},
            InvalidArgumentError,
            "time_source must be 'local' or 'redis', got 'gps'",
            id="time-source",
        ),
        pytest.param(
            {"trip_level": 30, "reset_level": 30},
            ConfigError,
            "reset_level must be below trip_level (hysteresis), got reset_level=30, trip_level=30",
            id="no-hysteresis",
        ),
        pytest.param(
            {"max_staleness": -1},
            InvalidArgumentError,
            "max_staleness must be a finite number >= 0, got -1",
            id="negative-staleness",
        ),
        pytest.param(
            {"fail_safe_ttl": "60"},
            InvalidTypeError,
            "fail_safe_ttl must be a finite number >= 0, got str '60'",
            id="fail-safe-type",
        ),
        pytest.param(
            {"clock": 5},
            InvalidTypeError,
            "clock must be a callable returning epoch seconds, got 5",
            id="clock",
        ),
        pytest.param(
            {"quota": "fast"},
            InvalidTypeError,
            "quota must have a calculate_ttl_strategy method, got 'fast'",
            id="quota",
        ),
    ],
)
def test_bad_options_are_refused(
    client: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Each bad option raises its error with the exact message."""
    quota = options.pop("quota", None)
    with pytest.raises(error) as caught:
        VIXCircuitBreaker(client, quota, **options)
    assert str(caught.value) == message


def test_bad_reading_is_refused(client: Any) -> None:
    """observe() refuses NaN with a message naming the value."""
    with pytest.raises(InvalidArgumentError) as caught:
        VIXCircuitBreaker(client).observe(float("nan"))
    assert str(caught.value) == "vix must be a finite number >= 0, got nan"


def test_bad_ttl_is_the_callers_error(client: Any) -> None:
    """A negative normal_ttl is a bug in the caller: it raises, unlike Redis faults."""
    with pytest.raises(InvalidArgumentError) as caught:
        VIXCircuitBreaker(client).get_ttl(-1)
    assert str(caught.value) == "normal_ttl must be a finite number >= 0, got -1"


def test_defaults_are_the_documented_ones(client: Any) -> None:
    """The defaults: prefix vix:panic, local time, 1 s staleness."""
    breaker = VIXCircuitBreaker(client)
    assert (breaker.key_prefix, repr(breaker)) == (
        "vix:panic",
        "VIXCircuitBreaker(key_prefix='vix:panic', time_source='local', max_staleness=1.0)",
    )
    assert TimeSource("redis") is TimeSource.REDIS


def test_breakers_are_lazy_exports() -> None:
    """`import panicquota` imports no redis; the breaker imports neither (a valkey client works)."""
    code = (
        "import sys, panicquota\n"
        "assert 'redis' not in sys.modules\n"
        "from panicquota import VIXCircuitBreaker, AsyncVIXCircuitBreaker\n"
        "assert 'redis' not in sys.modules and 'prometheus_client' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy module attribute hook refuses unknown names like a module does."""
    import panicquota.breaker

    with pytest.raises(AttributeError, match=r"has no attribute 'Breaker'$"):
        panicquota.breaker.Breaker  # noqa: B018
